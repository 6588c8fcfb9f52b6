"""Issue 16: every error path of the contract answers its documented reason.

Each row of ERROR_PATHS is one way to get an RPC wrong: the RPC, the bad request, and the
status code, ``ErrorInfo.reason`` and ``BadRequest`` field the contract documents for it
(proto/qsession/v1/errors.proto). The reasons no request can provoke on a healthy server
(a full disk, a shutdown, a corrupt store) are listed in NOT_PROVOKED_HERE with the test that
covers them, and a last check makes sure that every ErrorReason value is one or the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from qsession.v1 import (
    errors_pb2,
    instance_pb2,
    instance_pb2_grpc,
    job_pb2,
    session_pb2,
    transpiler_pb2,
    transpiler_pb2_grpc,
    types_pb2,
)
from tests.conftest import OPEN_TOKEN, base_config, start_server
from tests.e2e.conftest import RawClient

ROOT = Path(__file__).resolve().parents[2]
BELL = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""
PARAMETRIZED = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
qubit[1] q;
bit[1] c;
rx(theta) q[0];
c = measure q;
"""
NO_MEASUREMENT = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nh q[0];\n'
# Sent only to fake_torino: the server remembers which circuits passed the device checks, and
# (a bug, reported) not on which device, so a circuit run on ideal_24 first would pass here.
LOGICAL = BELL.replace("h q[0];", "h q[1];")
WIDE = "OPENQASM 3.0;\nqubit[30] q;\nbit[1] c;\nc[0] = measure q[0];\n"
LIMITS = {"max_pubs_per_job": 2, "max_shots_per_pub": 5000}


def qasm(text: str) -> types_pb2.Circuit:
    return types_pb2.Circuit(qasm3=text)


def sampler_job(
    *pubs: types_pb2.SamplerPub, backend: str = "ideal_24", **fields
) -> job_pb2.CreateJobRequest:
    return job_pb2.CreateJobRequest(
        program=job_pb2.PROGRAM_SAMPLER, backend=backend, sampler_pubs=list(pubs), **fields
    )


def bell_pub(**fields) -> types_pb2.SamplerPub:
    return types_pb2.SamplerPub(circuit=qasm(BELL), **fields)


@dataclass
class World:
    """The server under test and the objects the bad requests refer to."""

    server: object
    client: RawClient
    closed_session: str
    open_session: str
    done_job: str
    failed_job: str  # ended in ERROR: it never has a result


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    config = base_config(tmp_path_factory.mktemp("reasons"), limits=LIMITS)
    with start_server(config) as server:
        client = RawClient(server)
        sessions = client.sessions
        metadata = client.metadata
        closed = sessions.CreateSession(
            session_pb2.CreateSessionRequest(
                backend="ideal_24", mode=session_pb2.Session.MODE_BATCH
            ),
            metadata=metadata,
        ).session.id
        sessions.CloseSession(session_pb2.CloseSessionRequest(id=closed), metadata=metadata)
        open_session = sessions.CreateSession(
            session_pb2.CreateSessionRequest(
                backend="ideal_24", mode=session_pb2.Session.MODE_DEDICATED
            ),
            metadata=metadata,
        ).session.id
        done = client.jobs.CreateJob(sampler_job(bell_pub(shots=10)), metadata=metadata).job.id
        client.wait(done)
        # A job that ends in ERROR (its max_execution_time is over before it can run), so it
        # never has a result.
        failed = client.jobs.CreateJob(
            sampler_job(bell_pub(shots=5000), options=job_pb2.JobOptions(max_execution_time=1e-9)),
            metadata=metadata,
        ).job.id
        client.wait(failed)
        yield World(server, client, closed, open_session, done, failed)


@dataclass(frozen=True)
class ErrorPath:
    """One wrong call and the answer the contract documents for it."""

    name: str
    rpc: str  # "Service.Method"
    request: Callable[[World], object]
    code: grpc.StatusCode
    reason: str
    field: str | None
    token: str | None = "premium"  # "open", "premium", "bad", or None (no metadata)


