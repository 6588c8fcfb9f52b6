"""The loads of the ``tenants`` scenario, run by another instance in a process of its own.

``python bench/tenant_load.py MODE HOST:PORT PAGE_PORT TOKEN SECONDS`` with MODE one of:

- ``watchers``: 2,000 WatchJobs streams (100 connections x 20), read as events come by one
  asyncio thread, while 5 small jobs a second are submitted;
- ``sse``: 2,000 event streams of the Workloads page, opened and never read;
- ``options``: CreateJob requests whose ``zne.noise_factors`` hold 500,000 entries, again and
  again (each is refused);
- ``transpile``: level-3 Transpile calls of a 20-qubit circuit, 4 in flight;
- ``circuits``: 12 CreateJob requests of distinct 22 MB circuits (refused: too wide);
- ``floor``: no call at all: one process spinning at SCHED_IDLE, as a busy sandbox does.

Prints one JSON line: how many calls were answered, by status.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import sys
import threading
import time
from collections import Counter

import grpc
from qiskit import QuantumCircuit

from qsession.v1 import job_pb2, job_pb2_grpc, options_pb2, transpiler_pb2, transpiler_pb2_grpc
from qsession.wire import encode_circuit

mode, address, page_port, token, seconds = sys.argv[1:6]
SECONDS = float(seconds)
METADATA = (("authorization", f"Bearer {token}"),)
codes: Counter[str] = Counter()
lock = threading.Lock()


def count(code: str) -> None:
    with lock:
        codes[code] += 1


def call(function, request) -> None:
    try:
        function(request, metadata=METADATA, timeout=60)
        count("OK")
    except grpc.RpcError as error:
        count(error.code().name)


def small_job() -> job_pb2.CreateJobRequest:
    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    pub = job_pb2.CreateJobRequest(backend="ideal_24", program=job_pb2.PROGRAM_SAMPLER)
    pub.sampler_pubs.add(circuit=encode_circuit(circuit), shots=10)
    return pub


def watchers() -> None:
    """2,000 WatchJobs streams, read by one asyncio thread, while 5 small jobs a second are
    submitted. (A thread per stream would take the shared cores from the server whatever its
    nice value: the kernel weighs each runnable thread, and 2,000 niced ones outweigh one.)"""
    asyncio.run(_watchers())


async def _watchers() -> None:
    received = 0

    async def read(stream) -> None:
        nonlocal received
        try:
            async for _ in stream:
                received += 1
        except grpc.aio.AioRpcError as error:  # cut off, or cancelled at the end
            count(f"watch {error.code().name}")
        except asyncio.CancelledError:
            pass

    streams = []
    for n in range(100):
        jobs = job_pb2_grpc.JobServiceStub(grpc.aio.insecure_channel(address, options=[("n", n)]))
        streams += [
            jobs.WatchJobs(job_pb2.WatchJobsRequest(), metadata=METADATA) for _ in range(20)
        ]
    readers = [asyncio.create_task(read(stream)) for stream in streams]
    count("watching")
    jobs = job_pb2_grpc.JobServiceStub(grpc.aio.insecure_channel(address))
    start = time.monotonic()
    for n in range(int(SECONDS * 5)):
        await asyncio.sleep(max(0.0, start + n / 5 - time.monotonic()))
        try:
            await jobs.CreateJob(small_job(), metadata=METADATA, timeout=60)
            count("OK")
        except grpc.aio.AioRpcError as error:
            count(error.code().name)
    for stream in streams:
        stream.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    codes["events received"] = received


def sse() -> None:
    login = http.client.HTTPConnection("127.0.0.1", int(page_port), timeout=10)
    login.request(
        "POST",
        "/api/login",
        body=json.dumps({"token": token}),
        headers={"Content-Type": "application/json", "X-Qsession": "1"},
    )
    cookie = login.getresponse().getheader("Set-Cookie").split(";", 1)[0]
    held = []
    for _ in range(2000):
        connection = http.client.HTTPConnection("127.0.0.1", int(page_port), timeout=10)
        connection.request("GET", "/api/events", headers={"Cookie": cookie})
        count(str(connection.getresponse().status))  # headers read, the body never
        held.append(connection)
    time.sleep(SECONDS)


def options() -> None:
    request = small_job()
    zne = options_pb2.ZneOptions(noise_factors=[1.0] * 500_000)
    request.options.resilience.zne.CopyFrom(zne)
    jobs = job_pb2_grpc.JobServiceStub(grpc.insecure_channel(address))
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        call(jobs.CreateJob, request)


def transpile() -> None:
    circuit = QuantumCircuit(20)
    for layer in range(6):
        circuit.h(range(20))
        for q in range(19):
            circuit.cx(q, (q + layer + 1) % 20)
    circuit.measure_all()
    request = transpiler_pb2.TranspileRequest(
        circuit=encode_circuit(circuit), backend="fake_torino", optimization_level=3
    )
    stub = transpiler_pb2_grpc.TranspilerServiceStub(grpc.insecure_channel(address))
    end = time.monotonic() + SECONDS

    def loop() -> None:
        while time.monotonic() < end:
            call(stub.Transpile, request)

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def circuits() -> None:
    jobs = job_pb2_grpc.JobServiceStub(
        grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20)])
    )
    circuit = QuantumCircuit(200)  # wider than any backend: refused once parsed
    for _ in range(450_000):  # 22 MB of QPY
        circuit.cx(0, 1)
    for n in range(12):
        circuit.name = f"wide-{n}"  # twelve distinct circuits
        request = small_job()
        request.sampler_pubs[0].circuit.CopyFrom(encode_circuit(circuit))
        call(jobs.CreateJob, request)


def floor() -> None:
    """The floor of the loads that keep a sandbox busy (transpile, circuits): no call, only a
    process at SCHED_IDLE using the core the server's loop does not, as a sandbox does."""
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        pass
    count("spun")


{
    "floor": floor,
    "watchers": watchers,
    "sse": sse,
    "options": options,
    "transpile": transpile,
    "circuits": circuits,
}[mode]()
print(json.dumps(codes), flush=True)
