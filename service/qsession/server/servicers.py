"""The qsession.v1 servicers: translate gRPC to the runtime façade's calls and back, nothing
more. Errors are mapped to gRPC statuses in one place (``server.errors``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from qsession.lifecycle.errors import InvalidArgument, NotFound
from qsession.lifecycle.events import Event
from qsession.runtime import JobUpdate, Progress, Runtime
from qsession.server.auth import current_instance
from qsession.server.errors import streaming, unary
from qsession.store.sqlite import JobFilter
from qsession.v1 import (
    backend_pb2,
    backend_pb2_grpc,
    instance_pb2,
    instance_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
    transpiler_pb2_grpc,
)
from qsession.wire import from_timestamp, to_timestamp
from qsession.wire.states import JOB_STATUSES, MODE_NAMES, PROGRAM_NAMES, SESSION_STATE_NAMES

SHARED_RESPONSES = 4096  # recent watch responses kept to share among watchers
BATCH_EVENTS = 64  # the most events one WatchJobs response carries (batch_events)
BATCH_BYTES = 1024 * 1024  # ... and about the most bytes (an event alone may be more)
RESULT_CHUNK = 1024 * 1024  # 1 MiB: far under gRPC's 4 MiB default message limit
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

T = TypeVar("T")


def _page_size(requested: int) -> int:
    """The page size a list request asks for (0: the default), at most MAX_PAGE_SIZE."""
    if requested > MAX_PAGE_SIZE:
        raise InvalidArgument(
            f"page_size: at most {MAX_PAGE_SIZE}", field="page_size", reason="FIELD_INVALID"
        )
    return requested or DEFAULT_PAGE_SIZE


def paginate(
    items: Iterable[T], key: Callable[[T], str], page_size: int, page_token: str
) -> tuple[list[T], str]:
    """A page of ``items`` (already newest first) after the item whose key is ``page_token``.

    Tokens are the sort key of the last item returned, so pages stay stable while new items
    arrive at the front.
    """
    size = _page_size(page_size)
    items = list(items)
    start = 0
    if page_token:
        keys = [key(item) for item in items]
        if page_token not in keys:
            raise InvalidArgument(
                "page_token: not a token this server issued (or the item is gone); "
                "start again with an empty page_token",
                field="page_token",
                reason="PAGE_TOKEN_INVALID",
            )
        start = keys.index(page_token) + 1
    page = items[start : start + size]
    more = start + size < len(items)
    return page, (key(page[-1]) if more and page else "")


JOB_ORDERS = {"create_time desc": False, "create_time asc": True, "create_time": True}
"""ListJobs' ``order_by`` values (AIP-132, spaces normalized; empty means "create_time desc")
-> whether the oldest jobs come first."""
JOB_TOKEN_PREFIXES = {False: "seq-", True: "seq+"}
"""A ListJobs page token is the last listed job's submission number, after a prefix that
names its order: newest first continues below it, oldest first above it."""


def _job_order(order_by: str) -> bool:
    """Whether ListJobs' ``order_by`` lists the oldest jobs first."""
    normalized = " ".join(order_by.split()) or "create_time desc"
    if normalized not in JOB_ORDERS:
        raise InvalidArgument(
            f'order_by: "create_time desc" (newest first, the default) or "create_time asc" '
            f"(oldest first), got {order_by!r}",
            field="order_by",
            reason="FIELD_INVALID",
        )
    return JOB_ORDERS[normalized]


def _job_page_start(token: str, oldest_first: bool) -> int | None:
    """The submission number a ListJobs page token continues after, in the order it was
    issued for (None: the first page)."""
    if not token:
        return None
    prefix = JOB_TOKEN_PREFIXES[oldest_first]
    digits = token.removeprefix(prefix)
    if not token.startswith(prefix) or not digits.isdigit():
        other = token.startswith(JOB_TOKEN_PREFIXES[not oldest_first])
        raise InvalidArgument(
            "page_token: "
            + ("issued for the other order_by" if other else "not a token this server issued")
            + "; start again with an empty page_token",
            field="page_token",
            reason="PAGE_TOKEN_INVALID",
        )
    return int(digits)


