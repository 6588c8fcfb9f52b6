from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Float64Array(_message.Message):
    __slots__ = ("data", "shape")
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, data: _Optional[bytes] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class Tensor(_message.Message):
    __slots__ = ("data", "shape", "dtype")
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: str
    def __init__(self, data: _Optional[bytes] = ..., shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[str] = ...) -> None: ...

class PackedBits(_message.Message):
    __slots__ = ("data", "shape", "num_shots", "num_bits")
    DATA_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    NUM_SHOTS_FIELD_NUMBER: _ClassVar[int]
    NUM_BITS_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    shape: _containers.RepeatedScalarFieldContainer[int]
    num_shots: int
    num_bits: int
    def __init__(self, data: _Optional[bytes] = ..., shape: _Optional[_Iterable[int]] = ..., num_shots: _Optional[int] = ..., num_bits: _Optional[int] = ...) -> None: ...

class Circuit(_message.Message):
    __slots__ = ("qpy", "qasm3", "sha256")
    QPY_FIELD_NUMBER: _ClassVar[int]
    QASM3_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    qpy: bytes
    qasm3: str
    sha256: str
    def __init__(self, qpy: _Optional[bytes] = ..., qasm3: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class ParameterValues(_message.Message):
    __slots__ = ("parameters", "values")
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.RepeatedScalarFieldContainer[str]
    values: Float64Array
    def __init__(self, parameters: _Optional[_Iterable[str]] = ..., values: _Optional[_Union[Float64Array, _Mapping]] = ...) -> None: ...

class PauliTerm(_message.Message):
    __slots__ = ("label", "coefficient")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    COEFFICIENT_FIELD_NUMBER: _ClassVar[int]
    label: str
    coefficient: float
    def __init__(self, label: _Optional[str] = ..., coefficient: _Optional[float] = ...) -> None: ...

class Observable(_message.Message):
    __slots__ = ("terms",)
    TERMS_FIELD_NUMBER: _ClassVar[int]
    terms: _containers.RepeatedCompositeFieldContainer[PauliTerm]
    def __init__(self, terms: _Optional[_Iterable[_Union[PauliTerm, _Mapping]]] = ...) -> None: ...

class ObservableArray(_message.Message):
    __slots__ = ("observables", "shape")
    OBSERVABLES_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    observables: _containers.RepeatedCompositeFieldContainer[Observable]
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, observables: _Optional[_Iterable[_Union[Observable, _Mapping]]] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class SamplerPub(_message.Message):
    __slots__ = ("circuit", "parameter_values", "shots")
    CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_VALUES_FIELD_NUMBER: _ClassVar[int]
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    circuit: Circuit
    parameter_values: ParameterValues
    shots: int
    def __init__(self, circuit: _Optional[_Union[Circuit, _Mapping]] = ..., parameter_values: _Optional[_Union[ParameterValues, _Mapping]] = ..., shots: _Optional[int] = ...) -> None: ...

class EstimatorPub(_message.Message):
    __slots__ = ("circuit", "observables", "parameter_values", "precision")
    CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    OBSERVABLES_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_VALUES_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    circuit: Circuit
    observables: ObservableArray
    parameter_values: ParameterValues
    precision: float
    def __init__(self, circuit: _Optional[_Union[Circuit, _Mapping]] = ..., observables: _Optional[_Union[ObservableArray, _Mapping]] = ..., parameter_values: _Optional[_Union[ParameterValues, _Mapping]] = ..., precision: _Optional[float] = ...) -> None: ...
