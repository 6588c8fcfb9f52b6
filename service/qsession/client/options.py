"""Primitive options, with qiskit-ibm-runtime's names.

Give them as a dict when constructing a primitive, or set attributes later::

    estimator = EstimatorV2(mode=session, options={"default_shots": 10_000})
    estimator.options.default_precision = 0.01
    estimator.options.environment.job_tags = ["cobyla"]
    estimator.options.simulator.seed_simulator = 42

An unknown option name raises at every level, naming the valid ones (``AttributeError`` on
reading or assigning an attribute, ``IBMInputValueError`` in a dict), and so does a value of the
wrong kind, so a typo never goes unnoticed. ``environment.job_tags`` is checked by pydantic, as
qiskit-ibm-runtime checks it: a value that is not a list of strings raises pydantic's
``ValidationError``, which code written for qiskit-ibm-runtime catches (it is a ``ValueError``,
as ``IBMInputValueError`` is).

Every option name of qiskit-ibm-runtime 0.43's ``EstimatorOptions`` and ``SamplerOptions`` exists
here, with its type, default and validation (read from qiskit-ibm-runtime, not imported: it is
not a dependency). Options qsession applies travel in ``JobOptions``; the server refuses those
it cannot emulate (``resilience.pec_mitigation``, ``execution.meas_type="kerneled"``, ...) with
INVALID_ARGUMENT naming them. The few that have no meaning on an emulator and no wire field
(``resilience.pec``, ``resilience.layer_noise_learning``, ``resilience.layer_noise_model``,
``experimental``, ``simulator.noise_model``, ``simulator.coupling_map``,
``simulator.basis_gates``) are accepted as attributes, as
qiskit-ibm-runtime does, and refused by ``run()`` with an ``IBMInputValueError`` naming them:
never silently ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import ConfigDict, StringConstraints, TypeAdapter

from qsession.client.errors import IBMInputValueError
from qsession.v1 import job_pb2
from qsession.wire import options as wire
from qsession.wire.options import EXTRAPOLATOR_MIN_FACTORS, EXTRAPOLATORS
from qsession.wire.shots import precision_for_shots

Validator = Callable[[str, Any], Any]


def _positive_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value != int(value)
        or value <= 0
    ):
        raise IBMInputValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _non_negative_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise IBMInputValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _positive_float(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise IBMInputValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


_JOB_TAGS = TypeAdapter(
    list[Annotated[str, StringConstraints(strict=True, min_length=1)]],
    config=ConfigDict(title="job_tags"),
)


def _job_tags(name: str, value: Any) -> list[str] | None:  # noqa: ARG001 - the validator signature
    """``environment.job_tags``: None or a list (or other collection) of non-empty strings.
    Checked by pydantic, as qiskit-ibm-runtime's pydantic options check it, so a bad value
    raises pydantic's ``ValidationError`` there and here (a ``ValueError``)."""
    return None if value is None else _JOB_TAGS.validate_python(value)


class _Options:
    """Options that refuse unknown names and check values on every assignment."""

    __slots__ = ()
    _validators: ClassVar[dict[str, Validator]] = {}
    _nested: ClassVar[dict[str, type[_Options]]] = {}

    def _unknown(self, name: str) -> AttributeError:
        known = ", ".join(sorted(f.name for f in fields(self)))  # type: ignore[arg-type]
        return AttributeError(
            f"{type(self).__name__} has no option {name!r}; its options are: {known}"
        )

    def __getattr__(self, name: str) -> Any:
        """Called only for names that are not options: raise with the list of valid ones."""
        if name.startswith("__"):  # copy, pickle and friends probe for dunders
            raise AttributeError(name)
        raise self._unknown(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise self._unknown(name)
        nested = self._nested.get(name)
        if nested is not None:
            value = value if isinstance(value, nested) else nested.from_dict(value, name)
        elif name in self._validators:
            value = self._validators[name](name, value)
        object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "options") -> Any:
        """Options from a (possibly nested) dict.

        Raises:
            IBMInputValueError: an unknown name or a bad value.
        """
        if not isinstance(values, Mapping):
            raise IBMInputValueError(f"{where} must be a dict, got {type(values).__name__}")
        options = cls()
        options.update(**values)
        return options

    def update(self, **kwargs: Any) -> None:
        """Set several options at once; nested options may be given as dicts.

        Raises:
            IBMInputValueError: an unknown name or a bad value.
        """
        for name, value in kwargs.items():
            current = getattr(self, name, None) if name in self._nested else None
            if isinstance(current, _Options) and isinstance(value, Mapping):
                current.update(**value)
                continue
            try:
                setattr(self, name, value)
            except AttributeError as exc:
                raise IBMInputValueError(str(exc)) from None