class BackendServicer(backend_pb2_grpc.BackendServiceServicer):
    """BackendService: the emulated QPUs."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    @unary
    async def ListBackends(self, request, context):
        return backend_pb2.ListBackendsResponse(backends=self.runtime.backends())

    @unary
    async def GetBackend(self, request, context):
        if not request.name:
            raise InvalidArgument(
                "name: required; ListBackends gives the names",
                field="name",
                reason="FIELD_REQUIRED",
            )
        return backend_pb2.GetBackendResponse(backend=self.runtime.backend(request.name))


class SessionServicer(session_pb2_grpc.SessionServiceServicer):
    """SessionService: sessions and batches."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    @unary
    async def CreateSession(self, request, context):
        instance = current_instance()
        session = await self.runtime.create_session(
            instance.name, instance.plan, request.backend, request.mode, request.max_ttl
        )
        return session_pb2.CreateSessionResponse(session=session)

    @unary
    async def GetSession(self, request, context):
        session = await self.runtime.get_session(current_instance().name, request.id)
        return session_pb2.GetSessionResponse(session=self.runtime.session_message(session))

    @unary
    async def ListSessions(self, request, context):
        sessions, revision = await self.runtime.list_sessions(current_instance().name)
        states = {SESSION_STATE_NAMES.get(s) for s in request.states}
        if None in states:
            raise InvalidArgument(
                "states: use STATE_OPEN, STATE_ACTIVE, STATE_INACTIVE or STATE_CLOSED",
                field="states",
                reason="FIELD_INVALID",
            )
        mode = MODE_NAMES.get(request.mode)
        sessions = [
            s
            for s in sessions
            if (not request.backend or s.backend == request.backend)
            and (mode is None or s.mode == mode)
            and (not states or s.state in states)
        ]
        page, token = paginate(sessions, lambda s: s.id, request.page_size, request.page_token)
        return session_pb2.ListSessionsResponse(
            sessions=[self.runtime.session_message(s) for s in page],
            next_page_token=token,
            revision=revision,
        )

    @unary
    async def CloseSession(self, request, context):
        session = await self.runtime.close_session(current_instance().name, request.id)
        return session_pb2.CloseSessionResponse(session=session)

    @unary
    async def CancelSession(self, request, context):
        session = await self.runtime.cancel_session(current_instance().name, request.id)
        return session_pb2.CancelSessionResponse(session=session)

    @streaming
    async def WatchSessions(self, request, context):
        after = request.after_revision if request.HasField("after_revision") else None
        events = self.runtime.watch_sessions(
            current_instance().name, after, session_ids=request.session_ids
        )
        async for batch in events:
            assert isinstance(batch, list)  # (no progress notifications were asked for)
            for event in batch:
                yield session_pb2.WatchSessionsResponse(
                    revision=event.revision,
                    session=session_pb2.Session.FromString(event.payload),
                    time=to_timestamp(event.time),
                )


