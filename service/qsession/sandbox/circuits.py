"""Circuits from clients are parsed first in sandbox processes with a memory limit.

Qiskit's QPY reader and OpenQASM 3 importer trust the sizes written in their input: a few
hundred crafted bytes of QPY can make the reader allocate gigabytes or abort the whole process,
and ``qubit[100000000] q;`` builds a hundred million qubits. So the server never parses a
client's circuit before a child process has: each child has a limited address space, parses the
circuits of one request at a time and reports each circuit's width (or the parser's error). A
child that dies, runs out of memory or takes too long rejects the circuit it was parsing
(INVALID_ARGUMENT naming the field) and is replaced. The server then parses only circuits that
parsed in the sandbox and whose width fits the backend.

The same workers transpile circuits for TranspilerService.Transpile (``CircuitSandbox.transpile``):
the circuit is a client's, so it is parsed and transpiled under the same memory and time limits.

A worker is a fresh interpreter (``python -m qsession.sandbox.circuits FD MEMORY``) that
talks over an inherited socket, so it never re-imports the program that embeds the server.
Its protocol, one request at a time: a list of ``(field, serialized Circuit)`` is answered
with one ``("ok", num_qubits, num_clbits)`` or ``("error", field, message)`` per circuit; a
``("transpile", request)`` (a dict, see ``sandbox.transpile.transpile_in_sandbox``) is answered with
one ``("ok", result)`` or ``("error", field, message, reason)``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

from qsession.lifecycle.errors import InvalidArgument, NotFound, Unavailable
from qsession.proc import cpu_seconds
from qsession.v1 import types_pb2
from qsession.wire import WireError

log = logging.getLogger("qsession.server")

STARTUP_TIMEOUT = 120.0
_READY = "ready"
TRANSPILE = "transpile"


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


SANDBOX_NICENESS = 19  # the lowest CPU priority where SCHED_IDLE is not to be had
ANSWER_POLL = 0.5  # seconds between checks of a worker's CPU time while it works
WALL_LIMIT = 10  # x the CPU time limit: how long a request may take on a busy machine


def _limit_memory(extra_bytes: int) -> None:
    """Cap this process's address space at what it maps now plus ``extra_bytes``."""
    with open("/proc/self/status") as status:
        mapped = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    limit = mapped + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _take_only_idle_cpu() -> None:
    """Run at SCHED_IDLE (Linux): the kernel runs this process only on a core nobody else
    wants, and preempts it at once for anyone else. At nice 19 it still held a core for a
    scheduler slice when the server's loop woke: another tenant's GetBackend p99 during a
    Transpile flood went from 3.6-4.1x to 2.1-2.9x of idle on 2 cores (make bench, tenants;
    a process merely spinning at SCHED_IDLE costs 3.5x there, the row "tenants, floor")."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux
        os.nice(SANDBOX_NICENESS)


def _worker_main(connection: Connection, memory_bytes: int) -> None:
    """The sandbox process: parse each circuit it is sent, answer its width or its error; or
    transpile the circuit of a "transpile" request."""
    import qiskit_qasm3_import  # noqa: F401 - loaded before the memory limit applies

    from qsession.sandbox.transpile import transpile_in_sandbox
    from qsession.wire.circuits import decode_circuit

    _limit_memory(memory_bytes)
    # Below the coordinator in the CPU's queue: a tenant's parses and transpiles (seconds of
    # CPU each) take the cores the server's loop does not need, so other tenants' calls keep
    # their pace on a small machine. Measured on 2 cores, another tenant's GetBackend/s
    # during a level-3 Transpile flood went from 0.46 to 0.56 of idle (make bench, tenants).
    _take_only_idle_cpu()
    try:
        connection.send(_READY)
    except OSError:  # the server went away while this worker started
        return
    while True:
        try:
            batch: list[tuple[str, bytes]] | tuple[str, dict] = connection.recv()
        except (EOFError, OSError):  # the server stopped or died
            return
        if isinstance(batch, tuple) and batch[0] == TRANSPILE:
            connection.send(transpile_in_sandbox(batch[1]))
            continue
        for field, data in batch:
            try:
                circuit = decode_circuit(types_pb2.Circuit.FromString(data), field)
                connection.send(("ok", circuit.num_qubits, circuit.num_clbits))
            except WireError as exc:
                connection.send(("error", exc.field, exc.reason))
            except BaseException as exc:  # noqa: BLE001 - e.g. a Rust panic: the circuit is refused
                connection.send(("error", field, f"cannot be parsed ({type(exc).__name__})"))


ONE_THREAD = {"RAYON_NUM_THREADS": "1", "QISKIT_PARALLEL": "FALSE"}
"""A sandbox uses one core: Qiskit's Rust passes (Sabre's trials) otherwise run a thread per
core, and one instance's Transpile flood, held to one admission slot, took every core."""


ONE_THREAD = {"RAYON_NUM_THREADS": "1", "QISKIT_PARALLEL": "FALSE"}
"""A sandbox uses one core: Qiskit's Rust passes (Sabre's trials) otherwise run a thread per
core, and one instance's Transpile flood, held to one admission slot, took every core."""


