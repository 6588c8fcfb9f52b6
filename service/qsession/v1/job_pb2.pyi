import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from qsession.v1 import options_pb2 as _options_pb2
from qsession.v1 import quantum_program_pb2 as _quantum_program_pb2
from qsession.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Program(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROGRAM_UNSPECIFIED: _ClassVar[Program]
    PROGRAM_SAMPLER: _ClassVar[Program]
    PROGRAM_ESTIMATOR: _ClassVar[Program]
    PROGRAM_EXECUTOR: _ClassVar[Program]

class JobView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_VIEW_UNSPECIFIED: _ClassVar[JobView]
    JOB_VIEW_BASIC: _ClassVar[JobView]
    JOB_VIEW_FULL: _ClassVar[JobView]
PROGRAM_UNSPECIFIED: Program
PROGRAM_SAMPLER: Program
PROGRAM_ESTIMATOR: Program
PROGRAM_EXECUTOR: Program
JOB_VIEW_UNSPECIFIED: JobView
JOB_VIEW_BASIC: JobView
JOB_VIEW_FULL: JobView

class JobOptions(_message.Message):
    __slots__ = ("default_shots", "default_precision", "seed_simulator", "max_execution_time", "resilience_level", "seed_estimator", "resilience", "twirling", "dynamical_decoupling", "execution", "log_level", "private", "exact")
    DEFAULT_SHOTS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PRECISION_FIELD_NUMBER: _ClassVar[int]
    SEED_SIMULATOR_FIELD_NUMBER: _ClassVar[int]
    MAX_EXECUTION_TIME_FIELD_NUMBER: _ClassVar[int]
    RESILIENCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    SEED_ESTIMATOR_FIELD_NUMBER: _ClassVar[int]
    RESILIENCE_FIELD_NUMBER: _ClassVar[int]
    TWIRLING_FIELD_NUMBER: _ClassVar[int]
    DYNAMICAL_DECOUPLING_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_FIELD_NUMBER: _ClassVar[int]
    LOG_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    default_shots: int
    default_precision: float
    seed_simulator: int
    max_execution_time: float
    resilience_level: int
    seed_estimator: int
    resilience: _options_pb2.ResilienceOptions
    twirling: _options_pb2.TwirlingOptions
    dynamical_decoupling: _options_pb2.DynamicalDecouplingOptions
    execution: _options_pb2.ExecutionOptions
    log_level: str
    private: bool
    exact: bool
    def __init__(self, default_shots: _Optional[int] = ..., default_precision: _Optional[float] = ..., seed_simulator: _Optional[int] = ..., max_execution_time: _Optional[float] = ..., resilience_level: _Optional[int] = ..., seed_estimator: _Optional[int] = ..., resilience: _Optional[_Union[_options_pb2.ResilienceOptions, _Mapping]] = ..., twirling: _Optional[_Union[_options_pb2.TwirlingOptions, _Mapping]] = ..., dynamical_decoupling: _Optional[_Union[_options_pb2.DynamicalDecouplingOptions, _Mapping]] = ..., execution: _Optional[_Union[_options_pb2.ExecutionOptions, _Mapping]] = ..., log_level: _Optional[str] = ..., private: _Optional[bool] = ..., exact: _Optional[bool] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "program", "backend", "session_id", "state", "tags", "create_time", "start_time", "end_time", "usage_seconds", "error_message", "attempts", "num_pubs", "options", "inputs", "executor", "estimated_usage_seconds", "simulation_seconds", "waiting_reason", "progress", "remaining_seconds")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Job.State]
        STATE_QUEUED: _ClassVar[Job.State]
        STATE_RUNNING: _ClassVar[Job.State]
        STATE_DONE: _ClassVar[Job.State]
        STATE_ERROR: _ClassVar[Job.State]
        STATE_CANCELLED: _ClassVar[Job.State]
    STATE_UNSPECIFIED: Job.State
    STATE_QUEUED: Job.State
    STATE_RUNNING: Job.State
    STATE_DONE: Job.State
    STATE_ERROR: Job.State
    STATE_CANCELLED: Job.State
    ID_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    USAGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NUM_PUBS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_USAGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SIMULATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WAITING_REASON_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    REMAINING_SECONDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    program: Program
    backend: str
    session_id: str
    state: Job.State
    tags: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    usage_seconds: float
    error_message: str
    attempts: int
    num_pubs: int
    options: JobOptions
    inputs: JobInputs
    executor: Executor
    estimated_usage_seconds: float
    simulation_seconds: float
    waiting_reason: str
    progress: float
    remaining_seconds: float
    def __init__(self, id: _Optional[str] = ..., program: _Optional[_Union[Program, str]] = ..., backend: _Optional[str] = ..., session_id: _Optional[str] = ..., state: _Optional[_Union[Job.State, str]] = ..., tags: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., usage_seconds: _Optional[float] = ..., error_message: _Optional[str] = ..., attempts: _Optional[int] = ..., num_pubs: _Optional[int] = ..., options: _Optional[_Union[JobOptions, _Mapping]] = ..., inputs: _Optional[_Union[JobInputs, _Mapping]] = ..., executor: _Optional[_Union[Executor, _Mapping]] = ..., estimated_usage_seconds: _Optional[float] = ..., simulation_seconds: _Optional[float] = ..., waiting_reason: _Optional[str] = ..., progress: _Optional[float] = ..., remaining_seconds: _Optional[float] = ...) -> None: ...

