"""Admission: what a CreateJob (or a Transpile) must pass before the scheduler sees it.

One ``Admission`` owns what that takes: the circuit sandboxes (clients' circuits are parsed
there first, ``sandbox.circuits``), the fair turns between instances (``fairness``), the
circuits a session sent before (``circuit_cache``) and the memo of what was already parsed
and checked (``execution.memo``). ``admit`` runs it all once per request, in this order:

1. the message alone (``limits.check_request``);
2. each circuit's width, parsed in the sandbox unless held (``limits.check_widths``);
3. the PUBs decoded with Qiskit's containers and validated for the device, and the job's
   options (``InvalidPub``, ``InvalidOption``);
4. the shots and samples the PUBs ask for (``limits.check_samples``).

A small request whose circuits are all held parsed is admitted on the event loop; any other
waits for its instance's turn and runs in an admission thread (``_inline_widths``).
"""

from __future__ import annotations

from typing import NamedTuple

from qsession.config import Limits
from qsession.execution import mitigation, qpu_time
from qsession.execution.memo import Memo
from qsession.execution.mitigation import EstimatorSettings, Twirling
from qsession.execution.validation import validate_estimator_pub, validate_sampler_pub
from qsession.lifecycle.errors import InvalidArgument, NotFound
from qsession.runtime import limits
from qsession.runtime.circuit_cache import CircuitCache
from qsession.runtime.dispatch import Qpu
from qsession.runtime.fairness import FairAdmission, admission_sizes
from qsession.sandbox.circuits import CircuitSandbox, CircuitWidth
from qsession.v1 import job_pb2, quantum_program_pb2, transpiler_pb2, types_pb2
from qsession.wire import circuit_digest, decode_job_pubs
from qsession.wire.pubs import check_parameter_values
from qsession.wire.quantum_program import check_circuit_arguments

CIRCUIT_PARSE_TIMEOUT = 60.0
CIRCUIT_SANDBOXES = 2
INLINE_ADMISSION_BYTES = 64 * 1024
"""The largest CreateJob admitted on the event loop (see ``Admission._inline_widths``)."""
MAX_OPTIMIZATION_LEVEL = 3
DEFAULT_OPTIMIZATION_LEVEL = 2  # Qiskit's default for generate_preset_pass_manager

Sizes = tuple[tuple[int, int], ...]
"""Each PUB's shots and parameter points (``limits.pub_sizes``)."""


class Admitted(NamedTuple):
    """What admission learned of a job.

    Attributes:
        sizes: each PUB's shots and parameter points.
        qpu_seconds: its modelled QPU time (``execution.qpu_time``): IBM's usage estimation.
    """

    sizes: Sizes
    qpu_seconds: float


Named = list[tuple[str, types_pb2.Circuit]]
"""Each PUB's circuit with its field path (``limits.circuits``)."""


