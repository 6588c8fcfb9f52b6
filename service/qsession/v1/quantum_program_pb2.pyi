from qsession.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QuantumProgram(_message.Message):
    __slots__ = ("shots", "items", "meas_level", "passthrough_data_json", "semantic_role")
    SHOTS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MEAS_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PASSTHROUGH_DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_ROLE_FIELD_NUMBER: _ClassVar[int]
    shots: int
    items: _containers.RepeatedCompositeFieldContainer[QuantumProgramItem]
    meas_level: str
    passthrough_data_json: str
    semantic_role: str
    def __init__(self, shots: _Optional[int] = ..., items: _Optional[_Iterable[_Union[QuantumProgramItem, _Mapping]]] = ..., meas_level: _Optional[str] = ..., passthrough_data_json: _Optional[str] = ..., semantic_role: _Optional[str] = ...) -> None: ...

class QuantumProgramItem(_message.Message):
    __slots__ = ("circuit", "circuit_arguments", "chunk_size", "samplex_json", "samplex_arguments_json", "shape")
    CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    SAMPLEX_JSON_FIELD_NUMBER: _ClassVar[int]
    SAMPLEX_ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    circuit: _types_pb2.Circuit
    circuit_arguments: _types_pb2.Float64Array
    chunk_size: int
    samplex_json: str
    samplex_arguments_json: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, circuit: _Optional[_Union[_types_pb2.Circuit, _Mapping]] = ..., circuit_arguments: _Optional[_Union[_types_pb2.Float64Array, _Mapping]] = ..., chunk_size: _Optional[int] = ..., samplex_json: _Optional[str] = ..., samplex_arguments_json: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...
