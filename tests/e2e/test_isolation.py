"""Issue 6, isolation and authentication: three instances, every RPC.

An instance never sees another's sessions, jobs, results or events: reading, closing,
cancelling, deleting, listing or watching them answers exactly as for an id that does not
exist. Every
qsession RPC needs a valid token, and tokens are kept and logged only as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import message_factory
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from qiskit import QuantumCircuit
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession.v1 import backend_pb2, instance_pb2, instance_pb2_grpc, job_pb2, session_pb2
from qsession.wire import encode_sampler_pub
from tests.e2e.conftest import RawClient
from tests.e2e.server_process import ServerProcess

TOKENS = {
    "lab": "tok-iso-lab-5b1e0c9a7d",
    "student": "tok-iso-student-77d2f4e1",
    "third": "tok-iso-third-c3a8e10b",
}
PLANS = {"lab": "premium", "student": "open", "third": "premium"}
PAIRS = list(itertools.permutations(TOKENS, 2))  # (viewer, owner)
SERVICES = [
    d.services_by_name[name]
    for d, name in (
        (backend_pb2.DESCRIPTOR, "BackendService"),
        (session_pb2.DESCRIPTOR, "SessionService"),
        (job_pb2.DESCRIPTOR, "JobService"),
        (instance_pb2.DESCRIPTOR, "InstanceService"),
    )
]
METHODS = [m for service in SERVICES for m in service.methods]


@dataclass
class Owned:
    """What one instance created: a session (a batch on the open plan) and two finished jobs."""

    session_id: str
    job_ids: list[str]


@dataclass
class World:
    server: ServerProcess
    clients: dict[str, RawClient]
    owned: dict[str, Owned]


def tiny_pub():
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    return encode_sampler_pub(SamplerPub.coerce((circuit, None, 8)))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    workdir = tmp_path_factory.mktemp("isolation")
    config = {
        "server": {"listen": "", "data_dir": str(workdir / "data")},
        "instances": [{"name": n, "plan": PLANS[n], "tokens": [t]} for n, t in TOKENS.items()],
        "plans": {"premium": {"interactive_ttl": "0.2s"}},
        "backends": [{"name": "ideal_24", "profile": "ideal_24"}],
    }
    with ServerProcess(workdir, config, log_level="DEBUG") as server:
        clients = {name: RawClient(server, token=token) for name, token in TOKENS.items()}
        owned = {}
        for name, client in clients.items():
            mode = (
                session_pb2.Session.MODE_DEDICATED
                if PLANS[name] == "premium"
                else session_pb2.Session.MODE_BATCH
            )
            session = client.sessions.CreateSession(
                session_pb2.CreateSessionRequest(backend="ideal_24", mode=mode),
                metadata=client.metadata,
            ).session
            jobs = [
                client.jobs.CreateJob(
                    job_pb2.CreateJobRequest(
                        program=job_pb2.PROGRAM_SAMPLER,
                        backend="ideal_24",
                        session_id=sid,
                        sampler_pubs=[tiny_pub()],
                    ),
                    metadata=client.metadata,
                ).job.id
                for sid in (session.id, "")
            ]
            for job_id in jobs:
                client.wait(job_id)
            owned[name] = Owned(session.id, jobs)
        yield World(server, clients, owned)


def failure(call, *args) -> tuple[grpc.StatusCode, str, tuple[str, ...], tuple[str, ...]]:
    """(code, message, BadRequest fields, ErrorInfo reasons) of ``call(*args)``, which must fail."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args)
    error = info.value
    status = rpc_status.from_call(error)
    fields, reasons = [], []
    for detail in status.details if status else ():
        for cls, out, get in (
            (error_details_pb2.BadRequest, fields, lambda m: [v.field for v in m.field_violations]),
            (error_details_pb2.ErrorInfo, reasons, lambda m: [m.reason]),
        ):
            if detail.Is(cls.DESCRIPTOR):
                message = cls()
                detail.Unpack(message)
                out.extend(get(message))
    return error.code(), error.details(), tuple(fields), tuple(reasons)


def shape(answer, identifier: str):
    """An answer with the id replaced by a placeholder, to compare answers for two ids."""
    code, message, fields, reasons = answer
    return code, message.replace(identifier, "<id>"), fields, reasons


