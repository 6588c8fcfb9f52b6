"""The qsession.v1 servicers: translate gRPC to Runtime calls and back, nothing more."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TypeVar

from qsession.lifecycle.errors import InvalidArgument, NotFound, ResourceExhausted
from qsession.lifecycle.model import Job
from qsession.server import convert
from qsession.server.auth import current_instance
from qsession.server.errors import streaming, unary
from qsession.server.runtime import Runtime
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
)
from qsession.wire import from_timestamp, to_timestamp

SHARED_RESPONSES = 4096  # recent watch responses kept to share among watchers
PROGRESS_INTERVAL = 1.0  # seconds without an event before a progress notification
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


JOB_TOKEN_PREFIX = "seq-"


def _job_page_start(token: str) -> int | None:
    """The submission number a ListJobs page token continues before (None: the first page)."""
    if not token:
        return None
    digits = token.removeprefix(JOB_TOKEN_PREFIX)
    if not token.startswith(JOB_TOKEN_PREFIX) or not digits.isdigit():
        raise InvalidArgument(
            "page_token: not a token this server issued; start again with an empty page_token",
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
        return backend_pb2.ListBackendsResponse(
            backends=[self.runtime.backend_message(name) for name in self.runtime.qpus]
        )

    @unary
    async def GetBackend(self, request, context):
        if not request.name:
            raise InvalidArgument(
                "name: required; ListBackends gives the names",
                field="name",
                reason="FIELD_REQUIRED",
            )
        return backend_pb2.GetBackendResponse(backend=self.runtime.backend_message(request.name))


class SessionServicer(session_pb2_grpc.SessionServiceServicer):
    """SessionService: sessions and batches."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def _message(self, session) -> session_pb2.Session:
        return self.runtime.session_message(session)

    @unary
    async def CreateSession(self, request, context):
        self.runtime.check_writable()  # refused before anything changes
        instance = current_instance()
        session = self.runtime.create_session(
            instance.name, instance.plan, request.backend, request.mode, request.max_ttl
        )
        await self.runtime.flush()  # acknowledged only once stored
        return session_pb2.CreateSessionResponse(session=self._message(session))

    @unary
    async def GetSession(self, request, context):
        await self.runtime.flush(read=True)  # show only committed state
        session = self.runtime.session(current_instance().name, request.id)
        return session_pb2.GetSessionResponse(session=self._message(session))

    @unary
    async def ListSessions(self, request, context):
        await self.runtime.flush(read=True)  # show only committed state
        states = {convert.SESSION_STATE_NAMES.get(s) for s in request.states}
        if None in states:
            raise InvalidArgument(
                "states: use STATE_OPEN, STATE_ACTIVE, STATE_INACTIVE or STATE_CLOSED",
                field="states",
                reason="FIELD_INVALID",
            )
        mode = convert.MODE_NAMES.get(request.mode)
        sessions = [
            s
            for s in self.runtime.list_sessions(current_instance().name)
            if (not request.backend or s.backend == request.backend)
            and (mode is None or s.mode == mode)
            and (not states or s.state in states)
        ]
        page, token = paginate(sessions, lambda s: s.id, request.page_size, request.page_token)
        return session_pb2.ListSessionsResponse(
            sessions=[self._message(s) for s in page],
            next_page_token=token,
            revision=self.runtime.events.last_revision,
        )

    @unary
    async def CloseSession(self, request, context):
        self.runtime.check_writable()  # refused before anything changes
        session = self.runtime.close_session(current_instance().name, request.id)
        await self.runtime.flush()  # acknowledged only once stored
        return session_pb2.CloseSessionResponse(session=self._message(session))

    @unary
    async def CancelSession(self, request, context):
        self.runtime.check_writable()  # refused before anything changes
        session = self.runtime.cancel_session(current_instance().name, request.id)
        await self.runtime.flush()  # acknowledged only once stored
        return session_pb2.CancelSessionResponse(session=self._message(session))

    @streaming
    async def WatchSessions(self, request, context):
        after = request.after_revision if request.HasField("after_revision") else None
        subscription = self.runtime.subscribe(
            current_instance().name, after, "session", session_ids=tuple(request.session_ids)
        )
        async for event in _follow(subscription):
            yield session_pb2.WatchSessionsResponse(
                revision=event.revision,
                session=session_pb2.Session.FromString(event.payload),
                time=to_timestamp(event.time),
            )


