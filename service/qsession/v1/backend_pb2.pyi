from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InstructionProperties(_message.Message):
    __slots__ = ("qubits", "error", "duration")
    QUBITS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    qubits: _containers.RepeatedScalarFieldContainer[int]
    error: float
    duration: float
    def __init__(self, qubits: _Optional[_Iterable[int]] = ..., error: _Optional[float] = ..., duration: _Optional[float] = ...) -> None: ...

class Instruction(_message.Message):
    __slots__ = ("name", "properties")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    properties: _containers.RepeatedCompositeFieldContainer[InstructionProperties]
    def __init__(self, name: _Optional[str] = ..., properties: _Optional[_Iterable[_Union[InstructionProperties, _Mapping]]] = ...) -> None: ...

class QubitProperties(_message.Message):
    __slots__ = ("t1", "t2", "frequency")
    T1_FIELD_NUMBER: _ClassVar[int]
    T2_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    t1: float
    t2: float
    frequency: float
    def __init__(self, t1: _Optional[float] = ..., t2: _Optional[float] = ..., frequency: _Optional[float] = ...) -> None: ...

class Backend(_message.Message):
    __slots__ = ("name", "num_qubits", "basis_gates", "coupling_map", "instructions", "qubit_properties", "dt", "operational", "status_message", "pending_jobs", "simulator", "noisy", "max_shots", "max_pubs", "profile")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUM_QUBITS_FIELD_NUMBER: _ClassVar[int]
    BASIS_GATES_FIELD_NUMBER: _ClassVar[int]
    COUPLING_MAP_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    QUBIT_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    DT_FIELD_NUMBER: _ClassVar[int]
    OPERATIONAL_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PENDING_JOBS_FIELD_NUMBER: _ClassVar[int]
    SIMULATOR_FIELD_NUMBER: _ClassVar[int]
    NOISY_FIELD_NUMBER: _ClassVar[int]
    MAX_SHOTS_FIELD_NUMBER: _ClassVar[int]
    MAX_PUBS_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    name: str
    num_qubits: int
    basis_gates: _containers.RepeatedScalarFieldContainer[str]
    coupling_map: _containers.RepeatedScalarFieldContainer[int]
    instructions: _containers.RepeatedCompositeFieldContainer[Instruction]
    qubit_properties: _containers.RepeatedCompositeFieldContainer[QubitProperties]
    dt: float
    operational: bool
    status_message: str
    pending_jobs: int
    simulator: bool
    noisy: bool
    max_shots: int
    max_pubs: int
    profile: str
    def __init__(self, name: _Optional[str] = ..., num_qubits: _Optional[int] = ..., basis_gates: _Optional[_Iterable[str]] = ..., coupling_map: _Optional[_Iterable[int]] = ..., instructions: _Optional[_Iterable[_Union[Instruction, _Mapping]]] = ..., qubit_properties: _Optional[_Iterable[_Union[QubitProperties, _Mapping]]] = ..., dt: _Optional[float] = ..., operational: _Optional[bool] = ..., status_message: _Optional[str] = ..., pending_jobs: _Optional[int] = ..., simulator: _Optional[bool] = ..., noisy: _Optional[bool] = ..., max_shots: _Optional[int] = ..., max_pubs: _Optional[int] = ..., profile: _Optional[str] = ...) -> None: ...

class ListBackendsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBackendsResponse(_message.Message):
    __slots__ = ("backends",)
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedCompositeFieldContainer[Backend]
    def __init__(self, backends: _Optional[_Iterable[_Union[Backend, _Mapping]]] = ...) -> None: ...

class GetBackendRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetBackendResponse(_message.Message):
    __slots__ = ("backend",)
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    backend: Backend
    def __init__(self, backend: _Optional[_Union[Backend, _Mapping]] = ...) -> None: ...
