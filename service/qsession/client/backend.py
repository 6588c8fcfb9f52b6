"""An emulated QPU as a Qiskit ``BackendV2`` with the device's real ``Target``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qiskit.providers import BackendV2, Options
from qiskit.transpiler import Target

from qsession.client.errors import QSessionError
from qsession.v1 import backend_pb2
from qsession.wire.backends import decode_target

if TYPE_CHECKING:
    from qsession.client.service import RuntimeService


@dataclass(frozen=True)
class BackendStatus:
    """A backend's availability, with the attribute names of qiskit-ibm-runtime's status.

    Attributes:
        backend_name: The backend's name.
        backend_version: The backend's version string.
        operational: Whether the backend accepts and runs jobs.
        pending_jobs: Jobs queued (not yet running) on the backend, over all instances.
        status_msg: A human-readable status, e.g. ``"active"``.
    """

    backend_name: str
    backend_version: str
    operational: bool
    pending_jobs: int
    status_msg: str


class QSessionBackend(BackendV2):
    """An emulated QPU of a qsession server, like qiskit-ibm-runtime's ``IBMBackend``.

    Its :attr:`target` is built from the server's description of the device (basis gates,
    coupling map, error rates, durations, T1/T2), so
    ``generate_preset_pass_manager(backend=backend)`` transpiles for the device. Run circuits
    with ``SamplerV2(mode=backend)`` / ``EstimatorV2(mode=backend)``, or in a ``Session``.

    Obtain backends from :meth:`RuntimeService.backend`, :meth:`RuntimeService.backends` or
    :meth:`RuntimeService.least_busy`; do not construct them directly.
    """

    def __init__(self, message: backend_pb2.Backend, service: RuntimeService):
        super().__init__(
            name=message.name,
            description=f"qsession emulation of {message.profile}",
            backend_version=message.profile,
        )
        self._service = service
        self._message = message
        self._target: Target = decode_target(message)

    @property
    def service(self) -> RuntimeService:
        """The :class:`RuntimeService` this backend belongs to."""
        return self._service

    @property
    def target(self) -> Target:
        """The device's Qiskit :class:`~qiskit.transpiler.Target`."""
        return self._target

    @property
    def max_circuits(self) -> int:
        """The largest number of PUBs one job may carry."""
        return self._message.max_pubs

    @property
    def max_shots(self) -> int:
        """The largest number of shots one PUB may request."""
        return self._message.max_shots

    @property
    def simulator(self) -> bool:
        """Always ``False``: every qsession backend emulates a QPU with a queue."""
        return self._message.simulator

    @property
    def noisy(self) -> bool:
        """Whether the backend applies its device profile's noise model."""
        return self._message.noisy

    @property
    def profile(self) -> str:
        """The name of the device profile the backend is built from."""
        return self._message.profile

    @classmethod
    def _default_options(cls) -> Options:
        return Options()

    def status(self) -> BackendStatus:
        """The backend's current status, fetched from the server (``pending_jobs`` changes)."""
        message = self._service._fetch_backend(self.name)
        self._message = message
        return BackendStatus(
            backend_name=message.name,
            backend_version=message.profile,
            operational=message.operational,
            pending_jobs=message.pending_jobs,
            status_msg=message.status_message,
        )

    def run(self, *args: Any, **kwargs: Any) -> None:
        """Not supported, as in qiskit-ibm-runtime: use the primitives.

        Raises:
            QSessionError: always.
        """
        raise QSessionError(
            "backend.run() is not supported; use SamplerV2(mode=backend) or "
            "EstimatorV2(mode=backend), or a Session or Batch"
        )

    def __repr__(self) -> str:
        return f"<QSessionBackend('{self.name}')>"
