"""Dispatch: the emulated QPUs, the workers that run their jobs, and the coordinator.

A single coordinator task wakes on every change and at the scheduler's next deadline, fires
due timers (``Scheduler.poll``) and hands each idle QPU the job the scheduler picks
(``Scheduler.next_job``). Executions run in each backend's worker process or, with
``[execution] engine = "ray"``, each backend's Ray actor (``qsession.workers``), one at a time
per backend, so a backend behaves as an exclusive QPU and the loop never simulates. A QPU gets
a job only while its worker is ready (a Ray actor waits for a node that offers its resources;
meanwhile its jobs wait). A job is stopped by killing its worker: when the user cancels it,
when it reaches its ``max_execution_time``, or at shutdown. A worker that dies on its own (or
with its node) makes the job run again (``Scheduler.retry``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from qsession.config import BackendConfig, Config, ConfigError
from qsession.execution.profiles import DeviceProfile, load_profile
from qsession.lifecycle.clock import Clock
from qsession.lifecycle.model import Job, JobStatus, Placement
from qsession.lifecycle.scheduler import Scheduler
from qsession.runtime.ledger import Ledger
from qsession.store import Store
from qsession.v1 import job_pb2
from qsession.workers import Engine, EngineUnavailable, JobFailed, Worker, WorkerLost, engine_for

log = logging.getLogger("qsession.runtime")


def job_seed(job_id: str) -> int:
    """The simulator seed of a job that sets no ``seed_simulator``: drawn from its random id,
    so each job's shots are random, and the same on every attempt of the job (a job that runs
    again after a restart gives the result its first run may already have delivered)."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:8], "big") >> 1


def run_seed(options: job_pb2.JobOptions, job_id: str) -> int:
    """The seed a job runs with: its ``seed_simulator``, else :func:`job_seed` (on the server
    and in local testing mode alike)."""
    return options.seed_simulator if options.HasField("seed_simulator") else job_seed(job_id)


@dataclass
class Qpu:
    """An emulated QPU: its configuration, device profile, the worker that runs its jobs (a
    local process or a Ray actor), and the job it runs (and whether the user cancelled it)."""

    config: BackendConfig
    profile: DeviceProfile
    worker: Worker
    running: str | None = None
    execution: asyncio.Task[None] | None = None  # the task running its job, while one runs
    cancelled: bool = False  # its running job was cancelled by the user


def make_qpus(config: Config) -> tuple[Engine, dict[str, Qpu]]:
    """The configured execution engine and a QPU per configured backend.

    Raises:
        ConfigError: the engine cannot be used (e.g. Ray is not installed).
    """
    try:
        engine = engine_for(config.engine, config.ray_address, config.worker_heartbeat_timeout)
    except EngineUnavailable as exc:
        raise ConfigError(str(exc)) from None
    qpus = {
        b.name: Qpu(
            b,
            load_profile(b.profile),
            engine.worker(b.name, b.profile, b.noise, b.ray_resources),
        )
        for b in config.backends
    }
    return engine, qpus


