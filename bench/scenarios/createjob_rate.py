"""CreateJob throughput: CreateJob/s against GetBackend/s at 1, 8 and 32 clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from harness import NO_QUEUE_LIMIT, Client, Row, check_all_done, drain, server_process

from qsession.testing import ServerProcess


@dataclass
class Rate:
    """Calls per second over a window, the CPU the server and this client process used in it
    (in cores), and what the calls returned, per client."""

    per_second: float
    server_cpu: float
    client_cpu: float
    outputs: list[list]


def call_rate(
    server: ServerProcess, clients: list[Client], call: Callable[[Client], object], seconds: float
) -> Rate:
    """``call`` in a loop on one thread per client for ``seconds``; completed calls per second
    (the window ends when the last call started before the deadline returns).

    Raises:
        grpc.RpcError: the first call that failed.
    """
    outputs: list[list] = [[] for _ in clients]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(clients) + 1)
    deadline = 0.0

    def loop(client: Client, out: list) -> None:
        barrier.wait()
        try:
            while time.monotonic() < deadline:
                out.append(call(client))
        except grpc.RpcError as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=loop, args=(c, out))
        for c, out in zip(clients, outputs, strict=True)
    ]
    for thread in threads:
        thread.start()
    cpu, own_cpu = server.cpu_seconds(), time.process_time()
    start = time.monotonic()
    deadline = start + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    if errors:
        raise errors[0]
    return Rate(
        per_second=sum(len(out) for out in outputs) / elapsed,
        server_cpu=(server.cpu_seconds() - cpu) / elapsed,
        client_cpu=(time.process_time() - own_cpu) / elapsed,
        outputs=outputs,
    )


def create_job_throughput(
    concurrency: Sequence[int] = (1, 8, 32), seconds: float = 3.0
) -> list[Row]:
    """CreateJob/s against GetBackend/s at each concurrency, measured back to back.

    Each client is a thread with its own channel and TCP connection, calling in a loop for
    ``seconds``: GetBackend(ideal_24), then (after the queue drained) CreateJob of the small
    job on ideal_24; the jobs run as they are created, and the queue drains before the next
    measurement. The instance's queued-job limit is lifted.
    """
    rows = []
    with server_process(**NO_QUEUE_LIMIT) as server:
        control = Client(server.address)
        drain(control, [control.create()])  # warm-up: the worker is ready
        for count in concurrency:
            clients = [Client(server.address, own_connection=True) for _ in range(count)]
            backend = call_rate(server, clients, lambda c: c.get_backend(), seconds)
            create = call_rate(server, clients, lambda c: c.create(), seconds)
            drain(control, [ids[-1] for ids in create.outputs if ids])
            for client in clients:
                client.close()
            fraction = create.per_second / backend.per_second
            rows.append(
                Row(
                    "CreateJob throughput",
                    f"CreateJob/s vs GetBackend/s, {count} clients",
                    "/s",
                    backend.per_second,
                    create.per_second,
                    ">=0.33x",
                    fraction >= 1 / 3,
                    f"{count} threads, each its own channel and connection, calling for "
                    f"{seconds:g} s; ref = GetBackend/s, ours = CreateJob/s (small job, "
                    f"ideal_24, run as created). CPU, GetBackend/CreateJob, in cores: server "
                    f"{backend.server_cpu:.2f}/{create.server_cpu:.2f}, this client "
                    f"{backend.client_cpu:.2f}/{create.client_cpu:.2f} (the backend's worker "
                    "and the circuit sandboxes run beside them on the same cores).",
                )
            )
        check_all_done(control)
        control.close()
    return rows