def _bool(name: str, value: Any) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool | np.bool_):
        raise IBMInputValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _one_of(*allowed: str) -> Validator:
    """A validator accepting only the strings ``allowed`` (qiskit-ibm-runtime's ``Literal``)."""

    def check(name: str, value: Any) -> str | None:
        if value is None:
            return None
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise IBMInputValueError(f"{name} must be one of {choices}, got {value!r}")
        return value

    return check


def _count_or_auto(name: str, value: Any) -> int | str | None:
    """An integer >= 1 or ``"auto"`` (twirling and learning randomizations)."""
    if value is None or value == "auto":
        return value
    return _positive_int(name, value)


def _resilience_level(name: str, value: Any) -> int | None:
    level = _non_negative_int(name, value)
    if level is not None and level > MAX_RESILIENCE_LEVEL:
        raise IBMInputValueError(
            f"{name} must be between 0 and {MAX_RESILIENCE_LEVEL}, got {value!r}"
        )
    return level


def _finite_floats(name: str, value: Any, at_least: float) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        raise IBMInputValueError(f"{name} must be a sequence of numbers, got {value!r}")
    numbers = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float | np.number):
            raise IBMInputValueError(f"{name} must be a sequence of numbers, got {value!r}")
        if not math.isfinite(item) or item < at_least:
            raise IBMInputValueError(f"{name}` option value must all be >= {at_least:g}")
        numbers.append(float(item))
    return tuple(numbers)


def _noise_factors(name: str, value: Any) -> tuple[float, ...] | None:
    return _finite_floats(name, value, 1.0)


def _extrapolated_noise_factors(name: str, value: Any) -> tuple[float, ...] | None:
    return _finite_floats(name, value, 0.0)


def _extrapolator(name: str, value: Any) -> str | tuple[str, ...] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, Sequence) or not names:
        raise IBMInputValueError(f"{name} must be an extrapolator name or a sequence of them")
    for extrapolator in names:
        if extrapolator not in EXTRAPOLATORS:
            choices = ", ".join(repr(e) for e in EXTRAPOLATORS)
            raise IBMInputValueError(f"{name} must be one of {choices}, got {extrapolator!r}")
    return value if isinstance(value, str) else tuple(value)


def _seed(name: str, value: Any) -> int | None:
    if isinstance(value, np.integer):
        value = int(value)
    return _non_negative_int(name, value)


def _anything(name: str, value: Any) -> Any:  # noqa: ARG001 - the validator signature
    return value


MAX_RESILIENCE_LEVEL = 2
"""Highest Estimator ``resilience_level`` (qiskit-ibm-runtime's ``MAX_RESILIENCE_LEVEL``)."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(slots=True)
class EnvironmentOptions(_Options):
    """Options of the execution environment.

    Attributes:
        log_level: Log level of the job's execution: ``"DEBUG"``, ``"INFO"``, ``"WARNING"``
            (default), ``"ERROR"`` or ``"CRITICAL"``.
        job_tags: Tags given to each job, to filter ``RuntimeService.jobs()`` and
            ``watch_jobs()`` by.
        private: qiskit-ibm-runtime's private jobs: the server never returns their inputs,
            and deletes their result once it is read.
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "log_level": _one_of(*LOG_LEVELS),
        "job_tags": _job_tags,
        "private": _bool,
    }
    log_level: str = "WARNING"
    job_tags: list[str] | None = None
    private: bool | None = False