class _Worker:
    """One sandbox process and the socket to it (the process starts at once, in the background)."""

    def __init__(self, memory_bytes: int):
        self.connection, child = multiprocessing.Pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(child.fileno()), str(memory_bytes)],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            env={**os.environ, **ONE_THREAD},
        )
        child.close()
        self._ready = False

    def wait_ready(self) -> None:
        """Block until the worker has started (imported its parser).

        Raises:
            Unavailable: the worker could not start.
        """
        if self._ready:
            return
        try:
            started = self.connection.poll(STARTUP_TIMEOUT) and self.connection.recv() == _READY
        except (EOFError, OSError):
            started = False
        if not started:
            raise Unavailable(
                "the circuit sandbox could not start; retry",
                reason="SANDBOX_UNAVAILABLE",
            )
        self._ready = True

    def ask(self, request: object, answers: int, timeout: float, verb: str) -> list[tuple]:
        """Send ``request``; return the worker's ``answers`` answers, in order.

        ``timeout`` counts the worker's own CPU seconds (where ``/proc`` tells them), so that
        a machine busy with other work slows a parse but never refuses it; a request still
        ends after WALL_LIMIT times ``timeout`` of wall time.

        Raises:
            _WorkerLost: the worker died, or its answers took longer than ``timeout`` in total
                (``verb`` says what it was doing, e.g. "parse").
            Unavailable: the worker could not start.
        """
        self.wait_ready()
        pid = self.process.pid
        spent = cpu_seconds(pid)
        deadline = time.monotonic() + (timeout if spent is None else timeout * WALL_LIMIT)
        self.connection.send(request)
        received = []
        for index in range(answers):
            try:
                while not self.connection.poll(
                    max(0.0, min(ANSWER_POLL, deadline - time.monotonic()))
                ):
                    now_spent = cpu_seconds(pid)
                    if time.monotonic() >= deadline or (
                        spent is not None and now_spent is not None and now_spent - spent > timeout
                    ):
                        raise _WorkerLost(index, f"takes longer than {timeout:g} s to {verb}")
                received.append(self.connection.recv())
            except (EOFError, OSError):
                raise _WorkerLost(
                    index, f"needs more memory to {verb} than the server allows"
                ) from None
        return received

    def stop(self) -> None:
        self.connection.close()
        self.process.kill()
        self.process.wait(5)


class CircuitSandbox:
    """A small pool of sandbox processes (see the module docstring).

    A request waits here when every worker is busy, first come first served; the server's
    ``runtime.admission.Admission`` grows the pool to one worker per admission slot, so a request
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
        answers = self._ask(batch, [field for field, _ in batch], "parse")
        widths = []
        for answer in answers:
            if answer[0] == "error":
                raise WireError(answer[1], answer[2])
            widths.append(CircuitWidth(answer[1], answer[2]))
        return widths

    def transpile(self, request: dict) -> dict:
        """Transpile in a sandbox: ``request`` and the result are those of
        ``sandbox.transpile.transpile_in_sandbox``. Blocks (call it from a worker thread).

        Raises:
            NotFound, InvalidArgument: what the worker refused (its field, message and reason).
            WireError: (field ``circuit``) the circuit made the sandbox run out of memory or
                time.
        """
        answer = self._ask((TRANSPILE, request), ["circuit"], "transpile")[0]
        if answer[0] == "error":
            _, field, message, reason = answer
            refusal = NotFound if reason == "BACKEND_NOT_FOUND" else InvalidArgument
            raise refusal(message, field, reason)
        return answer[1]

    def _ask(self, request: object, fields: list[str], verb: str) -> list[tuple]:
        """A worker's answers to ``request`` (one per entry of ``fields``); a worker that dies
        or takes too long is replaced and the field it was on is refused."""
        worker = self._take()
        try:
            return worker.ask(request, len(fields), self._timeout, verb)
        except _WorkerLost as lost:
            worker.stop()
            worker = _Worker(self._memory_bytes)
            field = fields[lost.index]
            log.warning("replaced the circuit sandbox: %s %s", field, lost.why)
            raise WireError(field, f"{lost.why}; send a smaller circuit") from None
        except Unavailable:
            worker.stop()
            worker = _Worker(self._memory_bytes)
            raise
        finally:
            if self._closed:
                worker.stop()  # close() took the others; this one comes back after it
            else:
                self._idle.put(worker)

    def grow(self, workers: int) -> None:
        """Start more workers (in the background), so that ``workers`` run in all; nothing if
        as many already do."""
        while self._workers < workers:
            self._idle.put(_Worker(self._memory_bytes))
            self._workers += 1

    def wait_ready(self) -> None:
        """Block until every worker has started, so the first request does not wait for it.

        Raises:
            Unavailable: a worker could not start.
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
            Unavailable: the server is shutting down.
        """
        while True:
            try:
                return self._idle.get(timeout=0.5)
            except queue.Empty:
                if self._closed:
                    raise Unavailable(
                        "the server is shutting down; send the request again when it is back",
                        reason="SHUTTING_DOWN",
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
