"""Prometheus metrics of one server: what an operator scrapes from ``GET /metrics``.

Every number costs O(1) per lifecycle change or RPC, never a scan of the history:

* job and session counts follow the Runtime's changes (``Runtime.on_change``): the
  metrics remember the state of each *unfinished* job and each open session only, and count
  the transition a change makes;
* what the Runtime already keeps as a running figure (queue length per backend, the event
  log's revision) is read when Prometheus scrapes;
* RPCs are counted and timed by ``RpcMetricsInterceptor``, the outermost gRPC interceptor,
  so refused calls (UNAUTHENTICATED, RESOURCE_EXHAUSTED) count too.

Names (all prefixed ``qsession_``):

==========================================  =========  =====================================
``jobs_total{backend,state}``               counter    jobs that entered each state
``jobs_unfinished{backend,state}``          gauge      jobs QUEUED or RUNNING now
``job_queue_wait_seconds{backend}``         histogram  created -> first start
``job_execution_seconds{backend,state}``    histogram  start -> end, by how it ended
``backend_queue_length{backend}``           gauge      jobs waiting for the backend
``sessions{mode,state}``                    gauge      sessions/batches open/active/inactive
``sessions_closed_total{mode,reason}``      counter    sessions/batches that closed, and why
``instance_usage_seconds{instance}``         gauge      modelled QPU s over the window
``instance_allocation_seconds{instance}``    gauge      QPU s per window allocated
``instance_limit_reached{instance}``         gauge      1 while its usage limit stops its jobs
``event_log_revision``                      gauge      the newest revision of the event log
``watchers``                                gauge      open watch streams (gRPC + dashboard)
``rpc_requests_total{method,code}``         counter    finished RPCs by full method and code
``rpc_duration_seconds{method,code}``       histogram  their latency
==========================================  =========  =====================================

The instance metrics name instances: the operator configured them, and the page's and the
API's callers never see another instance's figures (``/metrics`` is the operator's).

Counters start from zero when the server starts (as Prometheus expects of a restart); the
gauges start from the restored state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from qsession.lifecycle.model import Job, JobStatus, Session, SessionState
from qsession.lifecycle.scheduler import Change
from qsession.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WATCH_METHODS = ("/WatchJobs", "/WatchSessions")
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)
RPC_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)


class ServerMetrics:
    """The metrics of one Runtime, in a registry of their own (several servers may share a
    process, as the tests do)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.registry = CollectorRegistry()
        self.watchers = 0  # open WatchJobs/WatchSessions streams and dashboard event streams
        self._job_states: dict[str, tuple[str, str]] = {}  # unfinished job -> (backend, state)
        self._session_states: dict[str, tuple[str, str]] = {}  # unclosed -> (mode, state)
        r = self.registry
        self.jobs_total = Counter(
            "qsession_jobs", "Jobs that entered each state.", ["backend", "state"], registry=r
        )
        # A gauge cannot share the counter's name "qsession_jobs" in one registry.
        self.jobs_now = Gauge(
            "qsession_jobs_unfinished",
            "Jobs QUEUED or RUNNING now.",
            ["backend", "state"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "qsession_job_queue_wait_seconds",
            "Seconds from a job's submission to its first start.",
            ["backend"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.execution = Histogram(
            "qsession_job_execution_seconds",
            "Seconds a job ran (start to end), by the state it ended in.",
            ["backend", "state"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.sessions_now = Gauge(
            "qsession_sessions",
            "Sessions (mode dedicated) and batches that are open, active or inactive now.",
            ["mode", "state"],
            registry=r,
        )
        self.sessions_closed = Counter(
            "qsession_sessions_closed",
            "Sessions and batches that closed, by close reason.",
            ["mode", "reason"],
            registry=r,
        )
        self.rpc_total = Counter(
            "qsession_rpc_requests",
            "Finished gRPC calls by full method name and status code.",
            ["method", "code"],
            registry=r,
        )
        self.rpc_seconds = Histogram(
            "qsession_rpc_duration_seconds",
            "Latency of gRPC calls (streams: until they end).",
            ["method", "code"],
            buckets=RPC_BUCKETS,
            registry=r,
        )
        r.register(_ScrapeTimeCollector(self))
        for name in runtime.backend_names():  # every backend appears from the start, zeros
            for state in (JobStatus.QUEUED, JobStatus.RUNNING):
                self.jobs_now.labels(name, state.value)
        self._seed()
        runtime.on_change(self.on_change)

    def _seed(self) -> None:
        """Start the gauges from what the Runtime restored (once, at start)."""
        for job in self.runtime.live_jobs():
            if not job.status.finished:
                self._job_states[job.id] = (job.backend, job.status.value)
                self.jobs_now.labels(job.backend, job.status.value).inc()
        for session in self.runtime.live_sessions():
            if session.state is not SessionState.CLOSED:
                key = (session.mode.value, session.state.value)
                self._session_states[session.id] = key
                self.sessions_now.labels(*key).inc()

    # ----------------------------------------------------------------- lifecycle changes

    def on_change(self, change: Change) -> None:
        """Count the transition one change makes (the Runtime calls this for every change)."""
        if change.kind == "job":
            self._job_changed(change.record)
        else:
            self._session_changed(change.record)

    def _job_changed(self, job: Job) -> None:
        before = self._job_states.get(job.id)
        state = job.status.value
        if before is None and job.status.finished:
            return  # a finished job's tags changed: no transition
        if before is not None and before[1] == state:
            return  # tags or placement changed, not the state
        self.jobs_total.labels(job.backend, state).inc()
        if before is not None:
            self.jobs_now.labels(*before).dec()
        if job.status.finished:
            self._job_states.pop(job.id, None)
            if before is not None and before[1] == JobStatus.RUNNING.value and job.started:
                self.execution.labels(job.backend, state).observe(
                    max(0.0, (job.finished or job.started) - job.started)
                )
            return
        self._job_states[job.id] = (job.backend, state)
        self.jobs_now.labels(job.backend, state).inc()
        if job.status is JobStatus.RUNNING and job.attempts == 1 and job.started:
            self.queue_wait.labels(job.backend).observe(max(0.0, job.started - job.created))

    def _session_changed(self, session: Session) -> None:
        before = self._session_states.pop(session.id, None)
        if before is not None:
            self.sessions_now.labels(*before).dec()
        mode = session.mode.value
        if session.state is SessionState.CLOSED:
            if before is not None:
                self.sessions_closed.labels(mode, session.close_reason or "closed").inc()
            return
        key = (mode, session.state.value)
        self._session_states[session.id] = key
        self.sessions_now.labels(*key).inc()

    # ----------------------------------------------------------------------- exposition

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric, now."""
        return generate_latest(self.registry)

    def interceptor(self) -> RpcMetricsInterceptor:
        """The gRPC interceptor that counts and times this server's calls."""
        return RpcMetricsInterceptor(self)

    def observe_rpc(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        name = code.name
        self.rpc_total.labels(method, name).inc()
        self.rpc_seconds.labels(method, name).observe(seconds)


class _ScrapeTimeCollector(Collector):
    """The figures the Runtime keeps current anyway, read when Prometheus scrapes."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runtime = self.metrics.runtime
        queue = GaugeMetricFamily(
            "qsession_backend_queue_length", "Jobs queued for each backend.", labels=["backend"]
        )
        operational = GaugeMetricFamily(
            "qsession_backend_operational",
            "1 while the backend's worker is ready to run jobs.",
            labels=["backend"],
        )
        for name, (queued, ready) in runtime.queue_lengths().items():
            queue.add_metric([name], queued)
            operational.add_metric([name], 1 if ready else 0)
        yield queue
        yield operational
        usage = GaugeMetricFamily(
            "qsession_instance_usage_seconds",
            "Modelled QPU seconds each instance's jobs used over the fair-share window.",
            labels=["instance"],
        )
        allocation = GaugeMetricFamily(
            "qsession_instance_allocation_seconds",
            "QPU seconds per window each instance is allocated.",
            labels=["instance"],
        )
        reached = GaugeMetricFamily(
            "qsession_instance_limit_reached",
            "1 while an instance's usage limit keeps its queued jobs waiting.",
            labels=["instance"],
        )
        for instance, report in runtime.usage_reports().items():
            usage.add_metric([instance], report.consumed)
            allocation.add_metric([instance], report.allocation)
            reached.add_metric([instance], 1 if report.limit_reached else 0)
        yield usage
        yield allocation
        yield reached
        yield GaugeMetricFamily(
            "qsession_event_log_revision",
            "The newest revision of the event log (job and session changes).",
            value=runtime.revision,
        )
        yield GaugeMetricFamily(
            "qsession_watchers",
            "Open watch streams: gRPC WatchJobs/WatchSessions and dashboard event streams.",
            value=self.metrics.watchers,
        )


def _status_code(value) -> grpc.StatusCode:
    """A grpc.StatusCode from what ``context.code()`` holds (an enum, an int or None: OK)."""
    if value is None:
        return grpc.StatusCode.OK
    if isinstance(value, grpc.StatusCode):
        return value
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN


class RpcMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every call to a method the server has (unknown methods are not
    counted, so a client cannot grow the label set), with its final status code."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], object],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        metrics = self.metrics
        # The auth interceptor serves qsession's unary calls in the request-streaming form
        # (it reads the request itself, after admission): both forms are counted alike.
        if handler.unary_unary or handler.stream_unary:
            inner = handler.unary_unary or handler.stream_unary

            async def unary_unary(request, context):
                started = time.perf_counter()
                code = grpc.StatusCode.UNKNOWN
                try:
                    response = await inner(request, context)
                    code = _status_code(context.code())
                    return response
                except asyncio.CancelledError:
                    code = grpc.StatusCode.CANCELLED
                    raise
                except BaseException:
                    code = _status_code(context.code() or grpc.StatusCode.UNKNOWN)
                    raise
                finally:
                    metrics.observe_rpc(method, code, time.perf_counter() - started)

            make = (
                grpc.stream_unary_rpc_method_handler
                if handler.request_streaming
                else grpc.unary_unary_rpc_method_handler
            )
            return make(unary_unary, handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream or handler.stream_stream:
            inner_stream = handler.unary_stream or handler.stream_stream
            watch = method.endswith(WATCH_METHODS)

            async def unary_stream(request, context):
                started = time.perf_counter()
                code = grpc.StatusCode.UNKNOWN
                if watch:
                    metrics.watchers += 1
                try:
                    async for item in inner_stream(request, context):
                        yield item
                    code = _status_code(context.code())
                except (asyncio.CancelledError, GeneratorExit):
                    code = grpc.StatusCode.CANCELLED
                    raise
                except BaseException:
                    code = _status_code(context.code() or grpc.StatusCode.UNKNOWN)
                    raise
                finally:
                    if watch:
                        metrics.watchers -= 1
                    metrics.observe_rpc(method, code, time.perf_counter() - started)

            make = (
                grpc.stream_stream_rpc_method_handler
                if handler.request_streaming
                else grpc.unary_stream_rpc_method_handler
            )
            return make(unary_stream, handler.request_deserializer, handler.response_serializer)
        return handler