class JobServicer(job_pb2_grpc.JobServiceServicer):
    """JobService: Sampler and Estimator jobs."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._responses: OrderedDict[int, SharedEvent] = OrderedDict()

    @unary
    async def CreateJob(self, request, context):
        job, revision = await self.runtime.create_job(current_instance().name, request)
        return job_pb2.CreateJobResponse(job=job, revision=revision)

    @unary
    async def GetJob(self, request, context):
        full = request.view == job_pb2.JOB_VIEW_FULL
        job, revision = await self.runtime.get_job(current_instance().name, request.id, full)
        if request.view not in (job_pb2.JOB_VIEW_UNSPECIFIED, job_pb2.JOB_VIEW_BASIC) and not full:
            raise InvalidArgument(
                "view: use JOB_VIEW_BASIC or JOB_VIEW_FULL (with the inputs)",
                field="view",
                reason="FIELD_INVALID",
            )
        return job_pb2.GetJobResponse(job=job, revision=revision)

    @unary
    async def UpdateJob(self, request, context):
        if list(request.update_mask.paths) != ["tags"]:
            raise InvalidArgument(
                'update_mask: set paths to exactly ["tags"]; tags are the only field of a '
                f"job that can change, got {list(request.update_mask.paths)}",
                field="update_mask",
                reason="UPDATE_MASK_INVALID",
            )
        if not request.job.id:
            raise InvalidArgument(
                "job.id: required; the id of the job to update",
                field="job.id",
                reason="FIELD_REQUIRED",
            )
        job = await self.runtime.update_job_tags(
            current_instance().name, request.job.id, list(request.job.tags)
        )
        return job_pb2.UpdateJobResponse(job=job)

    @unary
    async def ListJobs(self, request, context):
        states = {JOB_STATUSES.get(s) for s in request.states}
        if None in states:
            raise InvalidArgument(
                "states: use STATE_QUEUED, STATE_RUNNING, STATE_DONE, STATE_ERROR or "
                "STATE_CANCELLED",
                field="states",
                reason="FIELD_INVALID",
            )
        if request.program and request.program not in PROGRAM_NAMES:
            raise InvalidArgument(
                "program: PROGRAM_SAMPLER, PROGRAM_ESTIMATOR, PROGRAM_EXECUTOR, or unset for all",
                field="program",
                reason="FIELD_INVALID",
            )
        size = _page_size(request.page_size)
        oldest_first = _job_order(request.order_by)
        where = JobFilter(
            session_id=request.session_id or None,
            backend=request.backend or None,
            program=PROGRAM_NAMES[request.program].value if request.program else None,
            states=tuple(sorted(s.value for s in states)),
            tags=tuple(request.tags),
            created_after=from_timestamp(request.created_after)
            if request.HasField("created_after")
            else None,
            created_before=from_timestamp(request.created_before)
            if request.HasField("created_before")
            else None,
        )
        page, revision = await self.runtime.list_jobs(
            current_instance().name,
            where,
            _job_page_start(request.page_token, oldest_first),
            size + 1,  # one more tells whether there is a next page
            oldest_first=oldest_first,
        )
        more = len(page) > size
        page = page[:size]
        return job_pb2.ListJobsResponse(
            jobs=[message for _, message in page],
            next_page_token=f"{JOB_TOKEN_PREFIXES[oldest_first]}{page[-1][0]}" if more else "",
            revision=revision,
        )

    @unary
    async def CancelJob(self, request, context):
        job = await self.runtime.cancel_job(current_instance().name, request.id)
        return job_pb2.CancelJobResponse(job=job)

    @unary
    async def DeleteJob(self, request, context):
        await self.runtime.delete_job(current_instance().name, request.id)
        return job_pb2.DeleteJobResponse()

    @streaming
    async def GetJobResult(self, request, context):
        result = await self.runtime.job_result(current_instance().name, request.id, request.wait)
        for chunk in _chunks(*result):
            yield chunk

    @streaming
    async def RunJob(self, request, context):
        instance = current_instance().name
        job, revision = await self.runtime.create_job(instance, request)
        yield job_pb2.RunJobResponse(created=job_pb2.CreateJobResponse(job=job, revision=revision))
        for chunk in _chunks(*await self.runtime.created_job_result(instance, job.id)):
            yield job_pb2.RunJobResponse(result=chunk)

    @streaming
    async def WatchJobs(self, request, context):
        instance = current_instance().name
        after = request.after_revision if request.HasField("after_revision") else None
        if request.until_final:
            updates = self.runtime.watch_until_final(
                instance, request.job_ids, after, request.progress_notify
            )
            async for update in updates:
                yield _update_response(update, request.batch_events)
            return
        events = self.runtime.watch_jobs(
            instance,
            after,
            request.progress_notify,
            job_ids=request.job_ids,
            session_id=request.session_id or None,
            tags=request.tags,
            per_message=BATCH_EVENTS if request.batch_events else 1,
        )
        # Responses are bytes serialized once for every watcher (sent as they are: ``parsing``).
        # A batch is what arrived while the previous one was being sent: one response (or a
        # few) for a watcher that accepts several events per response, one per event otherwise.
        async for batch in events:
            if isinstance(batch, Progress):
                yield _progress(batch)
            elif request.batch_events:
                for response in self._batched(batch):
                    yield response
            else:
                for event in batch:
                    yield self._shared(event).single

    def _batched(self, events: list[Event]) -> Iterator[bytes]:
        """``events`` as few batched responses: each of up to BATCH_EVENTS events and about
        BATCH_BYTES bytes, the events' shared one-event responses concatenated.

        Concatenated serializations of a message parse as their merge: repeated fields (here
        ``events``) are appended in order, and a scalar that is set (``revision``, never 0)
        is the last one's. So the concatenation is the response with all these events, whose
        revision is the last event's, built without serializing anything again.
        """
        for start in range(0, len(events), BATCH_EVENTS):
            parts = [self._shared(event).batched for event in events[start : start + BATCH_EVENTS]]
            if sum(map(len, parts)) <= BATCH_BYTES:
                yield b"".join(parts)
                continue
            group: list[bytes] = []  # large events: split further, by size
            size = 0
            for part in parts:
                if group and size + len(part) > BATCH_BYTES:
                    yield b"".join(group)
                    group, size = [], 0
                group.append(part)
                size += len(part)
            yield b"".join(group)

    def _shared(self, event: Event) -> SharedEvent:
        """An event's responses, built and serialized once for every watcher it goes to."""
        shared = self._responses.get(event.revision)
        if shared is None:
            job = job_pb2.Job.FromString(event.payload)
            time = to_timestamp(event.time)
            single = job_pb2.WatchJobsResponse(revision=event.revision, job=job, time=time)
            batched = job_pb2.WatchJobsResponse(
                revision=event.revision,
                events=[job_pb2.JobEvent(revision=event.revision, job=job, time=time)],
            )
            shared = SharedEvent(single.SerializeToString(), batched.SerializeToString())
            self._responses[event.revision] = shared
            if len(self._responses) > SHARED_RESPONSES:
                self._responses.popitem(last=False)
        return shared


