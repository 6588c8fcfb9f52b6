"""What a CreateJobRequest must satisfy to be queued, besides parsing: the configured [limits].

Every check names the offending field. A request over a configured limit gets a
``LimitExceeded`` for how much work a job or an instance asks for (PUBs per job, samples per
job, queued jobs), or a ``ValueOverLimit`` for a value no job may have (shots or precision
beyond the per-PUB limit, a circuit wider than the backend), whose
ErrorInfo metadata names the limit and its value.

Checks run in three steps: on the message (``check_request``), on the circuits' widths once
they parsed in the sandbox (``check_widths``), and on the decoded PUBs (``check_samples``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession.config import BackendConfig, Limits
from qsession.execution.mitigation import EstimatorSettings, Twirling
from qsession.lifecycle.errors import InvalidArgument, LimitExceeded, ValueOverLimit
from qsession.sandbox.circuits import CircuitWidth
from qsession.v1 import job_pb2, options_pb2, quantum_program_pb2, types_pb2
from qsession.wire.quantum_program import ITEMS_FIELD, meas_level_problem
from qsession.wire.shots import (
    precision_problem,
    shots_for_precision,
    shots_problem,
    smallest_precision,
)

MAX_REQUEST_ID = 128
MAX_TAGS = 100
MAX_TAG_LENGTH = 256


_PUBS_FIELDS = {
    job_pb2.PROGRAM_SAMPLER: "sampler_pubs",
    job_pb2.PROGRAM_ESTIMATOR: "estimator_pubs",
    job_pb2.PROGRAM_EXECUTOR: ITEMS_FIELD,
}
EXECUTOR_OPTIONS = frozenset({"seed_simulator", "max_execution_time", "private"})
"""The JobOptions an Executor job may set (IBM's ExecutorOptions have no other the emulator
runs: the rest are Sampler and Estimator options)."""


def pubs_field(request: job_pb2.CreateJobRequest) -> str:
    """``"sampler_pubs"``, ``"estimator_pubs"`` or ``"quantum_program.items"``: where the
    request's PUBs (an Executor job's items) are."""
    return _PUBS_FIELDS.get(request.program, "estimator_pubs")


def job_pubs(
    request: job_pb2.CreateJobRequest,
) -> Sequence[
    types_pb2.SamplerPub | types_pb2.EstimatorPub | quantum_program_pb2.QuantumProgramItem
]:
    """The request's PUBs (an Executor job's program items): each has a ``circuit``."""
    if request.program == job_pb2.PROGRAM_EXECUTOR:
        return request.quantum_program.items
    if request.program == job_pb2.PROGRAM_SAMPLER:
        return request.sampler_pubs
    return request.estimator_pubs


def check_tags(tags: Sequence[str], field: str) -> None:
    """At most MAX_TAGS tags, each non-empty and at most MAX_TAG_LENGTH characters.

    Raises:
        InvalidArgument: naming ``field`` or ``field[i]``.
    """
    if len(tags) > MAX_TAGS:
        raise InvalidArgument(f"{field}: at most {MAX_TAGS} tags, got {len(tags)}", field=field)
    for i, tag in enumerate(tags):
        if not tag or len(tag) > MAX_TAG_LENGTH:
            raise InvalidArgument(
                f"{field}[{i}]: a tag is 1 to {MAX_TAG_LENGTH} characters, got {len(tag)}",
                field=f"{field}[{i}]",
            )


def check_request(request: job_pb2.CreateJobRequest, limits: Limits) -> None:
    """Check what the message alone tells: request_id, tags, PUB count, shots and precision.

    Raises:
        InvalidArgument: a malformed field.
        LimitExceeded, ValueOverLimit: a field over a configured limit.
    """
    if request.program not in _PUBS_FIELDS:
        raise InvalidArgument(
            "program: set PROGRAM_SAMPLER, PROGRAM_ESTIMATOR or PROGRAM_EXECUTOR",
            field="program",
            reason="FIELD_INVALID",
        )
    if len(request.request_id) > MAX_REQUEST_ID:
        raise InvalidArgument(
            f"request_id: at most {MAX_REQUEST_ID} characters", field="request_id"
        )
    check_tags(request.tags, "tags")
    field = pubs_field(request)
    kind = {"sampler_pubs": "sampler", "estimator_pubs": "estimator"}.get(field, "executor")
    for other in ("sampler_pubs", "estimator_pubs"):
        if other != field and len(getattr(request, other)):
            raise InvalidArgument(f"{other}: must be empty for a {kind} job", field=other)
    if kind == "executor":
        _check_program(request, limits)
    elif request.HasField("quantum_program"):
        raise InvalidArgument(
            f"quantum_program: must be unset for a {kind} job", field="quantum_program"
        )
    pubs = job_pubs(request)
    if not pubs:
        raise InvalidArgument(
            f"{field}: a job needs at least one PUB", field=field, reason="FIELD_REQUIRED"
        )
    if len(pubs) > limits.max_pubs_per_job:
        raise LimitExceeded(
            f"{field}: {len(pubs)} PUBs is over the limit of {limits.max_pubs_per_job} per job; "
            "split the work into several jobs",
            field,
            "max_pubs_per_job",
            limits.max_pubs_per_job,
        )
    options = request.options
    if options.HasField("max_execution_time") and not options.max_execution_time > 0:
        raise InvalidArgument(
            "options.max_execution_time: must be > 0 seconds",
            field="options.max_execution_time",
            reason="OPTION_INVALID",
        )
    if options.max_execution_time > limits.max_execution_time:
        raise ValueOverLimit(
            f"options.max_execution_time: {options.max_execution_time:g} s is over the limit "
            f"of {limits.max_execution_time} s; ask for less (a job that sets none gets its "
            f"backend's default, at most {limits.max_execution_time} s)",
            "options.max_execution_time",
            "max_execution_time",
            limits.max_execution_time,
        )
    _check_zne_lists(options.resilience.zne, limits)
    if options.HasField("default_shots"):
        _check_shots(options.default_shots, "options.default_shots", limits)
    for i, sampler_pub in enumerate(request.sampler_pubs):
        if sampler_pub.HasField("shots"):
            _check_shots(sampler_pub.shots, f"sampler_pubs[{i}].shots", limits)
    if options.HasField("default_precision"):
        _check_precision(options.default_precision, "options.default_precision", limits)
    for i, pub in enumerate(request.estimator_pubs):
        if pub.HasField("precision"):
            _check_precision(pub.precision, f"estimator_pubs[{i}].precision", limits)


def _check_program(request: job_pb2.CreateJobRequest, limits: Limits) -> None:
    """An Executor job: its program's shots, meas_level and chunk sizes, and options it may
    set (``EXECUTOR_OPTIONS``).

    Raises:
        InvalidArgument, ValueOverLimit: naming the field.
    """
    program = request.quantum_program
    _check_shots(program.shots, "quantum_program.shots", limits)
    problem = meas_level_problem(program.meas_level)
    if problem is not None:
        raise InvalidArgument(
            f"quantum_program.meas_level: {problem}",
            field="quantum_program.meas_level",
            reason="FIELD_INVALID",
        )
    chunked = [item.HasField("chunk_size") for item in program.items]
    for i, item in enumerate(program.items):
        field = f"{ITEMS_FIELD}[{i}].chunk_size"
        if any(chunked) and not all(chunked):
            raise InvalidArgument(
                f"{field}: items must all set chunk_size or all leave it unset (auto)",
                field=field,
                reason="FIELD_INVALID",
            )
        if item.HasField("chunk_size") and item.chunk_size < 1:
            raise InvalidArgument(f"{field}: must be >= 1", field=field, reason="FIELD_INVALID")
    for descriptor, _ in request.options.ListFields():
        if descriptor.name not in EXECUTOR_OPTIONS:
            field = f"options.{descriptor.name}"
            raise InvalidArgument(
                f"{field}: an Executor job takes only {sorted(EXECUTOR_OPTIONS)}",
                field=field,
                reason="OPTION_INVALID",
            )


def _check_zne_lists(zne: options_pb2.ZneOptions, limits: Limits) -> None:
    """ZNE's lists have at most ``max_noise_factors`` entries, and no noise factor is over
    ``max_noise_factor`` (the folded circuit is that many times deeper)."""
    for name in ("noise_factors", "extrapolated_noise_factors", "extrapolator"):
        entries = getattr(zne, name)
        if len(entries) > limits.max_noise_factors:
            raise ValueOverLimit(
                f"options.resilience.zne.{name}: {len(entries)} entries is over the limit of "
                f"{limits.max_noise_factors}",
                f"options.resilience.zne.{name}",
                "max_noise_factors",
                limits.max_noise_factors,
            )
    for i, factor in enumerate(zne.noise_factors):
        if factor > limits.max_noise_factor:
            raise ValueOverLimit(
                f"options.resilience.zne.noise_factors[{i}]: {factor:g} is over the limit of "
                f"{limits.max_noise_factor} (the folded circuit would be {factor:g} times "
                "deeper); use smaller factors",
                f"options.resilience.zne.noise_factors[{i}]",
                "max_noise_factor",
                limits.max_noise_factor,
            )


def check_backend_time_limit(options: job_pb2.JobOptions, backend: BackendConfig) -> None:
    """A job's ``max_execution_time`` within its backend's ``max_execution_time``, the
    default and cap of that backend (``check_request`` checks the [limits] cap).

    Raises:
        ValueOverLimit: naming ``options.max_execution_time`` and the backend's limit.
    """
    cap = backend.max_execution_time
    if cap is not None and options.max_execution_time > cap:
        raise ValueOverLimit(
            f"options.max_execution_time: {options.max_execution_time:g} s is over backend "
            f"{backend.name}'s limit of {cap:g} s; ask for less (a job that sets none gets "
            f"{cap:g} s there)",
            "options.max_execution_time",
            "backends.max_execution_time",
            math.ceil(cap),
        )


def check_mitigation_cost(
    settings: Twirling | EstimatorSettings,
    sizes: Sequence[tuple[int, int]],
    field: str,
    limits: Limits,
) -> None:
    """What a job's mitigation multiplies its PUBs by stays within [limits]: each PUB's
    twirled shots (randomizations x shots per randomization) within ``max_shots_per_pub``,
    and the job's samples, counting twirled shots at every ZNE noise factor, within
    ``max_samples_per_job`` (``sizes`` as ``pub_sizes`` gives them).

    Raises:
        ValueOverLimit: naming the twirling option; LimitExceeded: naming ``field``.
    """
    if isinstance(settings, Twirling):
        twirling, factors = settings, 1
    else:
        twirling = settings.twirling
        factors = len(settings.noise_factors) if settings.zne_mitigation else 1
    total = 0
    for i, (shots, points) in enumerate(sizes):
        runs = shots
        if twirling.enable_gates or twirling.enable_measure:
            count, per = twirling.split(shots)
            runs = count * per
            if runs > limits.max_shots_per_pub:
                raise ValueOverLimit(
                    f"options.twirling: {count} randomizations x {per} shots is {runs} shots "
                    f"for {field}[{i}], over the limit of {limits.max_shots_per_pub} per PUB; "
                    "set fewer num_randomizations or shots_per_randomization",
                    "options.twirling.num_randomizations",
                    "max_shots_per_pub",
                    limits.max_shots_per_pub,
                )
        total += runs * factors * points
    if total > limits.max_samples_per_job:
        raise LimitExceeded(
            f"{field}: with its twirling and {factors} noise factor(s) the job runs {total} "
            f"samples, over the limit of {limits.max_samples_per_job}; split it into several "
            "jobs or ask for less mitigation",
            field,
            "max_samples_per_job",
            limits.max_samples_per_job,
        )


def check_result_size(
    sizes: Sequence[tuple[int, int]],
    widths: Sequence[CircuitWidth],
    field: str,
    limits: Limits,
) -> None:
    """A Sampler job's result, predicted from its PUBs (shots x parameter points x the
    circuit's classical bits, packed 8 to a byte), stays within ``max_result_bytes``.

    Raises:
        LimitExceeded: naming ``field`` and the limit.
    """
    predicted = sum(
        shots * points * math.ceil(width.num_clbits / 8)
        for (shots, points), width in zip(sizes, widths, strict=True)
    )
    if predicted > limits.max_result_bytes:
        raise LimitExceeded(
            f"{field}: the job's result would be at least {predicted} bytes, over the limit of "
            f"{limits.max_result_bytes}; ask for fewer shots or classical bits, or split it",
            field,
            "max_result_bytes",
            limits.max_result_bytes,
        )


def circuits(request: job_pb2.CreateJobRequest) -> list[tuple[str, types_pb2.Circuit]]:
    """Each PUB's circuit with its field path, e.g. ``("sampler_pubs[0].circuit", ...)``."""
    field = pubs_field(request)
    return [(f"{field}[{i}].circuit", pub.circuit) for i, pub in enumerate(job_pubs(request))]