class Admission:
    """Admits CreateJobs and Transpiles (see the module docstring).

    Args:
        limits: the configured [limits].
        memo: what was parsed and checked already.
        circuits: the circuits sessions sent before, by SHA-256.
        sandbox: the processes that parse clients' circuits first.
        turns: the admission threads, taken in turns between instances.
    """

    def __init__(
        self,
        limits: Limits,
        memo: Memo,
        circuits: CircuitCache,
        sandbox: CircuitSandbox,
        turns: FairAdmission,
    ) -> None:
        self.limits = limits
        self.memo = memo
        self.circuits = circuits
        self.sandbox = sandbox
        self.turns = turns

    @classmethod
    def for_limits(cls, limits: Limits, memo: Memo) -> Admission:
        """Admission sized by ``[limits] max_concurrent_admissions_per_instance``, with one
        sandbox process per admission slot, so that a running admission never waits for a
        sandbox (the processes start in the background: see ``wait_ready``)."""
        slots, per_instance = admission_sizes(limits.max_concurrent_admissions_per_instance)
        sandbox = CircuitSandbox(
            CIRCUIT_SANDBOXES, limits.circuit_parse_memory_bytes, CIRCUIT_PARSE_TIMEOUT
        )
        sandbox.grow(slots)
        return cls(limits, memo, CircuitCache(), sandbox, FairAdmission(slots, per_instance))

    def wait_ready(self) -> None:
        """Block until the sandbox processes have started."""
        self.sandbox.wait_ready()

    def stop(self) -> None:
        """Stop the sandbox processes: admissions from now on are refused (SHUTTING_DOWN)."""
        self.sandbox.close()

    def close(self) -> None:
        """Run no more admissions (those running finish in the background)."""
        self.turns.close()

    async def admit(self, instance: str, qpu: Qpu, request: job_pb2.CreateJobRequest) -> Admitted:
        """Admit ``request`` for ``qpu``: each PUB's shots and parameter points, and the job's
        modelled QPU time.

        The circuits are parsed in the sandbox first, then decoded and checked against the
        backend and the [limits]. That work waits for the instance's turn (``fairness``): at
        most ``max_concurrent_admissions_per_instance`` of an instance's requests at once,
        other instances' requests going ahead of the rest. A circuit sent by its SHA-256 is
        taken from the session's circuit cache and put in place in ``request``.

        Raises:
            WireError, InvalidPub, InvalidArgument, ValueOverLimit, LimitExceeded: naming
                the offending field.
        """
        limits.check_request(request, self.limits)
        limits.check_backend_time_limit(request.options, qpu.config)
        scope = (instance, request.session_id)
        named = limits.circuits(request)
        held = self._inline_widths(request, named)
        if held is not None:
            return self._admit_pubs(qpu, request, named, scope, held)
        return await self.turns.run(instance, self._admit_pubs, qpu, request, named, scope)

    async def transpile(
        self, instance: str, qpus: dict[str, Qpu], request: transpiler_pb2.TranspileRequest
    ) -> transpiler_pb2.TranspileResponse:
        """Transpile a client's circuit for a backend in the sandbox, in the instance's turn.

        Raises:
            InvalidArgument: no circuit, a circuit by reference, no backend, or an
                optimization level over MAX_OPTIMIZATION_LEVEL; what the transpiler refused.
            NotFound: the backend does not exist.
            WireError: the circuit made the sandbox run out of memory or time.
        """
        form = request.circuit.WhichOneof("format")
        if form is None:
            raise InvalidArgument(
                "circuit: required; set circuit.qasm3 (OpenQASM 3 text) or circuit.qpy",
                field="circuit",
                reason="FIELD_REQUIRED",
            )
        if form not in ("qpy", "qasm3"):
            raise InvalidArgument(
                f"circuit.{form}: Transpile takes the circuit itself; set circuit.qasm3 or "
                "circuit.qpy",
                field=f"circuit.{form}",
                reason="FIELD_INVALID",
            )
        if not request.backend:
            raise InvalidArgument(
                "backend: required; ListBackends gives the names",
                field="backend",
                reason="FIELD_REQUIRED",
            )
        qpu = qpus.get(request.backend)
        if qpu is None:
            raise NotFound(
                f"backend: backend {request.backend!r} does not exist; use one of {sorted(qpus)}",
                field="backend",
                reason="BACKEND_NOT_FOUND",
            )
        level = (
            request.optimization_level
            if request.HasField("optimization_level")
            else DEFAULT_OPTIMIZATION_LEVEL
        )
        if level > MAX_OPTIMIZATION_LEVEL:
            raise InvalidArgument(
                f"optimization_level: must be 0 to {MAX_OPTIMIZATION_LEVEL}, got {level}",
                field="optimization_level",
                reason="FIELD_INVALID",
            )
        job = {
            "circuit": request.circuit.SerializeToString(),
            "backend": request.backend,
            "profile": qpu.config.profile,
            "optimization_level": level,
            "initial_layout": list(request.initial_layout) or None,
            "seed_transpiler": (
                request.seed_transpiler if request.HasField("seed_transpiler") else None
            ),
            "pauli_labels": list(request.pauli_labels),
        }
        result = await self.turns.run(instance, self.sandbox.transpile, job)
        return transpiler_pb2.TranspileResponse(
            circuit=types_pb2.Circuit.FromString(result["circuit"]),
            num_qubits=result["num_qubits"],
            initial_layout=result["initial_layout"],
            final_layout=result["final_layout"],
            pauli_labels=result["pauli_labels"],
        )

    def _inline_widths(
        self, request: job_pb2.CreateJobRequest, named: Named
    ) -> dict[str, CircuitWidth] | None:
        """Whether to admit ``request`` on the event loop rather than in an admission thread:
        a small request (at most INLINE_ADMISSION_BYTES) whose every circuit is held parsed,
        sent by its SHA-256 or whole (the same bytes passed the sandbox before). Its admission
        is then memo look-ups and a small decode, which costs less than the hop to a thread
        and back (an iterative algorithm's jobs, or any client's repeated circuit). A circuit
        not held parsed goes to a thread: parsing it may take long, and an instance's turns
        (``fairness``) bound that work.

        Returns:
            ``None`` to admit in a thread; else the widths of the circuits sent whole, by
            SHA-256 (taken now: the memo may drop them before ``_admit_pubs`` runs).
        """
        if request.ByteSize() > INLINE_ADMISSION_BYTES:
            return None
        widths = {}
        for _, circuit in named:
            by_digest = circuit.WhichOneof("format") == "sha256"
            digest = circuit.sha256 if by_digest else circuit_digest(circuit.SerializeToString())
            parsed = self.memo.held_circuit(digest)
            if parsed is None:
                return None
            if not by_digest:
                widths[digest] = CircuitWidth(parsed.num_qubits, parsed.num_clbits)
        return widths

    def _admit_pubs(
        self,
        qpu: Qpu,
        request: job_pb2.CreateJobRequest,
        named: Named,
        scope: tuple[str, str],
        held: dict[str, CircuitWidth] | None = None,
    ) -> Admitted:
        """Parse the ``named`` circuits of ``request`` in the sandbox (one sent by its SHA-256
        is taken from the ``scope``'s circuit cache instead, and put in place in ``request``;
        one sent whole whose bytes are ``held`` parsed is not parsed again), check their
        widths, decode and validate the PUBs, and check their shots and samples; return each
        PUB's shots and parameter points and the modelled QPU time. Runs in an admission thread (see
        ``fairness.FairAdmission``), which has a sandbox process to itself, or on the loop for
        a small request of circuits held parsed (``_inline_widths``).

        Raises:
            WireError, InvalidPub, ValueOverLimit, LimitExceeded: naming the offending field.
        """
        known = self.circuits.resolve(scope, named)  # sha256 references -> kept circuits
        if held:
            known = [
                held[circuit_digest(circuit.SerializeToString())] if width is None else width
                for (_, circuit), width in zip(named, known, strict=True)
            ]
        fields, circuits = zip(*named, strict=True)
        sent = [pair for pair, width in zip(named, known, strict=True) if width is None]
        parsed = iter(self.sandbox.widths(sent) if sent else [])
        widths = [next(parsed) if width is None else width for width in known]
        try:
            limits.check_widths(
                widths, fields, qpu.config.name, qpu.profile.target.num_qubits, self.limits
            )
            admitted, settings = self._decode_pubs(qpu, request)
            sizes = admitted.sizes
            field = limits.pubs_field(request)
            limits.check_samples(sizes, field, self.limits)
            limits.check_mitigation_cost(settings, sizes, field, self.limits)
            if request.program != job_pb2.PROGRAM_ESTIMATOR:
                limits.check_result_size(sizes, widths, field, self.limits)
        except Exception:  # refused: what this request alone sent need not stay parsed
            for _, circuit in sent:
                self.memo.forget_circuit(circuit)
            raise
        self.circuits.remember(scope, circuits, widths)
        return admitted

    def _decode_pubs(
        self, qpu: Qpu, request: job_pb2.CreateJobRequest
    ) -> tuple[Admitted, Twirling | EstimatorSettings]:
        """Decode and validate every PUB for the QPU, and the options it can apply; return
        each PUB's shots and parameter points (``limits.pub_sizes``) with the job's modelled
        QPU time, and the job's mitigation settings.

        A request like one admitted before but for its parameter values (an iterative
        algorithm's next job: same circuits, observables, names, shapes, precision or shots,
        options and device; for an Executor job, the same program but for its circuit
        arguments' values, ``_program_structure``) is not decoded again: only its values are
        checked (their size, and that each is finite), as the decode would.

        Raises:
            WireError, InvalidPub, InvalidOption: naming the field.
        """
        options = request.options.SerializeToString()
        # Checked once per distinct options (a VQE sends the same ones every iteration).
        settings: Twirling | EstimatorSettings = self.memo.get(
            ("options", request.program, options), lambda: _settings(request)
        )
        field = limits.pubs_field(request)
        structure: tuple[object, ...] = ("admitted", qpu.config.name, request.program, options)
        if request.program == job_pb2.PROGRAM_EXECUTOR:
            structure += _program_structure(request.quantum_program)
            admitted: Admitted = self.memo.get(
                structure, lambda: self._decoded(qpu, request, settings)
            )
            for i, item in enumerate(request.quantum_program.items):
                check_circuit_arguments(item, f"{field}[{i}].circuit_arguments")
            return admitted, settings
        estimator = request.program == job_pb2.PROGRAM_ESTIMATOR
        count = "precision" if estimator else "shots"
        for pub in getattr(request, field):
            values = pub.parameter_values
            structure += (
                circuit_digest(pub.circuit.SerializeToString()),
                pub.observables.SerializeToString() if estimator else b"",
                pub.HasField("parameter_values"),
                tuple(values.parameters),
                tuple(values.values.shape),
                getattr(pub, count) if pub.HasField(count) else None,
            )
        admitted = self.memo.get(structure, lambda: self._decoded(qpu, request, settings))
        for i, pub in enumerate(getattr(request, field)):
            if pub.parameter_values.parameters:  # (the decode reads values only then)
                check_parameter_values(pub.parameter_values, f"{field}[{i}].parameter_values")
        return admitted, settings

    def _decoded(
        self,
        qpu: Qpu,
        request: job_pb2.CreateJobRequest,
        settings: Twirling | EstimatorSettings,
    ) -> Admitted:
        """Every PUB decoded (with Qiskit's containers) and validated for the QPU; their
        sizes and the job's modelled QPU time."""
        pubs = decode_job_pubs(
            request.program, request, request.options, self.memo.circuit, self.memo.observables
        )
        estimator = request.program == job_pb2.PROGRAM_ESTIMATOR
        validate = validate_estimator_pub if estimator else validate_sampler_pub
        field = limits.pubs_field(request)
        profile = qpu.profile
        for i, pub in enumerate(pubs):
            validate(pub, f"{field}[{i}]", profile.target, profile.name, self.memo)
        execution = request.options.execution
        rep_delay = execution.rep_delay if execution.HasField("rep_delay") else None
        seconds = qpu_time.job_seconds(pubs, settings, profile.target, profile.name, rep_delay)
        return Admitted(limits.pub_sizes(pubs), seconds)


def _program_structure(program: quantum_program_pb2.QuantumProgram) -> tuple[object, ...]:
    """What decoding an Executor job's program depends on, but for its circuit arguments'
    values: shots, and per item its circuit, its arguments' shape, its samplex, the samplex's
    arguments and its shape."""
    structure: tuple[object, ...] = (program.shots,)
    for item in program.items:
        structure += (
            circuit_digest(item.circuit.SerializeToString()),
            item.HasField("circuit_arguments"),
            tuple(item.circuit_arguments.shape),
            circuit_digest(item.samplex_json.encode()),
            circuit_digest(item.samplex_arguments_json.encode()),
            tuple(item.shape),
        )
    return structure


def _settings(request: job_pb2.CreateJobRequest) -> Twirling | EstimatorSettings:
    """The request's mitigation settings (raises InvalidOption, naming the option)."""
    if request.program == job_pb2.PROGRAM_ESTIMATOR:
        return mitigation.estimator_settings(request.options)
    return mitigation.sampler_settings(request.options)
