"""Issue 30, the queue IBM runs, against a live server: fair share between instances, usage
limits, and usage that means QPU time (``lifecycle.fair_share``, ``execution.qpu_time``).

* Another instance's 200 queued jobs are already waiting: a newcomer's first job starts after
  at most one more job of the flooding instance under ``fair_share``, after all 200 under
  ``fifo``.
  (A third instance's active session holds the QPU while they queue, so that all 200 wait.)
* An instance with a 5 s limit over an 8 s window: once reached, its next job waits QUEUED
  with IBM's reason, GetInstance and ``usage()`` say the limit is reached, another instance's
  job runs; when its usage leaves the window, the waiting job runs.
* A job's usage is its modelled QPU time, known when it is created (``usage_estimation``),
  with the simulation time beside it.
"""

from __future__ import annotations

import time

import pytest
from qiskit.transpiler import generate_preset_pass_manager

from qsession import QiskitRuntimeService, SamplerV2
from qsession.exceptions import RuntimeJobTimeoutError
from qsession.execution.profiles import load_profile
from qsession.lifecycle.fair_share import LIMIT_REACHED, SESSION_HOLDS_QPU
from qsession.v1 import instance_pb2, instance_pb2_grpc, job_pb2, session_pb2
from tests.circuits import bell
from tests.conftest import base_config, start_server
from tests.e2e.conftest import RawClient

FLOOD = 200
FLOOD_TOKEN, NEWCOMER_TOKEN, HOLDER_TOKEN = "tok-flood", "tok-newcomer", "tok-holder"


def config(tmp_path, policy: str, window: str = "28d", **flood_keys) -> dict:
    return base_config(
        tmp_path,
        instances=[
            {"name": "flood", "tokens": [FLOOD_TOKEN], **flood_keys},
            {"name": "newcomer", "tokens": [NEWCOMER_TOKEN]},
            {"name": "holder", "tokens": [HOLDER_TOKEN]},
        ],
        backends=[{"name": "ideal_24", "profile": "ideal_24"}],
        scheduler={"policy": policy, "window": window},
    )


def hold_the_qpu(holder: RawClient) -> session_pb2.Session:
    """Open a dedicated session on ideal_24 and run one job in it: the session is then active
    and holds the QPU for its interactive TTL (60 s)."""
    session = holder.sessions.CreateSession(
        session_pb2.CreateSessionRequest(
            backend="ideal_24", mode=session_pb2.Session.MODE_DEDICATED
        ),
        metadata=holder.metadata,
    ).session
    held = holder.create_job([(bell(), None, 16)], session_id=session.id)
    assert holder.wait(held.id).state == job_pb2.Job.STATE_DONE
    return session


def flood_then_newcomer(tmp_path, policy: str) -> tuple[list[job_pb2.Job], job_pb2.Job]:
    """The flood has used QPU time; a third instance's active session holds the QPU while the
    flood queues 200 jobs and then the newcomer one; the session closes. Returns the flood's
    jobs and the newcomer's, finished."""
    with start_server(config(tmp_path, policy)) as handle:
        flooder = RawClient(handle, token=FLOOD_TOKEN)
        newcomer = RawClient(handle, token=NEWCOMER_TOKEN)
        holder = RawClient(handle, token=HOLDER_TOKEN)
        first = flooder.create_job([(bell(), None, 16)], backend="ideal_24")
        assert flooder.wait(first.id).state == job_pb2.Job.STATE_DONE
        session = hold_the_qpu(holder)
        flood = [flooder.create_job([(bell(), None, 16)], backend="ideal_24") for _ in range(FLOOD)]
        mine = newcomer.create_job([(bell(), None, 16)], backend="ideal_24")
        for job in (*flood, mine):  # all 201 wait behind the session
            now = flooder.jobs.GetJob(
                job_pb2.GetJobRequest(id=job.id),
                metadata=handle.metadata(FLOOD_TOKEN if job is not mine else NEWCOMER_TOKEN),
            )
            assert now.job.state == job_pb2.Job.STATE_QUEUED
        holder.sessions.CloseSession(
            session_pb2.CloseSessionRequest(id=session.id), metadata=holder.metadata
        )
        done = newcomer.wait(mine.id)
        assert done.state == job_pb2.Job.STATE_DONE, done.error_message
        finished = [flooder.wait(job.id) for job in flood]
    return finished, done


def test_a_newcomer_runs_after_at_most_one_job_of_a_flooding_instance(tmp_path) -> None:
    flood, newcomer = flood_then_newcomer(tmp_path, "fair_share")
    start = newcomer.start_time.ToNanoseconds()
    assert sum(job.start_time.ToNanoseconds() < start for job in flood) <= 1


