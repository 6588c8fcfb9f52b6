"""30,000 idle connections to the Workloads page: the jobs running, cancelled and queued
meanwhile end as they should, and gRPC, ``/metrics`` and the log stay well."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path

from harness import METADATA, Client, Row, heavy_circuit, server_process, small_job, wait_finished

from qsession.testing import free_port
from qsession.v1 import job_pb2, types_pb2
from qsession.wire import encode_circuit

OPENER = Path(__file__).resolve().parent.parent / "idle_opener.py"
OPENERS = 3  # processes, 10,000 connections each from a loopback address of its own


def idle_connections(per_opener: int = 10_000) -> list[Row]:
    page = free_port()
    with server_process(
        backends=("ideal_24",),
        log_level="INFO",  # the server's default: the log growth is an operator's
        log_to_file=True,
        dashboard={"listen": f"127.0.0.1:{page}"},
    ) as server:
        client = Client(server.address)
        log_before = len(server.log())
        heavy = job_pb2.CreateJobRequest(backend="ideal_24", program=job_pb2.PROGRAM_SAMPLER)
        heavy.sampler_pubs.append(
            types_pb2.SamplerPub(circuit=encode_circuit(heavy_circuit()), shots=6)
        )
        running = client.jobs.CreateJob(heavy, metadata=METADATA).job.id
        queued = client.jobs.CreateJob(small_job(), metadata=METADATA).job.id
        started = time.monotonic()
        openers = [
            subprocess.Popen(
                [sys.executable, str(OPENER), str(page), str(per_opener), "60", f"127.0.0.{k + 2}"],
                stdout=subprocess.PIPE,
                text=True,
            )
            for k in range(OPENERS)
        ]
        opened = [json.loads(o.stdout.readline()) for o in openers]
        took = time.monotonic() - started
        client.jobs.CancelJob(job_pb2.CancelJobRequest(id=queued), metadata=METADATA)
        following = client.create()
        metrics = http.client.HTTPConnection("127.0.0.1", page, timeout=10)
        metrics.request("GET", "/metrics")
        metrics_status = metrics.getresponse().status
        start = time.perf_counter()
        client.get_backend()
        get_backend_ms = (time.perf_counter() - start) * 1e3
        states = wait_finished(client, [running, queued, following])
        names = [job_pb2.Job.State.Name(s).removeprefix("STATE_") for s in states]
        log_growth = len(server.log()) - log_before
        rss = server.rss_bytes() / 2**20
        for opener in openers:
            opener.kill()
        client.close()
    note = (
        f"{OPENERS} processes opened {sum(o['opened'] for o in opened):,} idle connections to "
        f"the page ({sum(o['failed'] for o in opened):,} refused) in {took:.0f} s while a "
        f"24-qubit job ran; then a queued job was cancelled and another queued. Jobs ended "
        f"{'/'.join(names)} (expected DONE/CANCELLED/DONE); /metrics answered "
        f"{metrics_status}; GetBackend took {get_backend_ms:.1f} ms; server RSS {rss:.0f} MB."
    )
    scenario = "idle connections"
    ended_right = names == ["DONE", "CANCELLED", "DONE"] and metrics_status == 200
    return [
        Row(
            scenario,
            "jobs end right, /metrics answers",
            "ok",
            None,
            float(ended_right),
            "1",
            ended_right,
            note,
        ),
        Row(scenario, "log growth", "KB", None, log_growth / 1e3, "<1000", log_growth < 1e6, note),
    ]