C = grpc.StatusCode
ERROR_PATHS = [
    # Authentication
    ErrorPath(
        "no token",
        "BackendService.ListBackends",
        lambda w: _backend_pb2().ListBackendsRequest(),
        C.UNAUTHENTICATED,
        "TOKEN_MISSING",
        None,
        token=None,
    ),
    ErrorPath(
        "unknown token",
        "JobService.ListJobs",
        lambda w: job_pb2.ListJobsRequest(),
        C.UNAUTHENTICATED,
        "TOKEN_INVALID",
        None,
        token="bad",
    ),
    # BackendService
    ErrorPath(
        "backend name missing",
        "BackendService.GetBackend",
        lambda w: _backend_pb2().GetBackendRequest(),
        C.INVALID_ARGUMENT,
        "FIELD_REQUIRED",
        "name",
    ),
    ErrorPath(
        "unknown backend",
        "BackendService.GetBackend",
        lambda w: _backend_pb2().GetBackendRequest(name="nope"),
        C.NOT_FOUND,
        "BACKEND_NOT_FOUND",
        "name",
    ),
    # SessionService
    ErrorPath(
        "session mode unset",
        "SessionService.CreateSession",
        lambda w: session_pb2.CreateSessionRequest(backend="ideal_24"),
        C.INVALID_ARGUMENT,
        "FIELD_INVALID",
        "mode",
    ),
    ErrorPath(
        "session on an unknown backend",
        "SessionService.CreateSession",
        lambda w: session_pb2.CreateSessionRequest(
            backend="nope", mode=session_pb2.Session.MODE_BATCH
        ),
        C.NOT_FOUND,
        "BACKEND_NOT_FOUND",
        "backend",
    ),
    ErrorPath(
        "max_ttl not a duration",
        "SessionService.CreateSession",
        lambda w: session_pb2.CreateSessionRequest(
            backend="ideal_24", mode=session_pb2.Session.MODE_BATCH, max_ttl="soon"
        ),
        C.INVALID_ARGUMENT,
        "MAX_TTL_INVALID",
        "max_ttl",
    ),
    ErrorPath(
        "max_ttl over the plan's",
        "SessionService.CreateSession",
        lambda w: session_pb2.CreateSessionRequest(
            backend="ideal_24", mode=session_pb2.Session.MODE_BATCH, max_ttl="1000d"
        ),
        C.INVALID_ARGUMENT,
        "MAX_TTL_INVALID",
        "max_ttl",
    ),
    ErrorPath(
        "dedicated session on the Open Plan",
        "SessionService.CreateSession",
        lambda w: session_pb2.CreateSessionRequest(
            backend="ideal_24", mode=session_pb2.Session.MODE_DEDICATED
        ),
        C.PERMISSION_DENIED,
        "OPEN_PLAN_SESSION",
        "mode",
        token="open",
    ),
    ErrorPath(
        "unknown session",
        "SessionService.GetSession",
        lambda w: session_pb2.GetSessionRequest(id="nope"),
        C.NOT_FOUND,
        "SESSION_NOT_FOUND",
        "id",
    ),
    ErrorPath(
        "close an unknown session",
        "SessionService.CloseSession",
        lambda w: session_pb2.CloseSessionRequest(id="nope"),
        C.NOT_FOUND,
        "SESSION_NOT_FOUND",
        "id",
    ),
    ErrorPath(
        "session page token",
        "SessionService.ListSessions",
        lambda w: session_pb2.ListSessionsRequest(page_token="forged"),
        C.INVALID_ARGUMENT,
        "PAGE_TOKEN_INVALID",
        "page_token",
    ),
    ErrorPath(
        "session page size",
        "SessionService.ListSessions",
        lambda w: session_pb2.ListSessionsRequest(page_size=100_000),
        C.INVALID_ARGUMENT,
        "FIELD_INVALID",
        "page_size",
    ),
    ErrorPath(
        "session state filter",
        "SessionService.ListSessions",
        lambda w: session_pb2.ListSessionsRequest(states=[99]),
        C.INVALID_ARGUMENT,
        "FIELD_INVALID",
        "states",
    ),
    ErrorPath(
        "watch from a future revision",
        "SessionService.WatchSessions",
        lambda w: session_pb2.WatchSessionsRequest(after_revision=10**12),
        C.OUT_OF_RANGE,
        "REVISION_OUT_OF_RANGE",
        "after_revision",
    ),
    # JobService.CreateJob
    ErrorPath(
        "program unset",
        "JobService.CreateJob",
        lambda w: job_pb2.CreateJobRequest(backend="ideal_24"),
        C.INVALID_ARGUMENT,
        "FIELD_INVALID",
        "program",
    ),
    ErrorPath(
        "no backend",
        "JobService.CreateJob",
        lambda w: sampler_job(bell_pub(), backend=""),
        C.INVALID_ARGUMENT,
        "FIELD_REQUIRED",
        "backend",
    ),
    ErrorPath(
        "job on an unknown backend",
        "JobService.CreateJob",
        lambda w: sampler_job(bell_pub(), backend="nope"),
        C.NOT_FOUND,
        "BACKEND_NOT_FOUND",
        "backend",
    ),
    ErrorPath(
        "no PUBs",
        "JobService.CreateJob",
        lambda w: sampler_job(),
        C.INVALID_ARGUMENT,
        "FIELD_REQUIRED",
        "sampler_pubs",
    ),
    ErrorPath(
        "job in an unknown session",
        "JobService.CreateJob",
        lambda w: sampler_job(bell_pub(), backend="", session_id="nope"),
        C.NOT_FOUND,
        "SESSION_NOT_FOUND",
        "session_id",
    ),
    ErrorPath(
        "job in a closed session",
        "JobService.CreateJob",
        lambda w: sampler_job(bell_pub(), backend="", session_id=w.closed_session),
        C.FAILED_PRECONDITION,
        "SESSION_NOT_ACCEPTING_JOBS",
        "session_id",
    ),
    ErrorPath(
        "job on another backend than its session's",
        "JobService.CreateJob",
        lambda w: sampler_job(bell_pub(), backend="fake_torino", session_id=w.open_session),
        C.INVALID_ARGUMENT,
        "BACKEND_MISMATCH",
        "backend",
    ),
    ErrorPath(
        "circuit not ISA",
        "JobService.CreateJob",
        lambda w: sampler_job(types_pb2.SamplerPub(circuit=qasm(LOGICAL)), backend="fake_torino"),
        C.INVALID_ARGUMENT,
        "NOT_ISA",
        "sampler_pubs[0].circuit",
    ),
    ErrorPath(
        "circuit does not parse",
        "JobService.CreateJob",
        lambda w: sampler_job(types_pb2.SamplerPub(circuit=qasm("qubit[2] q; h r;"))),
        C.INVALID_ARGUMENT,
        "CIRCUIT_INVALID",
        "sampler_pubs[0].circuit.qasm3",
    ),
    ErrorPath(
        "circuit wider than the backend",
        "JobService.CreateJob",
        lambda w: sampler_job(types_pb2.SamplerPub(circuit=qasm(WIDE))),
        C.INVALID_ARGUMENT,
        "CIRCUIT_TOO_WIDE",
        "sampler_pubs[0].circuit",
    ),
    ErrorPath(
        "circuit reference not cached",
        "JobService.CreateJob",
        lambda w: sampler_job(types_pb2.SamplerPub(circuit=types_pb2.Circuit(sha256="0" * 64))),
        C.FAILED_PRECONDITION,
        "CIRCUIT_NOT_CACHED",
        "sampler_pubs[0].circuit.sha256",
    ),
    ErrorPath(
        "no measurements",
        "JobService.CreateJob",
        lambda w: sampler_job(types_pb2.SamplerPub(circuit=qasm(NO_MEASUREMENT))),
        C.INVALID_ARGUMENT,
        "PUB_INVALID",
        "sampler_pubs[0].circuit",
    ),
    ErrorPath(
        "shots not positive",
        "JobService.CreateJob",
        lambda w: sampler_job(bell_pub(shots=0)),
        C.INVALID_ARGUMENT,
        "PUB_INVALID",
        "sampler_pubs[0].shots",
    ),
    ErrorPath(
        "default shots not positive",
        "JobService.CreateJob",
        lambda w: sampler_job(bell_pub(), options=job_pb2.JobOptions(default_shots=0)),
        C.INVALID_ARGUMENT,
        "OPTION_INVALID",
        "options.default_shots",
    ),
    ErrorPath(
        "parameter values missing",
        "JobService.CreateJob",
        lambda w: sampler_job(types_pb2.SamplerPub(circuit=qasm(PARAMETRIZED))),
        C.INVALID_ARGUMENT,
        "PARAMETER_VALUES_INVALID",
        "sampler_pubs[0].parameter_values",
    ),
    ErrorPath(
        "Pauli label of the wrong length",
        "JobService.CreateJob",
        lambda w: job_pb2.CreateJobRequest(
            program=job_pb2.PROGRAM_ESTIMATOR,
            backend="ideal_24",
            estimator_pubs=[
                types_pb2.EstimatorPub(
                    circuit=qasm(BELL),
                    observables=types_pb2.ObservableArray(
                        observables=[
                            types_pb2.Observable(
                                terms=[types_pb2.PauliTerm(label="ZZZ", coefficient=1.0)]
                            )
                        ]
                    ),
                )
            ],
        ),
        C.INVALID_ARGUMENT,
        "PAULI_LABEL_INVALID",
        "estimator_pubs[0].observables.observables[0].terms[0].label",
    ),
    ErrorPath(
        "shots over max_shots_per_pub",
        "JobService.CreateJob",
        lambda w: sampler_job(bell_pub(shots=6000)),
        C.INVALID_ARGUMENT,
        "LIMIT_EXCEEDED",
        "sampler_pubs[0].shots",
    ),
    ErrorPath(
        "PUBs over max_pubs_per_job",
        "JobService.CreateJob",
        lambda w: sampler_job(bell_pub(), bell_pub(), bell_pub()),
        C.RESOURCE_EXHAUSTED,
        "LIMIT_EXCEEDED",
        "sampler_pubs",
    ),
    ErrorPath(
        "tag too long",
        "JobService.CreateJob",
        lambda w: sampler_job(bell_pub(), tags=["x" * 1000]),
        C.INVALID_ARGUMENT,
        "FIELD_INVALID",
        "tags[0]",
    ),
    # JobService, other RPCs
    ErrorPath(
        "unknown job",
        "JobService.GetJob",
        lambda w: job_pb2.GetJobRequest(id="nope"),
        C.NOT_FOUND,
        "JOB_NOT_FOUND",
        "id",
    ),
    ErrorPath(
        "job view",
        "JobService.GetJob",
        lambda w: job_pb2.GetJobRequest(id=w.done_job, view=9),
        C.INVALID_ARGUMENT,
        "FIELD_INVALID",
        "view",
    ),
    ErrorPath(
        "job page token",
        "JobService.ListJobs",
        lambda w: job_pb2.ListJobsRequest(page_token="forged"),
        C.INVALID_ARGUMENT,
        "PAGE_TOKEN_INVALID",
        "page_token",
    ),
    ErrorPath(
        "job state filter",
        "JobService.ListJobs",
        lambda w: job_pb2.ListJobsRequest(states=[99]),
        C.INVALID_ARGUMENT,
        "FIELD_INVALID",
        "states",
    ),
    ErrorPath(
        "update mask",
        "JobService.UpdateJob",
        lambda w: job_pb2.UpdateJobRequest(
            job=job_pb2.Job(id=w.done_job), update_mask=field_mask_pb2.FieldMask(paths=["backend"])
        ),
        C.INVALID_ARGUMENT,
        "UPDATE_MASK_INVALID",
        "update_mask",
    ),
    ErrorPath(
        "update without job id",
        "JobService.UpdateJob",
        lambda w: job_pb2.UpdateJobRequest(
            job=job_pb2.Job(tags=["a"]), update_mask=field_mask_pb2.FieldMask(paths=["tags"])
        ),
        C.INVALID_ARGUMENT,
        "FIELD_REQUIRED",
        "job.id",
    ),
    ErrorPath(
        "cancel an unknown job",
        "JobService.CancelJob",
        lambda w: job_pb2.CancelJobRequest(id="nope"),
        C.NOT_FOUND,
        "JOB_NOT_FOUND",
        "id",
    ),
    ErrorPath(
        "cancel a finished job",
        "JobService.CancelJob",
        lambda w: job_pb2.CancelJobRequest(id=w.done_job),
        C.FAILED_PRECONDITION,
        "JOB_ALREADY_FINAL",
        "job_id",
    ),
    ErrorPath(
        "result of an unknown job",
        "JobService.GetJobResult",
        lambda w: job_pb2.GetJobResultRequest(id="nope"),
        C.NOT_FOUND,
        "JOB_NOT_FOUND",
        "id",
    ),
    ErrorPath(
        "result of a job that is not DONE",
        "JobService.GetJobResult",
        lambda w: job_pb2.GetJobResultRequest(id=w.failed_job),
        C.FAILED_PRECONDITION,
        "JOB_NOT_DONE",
        "id",
    ),
    ErrorPath(
        "watch to the end without job ids",
        "JobService.WatchJobs",
        lambda w: job_pb2.WatchJobsRequest(until_final=True),
        C.INVALID_ARGUMENT,
        "FIELD_REQUIRED",
        "job_ids",
    ),
    ErrorPath(
        "watch an unknown job to its end",
        "JobService.WatchJobs",
        lambda w: job_pb2.WatchJobsRequest(job_ids=[w.done_job, "nope"], until_final=True),
        C.NOT_FOUND,
        "JOB_NOT_FOUND",
        "job_ids[1]",
    ),
    ErrorPath(
        "watch jobs from a future revision",
        "JobService.WatchJobs",
        lambda w: job_pb2.WatchJobsRequest(after_revision=10**12),
        C.OUT_OF_RANGE,
        "REVISION_OUT_OF_RANGE",
        "after_revision",
    ),
    # InstanceService
    ErrorPath(
        "another instance",
        "InstanceService.GetInstance",
        lambda w: instance_pb2.GetInstanceRequest(name="someone-else"),
        C.NOT_FOUND,
        "INSTANCE_NOT_FOUND",
        "name",
    ),
    # TranspilerService (more in test_transpile.py)
    ErrorPath(
        "transpile without a circuit",
        "TranspilerService.Transpile",
        lambda w: transpiler_pb2.TranspileRequest(backend="fake_torino"),
        C.INVALID_ARGUMENT,
        "FIELD_REQUIRED",
        "circuit",
    ),
    ErrorPath(
        "transpile a bad layout",
        "TranspilerService.Transpile",
        lambda w: transpiler_pb2.TranspileRequest(
            circuit=qasm(BELL), backend="fake_torino", initial_layout=[0, 500]
        ),
        C.INVALID_ARGUMENT,
        "LAYOUT_INVALID",
        "initial_layout",
    ),
    ErrorPath(
        "transpile a bad Pauli label",
        "TranspilerService.Transpile",
        lambda w: transpiler_pb2.TranspileRequest(
            circuit=qasm(BELL), backend="fake_torino", pauli_labels=["ZQ"]
        ),
        C.INVALID_ARGUMENT,
        "PAULI_LABEL_INVALID",
        "pauli_labels[0]",
    ),
    ErrorPath(
        "transpile an unparsable circuit",
        "TranspilerService.Transpile",
        lambda w: transpiler_pb2.TranspileRequest(
            circuit=qasm("OPENQASM 3.0; qubit q; foo q;"), backend="fake_torino"
        ),
        C.INVALID_ARGUMENT,
        "CIRCUIT_INVALID",
        "circuit.qasm3",
    ),
    ErrorPath(
        "transpile for an unknown backend",
        "TranspilerService.Transpile",
        lambda w: transpiler_pb2.TranspileRequest(circuit=qasm(BELL), backend="nope"),
        C.NOT_FOUND,
        "BACKEND_NOT_FOUND",
        "backend",
    ),
]