class Executor(_message.Message):
    __slots__ = ("engine", "node_id", "host")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    engine: str
    node_id: str
    host: str
    def __init__(self, engine: _Optional[str] = ..., node_id: _Optional[str] = ..., host: _Optional[str] = ...) -> None: ...

class JobInputs(_message.Message):
    __slots__ = ("sampler_pubs", "estimator_pubs", "quantum_program")
    SAMPLER_PUBS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATOR_PUBS_FIELD_NUMBER: _ClassVar[int]
    QUANTUM_PROGRAM_FIELD_NUMBER: _ClassVar[int]
    sampler_pubs: _containers.RepeatedCompositeFieldContainer[_types_pb2.SamplerPub]
    estimator_pubs: _containers.RepeatedCompositeFieldContainer[_types_pb2.EstimatorPub]
    quantum_program: _quantum_program_pb2.QuantumProgram
    def __init__(self, sampler_pubs: _Optional[_Iterable[_Union[_types_pb2.SamplerPub, _Mapping]]] = ..., estimator_pubs: _Optional[_Iterable[_Union[_types_pb2.EstimatorPub, _Mapping]]] = ..., quantum_program: _Optional[_Union[_quantum_program_pb2.QuantumProgram, _Mapping]] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("backend", "program", "sampler_pubs", "estimator_pubs", "options", "tags", "session_id", "request_id", "quantum_program")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    SAMPLER_PUBS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATOR_PUBS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTUM_PROGRAM_FIELD_NUMBER: _ClassVar[int]
    backend: str
    program: Program
    sampler_pubs: _containers.RepeatedCompositeFieldContainer[_types_pb2.SamplerPub]
    estimator_pubs: _containers.RepeatedCompositeFieldContainer[_types_pb2.EstimatorPub]
    options: JobOptions
    tags: _containers.RepeatedScalarFieldContainer[str]
    session_id: str
    request_id: str
    quantum_program: _quantum_program_pb2.QuantumProgram
    def __init__(self, backend: _Optional[str] = ..., program: _Optional[_Union[Program, str]] = ..., sampler_pubs: _Optional[_Iterable[_Union[_types_pb2.SamplerPub, _Mapping]]] = ..., estimator_pubs: _Optional[_Iterable[_Union[_types_pb2.EstimatorPub, _Mapping]]] = ..., options: _Optional[_Union[JobOptions, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., session_id: _Optional[str] = ..., request_id: _Optional[str] = ..., quantum_program: _Optional[_Union[_quantum_program_pb2.QuantumProgram, _Mapping]] = ...) -> None: ...

class CreateJobResponse(_message.Message):
    __slots__ = ("job", "revision")
    JOB_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    job: Job
    revision: int
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("id", "view")
    ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    id: str
    view: JobView
    def __init__(self, id: _Optional[str] = ..., view: _Optional[_Union[JobView, str]] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job", "revision")
    JOB_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    job: Job
    revision: int
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "session_id", "tags", "states", "backend", "created_after", "created_before", "program", "order_by")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    session_id: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    states: _containers.RepeatedScalarFieldContainer[Job.State]
    backend: str
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    program: Program
    order_by: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., session_id: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., states: _Optional[_Iterable[_Union[Job.State, str]]] = ..., backend: _Optional[str] = ..., created_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., program: _Optional[_Union[Program, str]] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token", "revision")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    revision: int
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteJobResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateJobRequest(_message.Message):
    __slots__ = ("job", "update_mask")
    JOB_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    job: Job
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetJobResultRequest(_message.Message):
    __slots__ = ("id", "wait")
    ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    id: str
    wait: bool
    def __init__(self, id: _Optional[str] = ..., wait: _Optional[bool] = ...) -> None: ...

class GetJobResultResponse(_message.Message):
    __slots__ = ("chunk", "offset", "total_size", "sha256", "job")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    offset: int
    total_size: int
    sha256: str
    job: Job
    def __init__(self, chunk: _Optional[bytes] = ..., offset: _Optional[int] = ..., total_size: _Optional[int] = ..., sha256: _Optional[str] = ..., job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class RunJobResponse(_message.Message):
    __slots__ = ("created", "result")
    CREATED_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    created: CreateJobResponse
    result: GetJobResultResponse
    def __init__(self, created: _Optional[_Union[CreateJobResponse, _Mapping]] = ..., result: _Optional[_Union[GetJobResultResponse, _Mapping]] = ...) -> None: ...

class WatchJobsRequest(_message.Message):
    __slots__ = ("after_revision", "session_id", "job_ids", "tags", "progress_notify", "until_final", "batch_events")
    AFTER_REVISION_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_NOTIFY_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FINAL_FIELD_NUMBER: _ClassVar[int]
    BATCH_EVENTS_FIELD_NUMBER: _ClassVar[int]
    after_revision: int
    session_id: str
    job_ids: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    progress_notify: bool
    until_final: bool
    batch_events: bool
    def __init__(self, after_revision: _Optional[int] = ..., session_id: _Optional[str] = ..., job_ids: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ..., progress_notify: _Optional[bool] = ..., until_final: _Optional[bool] = ..., batch_events: _Optional[bool] = ...) -> None: ...

class WatchJobsResponse(_message.Message):
    __slots__ = ("revision", "job", "time", "events")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    revision: int
    job: Job
    time: _timestamp_pb2.Timestamp
    events: _containers.RepeatedCompositeFieldContainer[JobEvent]
    def __init__(self, revision: _Optional[int] = ..., job: _Optional[_Union[Job, _Mapping]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., events: _Optional[_Iterable[_Union[JobEvent, _Mapping]]] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("revision", "job", "time")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    revision: int
    job: Job
    time: _timestamp_pb2.Timestamp
    def __init__(self, revision: _Optional[int] = ..., job: _Optional[_Union[Job, _Mapping]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterSamples(_message.Message):
    __slots__ = ("name", "samples")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    name: str
    samples: _types_pb2.PackedBits
    def __init__(self, name: _Optional[str] = ..., samples: _Optional[_Union[_types_pb2.PackedBits, _Mapping]] = ...) -> None: ...

class ExecutionSpan(_message.Message):
    __slots__ = ("start", "stop", "pub_index", "shape", "start_index", "stop_index")
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    PUB_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    START_INDEX_FIELD_NUMBER: _ClassVar[int]
    STOP_INDEX_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    stop: _timestamp_pb2.Timestamp
    pub_index: int
    shape: _containers.RepeatedScalarFieldContainer[int]
    start_index: int
    stop_index: int
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stop: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pub_index: _Optional[int] = ..., shape: _Optional[_Iterable[int]] = ..., start_index: _Optional[int] = ..., stop_index: _Optional[int] = ...) -> None: ...

class PubResult(_message.Message):
    __slots__ = ("shape", "registers", "evs", "stds", "ensemble_standard_error", "metadata", "evs_noise_factors", "stds_noise_factors", "ensemble_stds_noise_factors", "evs_extrapolated", "stds_extrapolated", "outputs")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _types_pb2.Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_types_pb2.Tensor, _Mapping]] = ...) -> None: ...
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    REGISTERS_FIELD_NUMBER: _ClassVar[int]
    EVS_FIELD_NUMBER: _ClassVar[int]
    STDS_FIELD_NUMBER: _ClassVar[int]
    ENSEMBLE_STANDARD_ERROR_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    EVS_NOISE_FACTORS_FIELD_NUMBER: _ClassVar[int]
    STDS_NOISE_FACTORS_FIELD_NUMBER: _ClassVar[int]
    ENSEMBLE_STDS_NOISE_FACTORS_FIELD_NUMBER: _ClassVar[int]
    EVS_EXTRAPOLATED_FIELD_NUMBER: _ClassVar[int]
    STDS_EXTRAPOLATED_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    registers: _containers.RepeatedCompositeFieldContainer[RegisterSamples]
    evs: _types_pb2.Float64Array
    stds: _types_pb2.Float64Array
    ensemble_standard_error: _types_pb2.Float64Array
    metadata: _struct_pb2.Struct
    evs_noise_factors: _types_pb2.Float64Array
    stds_noise_factors: _types_pb2.Float64Array
    ensemble_stds_noise_factors: _types_pb2.Float64Array
    evs_extrapolated: _types_pb2.Float64Array
    stds_extrapolated: _types_pb2.Float64Array
    outputs: _containers.MessageMap[str, _types_pb2.Tensor]
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., registers: _Optional[_Iterable[_Union[RegisterSamples, _Mapping]]] = ..., evs: _Optional[_Union[_types_pb2.Float64Array, _Mapping]] = ..., stds: _Optional[_Union[_types_pb2.Float64Array, _Mapping]] = ..., ensemble_standard_error: _Optional[_Union[_types_pb2.Float64Array, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., evs_noise_factors: _Optional[_Union[_types_pb2.Float64Array, _Mapping]] = ..., stds_noise_factors: _Optional[_Union[_types_pb2.Float64Array, _Mapping]] = ..., ensemble_stds_noise_factors: _Optional[_Union[_types_pb2.Float64Array, _Mapping]] = ..., evs_extrapolated: _Optional[_Union[_types_pb2.Float64Array, _Mapping]] = ..., stds_extrapolated: _Optional[_Union[_types_pb2.Float64Array, _Mapping]] = ..., outputs: _Optional[_Mapping[str, _types_pb2.Tensor]] = ...) -> None: ...

class JobResult(_message.Message):
    __slots__ = ("pub_results", "metadata", "execution_spans", "passthrough_data_json")
    PUB_RESULTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_SPANS_FIELD_NUMBER: _ClassVar[int]
    PASSTHROUGH_DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    pub_results: _containers.RepeatedCompositeFieldContainer[PubResult]
    metadata: _struct_pb2.Struct
    execution_spans: _containers.RepeatedCompositeFieldContainer[ExecutionSpan]
    passthrough_data_json: str
    def __init__(self, pub_results: _Optional[_Iterable[_Union[PubResult, _Mapping]]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., execution_spans: _Optional[_Iterable[_Union[ExecutionSpan, _Mapping]]] = ..., passthrough_data_json: _Optional[str] = ...) -> None: ...
