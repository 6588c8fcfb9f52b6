"""``RuntimeService(channel="local")``: local testing mode's service, with
qiskit-ibm-runtime's name and module path (``fake_provider.local_service``)."""

from __future__ import annotations

from collections.abc import Callable

from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2
from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

from qsession.client.errors import BackendNotFoundError


class QiskitRuntimeLocalService:
    """The fake backends, as a service lists its backends: a primitive given one of them
    runs its jobs in this process on qsession's executor (see :mod:`qsession.local`)."""

    is_local: bool = True
    """Whether the service is local (always ``True``; a :class:`~qsession.RuntimeService`
    reaches a server)."""

    channel: str = "local"
    """The channel the service was made with."""

    def backend(self, name: str | None = None, instance: str | None = None) -> FakeBackendV2:
        """The fake backend called ``name`` (e.g. ``"fake_manila"``); ``instance`` is
        ignored, as in qiskit-ibm-runtime's local mode.

        Raises:
            BackendNotFoundError: no fake backend has that name.
        """
        return self.backends(name=name)[0]

    def backends(
        self,
        name: str | None = None,
        min_num_qubits: int | None = None,
        dynamic_circuits: bool | None = None,
        filters: Callable[[FakeBackendV2], bool] | None = None,
    ) -> list[FakeBackendV2]:
        """The fake backends, optionally filtered.

        Args:
            name: Only the backend with this name.
            min_num_qubits: Only backends with at least this many qubits.
            dynamic_circuits: Only backends that do (``True``) or do not (``False``) run
                dynamic circuits (``if_else`` in their Target).
            filters: A predicate on backends.

        Raises:
            BackendNotFoundError: no fake backend matches.
        """
        backends = [
            backend
            for backend in FakeProviderForBackendV2().backends()
            if (name is None or backend.name == name)
            and (min_num_qubits is None or backend.num_qubits >= min_num_qubits)
            and (
                dynamic_circuits is None
                or ("if_else" in backend.target.operation_names) == dynamic_circuits
            )
            and (filters is None or filters(backend))
        ]
        if not backends:
            raise BackendNotFoundError("No backend matches the criteria.")
        return backends

    def least_busy(
        self,
        min_num_qubits: int | None = None,
        filters: Callable[[FakeBackendV2], bool] | None = None,
    ) -> FakeBackendV2:
        """The first fake backend that matches (local backends have no queue).

        Raises:
            BackendNotFoundError: no fake backend matches.
        """
        return self.backends(min_num_qubits=min_num_qubits, filters=filters)[0]