NOT_PROVOKED_HERE = {
    "AUTH_THROTTLED": "test_auth_throttled_peer_is_told_so below",
    "WATCHER_TOO_SLOW": "a watcher must fall thousands of events behind: test_watch_scale.py",
    "STORAGE_FULL": "a full disk: test_disk_full.py",
    "STORAGE_UNAVAILABLE": "a store that cannot write: test_disk_full.py",
    "SHUTTING_DOWN": "a request during shutdown",
    "SANDBOX_UNAVAILABLE": "a sandbox process that cannot start",
    "RESULT_CORRUPT": "a result corrupted on disk: test_durability.py",
    "RESULT_MISSING": "a DONE job whose result row is gone",
    "TRANSPILE_FAILED": "a circuit the preset pass manager cannot translate",
}


def _backend_pb2():
    from qsession.v1 import backend_pb2

    return backend_pb2


def call(world: World, path: ErrorPath) -> None:
    """Make the call of ``path``; streams are read to their end."""
    channel = world.server.channel()
    service, method = path.rpc.split(".")
    stubs = {
        "BackendService": world.client.backends,
        "SessionService": world.client.sessions,
        "JobService": world.client.jobs,
        "InstanceService": instance_pb2_grpc.InstanceServiceStub(channel),
        "TranspilerService": transpiler_pb2_grpc.TranspilerServiceStub(channel),
    }
    tokens = {
        "premium": world.server.metadata(),
        "open": world.server.metadata(OPEN_TOKEN),
        "bad": world.server.metadata("not-a-token"),
        None: (),
    }
    answer = getattr(stubs[service], method)(
        path.request(world), metadata=tokens[path.token], timeout=120
    )
    if hasattr(answer, "__iter__") and not hasattr(answer, "ListFields"):
        list(answer)


