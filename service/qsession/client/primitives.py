"""SamplerV2 and EstimatorV2: Qiskit's primitive interfaces, run on a qsession server.

These are the V2 primitives alone. The ``SamplerV2`` and ``EstimatorV2`` that :mod:`qsession`
exports are their subclasses in :mod:`qsession.client.compat`, which also take the call shapes
of older qiskit-ibm-runtime releases.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from qiskit.primitives import BaseEstimatorV2, BaseSamplerV2
from qiskit.primitives.containers.estimator_pub import EstimatorPub, EstimatorPubLike
from qiskit.primitives.containers.sampler_pub import SamplerPub, SamplerPubLike
from qiskit.providers import BackendV2

from qsession.client.backend import QSessionBackend
from qsession.client.options import EstimatorOptions, SamplerOptions
from qsession.client.session import Session, current_session
from qsession.local import LocalRuntimeJob, is_local_backend
from qsession.v1 import job_pb2
from qsession.wire import encode_estimator_pub, encode_sampler_pub

if TYPE_CHECKING:
    from qsession.client.job import RuntimeJobV2

log = logging.getLogger(__name__)


def resolve_mode(mode: Any) -> tuple[Session | None, QSessionBackend | BackendV2]:
    """The (session or batch, backend) a primitive runs with, as qiskit-ibm-runtime decides.

    * a :class:`Session` or :class:`Batch`: that session, on its backend;
    * one of IBM's fake backends: job mode in local testing mode, even inside a
      ``with Session(...)`` block (as in qiskit-ibm-runtime);
    * a backend: job mode, unless a ``with Session(...)`` block is open, whose session is
      then used (its backend must be the same);
    * ``None``: the session of the enclosing ``with`` block.

    Raises:
        ValueError: no mode and no enclosing session, a backend of another provider, a backend
            that differs from the enclosing session's, or a value of another type.
    """
    if isinstance(mode, Session):
        return mode, mode._backend
    if is_local_backend(mode):
        return None, mode
    enclosing = current_session()
    if isinstance(mode, QSessionBackend):
        if enclosing is None:
            return None, mode
        log.warning(
            "A backend was passed in as the mode but a session context manager is open so "
            "this job will run inside this session/batch instead of in job mode."
        )
        if enclosing._backend.name != mode.name:
            raise ValueError(
                "The backend passed in to the primitive is different from the session backend. "
                "Please check which backend you intend to use or leave the mode parameter "
                "empty to use the session backend."
            )
        return enclosing, mode
    if isinstance(mode, BackendV2):
        raise ValueError(  # noqa: TRY004 - qiskit-ibm-runtime raises ValueError for modes
            f"{mode.name!r} is not a qsession backend; get one from RuntimeService.backend(), "
            "backends() or least_busy()"
        )
    if mode is not None:
        raise ValueError("mode must be of type Backend, Session, Batch or None")
    if enclosing is None:
        raise ValueError("A backend or session must be specified.")
    return enclosing, enclosing._backend


class _Primitive:
    """What SamplerV2 and EstimatorV2 share: mode resolution, options, submission."""

    _options_class: type[SamplerOptions | EstimatorOptions]
    _program: int
    version = 2

    def __init__(self, mode: Any = None, options: dict | Any | None = None):
        self._mode, self._backend = resolve_mode(mode)
        self._local = is_local_backend(self._backend)  # local testing mode (qsession.local)
        if not self._local:
            self._warn_if_not_active()
        self._options: Any
        if options is None:
            self._options = self._options_class()
        elif isinstance(options, self._options_class):
            self._options = copy.deepcopy(options)
        elif isinstance(options, dict):
            self._options = self._options_class.from_dict(options)
        else:
            raise TypeError(
                f"Invalid 'options' type. It can only be a dictionary of {self._options_class}"
            )

    def _warn_if_not_active(self) -> None:
        """Warn when the backend is operational but not active: its jobs wait."""
        status = self._backend.status()
        if status.operational and status.status_msg != "active":
            # qiskit-ibm-runtime warns at each run(); here once, so that a run costs no
            # extra round trip
            warnings.warn(
                f"The backend {status.backend_name} currently has a status of {status.status_msg}.",
                stacklevel=4,
            )

    @property
    def mode(self) -> Session | None:
        """The session or batch the primitive runs in, or ``None`` in job mode."""
        return self._mode

    @property
    def options(self) -> Any:
        """The primitive's options; set attributes on it to change them."""
        return self._options

    def backend(self) -> QSessionBackend | BackendV2:
        """The backend the primitive's jobs run on (a fake backend in local testing mode)."""
        return self._backend

    def _submit(self, **pubs: Any) -> RuntimeJobV2 | LocalRuntimeJob:
        return submit_job(
            self._mode,
            self._backend,
            self._program,
            self._options.job_options(),
            self._options.environment.job_tags or [],
            **pubs,
        )