# Each probe calls one RPC about a session id or a job id, as ``viewer``.
SESSION_PROBES = {
    "GetSession": lambda c, i: c.sessions.GetSession(
        session_pb2.GetSessionRequest(id=i), metadata=c.metadata
    ),
    "CloseSession": lambda c, i: c.sessions.CloseSession(
        session_pb2.CloseSessionRequest(id=i), metadata=c.metadata
    ),
    "CancelSession": lambda c, i: c.sessions.CancelSession(
        session_pb2.CancelSessionRequest(id=i), metadata=c.metadata
    ),
    "CreateJob": lambda c, i: c.jobs.CreateJob(
        job_pb2.CreateJobRequest(
            program=job_pb2.PROGRAM_SAMPLER, session_id=i, sampler_pubs=[tiny_pub()]
        ),
        metadata=c.metadata,
    ),
    "ListSessions.page_token": lambda c, i: c.sessions.ListSessions(
        session_pb2.ListSessionsRequest(page_token=i), metadata=c.metadata
    ),
}
JOB_PROBES = {
    "GetJob": lambda c, i: c.jobs.GetJob(job_pb2.GetJobRequest(id=i), metadata=c.metadata),
    "GetJob.view_full": lambda c, i: c.jobs.GetJob(
        job_pb2.GetJobRequest(id=i, view=job_pb2.JOB_VIEW_FULL), metadata=c.metadata
    ),
    "UpdateJob": lambda c, i: c.jobs.UpdateJob(
        job_pb2.UpdateJobRequest(
            job=job_pb2.Job(id=i, tags=["mine-now"]), update_mask={"paths": ["tags"]}
        ),
        metadata=c.metadata,
    ),
    "CancelJob": lambda c, i: c.jobs.CancelJob(job_pb2.CancelJobRequest(id=i), metadata=c.metadata),
    "DeleteJob": lambda c, i: c.jobs.DeleteJob(job_pb2.DeleteJobRequest(id=i), metadata=c.metadata),
    "GetJobResult": lambda c, i: list(
        c.jobs.GetJobResult(job_pb2.GetJobResultRequest(id=i), metadata=c.metadata, timeout=10)
    ),
    "ListJobs.page_token": lambda c, i: c.jobs.ListJobs(
        job_pb2.ListJobsRequest(page_token=i), metadata=c.metadata
    ),
}


@pytest.mark.parametrize("rpc", SESSION_PROBES)
def test_another_instances_session_answers_exactly_like_a_missing_one(world, rpc):
    probe = SESSION_PROBES[rpc]
    for viewer, owner in PAIRS:
        client, foreign, missing = (
            world.clients[viewer],
            world.owned[owner].session_id,
            str(uuid.uuid4()),
        )
        answer = failure(probe, client, foreign)
        assert answer[0] in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT), answer
        assert shape(answer, foreign) == shape(failure(probe, client, missing), missing)


@pytest.mark.parametrize("rpc", JOB_PROBES)
def test_another_instances_job_answers_exactly_like_a_missing_one(world, rpc):
    probe = JOB_PROBES[rpc]
    for viewer, owner in PAIRS:
        client, missing = world.clients[viewer], str(uuid.uuid4())
        for foreign in world.owned[owner].job_ids:
            answer = failure(probe, client, foreign)
            assert answer[0] in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT), (
                answer
            )
            assert shape(answer, foreign) == shape(failure(probe, client, missing), missing)


def test_reading_another_instances_ids_is_not_found_naming_the_field(world):
    client, foreign = world.clients["lab"], world.owned["student"]
    for probe, identifier, field in (
        (SESSION_PROBES["GetSession"], foreign.session_id, "id"),
        (SESSION_PROBES["CreateJob"], foreign.session_id, "session_id"),
        (JOB_PROBES["GetJobResult"], foreign.job_ids[0], "id"),
    ):
        code, message, fields, _ = failure(probe, client, identifier)
        assert (code, fields) == (grpc.StatusCode.NOT_FOUND, (field,))
        assert "does not exist" in message


def test_another_instances_close_cancel_and_delete_change_nothing(world):
    for name, owned in world.owned.items():
        client = world.clients[name]
        session = client.sessions.GetSession(
            session_pb2.GetSessionRequest(id=owned.session_id), metadata=client.metadata
        ).session
        assert session.accepting_jobs and session.state != session_pb2.Session.STATE_CLOSED
        for job_id in owned.job_ids:
            job = client.jobs.GetJob(job_pb2.GetJobRequest(id=job_id), metadata=client.metadata).job
            assert job.state == job_pb2.Job.STATE_DONE
            assert "mine-now" not in job.tags  # another instance's UpdateJob changed nothing


def get_instance(client: RawClient, name: str):
    stub = instance_pb2_grpc.InstanceServiceStub(client.handle.channel())
    return stub.GetInstance(instance_pb2.GetInstanceRequest(name=name), metadata=client.metadata)


def test_an_instance_sees_only_itself_and_another_name_answers_like_a_missing_one(world):
    for viewer, client in world.clients.items():
        own = get_instance(client, "").instance
        assert (own.name, own.plan) == (viewer, PLANS[viewer])
        missing = shape(failure(get_instance, client, "nobody"), "nobody")
        assert missing[0] == grpc.StatusCode.NOT_FOUND
        for other in TOKENS.keys() - {viewer}:
            assert shape(failure(get_instance, client, other), other) == missing


