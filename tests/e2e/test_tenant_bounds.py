"""Issue 25: a size a request controls has a bound, and a watch names only the caller's jobs.

Every bound comes from ``[limits]`` and a refusal names the field and the limit (ErrorInfo
metadata ``limit`` and ``max``): a job's ``max_execution_time`` (also its default), ZNE's
lists and noise factors, and the shots twirling's randomizations multiply a PUB's by. A
write-ahead log deleted after a crash is reported at start-up instead of silently dropped.

``WatchJobs`` names at most ``[limits] max_watch_job_ids`` job ids, and each must be one of
the caller's jobs: a list over the limit is refused with RESOURCE_EXHAUSTED naming the limit
before any id is looked up, and an unknown id, or another instance's, with NOT_FOUND naming
``job_ids[i]`` (as ``until_final`` always did), so a watch never holds made-up ids.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import sqlite3
import threading
import time
import uuid

import grpc
import pytest
from grpc_status import rpc_status
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution.profiles import load_profile
from qsession.testing import ServerStartError, free_port
from qsession.v1 import backend_pb2, job_pb2, options_pb2, session_pb2
from qsession.wire import encode_circuit
from tests.circuits import flip, mid_circuit_measured
from tests.conftest import OPEN_TOKEN, base_config, start_server
from tests.e2e.conftest import RawClient, error_info_metadata
from tests.e2e.server_process import ServerProcess

MILLION = 1_000_000
MANY = "max_noise_factors"


def made_up_ids(count: int) -> list[str]:
    return [str(uuid.UUID(int=i)) for i in range(count)]


def refusal(client: RawClient, request: job_pb2.WatchJobsRequest) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        next(iter(client.jobs.WatchJobs(request, metadata=client.metadata, timeout=60)))
    return info.value


@pytest.mark.parametrize("until_final", [False, True])
def test_a_watch_naming_more_job_ids_than_the_limit_is_refused_naming_it(server, until_final):
    client = RawClient(server)
    request = job_pb2.WatchJobsRequest(job_ids=made_up_ids(1001), until_final=until_final)
    error = refusal(client, request)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "job_ids: 1001 job ids is over the limit of 1000" in error.details()
    assert error_info_metadata(error) == {"limit": "max_watch_job_ids", "max": "1000"}


def test_a_watch_naming_an_unknown_or_foreign_job_is_refused_naming_it(server):
    lab, student = RawClient(server), RawClient(server, token=OPEN_TOKEN)
    theirs = student.create_job([(flip(), None, 5)]).id
    own = lab.create_job([(flip(), None, 5)]).id
    for ids, at in (([own, str(uuid.uuid4())], 1), ([own, theirs], 1), ([theirs], 0)):
        error = refusal(lab, job_pb2.WatchJobsRequest(job_ids=ids, after_revision=0))
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert error.details() == f"job_ids[{at}]: job {ids[at]!r} does not exist"


def test_a_million_job_ids_are_refused_at_once_and_leave_memory_flat(tmp_path):
    """20 WatchJobs calls of 1M made-up ids each (38 MB): each is refused, and the server's
    resident memory after them stays within 100 MB of before."""
    config = base_config(tmp_path, backends=[{"name": "ideal_24", "profile": "ideal_24"}])
    with ServerProcess(tmp_path, config) as server:
        client = RawClient(server)
        request = job_pb2.WatchJobsRequest(job_ids=made_up_ids(MILLION))
        error = refusal(client, request)  # the first one grows gRPC's buffers once
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        before = server.rss_bytes()
        for _ in range(20):
            assert refusal(client, request).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert server.rss_bytes() - before < 100 * 1024 * 1024


def refused_job(client: RawClient, program: str, **options) -> grpc.RpcError:
    if program == "sampler":
        pubs = [(flip(), None, 100)]
    else:
        pubs = [(flip().remove_final_measurements(inplace=False), "Z", None, 0.05)]
    with pytest.raises(grpc.RpcError) as info:
        client.create_job(pubs, program=program, backend="ideal_24", **options)
    return info.value


def test_a_max_execution_time_over_the_limit_is_refused_naming_it(server):
    error = refused_job(RawClient(server), "sampler", max_execution_time=1e12)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("options.max_execution_time: 1e+12 s is over the limit")
    assert error_info_metadata(error) == {"limit": "max_execution_time", "max": "10800"}


@pytest.mark.parametrize(
    ("zne", "field", "limit"),
    [
        ({"noise_factors": [1, 1e6]}, "noise_factors[1]", "max_noise_factor"),
        ({"noise_factors": [1.0] * 500_000}, "noise_factors", MANY),
        ({"extrapolated_noise_factors": [0.0] * 17}, "extrapolated_noise_factors", MANY),
    ],
)
def test_zne_lists_over_their_bounds_are_refused_naming_them(server, zne, field, limit):
    resilience = options_pb2.ResilienceOptions(
        zne_mitigation=True, zne=options_pb2.ZneOptions(**zne)
    )
    error = refused_job(RawClient(server), "estimator", resilience=resilience)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"options.resilience.zne.{field}: ")
    assert error_info_metadata(error)["limit"] == limit


@pytest.mark.parametrize("program", ["sampler", "estimator"])
def test_shots_multiplied_by_randomizations_are_bound_by_the_per_pub_limit(server, program):
    """10^10 shots through twirling's randomizations, against the 10^7 per-PUB limit."""
    twirling = options_pb2.TwirlingOptions(
        enable_measure=True, num_randomizations=100_000, shots_per_randomization=100_000
    )
    error = refused_job(RawClient(server), program, twirling=twirling)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "100000 randomizations x 100000 shots is 10000000000 shots" in error.details()
    assert error_info_metadata(error) == {"limit": "max_shots_per_pub", "max": "10000000"}


