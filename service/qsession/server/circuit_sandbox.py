"""Circuits from clients are parsed first in sandbox processes with a memory limit.

Qiskit's QPY reader and OpenQASM 3 importer trust the sizes written in their input: a few
hundred crafted bytes of QPY can make the reader allocate gigabytes or abort the whole process,
and ``qubit[100000000] q;`` builds a hundred million qubits. So the server never parses a
client's circuit before a child process has: each child has a limited address space, parses the
circuits of one request at a time and reports each circuit's width (or the parser's error). A
child that dies, runs out of memory or takes too long rejects the circuit it was parsing
(INVALID_ARGUMENT naming the field) and is replaced. The server then parses only circuits that
parsed in the sandbox and whose width fits the backend.

A worker is a fresh interpreter (``python -m qsession.server.circuit_sandbox FD MEMORY``) that
talks over an inherited socket, so it never re-imports the program that embeds the server.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

import grpc

from qsession.server.errors import RpcError
from qsession.v1 import types_pb2
from qsession.wire import WireError

log = logging.getLogger("qsession.server")

STARTUP_TIMEOUT = 120.0
_READY = "ready"


@dataclass(frozen=True)
class CircuitWidth:
    """How many qubits and classical bits a circuit has."""

    num_qubits: int
    num_clbits: int


class _WorkerLost(Exception):
    """The worker died or timed out while parsing ``index``."""

    def __init__(self, index: int, why: str):
        super().__init__(why)
        self.index = index
        self.why = why


def _limit_memory(extra_bytes: int) -> None:
    """Cap this process's address space at what it maps now plus ``extra_bytes``."""
    with open("/proc/self/status") as status:
        mapped = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    limit = mapped + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _worker_main(connection: Connection, memory_bytes: int) -> None:
    """The sandbox process: parse each circuit it is sent, answer its width or its error."""
    import qiskit_qasm3_import  # noqa: F401 - loaded before the memory limit applies

    from qsession.wire.circuits import decode_circuit

    _limit_memory(memory_bytes)
    try:
        connection.send(_READY)
    except OSError:  # the server went away while this worker started
        return
    while True:
        try:
            batch: list[tuple[str, bytes]] = connection.recv()
        except (EOFError, OSError):  # the server stopped or died
            return
        for field, data in batch:
            try:
                circuit = decode_circuit(types_pb2.Circuit.FromString(data), field)
                connection.send(("ok", circuit.num_qubits, circuit.num_clbits))
            except WireError as exc:
                connection.send(("error", exc.field, exc.reason))
            except BaseException as exc:  # noqa: BLE001 - e.g. a Rust panic: the circuit is refused
                connection.send(("error", field, f"cannot be parsed ({type(exc).__name__})"))


class _Worker:
    """One sandbox process and the socket to it (the process starts at once, in the background)."""

    def __init__(self, memory_bytes: int):
        self.connection, child = multiprocessing.Pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(child.fileno()), str(memory_bytes)],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        child.close()
        self._ready = False

    def wait_ready(self) -> None:
        """Block until the worker has started (imported its parser).

        Raises:
            RpcError: (UNAVAILABLE) the worker could not start.
        """
        if self._ready:
            return
        try:
            started = self.connection.poll(STARTUP_TIMEOUT) and self.connection.recv() == _READY
        except (EOFError, OSError):
            started = False
        if not started:
            raise RpcError(grpc.StatusCode.UNAVAILABLE, "the circuit sandbox could not start")
        self._ready = True

    def widths(self, batch: list[tuple[str, bytes]], timeout: float) -> list[tuple]:
        """The worker's answers for ``batch``, one per circuit, in order.

        Raises:
            _WorkerLost: the worker died, or its answers took longer than ``timeout`` in total.
            RpcError: (UNAVAILABLE) the worker could not start.
        """
        self.wait_ready()
        deadline = time.monotonic() + timeout
        self.connection.send(batch)
        answers = []
        for index in range(len(batch)):
            try:
                if not self.connection.poll(max(0.0, deadline - time.monotonic())):
                    raise _WorkerLost(index, f"takes longer than {timeout:g} s to parse")
                answers.append(self.connection.recv())
            except (EOFError, OSError):
                raise _WorkerLost(
                    index, "needs more memory to parse than the server allows"
                ) from None
        return answers

    def stop(self) -> None:
        self.connection.close()
        self.process.kill()
        self.process.wait(5)