def test_under_fifo_a_newcomer_waits_for_the_whole_flood(tmp_path) -> None:
    flood, newcomer = flood_then_newcomer(tmp_path, "fifo")
    start = newcomer.start_time.ToNanoseconds()
    assert all(job.start_time.ToNanoseconds() < start for job in flood)


def get_instance(handle, token: str) -> instance_pb2.Instance:
    stub = instance_pb2_grpc.InstanceServiceStub(handle.channel())
    request = instance_pb2.GetInstanceRequest()
    return stub.GetInstance(request, metadata=handle.metadata(token), timeout=10).instance


def test_an_instance_at_its_limit_waits_until_the_window_frees_time(tmp_path) -> None:
    limited = config(tmp_path, "fair_share", window="8s", allocation="5s", limit=True)
    with start_server(limited) as handle:
        capped = RawClient(handle, token=FLOOD_TOKEN)
        other = RawClient(handle, token=NEWCOMER_TOKEN)
        # Each job is modelled at >= 3 s of QPU time (the per-job overhead): two reach 5 s.
        for _ in range(2):
            job = capped.create_job([(bell(), None, 16)], backend="ideal_24")
            assert capped.wait(job.id).state == job_pb2.Job.STATE_DONE
        instance = get_instance(handle, FLOOD_TOKEN)
        assert instance.limit_reached
        assert instance.limit_seconds == pytest.approx(5.0)
        assert instance.window_usage_seconds >= 5.0
        waiting = capped.create_job([(bell(), None, 16)], backend="ideal_24")  # accepted
        # Another instance's job runs meanwhile.
        theirs = other.create_job([(bell(), None, 16)], backend="ideal_24")
        assert other.wait(theirs.id).state == job_pb2.Job.STATE_DONE
        now = capped.jobs.GetJob(job_pb2.GetJobRequest(id=waiting.id), metadata=capped.metadata)
        assert now.job.state == job_pb2.Job.STATE_QUEUED
        assert now.job.waiting_reason == LIMIT_REACHED
        service = QiskitRuntimeService(url=handle.address, token=FLOOD_TOKEN)
        usage = service.usage()
        assert usage["usage_limit_reached"] is True
        assert usage["usage_limit_seconds"] == 5
        assert usage["usage_remaining_seconds"] == 0
        # The window is 8 s: the first charges leave it, and the waiting job runs.
        started = time.monotonic()
        done = capped.wait(waiting.id, timeout=30)
        assert done.state == job_pb2.Job.STATE_DONE
        assert time.monotonic() - started < 20


def test_usage_is_modelled_qpu_time_known_at_creation(server) -> None:
    client = RawClient(server)
    torino = load_profile("fake_torino").target
    circuit = generate_preset_pass_manager(1, target=torino, seed_transpiler=1).run(bell())
    job = client.create_job([(circuit, None, 4096)], backend="fake_torino")
    estimate = job.estimated_usage_seconds
    # 3 s per job and 4,096 shots of (a ~2 us Bell circuit + the 250 us rep_delay)
    assert 3.0 + 4096 * 250e-6 < estimate < 3.0 + 4096 * 260e-6
    done = client.wait(job.id)
    assert done.usage_seconds == pytest.approx(estimate)
    assert 0 < done.simulation_seconds < 60
    more_shots = client.create_job([(circuit, None, 8192)], backend="fake_torino")
    assert more_shots.estimated_usage_seconds - 3.0 == pytest.approx(2 * (estimate - 3.0))


def test_a_result_that_times_out_says_what_the_job_waits_behind(tmp_path) -> None:
    with start_server(config(tmp_path, "fair_share")) as handle:
        holder = RawClient(handle, token=HOLDER_TOKEN)
        session = hold_the_qpu(holder)
        service = QiskitRuntimeService(url=handle.address, token=NEWCOMER_TOKEN)
        job = SamplerV2(mode=service.backend("ideal_24")).run([bell()], shots=16)
        with pytest.raises(RuntimeJobTimeoutError) as timed_out:
            job.result(timeout=1)
        assert f"It is QUEUED: {SESSION_HOLDS_QPU}" in str(timed_out.value)
        assert session.id not in str(timed_out.value)
        holder.sessions.CloseSession(
            session_pb2.CloseSessionRequest(id=session.id), metadata=holder.metadata
        )
        assert job.result(timeout=60)[0].data.meas.num_shots == 16