@pytest.mark.parametrize(
    "keys",
    [
        {"limits": {"max_execution_time": 1}},
        {"backends": [{"name": "ideal_24", "profile": "ideal_24", "max_execution_time": "1s"}]},
    ],
    ids=["limits", "backend default"],
)
def test_a_job_that_sets_no_max_execution_time_is_stopped_at_the_limit(tmp_path, keys):
    config = base_config(tmp_path, **keys)
    with start_server(config) as handle:
        client = RawClient(handle)
        heavy = generate_preset_pass_manager(
            target=load_profile("ideal_24").target, optimization_level=1
        ).run(mid_circuit_measured(22))
        job = client.wait(client.create_job([(heavy, None, 50)], backend="ideal_24").id)
        assert job.state == job_pb2.Job.STATE_ERROR
        assert "max_execution_time of 1 s" in job.error_message
        after = client.wait(client.create_job([(flip(), None, 5)], backend="ideal_24").id)
        assert after.state == job_pb2.Job.STATE_DONE
        with pytest.raises(grpc.RpcError) as refused:  # the cap: [limits] or the backend's
            client.create_job([(flip(), None, 5)], backend="ideal_24", max_execution_time=2)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "options.max_execution_time: 2 s is over" in refused.value.details()


def test_a_write_ahead_log_deleted_after_kill_9_is_reported_at_start_up(tmp_path):
    """Acknowledged jobs live in the WAL until a checkpoint: a server that would open the
    database without it would silently drop them, so it refuses to start, naming the file."""
    config = base_config(tmp_path / "data", backends=[{"name": "ideal_24", "profile": "ideal_24"}])
    with ServerProcess(tmp_path, config) as server:
        client = RawClient(server)
        for _ in range(5):
            client.wait(client.create_job([(flip(), None, 5)]).id)
        server.kill()
        wal = tmp_path / "data" / "qsession.db-wal"
        assert wal.exists()
        wal.unlink()
        with pytest.raises(ServerStartError) as refused:
            server.start()
        assert f"{wal} is missing" in str(refused.value)
        (tmp_path / "data" / "qsession.db-shm").unlink()  # the operator accepts the loss
        server.start()
        RawClient(server).wait(RawClient(server).create_job([(flip(), None, 5)]).id)