def submit_job(
    mode: Session | None,
    backend: QSessionBackend | BackendV2,
    program: int,
    options: job_pb2.JobOptions,
    tags: list[str],
    **inputs: Any,
) -> RuntimeJobV2 | LocalRuntimeJob:
    """Submit a job of ``program`` in ``mode`` (``None``: job mode) on ``backend``, with its
    ``inputs`` (``sampler_pubs=``, ``estimator_pubs=`` or ``quantum_program=``); on a fake
    backend, in local testing mode.

    Raises:
        SessionClosedError: the session or batch was closed or cancelled here.
    """
    if mode is not None:
        mode._check_accepting()
    request = job_pb2.CreateJobRequest(
        backend=backend.name,
        program=program,
        options=options,
        tags=tags,
        # a local session has no id
        session_id=(mode.session_id if mode is not None else None) or "",
        **inputs,
    )
    if is_local_backend(backend):
        return LocalRuntimeJob(backend, request).run()
    return backend.service._create_job(request)


class SamplerV2(_Primitive, BaseSamplerV2):
    """Sampler primitive: samples the classical registers of circuits on a qsession backend.

    Args:
        mode: A :class:`Session` or :class:`Batch`, a backend (job mode), or ``None`` for the
            session of the enclosing ``with Session(...)`` block.
        options: A dict or :class:`SamplerOptions`: ``default_shots``,
            ``max_execution_time``, ``environment.job_tags``, ``simulator.seed_simulator``.

    Raises:
        ValueError: no mode can be determined (see :func:`resolve_mode`).
        IBMInputValueError: an unknown option name or a bad value.
    """

    _options_class = SamplerOptions
    _program = job_pb2.PROGRAM_SAMPLER

    def __init__(
        self,
        mode: Any = None,
        options: dict | SamplerOptions | None = None,
    ):
        BaseSamplerV2.__init__(self)
        _Primitive.__init__(self, mode, options)

    @property
    def options(self) -> SamplerOptions:
        """The sampler's options; set attributes on it to change them."""
        return self._options

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> RuntimeJobV2:
        """Submit a Sampler job.

        Args:
            pubs: Sampler PUBs: circuits, or tuples ``(circuit, parameter_values)`` or
                ``(circuit, parameter_values, shots)``; circuits must be ISA circuits for the
                backend (transpile with ``generate_preset_pass_manager(backend=backend)``).
            shots: Shots for PUBs that set none; ``None`` uses ``options.default_shots``.

        Returns:
            The submitted job; its ``result()`` is a ``PrimitiveResult`` of
            ``SamplerPubResult``, one per PUB, each register a :class:`qsession.BitArray` of
            shape ``(*pub.shape)`` with ``num_shots`` shots.

        Raises:
            ValueError: a PUB Qiskit cannot coerce.
            IBMInputValueError: the server rejected a PUB or option (the error names it).
            SessionClosedError: the session does not accept jobs any more.
        """
        coerced = [SamplerPub.coerce(pub, shots) for pub in pubs]
        return self._submit(sampler_pubs=[encode_sampler_pub(pub) for pub in coerced])


class EstimatorV2(_Primitive, BaseEstimatorV2):
    """Estimator primitive: estimates expectation values of observables on a qsession backend.

    Args:
        mode: A :class:`Session` or :class:`Batch`, a backend (job mode), or ``None`` for the
            session of the enclosing ``with Session(...)`` block.
        options: A dict or :class:`EstimatorOptions`: ``default_precision``,
            ``default_shots``, ``max_execution_time``, ``environment.job_tags``,
            ``simulator.seed_simulator``.

    Raises:
        ValueError: no mode can be determined (see :func:`resolve_mode`).
        IBMInputValueError: an unknown option name or a bad value.
    """

    _options_class = EstimatorOptions
    _program = job_pb2.PROGRAM_ESTIMATOR

    def __init__(
        self,
        mode: Any = None,
        options: dict | EstimatorOptions | None = None,
    ):
        BaseEstimatorV2.__init__(self)
        _Primitive.__init__(self, mode, options)

    @property
    def options(self) -> EstimatorOptions:
        """The estimator's options; set attributes on it to change them."""
        return self._options

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> RuntimeJobV2:
        """Submit an Estimator job.

        Args:
            pubs: Estimator PUBs: tuples ``(circuit, observables)``,
                ``(circuit, observables, parameter_values)`` or
                ``(circuit, observables, parameter_values, precision)``; observables must be
                laid out on the ISA circuit's qubits (``observable.apply_layout(isa.layout)``).
            precision: Target standard error for PUBs that set none; ``None`` uses the
                options (``default_shots``, else ``default_precision``).

        Returns:
            The submitted job; its ``result()`` is a ``PrimitiveResult`` of ``PubResult``,
            one per PUB, with ``evs``, ``stds`` and ``ensemble_standard_error`` of the PUB's
            broadcast shape.

        Raises:
            ValueError: ``precision`` is not positive, or a PUB Qiskit cannot coerce.
            IBMInputValueError: the server rejected a PUB or option (the error names it).
            SessionClosedError: the session does not accept jobs any more.
        """
        # qiskit-ibm-runtime's own check, message and all (a NaN passes it, as there: the
        # server then refuses it with the wire rule, wire.shots.precision_problem)
        if precision is not None and precision <= 0:
            raise ValueError("The precision value must be strictly greater than 0.")
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        return self._submit(estimator_pubs=[encode_estimator_pub(pub) for pub in coerced])
