import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Session(_message.Message):
    __slots__ = ("id", "backend", "mode", "state", "accepting_jobs", "max_ttl_seconds", "interactive_ttl_seconds", "active_ttl_seconds", "create_time", "start_time", "activate_time", "close_time", "last_job_start_time", "last_job_end_time", "usage_seconds", "transitions", "close_reason", "pending_jobs")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MODE_UNSPECIFIED: _ClassVar[Session.Mode]
        MODE_DEDICATED: _ClassVar[Session.Mode]
        MODE_BATCH: _ClassVar[Session.Mode]
    MODE_UNSPECIFIED: Session.Mode
    MODE_DEDICATED: Session.Mode
    MODE_BATCH: Session.Mode
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Session.State]
        STATE_OPEN: _ClassVar[Session.State]
        STATE_ACTIVE: _ClassVar[Session.State]
        STATE_INACTIVE: _ClassVar[Session.State]
        STATE_CLOSED: _ClassVar[Session.State]
    STATE_UNSPECIFIED: Session.State
    STATE_OPEN: Session.State
    STATE_ACTIVE: Session.State
    STATE_INACTIVE: Session.State
    STATE_CLOSED: Session.State
    ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTING_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INTERACTIVE_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTIVATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CLOSE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_JOB_START_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_JOB_END_TIME_FIELD_NUMBER: _ClassVar[int]
    USAGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    CLOSE_REASON_FIELD_NUMBER: _ClassVar[int]
    PENDING_JOBS_FIELD_NUMBER: _ClassVar[int]
    id: str
    backend: str
    mode: Session.Mode
    state: Session.State
    accepting_jobs: bool
    max_ttl_seconds: float
    interactive_ttl_seconds: float
    active_ttl_seconds: float
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    activate_time: _timestamp_pb2.Timestamp
    close_time: _timestamp_pb2.Timestamp
    last_job_start_time: _timestamp_pb2.Timestamp
    last_job_end_time: _timestamp_pb2.Timestamp
    usage_seconds: float
    transitions: _containers.RepeatedCompositeFieldContainer[SessionTransition]
    close_reason: str
    pending_jobs: int
    def __init__(self, id: _Optional[str] = ..., backend: _Optional[str] = ..., mode: _Optional[_Union[Session.Mode, str]] = ..., state: _Optional[_Union[Session.State, str]] = ..., accepting_jobs: _Optional[bool] = ..., max_ttl_seconds: _Optional[float] = ..., interactive_ttl_seconds: _Optional[float] = ..., active_ttl_seconds: _Optional[float] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., activate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., close_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_job_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_job_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., usage_seconds: _Optional[float] = ..., transitions: _Optional[_Iterable[_Union[SessionTransition, _Mapping]]] = ..., close_reason: _Optional[str] = ..., pending_jobs: _Optional[int] = ...) -> None: ...

class SessionTransition(_message.Message):
    __slots__ = ("state", "accepting_jobs", "time")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTING_JOBS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    state: Session.State
    accepting_jobs: bool
    time: _timestamp_pb2.Timestamp
    def __init__(self, state: _Optional[_Union[Session.State, str]] = ..., accepting_jobs: _Optional[bool] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("backend", "mode", "max_ttl")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MAX_TTL_FIELD_NUMBER: _ClassVar[int]
    backend: str
    mode: Session.Mode
    max_ttl: str
    def __init__(self, backend: _Optional[str] = ..., mode: _Optional[_Union[Session.Mode, str]] = ..., max_ttl: _Optional[str] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "backend", "mode", "states")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    backend: str
    mode: Session.Mode
    states: _containers.RepeatedScalarFieldContainer[Session.State]
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., backend: _Optional[str] = ..., mode: _Optional[_Union[Session.Mode, str]] = ..., states: _Optional[_Iterable[_Union[Session.State, str]]] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token", "revision")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    next_page_token: str
    revision: int
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class CancelSessionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class WatchSessionsRequest(_message.Message):
    __slots__ = ("after_revision", "session_ids")
    AFTER_REVISION_FIELD_NUMBER: _ClassVar[int]
    SESSION_IDS_FIELD_NUMBER: _ClassVar[int]
    after_revision: int
    session_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, after_revision: _Optional[int] = ..., session_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class WatchSessionsResponse(_message.Message):
    __slots__ = ("revision", "session", "time")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    revision: int
    session: Session
    time: _timestamp_pb2.Timestamp
    def __init__(self, revision: _Optional[int] = ..., session: _Optional[_Union[Session, _Mapping]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