class JobServicer(job_pb2_grpc.JobServiceServicer):
    """JobService: Sampler and Estimator jobs."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._responses: OrderedDict[int, tuple[job_pb2.WatchJobsResponse, bytes]] = OrderedDict()

    @unary
    async def CreateJob(self, request, context):
        self.runtime.check_writable()  # refused before anything changes
        job, revision = await self.runtime.create_job(current_instance().name, request)
        return job_pb2.CreateJobResponse(job=self.runtime.job_message(job), revision=revision)

    @unary
    async def GetJob(self, request, context):
        instance = current_instance().name
        revision = await self.runtime.flush(read=True)  # show only committed state
        message = self.runtime.job_message(self.runtime.job(instance, request.id))
        if request.view == job_pb2.JOB_VIEW_FULL:
            inputs = await asyncio.to_thread(self.runtime.job_inputs, instance, request.id)
            message.inputs.CopyFrom(inputs)
        elif request.view not in (job_pb2.JOB_VIEW_UNSPECIFIED, job_pb2.JOB_VIEW_BASIC):
            raise InvalidArgument(
                "view: use JOB_VIEW_BASIC or JOB_VIEW_FULL (with the inputs)",
                field="view",
                reason="FIELD_INVALID",
            )
        return job_pb2.GetJobResponse(job=message, revision=revision)

    @unary
    async def UpdateJob(self, request, context):
        self.runtime.check_writable()  # refused before anything changes
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
        job = self.runtime.update_job_tags(
            current_instance().name, request.job.id, list(request.job.tags)
        )
        await self.runtime.flush()  # acknowledged only once stored
        return job_pb2.UpdateJobResponse(job=self.runtime.job_message(job))

    @unary
    async def ListJobs(self, request, context):
        states = {convert.JOB_STATUSES.get(s) for s in request.states}
        if None in states:
            raise InvalidArgument(
                "states: use STATE_QUEUED, STATE_RUNNING, STATE_DONE, STATE_ERROR or "
                "STATE_CANCELLED",
                field="states",
                reason="FIELD_INVALID",
            )
        size = _page_size(request.page_size)
        where = JobFilter(
            session_id=request.session_id or None,
            backend=request.backend or None,
            states=tuple(sorted(s.value for s in states)),
            tags=tuple(request.tags),
            created_after=from_timestamp(request.created_after)
            if request.HasField("created_after")
            else None,
            created_before=from_timestamp(request.created_before)
            if request.HasField("created_before")
            else None,
        )
        revision = await self.runtime.flush(read=True)  # show only committed state, all of it:
        # a job whose result its creator already has is listed DONE (see RunJob)
        page = await self.runtime.list_jobs(
            current_instance().name,
            where,
            _job_page_start(request.page_token),
            size + 1,  # one more tells whether there is a next page
        )
        more = len(page) > size
        page = page[:size]
        return job_pb2.ListJobsResponse(
            jobs=[message for _, message in page],
            next_page_token=f"{JOB_TOKEN_PREFIX}{page[-1][0]}" if more else "",
            revision=revision,
        )

    @unary
    async def CancelJob(self, request, context):
        self.runtime.check_writable()  # refused before anything changes
        job = self.runtime.cancel_job(current_instance().name, request.id)
        await self.runtime.flush()  # acknowledged only once stored
        return job_pb2.CancelJobResponse(job=self.runtime.job_message(job))

    @streaming
    async def GetJobResult(self, request, context):
        async for chunk in self._result_chunks(current_instance().name, request.id, request.wait):
            yield chunk

    @streaming
    async def RunJob(self, request, context):
        self.runtime.check_writable()  # refused before anything changes
        instance = current_instance().name
        job, revision = await self.runtime.create_job(instance, request)
        yield job_pb2.RunJobResponse(
            created=job_pb2.CreateJobResponse(job=self.runtime.job_message(job), revision=revision)
        )
        # The job's creator gets its result as soon as it is DONE, while the DONE commits
        # (see Runtime.until_finished); a large result, or a job that failed, once committed.
        final = await self.runtime.until_finished(job.id)
        recent = None
        if final is not None and final.state == job_pb2.Job.STATE_DONE:
            recent = self.runtime.recent_result(job.id)
        if recent is not None:
            for chunk in self._chunks(*recent, final):
                yield job_pb2.RunJobResponse(result=chunk)
            return
        async for chunk in self._result_chunks(instance, job.id, wait=True):
            yield job_pb2.RunJobResponse(result=chunk)

    async def _result_chunks(
        self, instance: str, job_id: str, wait: bool
    ) -> AsyncIterator[job_pb2.GetJobResultResponse]:
        """A DONE job's result as GetJobResult streams it; with ``wait``, once it is DONE."""
        job = await self._until_final(instance, job_id) if wait else None
        recent = None
        if job is not None and job.state == job_pb2.Job.STATE_DONE:
            recent = self.runtime.recent_result(job_id)  # its DONE is published: stored
        if recent is None:
            await self.runtime.flush(read=True)  # a DONE's result is committed with the DONE
            recent = await asyncio.to_thread(self.runtime.result, instance, job_id)
        if job is None:
            job = self.runtime.job_message(self.runtime.job(instance, job_id))
        for chunk in self._chunks(*recent, job):
            yield chunk

    @staticmethod
    def _chunks(
        data: bytes, digest: str, job: job_pb2.Job
    ) -> Iterator[job_pb2.GetJobResultResponse]:
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

    async def _until_final(self, instance: str, job_id: str) -> job_pb2.Job:
        """Job ``job_id`` once it is DONE, ERROR or CANCELLED: the final state WatchJobs with
        ``until_final`` delivers (from its event, so a job just finished is not read back)."""
        request = job_pb2.WatchJobsRequest(job_ids=[job_id], until_final=True)
        async for response in self._watch_until_final(request, instance, id_field="id"):
            job = response.job
        return job

    @streaming
    async def WatchJobs(self, request, context):
        if request.until_final:
            async for response in self._watch_until_final(request, current_instance().name):
                yield response
            return
        after = request.after_revision if request.HasField("after_revision") else None
        subscription = self.runtime.subscribe(
            current_instance().name,
            after,
            "job",
            job_ids=tuple(request.job_ids),
            session_id=request.session_id or None,
            tags=tuple(request.tags),
        )
        async for event in _follow(subscription, progress=request.progress_notify):
            if event is None:
                yield job_pb2.WatchJobsResponse(
                    revision=self.runtime.events.last_revision,
                    time=to_timestamp(self.runtime.clock.now()),
                )
                continue
            yield self._watch_bytes(event)

    async def _watch_until_final(
        self, request, instance: str, id_field: str | None = None
    ) -> AsyncIterator[job_pb2.WatchJobsResponse]:
        """WatchJobs with ``until_final``: the events of ``job_ids`` until each is final.

        Every watched job is looked up first (an unknown id is NOT_FOUND before anything is
        sent). A job already final is sent once, first, as it is now, and none of its events
        follow; the others' events follow from ``after_revision`` (or from the newest committed
        revision, so that no change between the look-up and the subscription is missed) until
        each has sent a final state. Snapshots carry ``after_revision`` when it is set, else
        that newest revision, so revisions never go backwards on the stream. ``id_field``
        names the request field an unknown id came in (default ``job_ids[i]``).
        """
        if not request.job_ids:
            raise InvalidArgument(
                "job_ids: until_final needs the ids of the jobs to watch",
                field="job_ids",
                reason="FIELD_REQUIRED",
            )
        revision = await self.runtime.flush(read=True)
        pending: set[str] = set()
        final: list[Job] = []
        for i, job_id in enumerate(dict.fromkeys(request.job_ids)):
            try:
                job = self.runtime.job(instance, job_id)
            except NotFound:
                field = id_field or f"job_ids[{i}]"
                raise NotFound(
                    f"{field}: job {job_id!r} does not exist", field=field, reason="JOB_NOT_FOUND"
                ) from None
            if job.status.finished:
                final.append(job)
            else:
                pending.add(job_id)
        after = request.after_revision if request.HasField("after_revision") else revision
        now = to_timestamp(self.runtime.clock.now())
        for job in final:
            yield job_pb2.WatchJobsResponse(
                revision=after, job=self.runtime.job_message(job), time=now
            )
        if not pending:
            return
        subscription = self.runtime.subscribe(instance, after, "job", job_ids=tuple(pending))
        async for event in _follow(subscription, progress=request.progress_notify):
            if event is None:
                yield job_pb2.WatchJobsResponse(
                    revision=self.runtime.events.last_revision,
                    time=to_timestamp(self.runtime.clock.now()),
                )
                continue
            response = self._watch_response(event)
            if response.job.id not in pending:
                continue
            yield response
            if convert.JOB_STATUSES[response.job.state].finished:
                pending.discard(response.job.id)
                if not pending:
                    return

    def _watch_response(self, event) -> job_pb2.WatchJobsResponse:
        """The response for an event, built once and shared by every watcher it goes to."""
        return self._shared(event)[0]

    def _watch_bytes(self, event) -> bytes:
        """The response for an event, serialized once for every watcher it goes to (gRPC
        sends bytes a handler yields as they are: see ``parsing``)."""
        return self._shared(event)[1]

    def _shared(self, event) -> tuple[job_pb2.WatchJobsResponse, bytes]:
        shared = self._responses.get(event.revision)
        if shared is None:
            response = job_pb2.WatchJobsResponse(
                revision=event.revision,
                job=job_pb2.Job.FromString(event.payload),
                time=to_timestamp(event.time),
            )
            shared = self._responses[event.revision] = (response, response.SerializeToString())
            if len(self._responses) > SHARED_RESPONSES:
                self._responses.popitem(last=False)
        return shared


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
        return instance_pb2.GetInstanceResponse(
            instance=instance_pb2.Instance(
                name=instance.name,
                plan=instance.plan.name,
                usage_seconds=self.runtime.scheduler.instance_usage(instance.name),
            )
        )


async def _follow(subscription, progress: bool = False) -> AsyncIterator:
    """Yield a subscription's events as they arrive; end it when the client goes away.

    With ``progress``, also yield ``None`` (a progress notification) after every
    PROGRESS_INTERVAL seconds without an event: everything up to the log's newest revision
    was delivered then. A subscriber that fell behind its buffer is cut off with
    RESOURCE_EXHAUSTED; it can resume after the last revision it received.
    """
    arrived = asyncio.Event()
    subscription.notify = arrived.set
    try:
        while True:
            for event in subscription.drain():
                yield event
            if subscription.overflowed:
                raise ResourceExhausted(
                    "the watcher fell too far behind and was cut off; watch again with "
                    f"after_revision={subscription.last_revision} to resume without a gap",
                    reason="WATCHER_TOO_SLOW",
                )
            try:
                await asyncio.wait_for(arrived.wait(), PROGRESS_INTERVAL if progress else None)
            except TimeoutError:
                if subscription.caught_up:
                    yield None
            arrived.clear()
    finally:
        subscription.close()