class CircuitSandbox:
    """A small pool of sandbox processes (see the module docstring).

    A request waits here when every worker is busy, first come first served; the server's
    ``fairness.FairAdmission`` grows the pool to one worker per admission slot, so a request
    it lets run never waits here, and the turns between instances are its to decide.

    Args:
        workers: how many circuits may be parsed at once (one request per worker at a time).
        memory_bytes: how much memory each worker may map beyond what it needs at rest.
        timeout: seconds one request's circuits may take to parse.
    """

    def __init__(self, workers: int, memory_bytes: int, timeout: float):
        self._memory_bytes = memory_bytes
        self._timeout = timeout
        self._workers = workers
        self._closed = False
        self._idle: queue.Queue[_Worker] = queue.Queue()
        for _ in range(workers):
            self._idle.put(_Worker(memory_bytes))

    def widths(self, circuits: Sequence[tuple[str, types_pb2.Circuit]]) -> list[CircuitWidth]:
        """Parse ``(field, circuit)`` pairs in a sandbox; return each circuit's width.

        Blocks (call it from a worker thread).

        Raises:
            WireError: naming the field of the first circuit that does not parse, or that makes
                the sandbox run out of memory or time.
        """
        batch = [(field, circuit.SerializeToString()) for field, circuit in circuits]
        worker = self._take()
        try:
            answers = worker.widths(batch, self._timeout)
        except _WorkerLost as lost:
            worker.stop()
            worker = _Worker(self._memory_bytes)
            field = batch[lost.index][0]
            log.warning("replaced the circuit sandbox: %s %s", field, lost.why)
            raise WireError(field, f"{lost.why}; send a smaller circuit") from None
        except RpcError:
            worker.stop()
            worker = _Worker(self._memory_bytes)
            raise
        finally:
            if self._closed:
                worker.stop()  # close() took the others; this one comes back after it
            else:
                self._idle.put(worker)
        widths = []
        for answer in answers:
            if answer[0] == "error":
                raise WireError(answer[1], answer[2])
            widths.append(CircuitWidth(answer[1], answer[2]))
        return widths

    def grow(self, workers: int) -> None:
        """Start more workers (in the background), so that ``workers`` run in all; nothing if
        as many already do."""
        while self._workers < workers:
            self._idle.put(_Worker(self._memory_bytes))
            self._workers += 1

    def wait_ready(self) -> None:
        """Block until every worker has started, so the first request does not wait for it.

        Raises:
            RpcError: (UNAVAILABLE) a worker could not start.
        """
        workers = [self._idle.get() for _ in range(self._workers)]
        try:
            for worker in workers:
                worker.wait_ready()
        finally:
            for worker in workers:
                self._idle.put(worker)

    def _take(self) -> _Worker:
        """An idle worker; waits for one, but not past ``close()``.

        Raises:
            RpcError: (UNAVAILABLE) the server is shutting down.
        """
        while True:
            try:
                return self._idle.get(timeout=0.5)
            except queue.Empty:
                if self._closed:
                    raise RpcError(
                        grpc.StatusCode.UNAVAILABLE,
                        "the server is shutting down; send the job again when it is back",
                    ) from None

    def close(self) -> None:
        """Stop every idle worker now; a worker still parsing stops when it comes back, and
        requests still waiting for one are refused with UNAVAILABLE."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return


if __name__ == "__main__":
    _worker_main(Connection(int(sys.argv[1])), int(sys.argv[2]))
