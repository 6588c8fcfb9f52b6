"""A submitted Sampler or Estimator job, like qiskit-ibm-runtime's ``RuntimeJobV2``."""

from __future__ import annotations

import hashlib
import importlib.metadata
import math
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import grpc
import qiskit
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.base.base_primitive_job import BasePrimitiveJob
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession.bitarray import BitArray
from qsession.client.connection import Backoff, is_transient
from qsession.client.errors import (
    IBMApiError,
    IBMInputValueError,
    QSessionError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobTimeoutError,
)
from qsession.client.times import iso, utc
from qsession.client.watch import FINAL_STATES, JOB_STATUS, JobEventStream
from qsession.v1 import job_pb2
from qsession.wire import decode_job_pubs, decode_result
from qsession.wire.options import job_options_dict
from qsession.wire.quantum_program import decode_program, decode_program_result

if TYPE_CHECKING:
    from datetime import datetime

    from qsession.client.backend import QSessionBackend
    from qsession.client.operations import Operations
    from qsession.client.service import RuntimeService

_PROGRAM_IDS = {
    job_pb2.PROGRAM_SAMPLER: "sampler",
    job_pb2.PROGRAM_ESTIMATOR: "estimator",
    job_pb2.PROGRAM_EXECUTOR: "executor",
}
_WAIT_INTERRUPTIONS = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.OUT_OF_RANGE)
_VERSIONS = f"qsession-{importlib.metadata.version('qsession')},qiskit-{qiskit.__version__}"


def _pub_tuple(pub: SamplerPub | EstimatorPub) -> tuple[Any, ...]:
    """A PUB as qiskit-ibm-runtime's ``job.inputs`` gives it: ``(circuit, parameter_values,
    shots)`` or ``(circuit, observables, parameter_values, precision)``."""
    values = pub.parameter_values
    array = values.as_array(pub.circuit.parameters) if values.num_parameters else None
    if isinstance(pub, SamplerPub):
        return (pub.circuit, array, pub.shots)
    return (pub.circuit, pub.observables, array, pub.precision)


class HeldResult(NamedTuple):
    """The rest of the RunJob stream that created a job (its result's chunks, once the job is
    DONE), and how to give the stream's place back once it is closed (see
    ``RuntimeService._send_job``)."""

    stream: Iterator[job_pb2.RunJobResponse]
    release: Callable[[], None]


class _StreamEnds:
    """Reads the ends of RunJob streams whose result is in, on one daemon thread: the
    server's status follows the last chunk, and ``result()`` need not wait for it. Each
    stream's place is given back once its end is read (or the stream fails: the result was
    already checked, by size and SHA-256, so its status no longer matters)."""

    def __init__(self):
        self._queue: queue.SimpleQueue[HeldResult] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def read(self, held: HeldResult) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="qsession-stream-ends", daemon=True
                )
                self._thread.start()
        self._queue.put(held)

    def _run(self) -> None:
        while True:
            held = self._queue.get()
            try:
                for _ in held.stream:  # nothing follows a whole result; were it so, ignored
                    pass
            except Exception:  # noqa: BLE001, S110 - see the class docstring
                pass
            finally:
                held.release()


_STREAM_ENDS = _StreamEnds()
# A forked child has none of its parent's threads: it starts its own reader when it needs one.
os.register_at_fork(after_in_child=lambda: _STREAM_ENDS.__init__())


def _close_held(held: HeldResult) -> None:
    """Cancel a held stream if it is still open, and give its place back."""
    try:
        held.stream.close()
    finally:
        held.release()


def _interrupted(exc: QSessionError) -> bool:
    """Whether a result wait failed for a reason that waiting again can get past: a
    restarting server or broken connection (see ``is_transient``), or the server ending its
    own follow-up of the job's events (fell behind, or a revision no longer retained)."""
    return exc.code in _WAIT_INTERRUPTIONS or is_transient(exc.code, str(exc))