@dataclass(slots=True)
class SimulatorOptions(_Options):
    """Options of the emulator.

    Attributes:
        seed_simulator: Seed of the emulator's random numbers, for reproducible results.
        exact: qsession's own: refuse approximate simulation methods. A PUB that only an
            approximate method (a trajectory average, truncated matrix product states) can
            run fails the job naming this option, instead of running approximately. Each
            PUB's ``metadata["simulation"]`` says which methods ran.
        noise_model, coupling_map, basis_gates: qiskit-ibm-runtime's local-simulator
            settings. The emulated device defines its own noise, coupling and gates, so
            ``run()`` refuses them when set.
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "seed_simulator": _seed,
        "noise_model": _anything,
        "coupling_map": _anything,
        "basis_gates": _anything,
        "exact": _bool,
    }
    noise_model: Any = None
    seed_simulator: int | None = None
    exact: bool | None = None
    coupling_map: Any = None
    basis_gates: list[str] | None = None


@dataclass(slots=True)
class TwirlingOptions(_Options):
    """Pauli twirling of 2-qubit gates and measurements.

    Attributes:
        enable_gates: Twirl the 2-qubit gates (Estimator default: ``True`` at resilience
            level 2 only; Sampler default ``False``).
        enable_measure: Twirl the measurements (Estimator default: ``True`` at resilience
            levels 1 and 2; Sampler default ``False``).
        num_randomizations: Random twirls per PUB, an integer >= 1 or ``"auto"`` (default):
            ``ceil(shots / shots_per_randomization)``.
        shots_per_randomization: Shots of each twirl, an integer >= 1 or ``"auto"``
            (default): ``max(64, ceil(shots / 32))`` when ``num_randomizations`` is auto too,
            else ``ceil(shots / num_randomizations)``.
        strategy: Qubits twirled in each layer: ``"active"``, ``"active-accum"`` (default),
            ``"active-circuit"`` or ``"all"``.
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "enable_gates": _bool,
        "enable_measure": _bool,
        "num_randomizations": _count_or_auto,
        "shots_per_randomization": _count_or_auto,
        "strategy": _one_of("active", "active-accum", "active-circuit", "all"),
    }
    enable_gates: bool | None = None
    enable_measure: bool | None = None
    num_randomizations: int | str | None = None
    shots_per_randomization: int | str | None = None
    strategy: str | None = None

    def wire(self) -> wire.TwirlingOptions:
        """The wire form (``"auto"`` and unset both left unset)."""
        return wire.TwirlingOptions(
            enable_gates=self.enable_gates,
            enable_measure=self.enable_measure,
            num_randomizations=_count(self.num_randomizations),
            shots_per_randomization=_count(self.shots_per_randomization),
            strategy=self.strategy,
        )


@dataclass(slots=True)
class DynamicalDecouplingOptions(_Options):
    """Dynamical decoupling of the idle windows of the scheduled circuit.

    Attributes:
        enable: Pad idle windows with a DD sequence (default ``False``).
        sequence_type: ``"XX"`` (default), ``"XpXm"`` or ``"XY4"``.
        extra_slack_distribution: ``"middle"`` (default) or ``"edges"``.
        scheduling_method: ``"alap"`` (default) or ``"asap"``.
        skip_reset_qubits: Leave qubits still in their initial or a reset state alone
            (default ``False``).
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "enable": _bool,
        "sequence_type": _one_of("XX", "XpXm", "XY4"),
        "extra_slack_distribution": _one_of("middle", "edges"),
        "scheduling_method": _one_of("alap", "asap"),
        "skip_reset_qubits": _bool,
    }
    enable: bool | None = None
    sequence_type: str | None = None
    extra_slack_distribution: str | None = None
    scheduling_method: str | None = None
    skip_reset_qubits: bool | None = None

    def wire(self) -> wire.DynamicalDecouplingOptions:
        """The wire form."""
        return wire.DynamicalDecouplingOptions(
            enable=self.enable,
            sequence_type=self.sequence_type,
            extra_slack_distribution=self.extra_slack_distribution,
            scheduling_method=self.scheduling_method,
            skip_reset_qubits=self.skip_reset_qubits,
        )


@dataclass(slots=True)
class ExecutionOptions(_Options):
    """Low-level execution options.

    Attributes:
        init_qubits: Reset the qubits before each shot (default ``True``; an emulated shot
            always starts from ``|0...0>``, so the server refuses ``False``).
        rep_delay: Delay between shots in seconds (does not change emulated results).
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "init_qubits": _bool,
        "rep_delay": _positive_float,
    }
    init_qubits: bool | None = None
    rep_delay: float | None = None

    def wire(self) -> wire.ExecutionOptions:
        """The wire form."""
        return wire.ExecutionOptions(init_qubits=self.init_qubits, rep_delay=self.rep_delay)


