"""A job's runtime options (``JobOptions``) on the wire, both ways.

The SDK encodes what the user set; the server and its workers decode it and resolve the
unset values (``execution.mitigation``). Every field is optional on the wire: ``None`` here
is a field left unset, so the server's defaults apply; an option group that is ``None`` was
not sent at all (the Sampler refuses a ``resilience`` group, even an empty one). The names
and their allowed values are qiskit-ibm-runtime 0.43's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToDict

from qsession.v1 import job_pb2, options_pb2

EXTRAPOLATORS = (
    "linear",
    "exponential",
    "double_exponential",
    *(f"polynomial_degree_{k}" for k in range(1, 8)),
    "fallback",
)
"""qiskit-ibm-runtime 0.43's ``ZneOptions.extrapolator`` names."""

EXTRAPOLATOR_MIN_FACTORS = {
    "linear": 2,
    "exponential": 2,
    "double_exponential": 4,
    "fallback": 2,
    **{f"polynomial_degree_{k}": k + 1 for k in range(1, 8)},
}
"""How many noise factors each extrapolator needs (qiskit-ibm-runtime's ``ZneOptions``)."""

DEFAULT_NOISE_FACTORS = (1.0, 3.0, 5.0)
"""ZNE's noise factors when none are set."""

DEFAULT_EXTRAPOLATORS = ("exponential", "linear")
"""ZNE's extrapolators, tried in order, when none are set."""


@dataclass(frozen=True)
class TwirlingOptions:
    """``twirling``: Pauli twirling of 2-qubit gates and measurements (``None``: unset,
    which includes ``"auto"`` for the counts)."""

    enable_gates: bool | None = None
    enable_measure: bool | None = None
    num_randomizations: int | None = None
    shots_per_randomization: int | None = None
    strategy: str | None = None


@dataclass(frozen=True)
class DynamicalDecouplingOptions:
    """``dynamical_decoupling``: DD sequences in the idle windows."""

    enable: bool | None = None
    sequence_type: str | None = None
    extra_slack_distribution: str | None = None
    scheduling_method: str | None = None
    skip_reset_qubits: bool | None = None


@dataclass(frozen=True)
class ExecutionOptions:
    """``execution``: ``init_qubits``, ``rep_delay`` (seconds), ``meas_type`` (Sampler)."""

    init_qubits: bool | None = None
    rep_delay: float | None = None
    meas_type: str | None = None


@dataclass(frozen=True)
class MeasureNoiseLearningOptions:
    """``resilience.measure_noise_learning``: TREX's readout learning."""

    num_randomizations: int | None = None
    shots_per_randomization: int | None = None


@dataclass(frozen=True)
class ZneOptions:
    """``resilience.zne``: zero-noise extrapolation (empty tuples: unset)."""

    amplifier: str | None = None
    noise_factors: tuple[float, ...] = ()
    extrapolator: tuple[str, ...] = ()
    extrapolated_noise_factors: tuple[float, ...] = ()


@dataclass(frozen=True)
class ResilienceOptions:
    """``resilience``: the Estimator's error mitigation."""

    measure_mitigation: bool | None = None
    zne_mitigation: bool | None = None
    pec_mitigation: bool | None = None
    measure_noise_learning: MeasureNoiseLearningOptions = field(
        default_factory=MeasureNoiseLearningOptions
    )
    zne: ZneOptions = field(default_factory=ZneOptions)


@dataclass(frozen=True)
class JobOptions:
    """A job's options; groups that are ``None`` are not sent."""

    default_shots: int | None = None
    default_precision: float | None = None
    seed_simulator: int | None = None
    max_execution_time: float | None = None
    log_level: str | None = None
    resilience_level: int | None = None
    seed_estimator: int | None = None
    twirling: TwirlingOptions | None = None
    dynamical_decoupling: DynamicalDecouplingOptions | None = None
    execution: ExecutionOptions | None = None
    resilience: ResilienceOptions | None = None
    private: bool | None = None
    exact: bool | None = None


