"""A full disk under the data directory: the server fails safe and heals without a restart.

The data directory is a small tmpfs the test mounts (root only; skipped otherwise, saying so).
Jobs are submitted one after another while a filler file takes the remaining space. While the
disk refuses commits, changes are refused with RESOURCE_EXHAUSTED naming the full disk, health
reports NOT_SERVING, and backends still answer. Once the filler is deleted, the server serves
again on its own: every acknowledged job runs to DONE, new jobs run, and no job appears that
was not acknowledged.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from qiskit import QuantumCircuit

from qsession.v1 import backend_pb2, job_pb2
from tests.conftest import base_config, start_server
from tests.e2e.conftest import RawClient

DISK_BYTES = 24 * 1024 * 1024


def big_circuit() -> QuantumCircuit:
    """An ISA circuit for ideal_24 whose request takes tens of kilobytes on disk."""
    circuit = QuantumCircuit(4)
    for layer in range(400):
        circuit.rz(0.001 * layer, layer % 4)
        circuit.cx(layer % 4, (layer + 1) % 4)
    circuit.measure_all()
    return circuit


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("the disk-full test mounts a small tmpfs, which needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the disk-full test: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a file in ``directory`` until the disk is full; return it."""
    filler = directory / "filler"
    block = b"\0" * (1 << 20)
    with filler.open("wb") as out:
        while True:
            try:
                out.write(block)
                out.flush()
            except OSError:
                break
    for size in (4096, 1):  # the last few bytes too
        try:
            with filler.open("ab") as out:
                while True:
                    out.write(b"\0" * size)
                    out.flush()
        except OSError:
            pass
    return filler


def health_status(channel: grpc.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def test_a_full_disk_refuses_changes_clearly_and_heals_when_space_returns(small_disk):
    config = base_config(small_disk / "data")
    with start_server(config) as server:
        client = RawClient(server)
        channel = server.channel()
        circuit = big_circuit()
        acknowledged: list[str] = []
        refusals: list[grpc.RpcError] = []
        stop = threading.Event()

        def submit_until_stopped() -> None:
            while not stop.is_set():
                try:
                    job = client.create_job([(circuit, None, 4)], backend="ideal_24")
                except grpc.RpcError as exc:
                    refusals.append(exc)
                    time.sleep(0.05)
                else:
                    acknowledged.append(job.id)

        submitter = threading.Thread(target=submit_until_stopped)
        submitter.start()
        try:
            wait_until(lambda: len(acknowledged) >= 5, 60, "five jobs are acknowledged")
            filler = fill(small_disk)
            wait_until(
                lambda: health_status(channel) == health_pb2.HealthCheckResponse.NOT_SERVING,
                120,
                "health reports NOT_SERVING",
            )
            with pytest.raises(grpc.RpcError) as refused:
                client.create_job([(circuit, None, 4)], backend="ideal_24")
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "disk is full" in refused.value.details()
            assert "changed nothing" in refused.value.details()
            backend = client.backends.GetBackend(
                backend_pb2.GetBackendRequest(name="ideal_24"), metadata=client.metadata
            )
            assert backend.backend.name == "ideal_24"  # the server still answers
            filler.unlink()
            wait_until(
                lambda: health_status(channel) == health_pb2.HealthCheckResponse.SERVING,
                30,
                "health reports SERVING again",
            )
        finally:
            stop.set()
            submitter.join(timeout=120)
        assert not submitter.is_alive()
        assert all(r.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for r in refusals), [
            (r.code(), r.details()) for r in refusals
        ]
        after = client.create_job([(circuit, None, 4)], backend="ideal_24")
        acknowledged.append(after.id)
        for job_id in acknowledged:  # every acknowledged job runs, without a restart
            assert client.wait(job_id, timeout=120).state == job_pb2.Job.STATE_DONE
        listed, token = [], ""
        while True:
            page = client.jobs.ListJobs(
                job_pb2.ListJobsRequest(page_size=500, page_token=token), metadata=client.metadata
            )
            listed.extend(job.id for job in page.jobs)
            token = page.next_page_token
            if not token:
                break
        assert sorted(listed) == sorted(acknowledged)  # nothing unacknowledged appears