@dataclass(slots=True)
class SamplerExecutionOptions(ExecutionOptions):
    """The Sampler's execution options: :class:`ExecutionOptions` and ``meas_type``.

    Attributes:
        meas_type: ``"classified"`` (default), ``"kerneled"`` or ``"avg_kerneled"``. The
            emulator produces only classified bits: the server refuses the other two.
    """

    _validators: ClassVar[dict[str, Validator]] = {
        **ExecutionOptions._validators,
        "meas_type": _one_of("classified", "kerneled", "avg_kerneled"),
    }
    meas_type: str | None = None

    def wire(self) -> wire.ExecutionOptions:
        """The wire form."""
        return wire.ExecutionOptions(
            init_qubits=self.init_qubits, rep_delay=self.rep_delay, meas_type=self.meas_type
        )


@dataclass(slots=True)
class MeasureNoiseLearningOptions(_Options):
    """The readout calibration of TREX.

    Attributes:
        num_randomizations: Random measurement twirls of the calibration (default 32).
        shots_per_randomization: Shots of each, an integer >= 1 or ``"auto"`` (default).
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "num_randomizations": _positive_int,
        "shots_per_randomization": _count_or_auto,
    }
    num_randomizations: int | None = None
    shots_per_randomization: int | str | None = None

    def wire(self) -> wire.MeasureNoiseLearningOptions:
        """The wire form (``"auto"`` left unset)."""
        return wire.MeasureNoiseLearningOptions(
            num_randomizations=self.num_randomizations,
            shots_per_randomization=_count(self.shots_per_randomization),
        )


@dataclass(slots=True)
class ZneOptions(_Options):
    """Zero-noise extrapolation.

    Attributes:
        amplifier: ``"gate_folding"`` (default), ``"gate_folding_front"``,
            ``"gate_folding_back"`` or ``"pea"`` (refused by the server: PEA needs layer
            noise learning, which qsession does not emulate).
        noise_factors: Noise factors, each >= 1 (default ``(1, 3, 5)``).
        extrapolator: One name or several tried in order (default
            ``("exponential", "linear")``); see :data:`EXTRAPOLATORS`.
        extrapolated_noise_factors: Where the fits are evaluated (default 0 and the
            ``noise_factors``).
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "amplifier": _one_of("gate_folding", "gate_folding_front", "gate_folding_back", "pea"),
        "noise_factors": _noise_factors,
        "extrapolator": _extrapolator,
        "extrapolated_noise_factors": _extrapolated_noise_factors,
    }
    amplifier: str | None = None
    noise_factors: tuple[float, ...] | None = None
    extrapolator: str | tuple[str, ...] | None = None
    extrapolated_noise_factors: tuple[float, ...] | None = None

    def check(self, where: str) -> None:
        """qiskit-ibm-runtime's cross-field rule: each extrapolator needs enough factors."""
        factors = self.noise_factors if self.noise_factors is not None else (1, 3, 5)
        extrapolators = self.extrapolator or ("exponential", "linear")
        if isinstance(extrapolators, str):
            extrapolators = (extrapolators,)
        for extrapolator in extrapolators:
            needed = EXTRAPOLATOR_MIN_FACTORS[extrapolator]
            if len(factors) < needed:
                raise IBMInputValueError(
                    f"{where}.extrapolator: {extrapolator} requires at least {needed} noise_factors"
                )

    def wire(self) -> wire.ZneOptions:
        """The wire form."""
        extrapolator = self.extrapolator or ()
        return wire.ZneOptions(
            amplifier=self.amplifier,
            noise_factors=self.noise_factors or (),
            extrapolator=(extrapolator,) if isinstance(extrapolator, str) else extrapolator,
            extrapolated_noise_factors=self.extrapolated_noise_factors or (),
        )