class RuntimeJobV2(BasePrimitiveJob[PrimitiveResult, str]):
    """A Sampler or Estimator job on a qsession server.

    ``result()`` waits on the server's event stream (no polling) and returns the job's
    :class:`~qiskit.primitives.PrimitiveResult`; Sampler registers come back as
    :class:`qsession.BitArray` viewing the received bytes.

    Jobs are created by ``SamplerV2.run`` / ``EstimatorV2.run`` and looked up with
    :meth:`RuntimeService.job` / :meth:`RuntimeService.jobs`; do not construct them directly.
    A job object may be shared between threads.

    Args:
        message: The job as the server last reported it.
        service: The :class:`RuntimeService` the job belongs to (for :meth:`backend`).
        operations: The service's operations on the server.
        revision: The event revision ``message`` was read at, if known.
        held: The rest of the RunJob stream that created the job, if any.
    """

    JOB_FINAL_STATES: tuple[str, ...] = ("DONE", "CANCELLED", "ERROR")

    def __init__(
        self,
        message: job_pb2.Job,
        service: RuntimeService,
        operations: Operations,
        revision: int | None = None,
        held: HeldResult | None = None,
    ):
        super().__init__(job_id=message.id)
        self._service = service
        self._operations = operations
        self._message = message
        self._revision = revision  # the event revision ``message`` was read at, used once
        self._lock = threading.Lock()
        self._download_lock = threading.Lock()
        self._result: job_pb2.JobResult | None = None  # decoded anew by each result()
        # The RunJob stream that created this job, until result() reads it; closed at the
        # latest when this object is garbage collected.
        self._held = held
        self._close_held = None if held is None else weakref.finalize(self, _close_held, held)

    def __repr__(self) -> str:
        return f"<RuntimeJobV2('{self._job_id}', '{self.primitive_id}')>"

    # ------------------------------------------------------------------ what the job is

    @property
    def primitive_id(self) -> str:
        """``"sampler"``, ``"estimator"`` or ``"executor"``."""
        return _PROGRAM_IDS.get(self._message.program, "unknown")

    @property
    def session_id(self) -> str | None:
        """The id of the session or batch the job runs in, or ``None`` in job mode."""
        return self._message.session_id or None

    @property
    def tags(self) -> list[str]:
        """The tags the job was submitted with."""
        return list(self._message.tags)

    @property
    def instance(self) -> str:
        """The name of the instance the job belongs to (the account's)."""
        return self._service.active_instance()

    @property
    def private(self) -> bool:
        """Whether the job is private (``environment.private``): its inputs are not kept,
        and its result can be read once."""
        return self._message.options.private

    @property
    def inputs(self) -> dict[str, Any]:
        """The job's inputs as submitted, like qiskit-ibm-runtime's ``job.inputs``.

        Returns:
            ``{"pubs": [...], "options": {...}, "version": 2}``, or ``{}`` for a private job.
            ``pubs`` are tuples, as qiskit-ibm-runtime gives them: ``(circuit,
            parameter_values, shots)`` for the Sampler, ``(circuit, observables,
            parameter_values, precision)`` for the Estimator, with shots or precision
            resolved as the server ran them and the parameter values an array of shape
            ``(*shape, num_parameters)`` (``None`` for a circuit without parameters), so
            ``SamplerV2(...).run(job.inputs["pubs"])`` runs them again; ``options`` are the
            job's options that were set (``default_shots``, ``default_precision``,
            ``seed_simulator``, ``max_execution_time``). An Executor job's are
            ``{"quantum_program": QuantumProgram, "options": {...}}`` (qiskit-ibm-runtime's
            ``QuantumProgram``, which ``Executor(...).run`` runs again).

        Raises:
            RuntimeJobNotFound: the job no longer exists.
        """
        message = self._operations.jobs.get(self._job_id, full=True).job
        if message.options.private:
            return {}
        options = message.options
        if message.program == job_pb2.PROGRAM_EXECUTOR:
            return {
                "quantum_program": decode_program(message.inputs.quantum_program),
                "options": job_options_dict(options),
            }
        return {
            "pubs": [
                _pub_tuple(pub) for pub in decode_job_pubs(message.program, message.inputs, options)
            ],
            "options": job_options_dict(options),
            "version": 2,
        }

    @property
    def usage_estimation(self) -> dict[str, float | None]:
        """``{"quantum_seconds": ...}``, qiskit-ibm-runtime's estimate of the QPU time a job
        takes: the modelled QPU seconds the server computed when it admitted the job (what a
        job that ends DONE is charged); None for a job from before the model existed."""
        message = self._refresh()
        return {"quantum_seconds": message.estimated_usage_seconds or None}

    @property
    def creation_date(self) -> datetime:
        """When the job was created (UTC)."""
        return utc(self._message.create_time)

    def backend(self) -> QSessionBackend:
        """The backend the job runs on."""
        return self._service.backend(self._message.backend)

    # ------------------------------------------------------------------ state

    def _refresh(self) -> job_pb2.Job:
        """The job message, fetched unless the job is already in a final state."""
        with self._lock:
            message = self._message
        if message.state in FINAL_STATES:
            return message
        fresh = self._operations.jobs.get(self._job_id).job
        return self._update(fresh)

    def _update(self, message: job_pb2.Job) -> job_pb2.Job:
        """Keep ``message`` unless it is older than what we have (a final state is kept)."""
        with self._lock:
            if self._message.state not in FINAL_STATES:
                self._message = message
            return self._message

    def status(self) -> str:
        """The job's status: "QUEUED", "RUNNING", "DONE", "ERROR" or "CANCELLED"."""
        return JOB_STATUS.get(self._refresh().state, "UNKNOWN")

    def done(self) -> bool:
        """Whether the job finished successfully."""
        return self.status() == "DONE"

    def running(self) -> bool:
        """Whether the job is running on the QPU."""
        return self.status() == "RUNNING"

    def cancelled(self) -> bool:
        """Whether the job was cancelled."""
        return self.status() == "CANCELLED"

    def errored(self) -> bool:
        """Whether the job failed."""
        return self.status() == "ERROR"

    def in_final_state(self) -> bool:
        """Whether the job is DONE, ERROR or CANCELLED."""
        return self.status() in self.JOB_FINAL_STATES

    def error_message(self) -> str | None:
        """Why the job failed or was cancelled, as the server reports it; ``None`` otherwise."""
        message = self._refresh()
        if message.state in (job_pb2.Job.STATE_ERROR, job_pb2.Job.STATE_CANCELLED):
            return message.error_message or None
        return None

    # ------------------------------------------------------------------ waiting and results

    def wait_for_final_state(self, timeout: float | None = None) -> None:
        """Block until the job is DONE, ERROR or CANCELLED.

        Follows the job's events on the server's watch stream from the revision at which the
        job was last read (its creation, or a GetJob now), so no change can slip between
        looking and subscribing and no history is replayed; progress notifications keep the
        resume point current if the stream has to reconnect (a server restart, a dropped
        connection: see :class:`~qsession.client.watch.JobEventStream`). If the resume point
        is no longer retained (more events passed than the server keeps), the job is read
        again and followed from there.

        Args:
            timeout: Seconds to wait; ``None`` waits as long as it takes.

        Raises:
            RuntimeJobTimeoutError: the job did not finish within ``timeout`` seconds.
            IBMApiError: the server stayed unreachable for longer than the service's
                ``retry_timeout``.
        """
        with self._lock:
            message, revision, self._revision = self._message, self._revision, None
        deadline = None if timeout is None else time.monotonic() + timeout
        while message.state not in FINAL_STATES:
            if revision is None:
                response = self._read_again(deadline, timeout)
                message, revision = self._update(response.job), response.revision
                continue
            stream = JobEventStream(
                self._operations.jobs,
                job_pb2.WatchJobsRequest(
                    job_ids=[self._job_id], after_revision=revision, progress_notify=True
                ),
                deadline,
            )
            try:
                for event in stream:
                    message = self._update(event.job)
                    if message.state in FINAL_STATES:
                        return
            except RuntimeJobTimeoutError:
                raise self._timed_out(timeout) from None
            except IBMInputValueError as exc:
                if exc.code != grpc.StatusCode.OUT_OF_RANGE:
                    raise
                revision = None  # the resume point left the server's event log: read again
            finally:
                stream.cancel()

    def result(self, timeout: float | None = None, progress: bool = False) -> Any:
        """Wait for the job and return its result: a new object at each call (the received
        bytes are kept and decoded again), so that changing one changes nothing else.

        With ``progress``, a progress bar (tqdm: a widget in a notebook, a text bar in a
        terminal) follows the job's reported progress (``WatchJobs``) until it ends.

        A job submitted by ``run`` usually gets its result on the stream that created it
        (RunJob): nothing more is sent. Otherwise, or if that stream fails, one call does
        both: GetJobResult with ``wait`` streams the result as soon as the job is DONE. The
        wait rides out server restarts and dropped connections, however many
        events pass meanwhile: after a transient failure it pauses (exponential backoff with
        jitter), reads the job again and, unless it ended in ERROR or CANCELLED, waits again.
        While the server is unreachable, each read is retried for up to the service's
        ``retry_timeout`` (``RuntimeService(retry_timeout=...)``; 0 makes the first
        transient failure raise).

        Args:
            timeout: Seconds to wait; ``None`` waits as long as it takes.
            progress: Show a progress bar while waiting.

        Returns:
            A :class:`~qiskit.primitives.PrimitiveResult`: one ``SamplerPubResult`` (registers
            as read-only :class:`qsession.BitArray`) or ``PubResult`` (``evs``, ``stds``,
            ``ensemble_standard_error``) per PUB, in submission order. An Executor job's is
            qiskit-ibm-runtime's ``QuantumProgramResult`` (``wire.quantum_program``). A
            private job's result can be read once (IBM's rule): then it is empty.

        Raises:
            RuntimeJobFailureError: the job ended in ERROR (the message has the reason).
            RuntimeInvalidStateError: the job was cancelled.
            RuntimeJobTimeoutError: the job did not finish within ``timeout`` seconds.
            IBMApiError: the server stayed unreachable for longer than ``retry_timeout``.
        """
        if progress and self._result is None and self._refresh().state not in FINAL_STATES:
            timeout = self._show_progress(timeout)
        with self._download_lock:
            result = self._result
            if result is None and self._held is not None:
                result = self._result_from_held(timeout)
            if result is None:
                try:
                    result = self._wait_for_result(timeout)
                except RuntimeInvalidStateError as exc:
                    if exc.reason != "RESULT_MISSING" or not self._refresh().options.private:
                        raise
                    result = job_pb2.JobResult()  # a private job's result was read: empty
            if not self._message.options.private:
                self._result = result  # (a private one is not kept: IBM reads it once)
        if self._message.program == job_pb2.PROGRAM_EXECUTOR:
            return decode_program_result(result)
        return decode_result(result, BitArray)

    def _show_progress(self, timeout: float | None) -> float | None:
        """Draw the job's progress (tqdm) until it ends or ``timeout`` passes; the time left of
        ``timeout`` (None: no limit)."""
        from tqdm.auto import tqdm

        deadline = None if timeout is None else time.monotonic() + timeout
        request = job_pb2.WatchJobsRequest(job_ids=[self._job_id], after_revision=0)
        stream = JobEventStream(self._operations.jobs, request, deadline)
        with tqdm(total=100, desc=f"job {self._job_id[:8]}", unit="%") as bar:
            try:
                for event in stream:
                    state = JOB_STATUS.get(event.job.state, "")
                    done = 100 if state == "DONE" else round(event.job.progress * 100)
                    bar.update(max(0, done - bar.n))
                    bar.set_postfix_str(state)
                    if event.job.state in FINAL_STATES:
                        break
            except RuntimeJobTimeoutError:
                pass  # result() raises its own timeout, saying where the job stands
            finally:
                stream.cancel()
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def _result_from_held(self, timeout: float | None) -> job_pb2.JobResult | None:
        """The result from the RunJob stream that created this job, or ``None``: the usual
        wait then keeps a ``timeout`` (the stream has its own deadline), and explains a
        stream that failed or ended without the result (the job ended in ERROR or CANCELLED).
        The stream is closed either way."""
        held, self._held = self._held, None
        try:
            if timeout is None:
                result = self._download(
                    (response.result for response in held.stream), read_end=False
                )
                # The stream's end (the server's status) follows the last chunk: it is read
                # in the background, so that this returns as soon as the result is in.
                self._close_held.detach()
                _STREAM_ENDS.read(held)
                return result
        except QSessionError:
            pass
        finally:
            self._close_held()  # (once detached, does nothing)
        return None

    def _wait_for_result(self, timeout: float | None) -> job_pb2.JobResult:
        """Loop GetJobResult(wait) until it delivers, reading the job again between tries.

        No revision is involved, so an outage during which the server's event log moved on
        by any amount cannot make the wait fail.
        """
        connection = self._operations.connection
        deadline = None if timeout is None else time.monotonic() + timeout
        # how long to keep trying is bounded by the user's deadline and by the re-reads,
        # which give up once the server has been unreachable for retry_timeout
        pauses = Backoff(math.inf if connection.retry_timeout > 0 else 0.0, deadline)
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise self._timed_out(timeout)
            try:
                return self._fetch_result(wait=True, timeout=remaining)
            except QSessionError as exc:
                if exc.code == grpc.StatusCode.DEADLINE_EXCEEDED and deadline is not None:
                    raise self._timed_out(timeout) from None
                if exc.code == grpc.StatusCode.FAILED_PRECONDITION:
                    # the job ended other than DONE: say how
                    if self._raise_if_failed(self._refresh()) == job_pb2.Job.STATE_DONE:
                        raise
                elif connection.closed or not _interrupted(exc):
                    raise
                failure = exc
            if not pauses.sleep():
                if pauses.past_deadline():
                    raise self._timed_out(timeout) from None
                raise failure
            self._raise_if_failed(self._update(self._read_again(deadline, timeout).job))

    def _read_again(self, deadline: float | None, timeout: float | None) -> job_pb2.GetJobResponse:
        """GetJob, retried while the server is unreachable, but not past a wait's deadline.

        Raises:
            RuntimeJobTimeoutError: the deadline passed first (``timeout``: for the message).
        """
        try:
            return self._operations.jobs.get(self._job_id, deadline=deadline)
        except QSessionError as exc:
            past = deadline is not None and time.monotonic() >= deadline
            if past and is_transient(exc.code, str(exc)):
                raise self._timed_out(timeout) from None
            raise

    def _raise_if_failed(self, message: job_pb2.Job) -> int:
        """Raise the error for a job that ended in ERROR or CANCELLED; else its state.

        Raises:
            RuntimeJobFailureError: the job ended in ERROR.
            RuntimeInvalidStateError: the job was cancelled.
        """
        if message.state == job_pb2.Job.STATE_ERROR:
            raise RuntimeJobFailureError(
                f"Unable to retrieve job result. Job {self._job_id} has failed: "
                f"{message.error_message}"
            )
        if message.state == job_pb2.Job.STATE_CANCELLED:
            raise RuntimeInvalidStateError(
                f"Unable to retrieve result for job {self._job_id}. Job was cancelled."
                + (f" {message.error_message}" if message.error_message else "")
            )
        return message.state

    def _timed_out(self, timeout: float | None) -> RuntimeJobTimeoutError:
        """IBM's timeout error, saying where the job stands: running, or what it waits behind
        (its instance's limit, another session's hold, or the backend's queue)."""
        message = f"Timed out waiting for job {self._job_id} to complete after {timeout} secs."
        try:
            job = self._refresh()
            if job.state == job_pb2.Job.STATE_RUNNING:
                message += " It is RUNNING."
            elif job.state == job_pb2.Job.STATE_QUEUED:
                behind = job.waiting_reason or (
                    f"it waits in backend {job.backend}'s queue "
                    f"({self._operations.backends.get(job.backend).pending_jobs} jobs queued)"
                )
                message += f" It is QUEUED: {behind}"
        except grpc.RpcError:  # where it stands is a hint: the timeout is the error
            pass
        return RuntimeJobTimeoutError(message)

    def _fetch_result(self, wait: bool = False, timeout: float | None = None) -> job_pb2.JobResult:
        """GetJobResult: with ``wait``, the server sends the result once the job is DONE (at
        most ``timeout`` seconds from now). Without it, a download that fails before its
        first chunk is retried like any read."""
        # a wait may rightly be long: result() decides about retrying
        chunks = self._operations.jobs.result(self._job_id, wait=wait, timeout=timeout)
        return self._download(chunks)

    def _download(
        self, chunks: Iterable[job_pb2.GetJobResultResponse], read_end: bool = True
    ) -> job_pb2.JobResult:
        """Receive the result's chunks, check their offsets and SHA-256, and parse them; the
        first chunk's job message becomes this job's state. Then read the stream's end,
        unless ``read_end`` is false (the caller has it read).

        Raises:
            IBMApiError: the chunks do not add up to the announced size or digest.
        """
        buffer: bytearray | None = None
        expected_digest = ""
        received = 0
        chunks = iter(chunks)
        for chunk in chunks:
            if buffer is None:
                buffer = bytearray(chunk.total_size)
                expected_digest = chunk.sha256
                if chunk.HasField("job"):
                    self._update(chunk.job)
            end = chunk.offset + len(chunk.chunk)
            if chunk.offset != received or end > len(buffer):
                raise IBMApiError(
                    f"result of job {self._job_id}: chunk at offset {chunk.offset} "
                    f"({len(chunk.chunk)} bytes) does not follow byte {received} of {len(buffer)}"
                )
            buffer[chunk.offset : end] = chunk.chunk
            received = end
            if received == len(buffer):
                break  # the last chunk: decode now, the stream's end arrives meanwhile
        if buffer is None or received != len(buffer):
            raise IBMApiError(f"result of job {self._job_id}: the stream ended early")
        if hashlib.sha256(buffer).hexdigest() != expected_digest:
            raise IBMApiError(f"result of job {self._job_id}: SHA-256 does not match; retry")
        result = job_pb2.JobResult.FromString(buffer)
        for _ in chunks if read_end else ():  # read the stream's end (its status)
            raise IBMApiError(f"result of job {self._job_id}: more than {received} bytes")
        return result

    # ------------------------------------------------------------------ control and accounting

    def cancel(self) -> None:
        """Cancel the job: a queued job ends CANCELLED at once, a running one when it stops.

        Raises:
            RuntimeInvalidStateError: the job already finished.
        """
        self._update(self._operations.jobs.cancel(self._job_id))

    def update_tags(self, new_tags: list[str]) -> list[str]:
        """Replace the job's tags (duplicates dropped, order kept); the change is published to
        watchers.

        Returns:
            The job's tags after the update.

        Raises:
            IBMInputValueError: a tag that is empty or over 256 characters, or over 100 tags.
            RuntimeJobNotFound: the job no longer exists.
        """
        if isinstance(new_tags, str) or not all(isinstance(tag, str) for tag in new_tags):
            raise IBMInputValueError(f"new_tags must be a list of strings, got {new_tags!r}")
        message = self._operations.jobs.update_tags(self._job_id, list(dict.fromkeys(new_tags)))
        with self._lock:
            self._message = message  # the server's answer is the newest state there is
        return list(message.tags)

    def logs(self) -> str:
        """The job's log: one line per step of its life, oldest first.

        Each line is ``<ISO 8601 UTC time> <LEVEL> <text>``: when the job was queued (backend,
        mode, PUBs), when it last started running (and which attempt that was: more than one
        means it was run again after a server restart or a lost worker), and how it ended —
        DONE with its QPU time, CANCELLED, or ERROR with the reason. Unlike IBM Quantum,
        qsession jobs run no user code, so there is no standard output to show.

        Returns:
            The log text, lines separated by newlines.
        """
        message = self._refresh()
        mode = f"session {message.session_id}" if message.session_id else "job mode"
        lines = [
            f"{iso(message.create_time)} INFO queued: {self.primitive_id} job {message.id} "
            f"with {message.num_pubs} PUB(s) on backend {message.backend} ({mode})"
        ]
        if message.start_time.ByteSize():
            attempt = (
                f" (attempt {message.attempts}; earlier attempts were interrupted)"
                if message.attempts > 1
                else ""
            )
            lines.append(f"{iso(message.start_time)} INFO started running{attempt}")
        ended = iso(message.end_time)
        if message.state == job_pb2.Job.STATE_DONE:
            lines.append(f"{ended} INFO DONE after {message.usage_seconds:.3f} s of QPU time")
        elif message.state == job_pb2.Job.STATE_CANCELLED:
            lines.append(f"{ended} WARNING CANCELLED: {message.error_message}")
        elif message.state == job_pb2.Job.STATE_ERROR:
            lines.append(f"{ended} ERROR failed: {message.error_message}")
        return "\n".join(lines)

    def metrics(self) -> dict[str, Any]:
        """The job's metrics, shaped like qiskit-ibm-runtime's.

        Returns:
            ``{"timestamps": {"created", "running", "finished"}`` (ISO 8601 UTC text or
            ``None``), ``"usage": {"quantum_seconds", "seconds"}``, ``"num_pubs"``,
            ``"qiskit_version"``, ``"attempts"``, ``"executor"``}. ``qiskit_version`` names
            this SDK's packages, IBM's format (``"qsession-0.1.0,qiskit-2.1.0"``): a server of
            the same qsession release runs the jobs with the same pins. ``executor`` (a
            qsession addition) is where the job runs or ran, ``{"engine": "local" | "ray",
            "node_id", "host"}`` (``node_id`` is the Ray node's id, empty for the local
            engine), or ``None`` before it starts.
        """
        message = self._refresh()
        executor = None
        if message.HasField("executor"):
            executor = {
                "engine": message.executor.engine,
                "node_id": message.executor.node_id,
                "host": message.executor.host,
            }
        return {
            "timestamps": {
                "created": iso(message.create_time),
                "running": iso(message.start_time),
                "finished": iso(message.end_time),
            },
            "usage": {
                "quantum_seconds": message.usage_seconds,
                "seconds": message.usage_seconds,
                "estimated_quantum_seconds": message.estimated_usage_seconds,
                "simulation_seconds": message.simulation_seconds,
            },
            "num_pubs": message.num_pubs,
            "progress": {
                "fraction": message.progress,
                "remaining_seconds": message.remaining_seconds
                if message.HasField("remaining_seconds")
                else None,
            },
            "qiskit_version": _VERSIONS,
            "attempts": message.attempts,
            "executor": executor,
        }

    def usage(self, partial: bool = False) -> float:
        """QPU seconds the job used: 0 until it finishes unless ``partial`` is true."""
        message = self._refresh()
        if message.state not in FINAL_STATES and not partial:
            return 0.0
        return message.usage_seconds