@dataclass(frozen=True)
class SharedEvent:
    """A job event's two serialized WatchJobsResponses, shared by every watcher it goes to.

    Attributes:
        single: the event in ``job``, for a watcher without ``batch_events``.
        batched: the event as the one entry of ``events`` (``revision`` its own, no
            ``time``: a merge would mix the fields of two timestamps), for a watcher with
            ``batch_events``; several concatenated are one response (see
            ``JobServicer._batched``).
    """

    single: bytes
    batched: bytes


def _update_response(update: JobUpdate | Progress, batched: bool) -> job_pb2.WatchJobsResponse:
    """The response for an update of WatchJobs ``until_final`` (``batched``: in ``events``)."""
    if isinstance(update, Progress):
        return _progress(update)
    time = to_timestamp(update.time)
    if batched:
        event = job_pb2.JobEvent(revision=update.revision, job=update.job, time=time)
        return job_pb2.WatchJobsResponse(revision=update.revision, events=[event])
    return job_pb2.WatchJobsResponse(revision=update.revision, job=update.job, time=time)


def _progress(progress: Progress) -> job_pb2.WatchJobsResponse:
    """A progress notification: a response with a revision and no job."""
    return job_pb2.WatchJobsResponse(revision=progress.revision, time=to_timestamp(progress.time))


def _chunks(data: bytes, digest: str, job: job_pb2.Job) -> Iterator[job_pb2.GetJobResultResponse]:
    """A result as GetJobResult's messages: RESULT_CHUNK bytes each, the job in the first."""
    view = memoryview(data)
    for offset in range(0, max(len(data), 1), RESULT_CHUNK):
        yield job_pb2.GetJobResultResponse(
            chunk=bytes(view[offset : offset + RESULT_CHUNK]),
            offset=offset,
            total_size=len(data),
            sha256=digest,
            job=job if offset == 0 else None,
        )


class InstanceServicer(instance_pb2_grpc.InstanceServiceServicer):
    """InstanceService: the caller's own instance."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    @unary
    async def GetInstance(self, request, context):
        instance = current_instance()
        if request.name not in ("", instance.name):
            raise NotFound(
                f"name: instance {request.name!r} does not exist",
                field="name",
                reason="INSTANCE_NOT_FOUND",
            )
        message = self.runtime.instance_message(instance.name, instance.plan.name)
        return instance_pb2.GetInstanceResponse(instance=message)


class TranspilerServicer(transpiler_pb2_grpc.TranspilerServiceServicer):
    """TranspilerService: a client's logical circuit -> the backend's ISA circuit, transpiled
    on the server in a sandbox (``Runtime.transpile``), for clients without Qiskit."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    @unary
    async def Transpile(self, request, context):
        return await self.runtime.transpile(current_instance().name, request)