@dataclass(slots=True)
class PecOptions(_Options):
    """qiskit-ibm-runtime's PEC settings; PEC is not emulated, ``run()`` refuses them."""

    _validators: ClassVar[dict[str, Validator]] = {
        "max_overhead": _positive_float,
        "noise_gain": _anything,
    }
    max_overhead: float | None = None
    noise_gain: float | str | None = None


@dataclass(slots=True)
class LayerNoiseLearningOptions(_Options):
    """qiskit-ibm-runtime's layer noise learning (for PEA and PEC); not emulated, ``run()``
    refuses them."""

    _validators: ClassVar[dict[str, Validator]] = {
        "max_layers_to_learn": _non_negative_int,
        "shots_per_randomization": _positive_int,
        "num_randomizations": _positive_int,
        "layer_pair_depths": _anything,
    }
    max_layers_to_learn: int | None = None
    shots_per_randomization: int | None = None
    num_randomizations: int | None = None
    layer_pair_depths: list[int] | None = None


@dataclass(slots=True)
class ResilienceOptions(_Options):
    """Error mitigation of the Estimator; unset options follow ``resilience_level``.

    Attributes:
        measure_mitigation: TREX: twirled readout learning and rescaling (default ``True`` at
            levels 1 and 2).
        measure_noise_learning: :class:`MeasureNoiseLearningOptions`.
        zne_mitigation: Zero-noise extrapolation (default ``True`` at level 2).
        zne: :class:`ZneOptions`.
        pec_mitigation: Probabilistic error cancellation: the server refuses ``True``.
        pec: :class:`PecOptions` (refused by ``run()`` when set).
        layer_noise_learning: :class:`LayerNoiseLearningOptions` (refused when set).
        layer_noise_model: A learned layer noise model (refused when set).
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "measure_mitigation": _bool,
        "zne_mitigation": _bool,
        "pec_mitigation": _bool,
        "layer_noise_model": _anything,
    }
    _nested: ClassVar[dict[str, type[_Options]]] = {
        "measure_noise_learning": MeasureNoiseLearningOptions,
        "zne": ZneOptions,
        "pec": PecOptions,
        "layer_noise_learning": LayerNoiseLearningOptions,
    }
    measure_mitigation: bool | None = None
    measure_noise_learning: MeasureNoiseLearningOptions = field(
        default_factory=MeasureNoiseLearningOptions
    )
    zne_mitigation: bool | None = None
    zne: ZneOptions = field(default_factory=ZneOptions)
    pec_mitigation: bool | None = None
    pec: PecOptions = field(default_factory=PecOptions)
    layer_noise_learning: LayerNoiseLearningOptions = field(
        default_factory=LayerNoiseLearningOptions
    )
    layer_noise_model: Any = None

    def check(self) -> None:
        """qiskit-ibm-runtime's cross-field rules (``ResilienceOptionsV2._validate_options``).

        Raises:
            IBMInputValueError: the rule broken.
        """
        learning = self.measure_noise_learning
        if not self.measure_mitigation and (
            learning.num_randomizations is not None or learning.shots_per_randomization is not None
        ):
            raise IBMInputValueError(
                "'measure_noise_learning' options are set, but 'measure_mitigation' is not set "
                "to True."
            )
        if self.pec_mitigation is True and self.zne_mitigation is True:
            raise IBMInputValueError(
                "'pec_mitigation' and 'zne_mitigation' options cannot be simultaneously "
                "enabled. Set one of them to False."
            )
        self.zne.check("resilience.zne")

    def wire(self) -> wire.ResilienceOptions:
        """The wire form."""
        return wire.ResilienceOptions(
            measure_mitigation=self.measure_mitigation,
            zne_mitigation=self.zne_mitigation,
            pec_mitigation=self.pec_mitigation,
            measure_noise_learning=self.measure_noise_learning.wire(),
            zne=self.zne.wire(),
        )


_COMMON_NESTED: dict[str, type[_Options]] = {
    "environment": EnvironmentOptions,
    "simulator": SimulatorOptions,
    "twirling": TwirlingOptions,
    "dynamical_decoupling": DynamicalDecouplingOptions,
}


@dataclass(slots=True)
class SamplerOptions(_Options):
    """Options of :class:`~qsession.SamplerV2`, as qiskit-ibm-runtime 0.43's.

    Attributes:
        default_shots: Shots for PUBs that set none (server default 4096).
        dynamical_decoupling: :class:`DynamicalDecouplingOptions`.
        execution: :class:`SamplerExecutionOptions` (``init_qubits``, ``rep_delay``,
            ``meas_type``).
        twirling: :class:`TwirlingOptions` (all off by default for the Sampler).
        experimental: qiskit-ibm-runtime's experimental options; ``run()`` refuses them.
        max_execution_time: Seconds a job may run; a longer job ends in ERROR.
        environment: :class:`EnvironmentOptions` (``log_level``, ``job_tags``, ``private``).
        simulator: :class:`SimulatorOptions` (``seed_simulator``).
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "default_shots": _positive_int,
        "max_execution_time": _positive_int,
        "experimental": _anything,
    }
    _nested: ClassVar[dict[str, type[_Options]]] = {
        **_COMMON_NESTED,
        "execution": SamplerExecutionOptions,
    }
    default_shots: int | None = None
    dynamical_decoupling: DynamicalDecouplingOptions = field(
        default_factory=DynamicalDecouplingOptions
    )
    execution: SamplerExecutionOptions = field(default_factory=SamplerExecutionOptions)
    twirling: TwirlingOptions = field(default_factory=TwirlingOptions)
    experimental: dict | None = None
    max_execution_time: int | None = None
    environment: EnvironmentOptions = field(default_factory=EnvironmentOptions)
    simulator: SimulatorOptions = field(default_factory=SimulatorOptions)

    def job_options(self) -> job_pb2.JobOptions:
        """The wire form of these options (unset fields left to the server's defaults).

        Raises:
            IBMInputValueError: an option qsession cannot send (see the module's doc).
        """
        return wire.encode_job_options(_common_job_options(self, default_shots=self.default_shots))


