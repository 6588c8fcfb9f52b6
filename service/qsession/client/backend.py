"""An emulated QPU as a Qiskit ``BackendV2`` with the device's real ``Target``."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from qiskit import QuantumCircuit
from qiskit.providers import BackendV2, Options
from qiskit.transpiler import Target

from qsession.client.backend_models import (
    BackendConfiguration,
    BackendProperties,
    PulseDefaultsError,
)
from qsession.client.backend_run import BackendRunJob, default_run_options, run_circuits
from qsession.client.errors import IBMInputValueError
from qsession.v1 import backend_pb2
from qsession.wire.backends import decode_target, fractional_gates

if TYPE_CHECKING:
    from qsession.client.operations import Operations
    from qsession.client.service import RuntimeService


@dataclass
class BackendStatus:
    """A backend's availability, with the attribute names of qiskit-ibm-runtime's status (a
    snapshot: changing it changes nothing on the server).

    Attributes:
        backend_name: The backend's name.
        backend_version: The backend's version string.
        operational: Whether the backend accepts and runs jobs.
        pending_jobs: Jobs queued (not yet running) on the backend, over all instances.
        status_msg: ``"active"`` when a job handed to the backend starts at once, else why
            not (e.g. its worker is starting on a Ray node).
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
    with ``SamplerV2(mode=backend)`` / ``EstimatorV2(mode=backend)``, or in a ``Session``;
    :meth:`run` serves libraries that still call ``backend.run``. :meth:`configuration` and
    :meth:`properties` describe the same Target in qiskit-ibm-runtime's older shapes, and
    the configuration's attributes read as the backend's, as on ``IBMBackend``
    (``backend.basis_gates``, ``backend.n_qubits``, ...: copies, so that changing one changes
    nothing else).

    Obtain backends from :meth:`RuntimeService.backend`, :meth:`RuntimeService.backends` or
    :meth:`RuntimeService.least_busy`; do not construct them directly.

    Args:
        message: The backend as the server describes it.
        service: The :class:`RuntimeService` the backend belongs to.
        operations: The service's operations on the server, which sessions and primitives on
            this backend use too.
        sampler: The Sampler class :meth:`run` submits with (``SamplerV2``).
        use_fractional_gates: ``False``: the Target leaves out the device's fractional gates
            (see :meth:`RuntimeService.backend`).
    """

    def __init__(
        self,
        message: backend_pb2.Backend,
        service: RuntimeService,
        operations: Operations,
        sampler: Callable[..., Any],
        use_fractional_gates: bool | None = None,
    ):
        super().__init__(
            name=message.name,
            description=f"qsession emulation of {message.profile}",
            backend_version=message.profile,
        )
        self._service = service
        self._operations = operations
        self._sampler = sampler
        self._use_fractional_gates = use_fractional_gates
        self._read(message)

    def _read(self, message: backend_pb2.Backend) -> None:
        """Take the server's description of the backend: a new Target, configuration and
        properties."""
        self._message = message
        without = fractional_gates(message) if self._use_fractional_gates is False else ()
        self._target: Target = decode_target(message, without)
        self._read_at = datetime.now(UTC)
        self._configuration: BackendConfiguration | None = None
        self._properties: BackendProperties | None = None

    def __getattr__(self, name: str) -> Any:
        """A configuration attribute read as the backend's (a copy), as on ``IBMBackend``.

        Raises:
            AttributeError: neither the backend nor its configuration has ``name``.
        """
        if name.startswith("_"):  # private, or probed by copy and pickle
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        try:
            return copy.deepcopy(getattr(self.configuration(), name))
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}"
            ) from None

    def __deepcopy__(self, memo: dict[int, Any]) -> QSessionBackend:
        """A copy with its own Target, configuration, properties and options, on the same
        service (whose connection is shared, never copied)."""
        twin = QSessionBackend(
            self._message,
            self._service,
            self._operations,
            self._sampler,
            self._use_fractional_gates,
        )
        twin._options = copy.deepcopy(self._options, memo)
        return twin

    def refresh(self) -> None:
        """Read the backend from the server again: a new :attr:`target`,
        :meth:`configuration` and :meth:`properties`, and fresh status."""
        self._read(self._operations.backends.get(self.name))

    @property
    def physical_qubits(self) -> int:
        """The number of qubits of the emulated device."""
        return self._message.num_qubits

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
        return default_run_options()

    def configuration(self) -> BackendConfiguration:
        """The backend's configuration, shaped like qiskit-ibm-runtime's
        ``QasmBackendConfiguration`` (``n_qubits``, ``basis_gates``, ``coupling_map``,
        ``max_shots``, ``max_experiments``, ``dt`` in seconds, ...), read from :attr:`target`."""
        if self._configuration is None:
            self._configuration = BackendConfiguration.from_target(
                self._target,
                backend_name=self.name,
                backend_version=self.backend_version,
                simulator=self._message.simulator,
                max_shots=self._message.max_shots,
                max_experiments=self._message.max_pubs,
            )
        return self._configuration

    def properties(
        self, refresh: bool = False, datetime: datetime | None = None
    ) -> BackendProperties:
        """The backend's qubit and gate properties, shaped like qiskit-ibm-runtime's
        ``BackendProperties`` (``t1(q)``, ``readout_error(q)``, ``gate_error(gate, qubits)``,
        ... in seconds, Hz and probabilities), read from :attr:`target`.

        The device profile's calibration is fixed while the server runs, so every property is
        dated ``last_update_date`` = when this client read the backend from the server.

        Args:
            refresh: Read the backend from the server again first (see :meth:`refresh`).
            datetime: The time whose calibration to return: the same, fixed one at any time.
        """
        if refresh:
            self.refresh()
        if self._properties is None:
            self._properties = BackendProperties.from_target(
                self._target,
                backend_name=self.name,
                backend_version=self.backend_version,
                date=self._read_at,
            )
        return self._properties

    def target_history(self, datetime: datetime | None = None) -> Target:
        """The device's Target at ``datetime``: a new Target of the same, fixed calibration
        at any time (see :meth:`properties`)."""
        without = fractional_gates(self._message) if self._use_fractional_gates is False else ()
        return decode_target(self._message, without)

    def defaults(self) -> NoReturn:
        """Not available: pulse defaults describe pulse programs, which Qiskit 2 removed.

        Raises:
            PulseDefaultsError: always (also an ``AttributeError``).
        """
        raise PulseDefaultsError(
            f"{self.name} has no pulse defaults: qsession emulated QPUs run circuits, not "
            "pulse schedules (Qiskit 2 removed pulse); read gate durations from "
            "backend.target or backend.properties()"
        )

    def status(self) -> BackendStatus:
        """The backend's current status, fetched from the server (``pending_jobs`` changes)."""
        message = self._operations.backends.get(self.name)
        self._message = message
        return BackendStatus(
            backend_name=message.name,
            backend_version=message.profile,
            operational=message.operational,
            pending_jobs=message.pending_jobs,
            status_msg=message.status_message,
        )

    def run(
        self, circuits: QuantumCircuit | Sequence[QuantumCircuit], **options: Any
    ) -> BackendRunJob:
        """Run circuits as one Sampler job, for libraries written for ``backend.run``.

        New code should use ``SamplerV2(mode=backend)``. The job runs in job mode, or in the
        session of an enclosing ``with Session(...)`` block on this backend.

        Args:
            circuits: One ISA circuit or a list of them (transpile with
                ``generate_preset_pass_manager(backend=backend)``), every classical bit in a
                classical register.
            options: Overrides of :attr:`options` for this job: ``shots`` (default 4000),
                ``memory``, ``rep_delay`` (ignored), ``init_qubits`` (``True`` only),
                ``job_tags``, ``seed_simulator``.

        Returns:
            The job; its ``result()`` is a :class:`qiskit.result.Result` with one experiment
            per circuit, whose ``get_counts()`` and ``get_memory()`` read as Aer's.

        Raises:
            IBMInputValueError: an unknown option (the error names it) or a bad value, a
                circuit that is not a ``QuantumCircuit`` or has no register bits, or the
                server's rejection of a circuit that is not ISA for the backend.
            TypeError, ValueError: ``shots`` is not a positive integer.
            SessionClosedError: the enclosing session does not accept jobs any more.
        """
        known = dict(self.options.items())
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise IBMInputValueError(
                f"backend.run() got unknown option(s) {unknown}; the options are {sorted(known)}"
            )
        return run_circuits(self, circuits, {**known, **options}, self._sampler)

    def __repr__(self) -> str:
        return f"<QSessionBackend('{self.name}')>"