def test_a_request_is_not_parsed_before_its_token_is_known(tmp_path):
    """Bytes that do not parse as a CreateJobRequest: with a valid token they are INTERNAL
    ("does not parse"); with an unknown token, or none, they are refused UNAUTHENTICATED
    without being parsed. (A server of its own: its failed sign-ins are logged.)"""
    garbage = b"\xff" * 64
    with start_server(base_config(tmp_path)) as handle:
        call = handle.channel().unary_unary(
            "/qsession.v1.JobService/CreateJob",
            request_serializer=lambda data: data,
            response_deserializer=lambda data: data,
        )
        for metadata in ((("authorization", "Bearer tok-nobody-0001"),), ()):
            with pytest.raises(grpc.RpcError) as refused:
                call(garbage, metadata=metadata, timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as unparsed:
            call(garbage, metadata=handle.metadata(), timeout=30)
        assert unparsed.value.code() == grpc.StatusCode.INTERNAL
        assert "does not parse" in unparsed.value.details()


def test_large_requests_with_unknown_tokens_are_refused_unread_and_leave_memory_flat(tmp_path):
    """12 connections, each with 2 calls in flight, send 60 MB CreateJob requests with made-up
    tokens, 3 times each (4.3 GB in all): every call is UNAUTHENTICATED, the server's memory
    stays within 100 MB of before (a request is read only once its call is admitted), and
    another tenant's calls are answered throughout."""
    config = base_config(tmp_path, backends=[{"name": "ideal_24", "profile": "ideal_24"}])
    payload = b"\xff" * (60 * 1024 * 1024)
    with ServerProcess(tmp_path, config) as server:
        backends = server.stubs()[0]
        ask = backend_pb2.GetBackendRequest(name="ideal_24")
        backends.GetBackend(ask, metadata=server.metadata(), timeout=30)
        before = server.rss_bytes()
        codes: list[grpc.StatusCode] = []

        def connection(number: int) -> None:
            channel = grpc.insecure_channel(
                server.address,
                options=[("grpc.max_send_message_length", 2 * len(payload)), ("n", number)],
            )
            call = channel.unary_unary(
                "/qsession.v1.JobService/CreateJob",
                request_serializer=lambda data: data,
                response_deserializer=lambda data: data,
            )
            metadata = (("authorization", f"Bearer made-up-{number}"),)

            def caller() -> None:
                for _ in range(3):
                    with pytest.raises(grpc.RpcError) as refused:
                        call(payload, metadata=metadata, timeout=60)
                    codes.append(refused.value.code())

            callers = [threading.Thread(target=caller) for _ in range(2)]
            for thread in callers:
                thread.start()
            for thread in callers:
                thread.join()
            channel.close()

        flood = [threading.Thread(target=connection, args=(n,)) for n in range(12)]
        for thread in flood:
            thread.start()
        peak = before
        while any(thread.is_alive() for thread in flood):
            backends.GetBackend(ask, metadata=server.metadata(), timeout=30)
            peak = max(peak, server.rss_bytes())
            time.sleep(0.05)
        for thread in flood:
            thread.join()
        assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 72
        assert peak - before < 100 * 1024 * 1024


def test_page_event_streams_count_with_grpc_streams_against_the_instances_cap(tmp_path):
    """With max_streams_per_instance = 2: two of the page's event streams take the instance's
    budget, so a third is refused 429 and a gRPC watch RESOURCE_EXHAUSTED, both naming the
    limit; once one closes, a gRPC watch opens again. Another instance is not affected."""
    config = base_config(
        tmp_path, dashboard={"listen": "127.0.0.1:0"}, limits={"max_streams_per_instance": 2}
    )
    with start_server(config) as handle:
        port = handle.running.dashboard.port
        cookie = _sign_in(port, handle.token)
        open_streams = [_event_stream(port, cookie) for _ in range(2)]
        for _, response in open_streams:
            assert response.status == 200 and b"event: hello" in response.read1()
        third, refused = _event_stream(port, cookie)
        assert refused.status == 429
        assert "max_streams_per_instance is 2" in json.loads(refused.read())["error"]
        third.close()
        lab, student = RawClient(handle), RawClient(handle, token=OPEN_TOKEN)
        watch = job_pb2.WatchJobsRequest(progress_notify=True)
        with pytest.raises(grpc.RpcError) as over:
            next(iter(lab.jobs.WatchJobs(watch, metadata=lab.metadata, timeout=10)))
        assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_info_metadata(over.value)["limit"] == "max_streams_per_instance"
        assert next(iter(student.jobs.WatchJobs(watch, metadata=student.metadata, timeout=10)))
        open_streams.pop()[0].close()
        deadline = time.monotonic() + 10
        while True:  # the page notices the closed stream soon
            try:
                next(iter(lab.jobs.WatchJobs(watch, metadata=lab.metadata, timeout=10)))
                break
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert time.monotonic() < deadline, "the closed page stream kept its place"
                time.sleep(0.2)
        for connection, _ in open_streams:
            connection.close()


def test_idle_page_connections_cannot_take_the_servers_descriptors(tmp_path):
    """With max_http_connections = 100, 1,000 connections to the page that never send a
    request: the newest take the place of the oldest silent ones (which are closed), so a
    client that does send its request (/metrics) is answered; gRPC answers; jobs started,
    cancelled and queued meanwhile end DONE, CANCELLED, DONE; the log says so in a line or
    two, not one per connection."""
    page = free_port()
    config = base_config(
        tmp_path,
        dashboard={"listen": f"127.0.0.1:{page}"},
        limits={"max_http_connections": 100},
    )
    with ServerProcess(tmp_path, config) as server:
        client = RawClient(server)
        wide = QuantumCircuit(18)
        wide.h(range(18))
        wide.measure_all()
        running = client.create_job([(wide, None, 2_000_000)], backend="ideal_24")
        cancelled = client.create_job([(flip(), None, 5)], backend="ideal_24")
        silent = []
        for _ in range(1000):
            silent.append(socket.create_connection(("127.0.0.1", page), timeout=10))
        client.jobs.CancelJob(job_pb2.CancelJobRequest(id=cancelled.id), metadata=client.metadata)
        following = client.create_job([(flip(), None, 5)], backend="ideal_24")
        metrics = http.client.HTTPConnection("127.0.0.1", page, timeout=10)
        metrics.request("GET", "/metrics")
        assert metrics.getresponse().status == 200
        backends = server.stubs()[0]
        backends.GetBackend(
            backend_pb2.GetBackendRequest(name="ideal_24"), metadata=client.metadata
        )
        assert [client.wait(job.id).state for job in (running, cancelled, following)] == [
            job_pb2.Job.STATE_DONE,
            job_pb2.Job.STATE_CANCELLED,
            job_pb2.Job.STATE_DONE,
        ]
        closed = 0
        for connection in silent:
            connection.setblocking(False)
            try:
                closed += connection.recv(1) == b""
            except BlockingIOError:
                pass  # still open
            except ConnectionResetError:
                closed += 1
            connection.close()
        assert closed >= 900
        lines = [line for line in server.log().splitlines() if "HTTP connections" in line]
        assert 1 <= len(lines) <= 5


def _batch(client: RawClient) -> session_pb2.Session:
    request = session_pb2.CreateSessionRequest(
        backend="ideal_24", mode=session_pb2.Session.MODE_BATCH
    )
    return client.sessions.CreateSession(request, metadata=client.metadata).session


def _session_ids(client: RawClient) -> list[str]:
    listed = client.sessions.ListSessions(
        session_pb2.ListSessionsRequest(page_size=100), metadata=client.metadata
    )
    return [session.id for session in listed.sessions]


def test_sessions_not_closed_are_capped_per_instance_and_closed_ones_follow_retention(
    tmp_path,
):
    """max_open_sessions_per_instance = 2: a third batch is refused naming the limit while
    another instance opens its own; once one closes, a new one opens. With finished_jobs = 2,
    a restart's retention pass keeps each instance's newest two sessions (open ones always)."""
    config = base_config(
        tmp_path,
        limits={"max_open_sessions_per_instance": 2},
        retention={"finished_jobs": 2},
    )
    with start_server(config) as handle:
        lab, student = RawClient(handle), RawClient(handle, token=OPEN_TOKEN)
        first, second = _batch(lab), _batch(lab)
        with pytest.raises(grpc.RpcError) as over:
            _batch(lab)
        assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_info_metadata(over.value)["limit"] == "max_open_sessions_per_instance"
        theirs = _batch(student)
        lab.sessions.CloseSession(
            session_pb2.CloseSessionRequest(id=first.id), metadata=lab.metadata
        )
        third = _batch(lab)
        for session in (second, third):
            lab.sessions.CloseSession(
                session_pb2.CloseSessionRequest(id=session.id), metadata=lab.metadata
            )
        fourth = _batch(lab)
        assert set(_session_ids(lab)) == {first.id, second.id, third.id, fourth.id}
    with start_server(config) as handle:  # retention runs at start-up
        lab, student = RawClient(handle), RawClient(handle, token=OPEN_TOKEN)
        deadline = time.monotonic() + 30
        while len(_session_ids(lab)) > 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert set(_session_ids(lab)) == {third.id, fourth.id}
        assert _session_ids(student) == [theirs.id]


def _sign_in(port: int, token: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "POST",
        "/api/login",
        body=json.dumps({"token": token}),
        headers={"Content-Type": "application/json", "X-Qsession": "1"},
    )
    response = connection.getresponse()
    assert response.status == 200, response.read()
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    connection.close()
    return cookie


def _event_stream(port: int, cookie: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/api/events", headers={"Cookie": cookie})
    return connection, connection.getresponse()


def test_a_result_predicted_over_the_limit_is_refused_at_admission(tmp_path):
    config = base_config(tmp_path, limits={"max_result_bytes": 1000})
    with start_server(config) as handle:
        client = RawClient(handle)
        wide = QuantumCircuit(10)
        wide.x(range(10))
        wide.measure_all()
        with pytest.raises(grpc.RpcError) as refused:
            client.create_job([(wide, None, 1000)], backend="ideal_24")  # 1000 x 2 bytes
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "would be at least 2000 bytes" in refused.value.details()
        assert error_info_metadata(refused.value) == {"limit": "max_result_bytes", "max": "1000"}


def test_a_result_over_the_limit_ends_its_job_in_error_and_the_next_job_runs(tmp_path):
    """A result larger than predicted (its metadata counts too) is never stored: the job
    ends in ERROR naming the limit, and the next job on the backend runs."""
    config = base_config(tmp_path, limits={"max_result_bytes": 1000})
    with start_server(config) as handle:
        client = RawClient(handle)
        over = client.wait(client.create_job([(flip(), None, 990)], backend="ideal_24").id)
        assert over.state == job_pb2.Job.STATE_ERROR
        assert "over the limit max_result_bytes = 1000" in over.error_message
        after = client.wait(client.create_job([(flip(), None, 5)], backend="ideal_24").id)
        assert after.state == job_pb2.Job.STATE_DONE
        assert client.result(after.id)[0].data.meas.get_counts() == {"1": 5}


def test_a_result_the_store_cannot_write_fails_only_its_own_job(tmp_path):
    """A row SQLite refuses (here a result over its length limit, lowered on the live store
    so that 60 KB is "too big", as 1 GB is by default) is no storage fault: its job ends in
    ERROR naming the cause (a watcher may see its DONE first: the DONE was stored with the
    result's failure unknown), and another tenant's jobs, written in the same batches, are
    stored and served."""
    with start_server(base_config(tmp_path)) as handle:
        handle.running.runtime._ledger.store._db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 60_000)
        lab, student = RawClient(handle), RawClient(handle, token=OPEN_TOKEN)
        wide = QuantumCircuit(16)
        wide.h(range(16))
        wide.measure_all()
        big = lab.create_job([(wide, None, 60_000)], backend="ideal_24")  # 120 KB of bits
        small = [student.create_job([(flip(), None, 5)], backend="fake_torino") for _ in range(5)]
        lab.wait(big.id)
        for job in small:
            assert student.wait(job.id).state == job_pb2.Job.STATE_DONE
            assert student.result(job.id)[0].data.meas.get_counts() == {"1": 5}
        deadline = time.monotonic() + 30
        while True:
            get = job_pb2.GetJobRequest(id=big.id)
            failed = lab.jobs.GetJob(get, metadata=lab.metadata).job
            if failed.state == job_pb2.Job.STATE_ERROR or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert failed.state == job_pb2.Job.STATE_ERROR
        assert "could not store" in failed.error_message
        assert "too big" in failed.error_message


def test_a_circuit_refused_at_admission_is_not_kept_parsed(server):
    """Refused circuits take no memory: a non-ISA circuit parsed for a refused CreateJob is
    not held by admission's memo afterwards (an accepted one is)."""
    from qsession.wire import circuit_digest, encode_circuit

    memo = server.running.runtime._admission.memo
    not_isa = QuantumCircuit(2)
    not_isa.t(1)  # fake_torino has no t gate
    not_isa.measure_all()
    client = RawClient(server)
    with pytest.raises(grpc.RpcError) as refused:
        client.create_job([(not_isa, None, 10)], backend="fake_torino")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    digest = circuit_digest(encode_circuit(not_isa).SerializeToString())
    assert memo.held_circuit(digest) is None
    accepted = flip()
    client.wait(client.create_job([(accepted, None, 5)], backend="ideal_24").id)
    assert memo.held_circuit(circuit_digest(encode_circuit(accepted).SerializeToString()))


def test_the_page_answers_only_to_loopback_names_and_its_errors_carry_its_headers(tmp_path):
    """A page on 127.0.0.1 refuses another Host (DNS rebinding) with 421; the router's own
    404 carries the Content-Security-Policy too."""
    config = base_config(tmp_path, dashboard={"listen": "127.0.0.1:0"})
    with start_server(config) as handle:
        port = handle.running.dashboard.port

        def get(path: str, host: str) -> http.client.HTTPResponse:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", path, headers={"Host": host})
            return connection.getresponse()

        assert get("/", f"127.0.0.1:{port}").status == 200
        assert get("/", f"localhost:{port}").status == 200
        rebound = get("/", f"attacker.example:{port}")
        assert rebound.status == 421
        missing = get("/no-such-page", f"127.0.0.1:{port}")
        assert missing.status == 404
        assert "default-src 'self'" in missing.getheader("Content-Security-Policy")


def _me(port: int, cookie: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/api/me", headers={"Cookie": cookie})
    status = connection.getresponse().status
    connection.close()
    return status


def test_one_instances_sign_ins_never_sign_another_out(tmp_path, monkeypatch):
    """Each instance keeps its own newest MAX_SIGN_INS sign-ins (3 here): the lab signing in
    five more times forgets only its own oldest, never the student's."""
    monkeypatch.setattr("qsession.dashboard.server.MAX_SIGN_INS", 3)
    config = base_config(tmp_path, dashboard={"listen": "127.0.0.1:0"})
    with start_server(config) as handle:
        port = handle.running.dashboard.port
        student = _sign_in(port, OPEN_TOKEN)
        lab = [_sign_in(port, handle.token) for _ in range(5)]
        assert _me(port, student) == 200
        assert [_me(port, cookie) for cookie in lab] == [401, 401, 200, 200, 200]


def test_failed_sign_ins_on_the_page_and_over_grpc_count_against_one_budget(tmp_path):
    """auth_failures_per_minute = 3: two failed page sign-ins and one failed gRPC call from
    one address throttle it on both: a valid token never used from there is refused on
    gRPC (UNAUTHENTICATED naming the limit) and on the page (429)."""
    config = base_config(
        tmp_path, dashboard={"listen": "127.0.0.1:0"}, limits={"auth_failures_per_minute": 3}
    )
    with start_server(config) as handle:
        port = handle.running.dashboard.port
        for _ in range(2):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request(
                "POST",
                "/api/login",
                body=json.dumps({"token": "a-guess"}),
                headers={"Content-Type": "application/json", "X-Qsession": "1"},
            )
            assert connection.getresponse().status == 401
            connection.close()
        guess = RawClient(handle, token="another-guess")
        with pytest.raises(grpc.RpcError) as failed:
            guess.backends.ListBackends(backend_pb2.ListBackendsRequest(), metadata=guess.metadata)
        assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED
        student = RawClient(handle, token=OPEN_TOKEN)
        with pytest.raises(grpc.RpcError) as throttled:
            student.backends.ListBackends(
                backend_pb2.ListBackendsRequest(), metadata=student.metadata
            )
        assert error_info_metadata(throttled.value)["limit"] == "auth_failures_per_minute"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(
            "POST",
            "/api/login",
            body=json.dumps({"token": handle.token}),
            headers={"Content-Type": "application/json", "X-Qsession": "1"},
        )
        assert connection.getresponse().status == 429
        connection.close()


def test_refused_large_requests_of_a_valid_tenant_do_not_pile_up_in_memory(tmp_path):
    """300 CreateJob requests of 4 MB (a 500,000-entry noise_factors list, refused naming
    the limit): the server's memory after the last 200 is within 60 MB of after the first
    100 (a request read but left referenced would keep 800 MB)."""
    config = base_config(tmp_path, backends=[{"name": "ideal_24", "profile": "ideal_24"}])
    with ServerProcess(tmp_path, config) as server:
        client = RawClient(server)
        request = job_pb2.CreateJobRequest(backend="ideal_24", program=job_pb2.PROGRAM_SAMPLER)
        request.sampler_pubs.add(circuit=encode_circuit(flip()), shots=10)
        request.options.resilience.zne.noise_factors.extend([1.0] * 500_000)

        def refuse(times: int) -> None:
            for _ in range(times):
                with pytest.raises(grpc.RpcError) as refused:
                    client.jobs.CreateJob(request, metadata=client.metadata, timeout=60)
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        refuse(100)
        settled = server.rss_bytes()
        refuse(200)
        assert server.rss_bytes() - settled < 60 * 1024 * 1024


def _distinct_large_circuits(count: int) -> list[bytes]:
    """``count`` QPY circuits of 22 MB, 200 qubits wide (wider than any backend), that differ
    only in their names: encoded once, the name's bytes replaced in each copy."""
    circuit = QuantumCircuit(200, name="wide-00")
    for _ in range(450_000):
        circuit.cx(0, 1)
    qpy = encode_circuit(circuit).qpy
    assert qpy.count(b"wide-00") == 1
    return [qpy.replace(b"wide-00", f"wide-{n:02}".encode()) for n in range(count)]


def test_refused_large_circuits_leave_the_servers_memory_as_it_was(tmp_path):
    """Five distinct 22 MB circuits refused after the sandbox parsed them (too wide), and
    five refused on the event loop (an unknown backend): the server's memory after them is
    within 50 MB of before. A refusal raised through the call used to keep its request in a
    reference cycle until the garbage collector ran: +150-200 MB for twelve."""
    config = base_config(tmp_path, backends=[{"name": "ideal_24", "profile": "ideal_24"}])
    circuits = _distinct_large_circuits(10)
    with ServerProcess(tmp_path, config) as server:
        client = RawClient(server)
        client.backends.GetBackend(
            backend_pb2.GetBackendRequest(name="ideal_24"), metadata=client.metadata
        )
        before = server.rss_bytes()
        for n, qpy in enumerate(circuits):
            backend, code = ("ideal_24", "INVALID_ARGUMENT") if n % 2 else ("nope", "NOT_FOUND")
            request = job_pb2.CreateJobRequest(backend=backend, program=job_pb2.PROGRAM_SAMPLER)
            request.sampler_pubs.add(shots=10).circuit.qpy = qpy
            with pytest.raises(grpc.RpcError) as refused:
                client.jobs.CreateJob(request, metadata=client.metadata, timeout=60)
            assert refused.value.code().name == code
        assert server.rss_bytes() - before < 50 * 1024 * 1024


class _Watcher(threading.Thread):
    """Follows an instance's job events (after ``after``; None: from now) in a thread until
    ``count`` jobs are DONE or the stream ends: the DONE job ids, the revisions received and
    the error that ended the stream, if one did."""

    def __init__(self, client: RawClient, after: int | None, count: int) -> None:
        super().__init__(daemon=True)
        request = job_pb2.WatchJobsRequest()
        if after is not None:
            request.after_revision = after
        self.stream = client.jobs.WatchJobs(request, metadata=client.metadata, timeout=120)
        self.count = count
        self.done: set[str] = set()
        self.revisions: list[int] = []
        self.error: grpc.RpcError | None = None
        self.start()

    def run(self) -> None:
        try:
            for response in self.stream:
                self.revisions.append(response.revision)
                if response.job.state == job_pb2.Job.STATE_DONE:
                    self.done.add(response.job.id)
                    if len(self.done) == self.count:
                        break
        except grpc.RpcError as error:
            self.error = error
        finally:
            self.stream.cancel()


@pytest.mark.parametrize("contended", [True, False])
def test_an_instances_watchers_are_paced_only_while_another_instance_calls(tmp_path, contended):
    """With watch_messages_per_second_per_instance = 1 and a buffer of 8 events: while the
    open instance calls GetBackend back to back, the lab's watcher of twelve jobs falls behind
    its buffer and is cut off (RESOURCE_EXHAUSTED, WATCHER_TOO_SLOW, naming the revision to
    resume from), and resuming there gets the rest with no gap. With the open instance quiet,
    the same watcher receives every event as it comes."""
    config = base_config(tmp_path, limits={"watch_messages_per_second_per_instance": 1})
    config["server"]["watch_buffer"] = 8
    with ServerProcess(tmp_path, config) as server:
        lab, other = RawClient(server), RawClient(server, token=OPEN_TOKEN)
        calling, stop = threading.Event(), threading.Event()

        def call_back_to_back() -> None:
            request = backend_pb2.GetBackendRequest(name="ideal_24")
            while not stop.is_set():
                other.backends.GetBackend(request, metadata=other.metadata, timeout=10)
                calling.set()

        caller = threading.Thread(target=call_back_to_back, daemon=True)
        if contended:
            caller.start()
            assert calling.wait(10)
        watcher = _Watcher(lab, None, 12)
        time.sleep(0.5)  # the watch is open before the jobs are created
        jobs = {lab.create_job([flip()], backend="ideal_24").id for _ in range(12)}
        watcher.join(120)
        stop.set()
        if contended:
            caller.join(10)
        if not contended:
            assert watcher.error is None and watcher.done == jobs
            return
        error = watcher.error
        assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "WATCHER_TOO_SLOW" in str(rpc_status.from_call(error))
        resume = re.search(r"after_revision=(\d+)", error.details())
        assert resume, error.details()
        after = int(resume.group(1))
        assert after == watcher.revisions[-1]  # what it last received
        rest = _Watcher(lab, after, len(jobs - watcher.done))
        rest.join(120)
        assert rest.error is None and watcher.done | rest.done == jobs
        assert rest.revisions[0] > after and rest.revisions == sorted(rest.revisions)


def _sign_in_cookie(port: int, token: str, headers: dict[str, str]) -> str:
    """The Set-Cookie header a sign-in answers with, sent with ``headers``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "POST",
        "/api/login",
        body=json.dumps({"token": token}),
        headers={"Content-Type": "application/json", "X-Qsession": "1", **headers},
    )
    response = connection.getresponse()
    assert response.status == 200, response.read()
    connection.close()
    return response.getheader("Set-Cookie")


@pytest.mark.parametrize("always", [False, True])
def test_the_sign_in_cookie_is_secure_behind_a_tls_proxy(tmp_path, always):
    """A TLS-terminating proxy says so (X-Forwarded-Proto or Forwarded): the cookie is then
    Secure, and a browser never sends it over plain HTTP; [dashboard] secure_cookie = true
    makes it Secure whatever the request says."""
    dashboard = {"listen": "127.0.0.1:0", "secure_cookie": always}
    with start_server(base_config(tmp_path, dashboard=dashboard)) as handle:
        port, token = handle.running.dashboard.port, handle.token
        for headers in ({"X-Forwarded-Proto": "https"}, {"Forwarded": "for=1.2.3.4;proto=https"}):
            assert "Secure" in _sign_in_cookie(port, token, headers)
        plain = _sign_in_cookie(port, token, {"X-Forwarded-Proto": "http"})
        assert ("Secure" in plain) is always