def details(error: grpc.RpcError) -> tuple[error_details_pb2.ErrorInfo, list]:
    """The ErrorInfo and the field violations of a failed call."""
    info, violations = None, []
    for detail in rpc_status.from_call(error).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend(bad.field_violations)
    return info, violations


@pytest.mark.parametrize("path", ERROR_PATHS, ids=[p.name for p in ERROR_PATHS])
def test_each_error_path_answers_its_documented_reason(world, path):
    with pytest.raises(grpc.RpcError) as raised:
        call(world, path)
    error = raised.value
    assert error.code() == path.code, error.details()
    info, violations = details(error)
    assert info is not None, error.details()
    assert (info.domain, info.reason) == ("qsession.v1", path.reason), error.details()
    assert [(v.field, v.reason) for v in violations] == (
        [(path.field, path.reason)] if path.field else []
    ), error.details()


def test_auth_throttled_peer_is_told_so(tmp_path):
    config = base_config(tmp_path, limits={"auth_failures_per_minute": 2})
    with start_server(config) as server:
        jobs = server.stubs()[2]
        for _ in range(2):
            with pytest.raises(grpc.RpcError):
                jobs.ListJobs(job_pb2.ListJobsRequest(), metadata=server.metadata("guess"))
        with pytest.raises(grpc.RpcError) as raised:
            jobs.ListJobs(job_pb2.ListJobsRequest(), metadata=server.metadata("guess"))
        info, _ = details(raised.value)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert info.reason == "AUTH_THROTTLED" and info.metadata["retry_after_seconds"]


def test_every_documented_reason_is_walked_here_or_named_with_where_it_is():
    documented = set(errors_pb2.ErrorReason.keys()) - {"ERROR_REASON_UNSPECIFIED"}
    walked = {path.reason for path in ERROR_PATHS}
    assert documented == walked | set(NOT_PROVOKED_HERE)
    assert not walked & set(NOT_PROVOKED_HERE)


def test_every_reason_the_server_raises_is_documented():
    """A reason literal in the server's source that errors.proto does not list is a typo."""
    documented = set(errors_pb2.ErrorReason.keys())
    sources = [
        *(ROOT / "service" / "qsession" / "server").glob("*.py"),
        *(ROOT / "service" / "qsession" / "lifecycle").glob("*.py"),
    ]
    used = set()
    for source in sources:
        used |= set(re.findall(r'reason="([A-Z_]+)"', source.read_text()))
    assert used and used <= documented, used - documented
