"""A backend's worker as a local process (the default engine, ``[execution] engine = "local"``).

The server's event loop never simulates and never waits on a simulation: a job's request
bytes go to the backend's worker process (see ``qsession.workers.process``) over a socket
pair the loop itself reads and writes (asyncio streams: no helper thread, so no hand-over
between threads per job). Stopping a running job
(cancel, ``max_execution_time``, shutdown) kills the process; a fresh one starts at once for
the next job. A worker that dies on its own raises :class:`WorkerLost`, and the job runs again;
so does one that is frozen (stopped, stuck in a deadlock, starved): a running job's worker
that has used no CPU time for ``[execution] worker_heartbeat_timeout`` is replaced. (Its CPU
time, from ``/proc``, is the heartbeat: a simulation always computes, and a beat the worker
sent itself would need the GIL, which Aer holds through some simulations.)
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Callable

from qsession.lifecycle.model import Placement
from qsession.proc import cpu_seconds
from qsession.workers.process import HEADER, READY, frame
from qsession.workers.protocol import JobFailed, WorkerLost

__all__ = ["JobFailed", "LocalEngine", "LocalWorker", "WorkerLost"]

log = logging.getLogger("qsession.workers")

STARTUP_TIMEOUT = 120.0
HEARTBEAT_TIMEOUT = 30.0  # seconds a running job's worker may use no CPU: then it is frozen
HEARTBEAT_CHECK = 1.0  # seconds between looks at a running job's worker's CPU time
_HOST = socket.gethostname()


class _Process:
    """One worker process, the socket to it (asyncio streams once used), and whether it
    said READY."""

    def __init__(self, argv: list[str]):
        self.socket, child = socket.socketpair()
        argv = [*argv, str(child.fileno())]
        self.popen = subprocess.Popen(argv, pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL)
        child.close()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.ready = False

    async def receive(self) -> object:
        """The worker's next message (IncompleteReadError when it died)."""
        reader, _ = await self._streams()
        (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
        return pickle.loads(await reader.readexactly(size))

    async def send(self, message: object) -> None:
        _, writer = await self._streams()
        writer.write(frame(message))
        await writer.drain()

    async def _streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.streams is None:
            self.streams = await asyncio.open_unix_connection(sock=self.socket)
        return self.streams

    def close(self) -> None:
        """Kill the process and close the socket (a read in progress then fails)."""
        self.popen.kill()
        if self.streams is not None:
            self.streams[1].close()
        else:
            self.socket.close()


class LocalWorker:
    """One backend's worker process; it starts at once, in the background.

    Args:
        backend: the backend's name (for logs).
        profile: the device profile the worker loads.
        noise: whether the worker applies the profile's noise model.
        heartbeat_timeout: seconds a running job's worker may use no CPU time before it is
            taken for frozen and replaced (its job runs again).
    """

    def __init__(
        self, backend: str, profile: str, noise: bool, heartbeat_timeout: float = HEARTBEAT_TIMEOUT
    ):
        self.backend = backend
        self.heartbeat_timeout = heartbeat_timeout
        self._argv = [
            sys.executable,
            "-m",
            "qsession.workers.process",
            profile,
            "noise" if noise else "ideal",
        ]
        self._process: _Process | None = _Process(self._argv)

    @property
    def ready(self) -> bool:
        """Always: a job handed over starts at once (on a process still starting, as soon
        as it is up)."""
        return True

    @property
    def waiting_for(self) -> str:
        """Why the worker is not ready: never, so always empty."""
        return ""

    @property
    def placement(self) -> Placement:
        """Where its jobs run: this machine (no node id: the local engine has no nodes)."""
        return Placement("local", "", _HOST)

    @property
    def pid(self) -> int | None:
        """The worker process's id (``None`` while no process runs)."""
        return self._process.popen.pid if self._process is not None else None

    async def run(
        self, request: bytes, seed: int, on_progress: Callable[[float], None] | None = None
    ) -> tuple[bytes, Placement]:
        """Run one job: a serialized CreateJobRequest and its seed in, JobResult bytes and
        where it ran out; ``on_progress`` gets each progress report (a fraction).

        Cancelling the call kills the worker (a fresh one starts for the next job).

        Raises:
            JobFailed: the job cannot run (the message says why).
            WorkerLost: the worker died or could not start.
        """
        try:
            process = await self._started()
            return await self._round_trip(process, request, seed, on_progress)
        except asyncio.CancelledError:
            self.replace()
            raise
        except WorkerLost:
            self.replace()
            raise

    async def started(self) -> None:
        """Return once the worker process has said READY (it loads its device first).

        Raises:
            WorkerLost: it did not start (it is replaced).
        """
        try:
            await self._started()
        except WorkerLost:
            self.replace()
            raise

    async def _started(self) -> _Process:
        if self._process is None:
            self._process = _Process(self._argv)
        process = self._process
        if not process.ready:
            try:
                hello = await asyncio.wait_for(process.receive(), STARTUP_TIMEOUT)
            except TimeoutError:
                raise WorkerLost(
                    f"the worker of {self.backend} did not start within {STARTUP_TIMEOUT:g} s"
                ) from None
            except (asyncio.IncompleteReadError, OSError):
                raise WorkerLost(f"the worker of {self.backend} died while it started") from None
            if hello != READY:
                raise WorkerLost(f"the worker of {self.backend} did not start")
            process.ready = True
        return process

    async def _round_trip(
        self,
        process: _Process,
        request: bytes,
        seed: int,
        on_progress: Callable[[float], None] | None,
    ) -> tuple[bytes, Placement]:
        """Send the request and wait for the answer, handing progress reports on."""
        try:
            await process.send(("run", request, seed))
            while True:
                message = await self._answer(process)
                if message[0] != "progress":
                    break
                if on_progress is not None:
                    on_progress(message[1])
            kind, payload, host = message
        except (asyncio.IncompleteReadError, OSError):
            raise WorkerLost(f"the worker of {self.backend} died while it ran the job") from None
        if kind == "error":
            raise JobFailed(payload)
        return payload, Placement("local", "", host)

    async def _answer(self, process: _Process) -> tuple:
        """The worker's answer to the job sent, watching its heartbeat (CPU time) meanwhile.

        Raises:
            WorkerLost: it used no CPU time for ``heartbeat_timeout`` seconds.
        """
        receiving = asyncio.ensure_future(process.receive())
        pid = process.popen.pid
        # The first reading waits for the first check: most answers come before it, and
        # reading /proc for each would cost the loop more than the job's bookkeeping does.
        # A frozen worker is then found at most one check later.
        last_cpu, last_progress = -1.0, time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait({receiving}, timeout=HEARTBEAT_CHECK)
                if done:
                    return receiving.result()
                cpu, now = cpu_seconds(pid), time.monotonic()
                if cpu is None or cpu != last_cpu:
                    last_cpu, last_progress = cpu, now
                elif now - last_progress >= self.heartbeat_timeout:
                    log.warning(
                        "the worker of %s (pid %d) used no CPU for %g s while it ran a job; "
                        "replacing it",
                        self.backend,
                        pid,
                        self.heartbeat_timeout,
                    )
                    raise WorkerLost(
                        f"the worker of {self.backend} froze while it ran the job (no CPU time "
                        f"for {self.heartbeat_timeout:g} s: [execution] "
                        "worker_heartbeat_timeout)"
                    )
        finally:
            receiving.cancel()

    def replace(self) -> None:
        """Kill the worker process (if any) and start a fresh one."""
        self._kill()
        self._process = _Process(self._argv)

    def _kill(self) -> subprocess.Popen | None:
        process, self._process = self._process, None
        if process is None:
            return None
        process.close()
        log.info("stopped the worker of %s (pid %d)", self.backend, process.popen.pid)
        return process.popen

    async def stop(self) -> None:
        """Kill the worker process and reap it."""
        popen = self._kill()
        if popen is not None:
            await asyncio.to_thread(popen.wait, 10)


class LocalEngine:
    """The default engine: each backend's worker is a process on this machine; nothing to
    connect to, nothing shared."""

    name = "local"

    def __init__(self, heartbeat_timeout: float = HEARTBEAT_TIMEOUT):
        self.heartbeat_timeout = heartbeat_timeout

    def worker(
        self, backend: str, profile: str, noise: bool, resources: dict[str, float]
    ) -> LocalWorker:
        """A worker process for the backend (it starts at once; ``resources`` are Ray's and
        do not apply here)."""
        return LocalWorker(backend, profile, noise, self.heartbeat_timeout)

    async def start(self, on_ready: Callable[[], None]) -> None:
        """Nothing to do: local workers are always ready."""

    async def stop(self) -> None:
        """Nothing to do: each worker stops its own process."""