def check_widths(
    widths: Sequence[CircuitWidth],
    fields: Sequence[str],
    backend: str,
    num_qubits: int,
    limits: Limits,
) -> None:
    """Check each circuit's width against the backend's qubits and the classical-bit limit.

    Raises:
        ValueOverLimit: naming the circuit's field.
    """
    for width, field in zip(widths, fields, strict=True):
        if width.num_qubits > num_qubits:
            raise ValueOverLimit(
                f"{field}: circuit has {width.num_qubits} qubits but the target system requires "
                f"{num_qubits} qubits (backend {backend}); transpile it for the backend "
                "(TranspilerService.Transpile)",
                field,
                "backend_qubits",
                num_qubits,
                reason="CIRCUIT_TOO_WIDE",
            )
        if width.num_clbits > limits.max_clbits_per_circuit:
            raise ValueOverLimit(
                f"{field}: circuit has {width.num_clbits} classical bits, over the limit of "
                f"{limits.max_clbits_per_circuit}",
                field,
                "max_clbits_per_circuit",
                limits.max_clbits_per_circuit,
            )


def pub_sizes(pubs: Sequence[SamplerPub | EstimatorPub]) -> tuple[tuple[int, int], ...]:
    """Each decoded PUB's shots (an Estimator PUB's are ``ceil(1 / precision**2)``) and
    number of parameter points, defaults applied: what ``check_samples`` checks."""
    return tuple(
        (
            pub.shots if isinstance(pub, SamplerPub) else shots_for_precision(pub.precision),
            math.prod(pub.shape),
        )
        for pub in pubs
    )


