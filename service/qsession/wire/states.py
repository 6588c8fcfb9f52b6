"""The contract's state, program and mode enums <-> the lifecycle's (one table each way),
for the server's messages and the clients that read them."""

from __future__ import annotations

from qsession.lifecycle.model import JobStatus, Program, SessionMode, SessionState
from qsession.v1 import job_pb2, session_pb2

JOB_STATES = {
    JobStatus.QUEUED: job_pb2.Job.STATE_QUEUED,
    JobStatus.RUNNING: job_pb2.Job.STATE_RUNNING,
    JobStatus.DONE: job_pb2.Job.STATE_DONE,
    JobStatus.ERROR: job_pb2.Job.STATE_ERROR,
    JobStatus.CANCELLED: job_pb2.Job.STATE_CANCELLED,
}
JOB_STATUSES = {v: k for k, v in JOB_STATES.items()}
PROGRAMS = {
    Program.SAMPLER: job_pb2.PROGRAM_SAMPLER,
    Program.ESTIMATOR: job_pb2.PROGRAM_ESTIMATOR,
    Program.EXECUTOR: job_pb2.PROGRAM_EXECUTOR,
}
PROGRAM_NAMES = {v: k for k, v in PROGRAMS.items()}
SESSION_STATES = {
    SessionState.OPEN: session_pb2.Session.STATE_OPEN,
    SessionState.ACTIVE: session_pb2.Session.STATE_ACTIVE,
    SessionState.INACTIVE: session_pb2.Session.STATE_INACTIVE,
    SessionState.CLOSED: session_pb2.Session.STATE_CLOSED,
}
SESSION_STATE_NAMES = {v: k for k, v in SESSION_STATES.items()}
MODES = {
    SessionMode.DEDICATED: session_pb2.Session.MODE_DEDICATED,
    SessionMode.BATCH: session_pb2.Session.MODE_BATCH,
}
MODE_NAMES = {v: k for k, v in MODES.items()}
