from qsession.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TranspileRequest(_message.Message):
    __slots__ = ("circuit", "backend", "optimization_level", "initial_layout", "seed_transpiler", "pauli_labels")
    CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    INITIAL_LAYOUT_FIELD_NUMBER: _ClassVar[int]
    SEED_TRANSPILER_FIELD_NUMBER: _ClassVar[int]
    PAULI_LABELS_FIELD_NUMBER: _ClassVar[int]
    circuit: _types_pb2.Circuit
    backend: str
    optimization_level: int
    initial_layout: _containers.RepeatedScalarFieldContainer[int]
    seed_transpiler: int
    pauli_labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, circuit: _Optional[_Union[_types_pb2.Circuit, _Mapping]] = ..., backend: _Optional[str] = ..., optimization_level: _Optional[int] = ..., initial_layout: _Optional[_Iterable[int]] = ..., seed_transpiler: _Optional[int] = ..., pauli_labels: _Optional[_Iterable[str]] = ...) -> None: ...

class TranspileResponse(_message.Message):
    __slots__ = ("circuit", "num_qubits", "initial_layout", "final_layout", "pauli_labels")
    CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    NUM_QUBITS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_LAYOUT_FIELD_NUMBER: _ClassVar[int]
    FINAL_LAYOUT_FIELD_NUMBER: _ClassVar[int]
    PAULI_LABELS_FIELD_NUMBER: _ClassVar[int]
    circuit: _types_pb2.Circuit
    num_qubits: int
    initial_layout: _containers.RepeatedScalarFieldContainer[int]
    final_layout: _containers.RepeatedScalarFieldContainer[int]
    pauli_labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, circuit: _Optional[_Union[_types_pb2.Circuit, _Mapping]] = ..., num_qubits: _Optional[int] = ..., initial_layout: _Optional[_Iterable[int]] = ..., final_layout: _Optional[_Iterable[int]] = ..., pauli_labels: _Optional[_Iterable[str]] = ...) -> None: ...