_SCALARS = (
    "default_shots",
    "default_precision",
    "seed_simulator",
    "max_execution_time",
    "log_level",
    "resilience_level",
    "seed_estimator",
    "private",
    "exact",
)
_TWIRLING = (
    "enable_gates",
    "enable_measure",
    "num_randomizations",
    "shots_per_randomization",
    "strategy",
)
_DYNAMICAL_DECOUPLING = (
    "enable",
    "sequence_type",
    "extra_slack_distribution",
    "scheduling_method",
    "skip_reset_qubits",
)
_EXECUTION = ("init_qubits", "rep_delay", "meas_type")
_LEARNING = ("num_randomizations", "shots_per_randomization")
_RESILIENCE = ("measure_mitigation", "zne_mitigation", "pec_mitigation")


def encode_job_options(options: JobOptions) -> job_pb2.JobOptions:
    """The ``JobOptions`` message: set values, and the groups that are not ``None``."""
    message = job_pb2.JobOptions()
    _set(message, options, _SCALARS)
    if options.twirling is not None:
        message.twirling.SetInParent()
        _set(message.twirling, options.twirling, _TWIRLING)
    if options.dynamical_decoupling is not None:
        message.dynamical_decoupling.SetInParent()
        _set(message.dynamical_decoupling, options.dynamical_decoupling, _DYNAMICAL_DECOUPLING)
    if options.execution is not None:
        message.execution.SetInParent()
        _set(message.execution, options.execution, _EXECUTION)
    if options.resilience is not None:
        message.resilience.CopyFrom(_encode_resilience(options.resilience))
    return message


def _encode_resilience(resilience: ResilienceOptions) -> options_pb2.ResilienceOptions:
    message = options_pb2.ResilienceOptions(
        measure_noise_learning=options_pb2.MeasureNoiseLearningOptions(),
        zne=options_pb2.ZneOptions(),
    )
    _set(message, resilience, _RESILIENCE)
    _set(message.measure_noise_learning, resilience.measure_noise_learning, _LEARNING)
    zne = resilience.zne
    if zne.amplifier is not None:
        message.zne.amplifier = zne.amplifier
    message.zne.noise_factors.extend(zne.noise_factors)
    message.zne.extrapolator.extend(zne.extrapolator)
    message.zne.extrapolated_noise_factors.extend(zne.extrapolated_noise_factors)
    return message


def decode_job_options(message: job_pb2.JobOptions) -> JobOptions:
    """The options of a ``JobOptions`` message, ``None`` for what is unset."""
    resilience = None
    if message.HasField("resilience"):
        sent = message.resilience
        resilience = ResilienceOptions(
            **_get(sent, _RESILIENCE),
            measure_noise_learning=MeasureNoiseLearningOptions(
                **_get(sent.measure_noise_learning, _LEARNING)
            ),
            zne=ZneOptions(
                amplifier=sent.zne.amplifier if sent.zne.HasField("amplifier") else None,
                noise_factors=tuple(sent.zne.noise_factors),
                extrapolator=tuple(sent.zne.extrapolator),
                extrapolated_noise_factors=tuple(sent.zne.extrapolated_noise_factors),
            ),
        )
    return JobOptions(
        **_get(message, _SCALARS),
        twirling=TwirlingOptions(**_get(message.twirling, _TWIRLING))
        if message.HasField("twirling")
        else None,
        dynamical_decoupling=DynamicalDecouplingOptions(
            **_get(message.dynamical_decoupling, _DYNAMICAL_DECOUPLING)
        )
        if message.HasField("dynamical_decoupling")
        else None,
        execution=ExecutionOptions(**_get(message.execution, _EXECUTION))
        if message.HasField("execution")
        else None,
        resilience=resilience,
    )


def job_options_dict(message: job_pb2.JobOptions) -> dict[str, Any]:
    """The options that were set, as a dict (what ``job.inputs["options"]`` shows): scalars as
    they are, option groups as dicts of their set fields (groups left empty are omitted)."""
    values: dict[str, Any] = {}
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            values[descriptor.name] = value
        elif value.ByteSize():
            values[descriptor.name] = MessageToDict(value, preserving_proto_field_name=True)
    return values


def _set(message: Any, values: object, names: tuple[str, ...]) -> None:
    """Copy the attributes ``names`` of ``values`` that are not ``None`` into ``message``."""
    for name in names:
        value = getattr(values, name)
        if value is not None:
            setattr(message, name, value)


def _get(message: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields ``names`` of ``message``: their values where set, else ``None``."""
    return {name: getattr(message, name) if message.HasField(name) else None for name in names}