class Dispatch:
    """Runs the scheduler's jobs on the QPUs' workers (see the module docstring).

    Args:
        engine: the execution engine the QPUs' workers belong to.
        qpus: the QPUs by backend name.
        scheduler: the lifecycle, told how each execution ended.
        ledger: where results go, and whether the store can write.
        store: where a job's request is read once it is stored.
        clock: the runtime's clock.
        default_time_limit: the seconds a job that sets no ``max_execution_time`` may run on a
            backend that configures none.
        max_result_bytes: the largest result stored; a job whose result is larger ends in
            ERROR naming the limit.
    """

    def __init__(
        self,
        engine: Engine,
        qpus: dict[str, Qpu],
        scheduler: Scheduler,
        ledger: Ledger,
        store: Store,
        clock: Clock,
        default_time_limit: float,
        max_result_bytes: int,
    ) -> None:
        self.engine = engine
        self.default_time_limit = default_time_limit
        self.max_result_bytes = max_result_bytes
        self.qpus = qpus
        self.scheduler = scheduler
        self.ledger = ledger
        self.store = store
        self.clock = clock
        # Unfinished jobs' latest attempt and where it runs or ran (the scheduler does not
        # know): put on the job's messages and records by ``placed``.
        self._placements: dict[str, tuple[int, Placement]] = {}
        self.wakeup = asyncio.Event()
        self._coordinator: asyncio.Task[None] | None = None
        self._executions: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect the engine (the Ray engine joins its cluster) and start the coordinator.

        Raises:
            EngineUnavailable: the engine cannot run jobs.
        """
        await self.engine.start(self.wakeup.set)
        self._coordinator = asyncio.create_task(self._coordinate(), name="qsession-coordinator")

    async def stop(self, grace: float) -> None:
        """Stop dispatching; give running jobs ``grace`` seconds to finish and be recorded.

        A job still running after that is stopped (its worker is killed): it stays RUNNING in
        the store and runs again after a restart.
        """
        if self._coordinator is not None:
            self._coordinator.cancel()
            await asyncio.gather(self._coordinator, return_exceptions=True)
        if self._executions:
            await asyncio.wait(self._executions, timeout=grace)
        for task in self._executions:
            log.warning(
                "%s still runs after %g s: it is stopped, stays RUNNING and runs again on restart",
                task.get_name(),
                grace,
            )
            task.cancel()
        await asyncio.gather(*self._executions, return_exceptions=True)
        await asyncio.gather(*(qpu.worker.stop() for qpu in self.qpus.values()))
        await self.engine.stop()

    def placed(self, job: Job) -> Job:
        """The job (a snapshot) with where its latest attempt runs or ran: its worker's
        placement when the attempt starts, then where the worker says it ran. Finished jobs
        have it in their stored record."""
        known = self._placements.get(job.id)
        if job.status is JobStatus.RUNNING and (known is None or known[0] != job.attempts):
            where = self.qpus[job.backend].worker.placement
            if where is not None:
                known = self._placements[job.id] = (job.attempts, where)
        if known is not None:
            job.placement = known[1]
        return job

    def forget(self, job_ids: Iterable[str]) -> None:
        """Drop finished jobs from memory (their records stay in the store): per-request work
        and memory then stay flat however many jobs have run."""
        for job_id in job_ids:
            self.scheduler.forget(job_id)
            self._placements.pop(job_id, None)

    def cancel_running(self, job: Job) -> None:
        """Stop ``job`` if its QPU runs it (the user cancelled it)."""
        qpu = self.qpus[job.backend]
        if qpu.running == job.id:
            qpu.cancelled = True
            if qpu.execution is not None:
                qpu.execution.cancel()  # stops the worker (see _execute)

    def start_now(self, backend: str) -> None:
        """Start the backend's next job now if its QPU is idle, rather than on the
        coordinator's next turn: a new job's request leaves sooner, and RUNNING is committed
        together with QUEUED."""
        try:
            self._start_next(backend, self.qpus[backend])
        except Exception:  # a bug must not fail a stored job's CreateJob: the coordinator
            log.exception("starting a job on %s failed", backend)  # tries again
            self.wakeup.set()

    async def _coordinate(self) -> None:
        while True:
            self.wakeup.clear()
            try:
                self.forget(self.ledger.take_finished())
                self.scheduler.poll()
                for name, qpu in self.qpus.items():
                    self._start_next(name, qpu)
            except Exception:  # a bug must not stop the QPUs: log it and keep coordinating
                log.exception("coordinator step failed")
            deadline = self.scheduler.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock.now())
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout)
            except TimeoutError:
                pass

    def _start_next(self, name: str, qpu: Qpu) -> None:
        """Start the QPU's next job if it is idle and has one."""
        # A worker not ready (a Ray actor with no node yet) gets no job: its jobs wait in
        # the queue; the worker wakes the coordinator when it becomes ready.
        if qpu.running is None and self.ledger.storage_fault is None and qpu.worker.ready:
            job = self.scheduler.next_job(name)
            if job is not None:
                qpu.running = job.id
                qpu.cancelled = False
                task = asyncio.create_task(self._execute(qpu, job), name=f"job-{job.id}")
                self._executions.add(task)
                task.add_done_callback(self._executions.discard)

    async def _execute(self, qpu: Qpu, job: Job) -> None:
        """Run one job on its QPU's worker and report how it ended to the scheduler.

        The job ends DONE with its stored result; ERROR when it fails, when its result is over
        ``max_result_bytes``, or when it runs past its ``max_execution_time`` (its worker is
        stopped then); CANCELLED when the user cancels it (likewise). A worker that dies makes
        the job run again (``Scheduler.retry``).
        Cancelling this task (shutdown) stops the worker and leaves the job RUNNING.
        """
        started = time.monotonic()
        options = self.ledger.inputs[job.id].options
        limit = (
            options.max_execution_time
            if options.HasField("max_execution_time")
            else qpu.config.max_execution_time or self.default_time_limit
        )
        seed = run_seed(options, job.id)
        status, error = JobStatus.DONE, None
        qpu.execution = asyncio.current_task()
        try:
            try:
                # A fresh worker's start-up is neither the job's time nor its usage.
                await qpu.worker.started()
                started = time.monotonic()
                # The worker is awaited in this task (no task per run: each costs the loop a
                # turn before the request leaves). A cancel by the user or the time limit
                # cancels the await, which kills the worker; a fresh one starts.
                async with asyncio.timeout(limit):
                    request = self.ledger.unstored_request(job.id)
                    if request is None:
                        request = await asyncio.to_thread(self.store.job_request, job.id)
                    result, placement = await self._run_on_qpu(
                        qpu, request, seed, lambda done: self._progress(job.id, done)
                    )
            except TimeoutError:
                status, error = (
                    JobStatus.ERROR,
                    f"the job reached its max_execution_time of {limit:g} s and was stopped",
                )
            except asyncio.CancelledError:
                if not qpu.cancelled:
                    raise  # shutdown: see below
                task = asyncio.current_task()
                assert task is not None
                task.uncancel()  # cancelled by the user: the scheduler ends it CANCELLED
            else:
                self._placements[job.id] = (job.attempts, placement)  # as the worker says
                if len(result) > self.max_result_bytes:  # never handed to the store
                    status, error = (
                        JobStatus.ERROR,
                        (
                            f"the job's result is {len(result)} bytes, over the limit "
                            f"max_result_bytes = {self.max_result_bytes}; ask for fewer shots or "
                            "classical bits per job, or split the job"
                        ),
                    )
                else:
                    self.ledger.store_result(job.id, result)
        except WorkerLost as lost:
            log.warning("job %s: %s; it runs again", job.id, lost)
            self._release(qpu)
            self.scheduler.retry(job.id, str(lost))
            return
        except JobFailed as failed:
            status, error = JobStatus.ERROR, str(failed)
        except asyncio.CancelledError:
            raise  # shutdown: the job stays RUNNING and runs again after a restart
        except Exception as exc:  # noqa: BLE001 - the job fails with the reason; the server goes on
            log.warning("job %s failed: %s", job.id, exc)
            status, error = JobStatus.ERROR, str(exc) or type(exc).__name__
        self._release(qpu)
        simulated = time.monotonic() - started
        usage = charged_usage(job, status is JobStatus.DONE, simulated)
        self.scheduler.finish(job.id, status, usage, error, simulated)

    def _progress(self, job_id: str, fraction: float) -> None:
        """A running job's progress report: the scheduler keeps and publishes it."""
        try:
            self.scheduler.report_progress(job_id, fraction)
        except Exception:  # a report must never fail the job
            log.exception("progress of job %s could not be recorded", job_id)

    @staticmethod
    async def _run_on_qpu(
        qpu: Qpu, request: bytes, seed: int, on_progress: Callable[[float], None]
    ) -> tuple[bytes, Placement]:
        """The worker's result and where it ran, returned no sooner than the backend's
        min_job_duration; progress reports go to ``on_progress``."""
        started = time.monotonic()
        answer = await qpu.worker.run(request, seed, on_progress)
        hold = qpu.config.min_job_duration - (time.monotonic() - started)
        if hold > 0:
            await asyncio.sleep(hold)
        return answer

    def _release(self, qpu: Qpu) -> None:
        qpu.running = None
        qpu.execution = None
        self.wakeup.set()


def charged_usage(job: Job, done: bool, simulated: float) -> float:
    """The QPU seconds a job that ran is charged: its modelled QPU time when it ends DONE; when
    it was stopped or failed, the part of it the QPU could have run by then (IBM charges what
    was consumed up to that point), at most the modelled time. A job admitted before the model
    existed (no estimate) is charged its simulation time."""
    if job.estimated_usage <= 0:
        return simulated
    return job.estimated_usage if done else min(job.estimated_usage, simulated)