@dataclass(slots=True)
class EstimatorOptions(_Options):
    """Options of :class:`~qsession.EstimatorV2`, as qiskit-ibm-runtime 0.43's.

    Attributes:
        default_precision: Target standard error for PUBs that set no precision (server
            default 0.015625, i.e. 4096 shots).
        default_shots: Shots per PUB; when set it overrides ``default_precision`` (the
            precision becomes ``1/sqrt(default_shots)``), as in qiskit-ibm-runtime.
        resilience_level: 0 (no mitigation), 1 (TREX, the default) or 2 (TREX, gate
            twirling and ZNE).
        seed_estimator: Seed of the Estimator's randomness (twirls, calibration, shots).
        dynamical_decoupling: :class:`DynamicalDecouplingOptions`.
        resilience: :class:`ResilienceOptions`.
        execution: :class:`ExecutionOptions`.
        twirling: :class:`TwirlingOptions`.
        experimental: qiskit-ibm-runtime's experimental options; ``run()`` refuses them.
        max_execution_time: Seconds a job may run; a longer job ends in ERROR.
        environment: :class:`EnvironmentOptions`.
        simulator: :class:`SimulatorOptions` (``seed_simulator``).
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "default_precision": _positive_float,
        "default_shots": _positive_int,
        "resilience_level": _resilience_level,
        "seed_estimator": _seed,
        "max_execution_time": _positive_int,
        "experimental": _anything,
    }
    _nested: ClassVar[dict[str, type[_Options]]] = {
        **_COMMON_NESTED,
        "execution": ExecutionOptions,
        "resilience": ResilienceOptions,
    }
    default_precision: float | None = None
    default_shots: int | None = None
    resilience_level: int | None = None
    seed_estimator: int | None = None
    dynamical_decoupling: DynamicalDecouplingOptions = field(
        default_factory=DynamicalDecouplingOptions
    )
    resilience: ResilienceOptions = field(default_factory=ResilienceOptions)
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)
    twirling: TwirlingOptions = field(default_factory=TwirlingOptions)
    experimental: dict | None = None
    max_execution_time: int | None = None
    environment: EnvironmentOptions = field(default_factory=EnvironmentOptions)
    simulator: SimulatorOptions = field(default_factory=SimulatorOptions)

    def job_options(self) -> job_pb2.JobOptions:
        """The wire form of these options (unset fields left to the server's defaults).

        Raises:
            IBMInputValueError: an option qsession cannot send (see the module's doc) or a
                broken cross-field rule of qiskit-ibm-runtime.
        """
        precision = self.default_precision
        if self.default_shots is not None:
            precision = precision_for_shots(self.default_shots)
        resilience = self.resilience
        _refuse_set(resilience.pec, "resilience.pec", "PEC is not emulated")
        if resilience.pec_mitigation or resilience.zne.amplifier == "pea":
            # Only PEA and PEC learn layer noise: IBM ignores these options otherwise
            _refuse_set(
                resilience.layer_noise_learning,
                "resilience.layer_noise_learning",
                "layer noise learning (for PEA and PEC) is not emulated",
            )
        if resilience.layer_noise_model is not None:
            raise IBMInputValueError(
                "resilience.layer_noise_model: cannot be emulated (qsession learns no layer "
                "noise; the emulated device's noise is its calibration's)"
            )
        resilience.check()
        common = _common_job_options(self, default_precision=precision)
        return wire.encode_job_options(
            replace(
                common,
                resilience_level=self.resilience_level,
                seed_estimator=self.seed_estimator,
                resilience=resilience.wire(),
            )
        )


def _common_job_options(
    options: SamplerOptions | EstimatorOptions,
    default_shots: int | None = None,
    default_precision: float | None = None,
) -> wire.JobOptions:
    """What both primitives send: shots or precision, seeds, limits, twirling, DD,
    execution and the log level; refuses what cannot be sent (see the module's doc)."""
    if options.experimental:
        raise IBMInputValueError(
            f"experimental: qsession has no experimental options, got {options.experimental!r}"
        )
    simulator = options.simulator
    for name in ("noise_model", "coupling_map", "basis_gates"):
        if getattr(simulator, name) is not None:
            raise IBMInputValueError(
                f"simulator.{name}: cannot be set on a qsession backend, whose emulated device "
                "defines its own noise, coupling map and basis gates"
            )
    max_execution_time = options.max_execution_time
    return wire.JobOptions(
        default_shots=default_shots,
        default_precision=default_precision,
        seed_simulator=simulator.seed_simulator,
        exact=simulator.exact or None,
        max_execution_time=None if max_execution_time is None else float(max_execution_time),
        log_level=options.environment.log_level,
        private=options.environment.private or None,
        twirling=options.twirling.wire(),
        dynamical_decoupling=options.dynamical_decoupling.wire(),
        execution=options.execution.wire(),
    )


def _count(value: int | str | None) -> int | None:
    """A randomization count as sent: ``"auto"`` (and unset) is left unset."""
    return value if isinstance(value, int) else None


def _refuse_set(options: _Options, where: str, why: str) -> None:
    """Raise naming the first option of ``options`` that is set: qsession cannot apply it."""
    for option in fields(options):  # type: ignore[arg-type]
        if getattr(options, option.name) is not None:
            raise IBMInputValueError(f"{where}.{option.name}: cannot be emulated ({why})")