def test_lists_show_only_the_instances_own_items(world):
    for viewer, client in world.clients.items():
        sessions = client.sessions.ListSessions(
            session_pb2.ListSessionsRequest(), metadata=client.metadata
        ).sessions
        jobs = client.jobs.ListJobs(job_pb2.ListJobsRequest(), metadata=client.metadata).jobs
        assert {s.id for s in sessions} == {world.owned[viewer].session_id}
        assert {j.id for j in jobs} == set(world.owned[viewer].job_ids)
        for owner in TOKENS.keys() - {viewer}:
            request = job_pb2.ListJobsRequest(session_id=world.owned[owner].session_id)
            assert not client.jobs.ListJobs(request, metadata=client.metadata).jobs


DEADLINE = grpc.StatusCode.DEADLINE_EXCEEDED


def _watch(stream) -> tuple[list[str], grpc.StatusCode]:
    """The ids in a watch stream's events until it ends, and the code it ended with."""
    ids = []
    try:
        for event in stream:
            ids.append(
                event.job.id if isinstance(event, job_pb2.WatchJobsResponse) else event.session.id
            )
    except grpc.RpcError as error:
        return ids, error.code()
    return ids, grpc.StatusCode.OK


def test_watches_deliver_only_the_instances_own_events(world):
    streams: dict[tuple[str, str], object] = {}
    for viewer, client in world.clients.items():
        watch = {"metadata": client.metadata, "timeout": 2.0}
        streams[viewer, "own jobs"] = client.jobs.WatchJobs(
            job_pb2.WatchJobsRequest(after_revision=0), **watch
        )
        streams[viewer, "own sessions"] = client.sessions.WatchSessions(
            session_pb2.WatchSessionsRequest(after_revision=0), **watch
        )
        for owner in TOKENS.keys() - {viewer}:
            foreign = world.owned[owner]
            streams[viewer, f"{owner} job ids"] = client.jobs.WatchJobs(
                job_pb2.WatchJobsRequest(after_revision=0, job_ids=foreign.job_ids), **watch
            )
            streams[viewer, f"{owner} session's jobs"] = client.jobs.WatchJobs(
                job_pb2.WatchJobsRequest(after_revision=0, session_id=foreign.session_id), **watch
            )
            streams[viewer, f"{owner} session"] = client.sessions.WatchSessions(
                session_pb2.WatchSessionsRequest(
                    after_revision=0, session_ids=[foreign.session_id]
                ),
                **watch,
            )
    with ThreadPoolExecutor(len(streams)) as pool:
        seen = dict(zip(streams, pool.map(_watch, streams.values()), strict=True))
    for (viewer, what), (ids, code) in seen.items():
        own = world.owned[viewer]
        # another instance's job ids are refused as unknown ones are (issue 25)
        ended = grpc.StatusCode.NOT_FOUND if what.endswith("job ids") else DEADLINE
        assert code == ended, (viewer, what, code)
        if what == "own jobs":
            assert set(ids) == set(own.job_ids)
        elif what == "own sessions":
            assert set(ids) == {own.session_id}
        else:
            assert ids == [], (viewer, what)


BAD_CREDENTIALS = {
    "no metadata": (),
    "unknown token": (("authorization", "Bearer tok-iso-unknown-0000"),),
    "token without Bearer": (("authorization", TOKENS["lab"]),),
    "empty Bearer": (("authorization", "Bearer "),),
}


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
@pytest.mark.parametrize(
    "method", METHODS, ids=lambda m: m.full_name.rsplit(".", 2)[-2] + "." + m.name
)
def test_every_rpc_without_a_valid_token_is_unauthenticated(world, method, credentials):
    request = message_factory.GetMessageClass(method.input_type)()
    response = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    channel = world.server.channel()
    kind = channel.unary_stream if method.server_streaming else channel.unary_unary
    call = kind(
        path,
        request_serializer=type(request).SerializeToString,
        response_deserializer=response.FromString,
    )

    def invoke():
        answer = call(request, metadata=BAD_CREDENTIALS[credentials], timeout=10)
        return list(answer) if method.server_streaming else answer

    assert failure(invoke)[0] == grpc.StatusCode.UNAUTHENTICATED


def test_tokens_are_never_stored_or_logged_only_their_hashes(world):
    wrong = "tok-iso-never-valid-4242"
    with pytest.raises(grpc.RpcError):
        world.clients["lab"].backends.ListBackends(
            backend_pb2.ListBackendsRequest(), metadata=(("authorization", f"Bearer {wrong}"),)
        )
    data_dir = world.server.workdir / "data"
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert files
    log = world.server.log()
    for token in (*TOKENS.values(), wrong):
        for path in files:
            assert token.encode() not in path.read_bytes(), (token, path)
        assert token not in log
    assert hashlib.sha256(wrong.encode()).hexdigest() in log
