from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResilienceOptions(_message.Message):
    __slots__ = ("measure_mitigation", "measure_noise_learning", "zne_mitigation", "zne", "pec_mitigation")
    MEASURE_MITIGATION_FIELD_NUMBER: _ClassVar[int]
    MEASURE_NOISE_LEARNING_FIELD_NUMBER: _ClassVar[int]
    ZNE_MITIGATION_FIELD_NUMBER: _ClassVar[int]
    ZNE_FIELD_NUMBER: _ClassVar[int]
    PEC_MITIGATION_FIELD_NUMBER: _ClassVar[int]
    measure_mitigation: bool
    measure_noise_learning: MeasureNoiseLearningOptions
    zne_mitigation: bool
    zne: ZneOptions
    pec_mitigation: bool
    def __init__(self, measure_mitigation: _Optional[bool] = ..., measure_noise_learning: _Optional[_Union[MeasureNoiseLearningOptions, _Mapping]] = ..., zne_mitigation: _Optional[bool] = ..., zne: _Optional[_Union[ZneOptions, _Mapping]] = ..., pec_mitigation: _Optional[bool] = ...) -> None: ...

class MeasureNoiseLearningOptions(_message.Message):
    __slots__ = ("num_randomizations", "shots_per_randomization")
    NUM_RANDOMIZATIONS_FIELD_NUMBER: _ClassVar[int]
    SHOTS_PER_RANDOMIZATION_FIELD_NUMBER: _ClassVar[int]
    num_randomizations: int
    shots_per_randomization: int
    def __init__(self, num_randomizations: _Optional[int] = ..., shots_per_randomization: _Optional[int] = ...) -> None: ...

class ZneOptions(_message.Message):
    __slots__ = ("amplifier", "noise_factors", "extrapolator", "extrapolated_noise_factors")
    AMPLIFIER_FIELD_NUMBER: _ClassVar[int]
    NOISE_FACTORS_FIELD_NUMBER: _ClassVar[int]
    EXTRAPOLATOR_FIELD_NUMBER: _ClassVar[int]
    EXTRAPOLATED_NOISE_FACTORS_FIELD_NUMBER: _ClassVar[int]
    amplifier: str
    noise_factors: _containers.RepeatedScalarFieldContainer[float]
    extrapolator: _containers.RepeatedScalarFieldContainer[str]
    extrapolated_noise_factors: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, amplifier: _Optional[str] = ..., noise_factors: _Optional[_Iterable[float]] = ..., extrapolator: _Optional[_Iterable[str]] = ..., extrapolated_noise_factors: _Optional[_Iterable[float]] = ...) -> None: ...

class TwirlingOptions(_message.Message):
    __slots__ = ("enable_gates", "enable_measure", "num_randomizations", "shots_per_randomization", "strategy")
    ENABLE_GATES_FIELD_NUMBER: _ClassVar[int]
    ENABLE_MEASURE_FIELD_NUMBER: _ClassVar[int]
    NUM_RANDOMIZATIONS_FIELD_NUMBER: _ClassVar[int]
    SHOTS_PER_RANDOMIZATION_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    enable_gates: bool
    enable_measure: bool
    num_randomizations: int
    shots_per_randomization: int
    strategy: str
    def __init__(self, enable_gates: _Optional[bool] = ..., enable_measure: _Optional[bool] = ..., num_randomizations: _Optional[int] = ..., shots_per_randomization: _Optional[int] = ..., strategy: _Optional[str] = ...) -> None: ...

class DynamicalDecouplingOptions(_message.Message):
    __slots__ = ("enable", "sequence_type", "extra_slack_distribution", "scheduling_method", "skip_reset_qubits")
    ENABLE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXTRA_SLACK_DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    SCHEDULING_METHOD_FIELD_NUMBER: _ClassVar[int]
    SKIP_RESET_QUBITS_FIELD_NUMBER: _ClassVar[int]
    enable: bool
    sequence_type: str
    extra_slack_distribution: str
    scheduling_method: str
    skip_reset_qubits: bool
    def __init__(self, enable: _Optional[bool] = ..., sequence_type: _Optional[str] = ..., extra_slack_distribution: _Optional[str] = ..., scheduling_method: _Optional[str] = ..., skip_reset_qubits: _Optional[bool] = ...) -> None: ...

class ExecutionOptions(_message.Message):
    __slots__ = ("init_qubits", "rep_delay", "meas_type")
    INIT_QUBITS_FIELD_NUMBER: _ClassVar[int]
    REP_DELAY_FIELD_NUMBER: _ClassVar[int]
    MEAS_TYPE_FIELD_NUMBER: _ClassVar[int]
    init_qubits: bool
    rep_delay: float
    meas_type: str
    def __init__(self, init_qubits: _Optional[bool] = ..., rep_delay: _Optional[float] = ..., meas_type: _Optional[str] = ...) -> None: ...