def check_samples(sizes: Sequence[tuple[int, int]], field: str, limits: Limits) -> None:
    """Check each PUB's shots against the per-PUB limit, and the job's samples (shots times
    parameter points, summed over its PUBs) against the per-job limit (``sizes`` as
    ``pub_sizes`` gives them).

    Raises:
        ValueOverLimit naming a PUB, or LimitExceeded naming ``field``.
    """
    total = 0
    for i, (shots, points) in enumerate(sizes):
        if shots > limits.max_shots_per_pub:
            raise ValueOverLimit(
                f"{field}[{i}]: runs {shots} shots (with the job's defaults), over the limit of "
                f"{limits.max_shots_per_pub} per PUB; set fewer shots or a larger precision",
                f"{field}[{i}]",
                "max_shots_per_pub",
                limits.max_shots_per_pub,
            )
        total += shots * points
    if total > limits.max_samples_per_job:
        raise LimitExceeded(
            f"{field}: the job asks for {total} samples (shots x parameter points, over all PUBs), "
            f"over the limit of {limits.max_samples_per_job}; split it into several jobs",
            field,
            "max_samples_per_job",
            limits.max_samples_per_job,
        )


def _check_shots(shots: int, field: str, limits: Limits) -> None:
    problem = shots_problem(shots)
    if problem is not None:
        raise InvalidArgument(f"{field}: {problem}", field=field, reason=_value_reason(field))
    if shots > limits.max_shots_per_pub:
        raise ValueOverLimit(
            f"{field}: {shots} is over the limit of {limits.max_shots_per_pub} shots per PUB",
            field,
            "max_shots_per_pub",
            limits.max_shots_per_pub,
        )


def _check_precision(precision: float, field: str, limits: Limits) -> None:
    """A precision must be positive and need at most the per-PUB shots (ceil(1/precision**2))."""
    problem = precision_problem(precision, finite=True)
    if problem is not None:
        raise InvalidArgument(f"{field}: {problem}", field=field, reason=_value_reason(field))
    smallest = smallest_precision(limits.max_shots_per_pub)
    if precision < smallest:
        raise ValueOverLimit(
            f"{field}: {precision:g} needs more than {limits.max_shots_per_pub} shots per PUB; "
            f"use at least {smallest:.3g}",
            field,
            "max_shots_per_pub",
            limits.max_shots_per_pub,
        )


def _value_reason(field: str) -> str:
    """The reason for a bad shots or precision value: of a job option, or of a PUB."""
    return "OPTION_INVALID" if field.startswith("options.") else "PUB_INVALID"
