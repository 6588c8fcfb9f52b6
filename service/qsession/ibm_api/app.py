"""The IBM Quantum REST API front end: IBM's own client, unmodified, on qsession.

An aiohttp application on the server's own loop, as the Workloads page is. Like the gRPC
servicers it only translates: every call goes to the ``Runtime`` façade, so a job made here
is the same job over gRPC, on the page and in the CLI, and the other way round.

- ``POST /identity/token`` is IBM Cloud IAM's token endpoint: the API key is an instance
  token, the answer a signed JWT (``tokens.Tokens``). Failed keys count in the same
  per-address throttle as gRPC's and the page's (``server.auth.AuthFailures``).
- Everything else is IBM's ``/v1`` API, served under ``/api/v1`` and under
  ``/experimental/api/v1`` (IBM's client uses a URL containing "experimental" as its base as it
  is). Every call needs ``Authorization: Bearer <access token>``, and a ``Service-CRN`` header,
  when sent, must be the token's instance; otherwise 401. Another instance's ids answer 404,
  as unknown ones do.
- Errors are IBM's JSON, ``{"errors": [{"code", "message", "more_info"}], "trace",
  "status_code"}``, with a 4xx status naming the field at fault; never a 5xx for the client's
  input (IBM's client resubmits a ``POST /jobs`` answered 5xx).
- A status read of a job that is not final waits up to STATUS_WAIT seconds for it to end (it
  holds nothing of others: a watch of the caller's one job), so that a fast job's first poll
  already answers Completed (IBM's client polls every 0.1 s in a session, 0.5 s otherwise).

Parsing a job's parameters (QPY, arrays) happens off the loop, in the default thread pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from qsession.config import Limits
from qsession.ibm_api import backends, convert
from qsession.ibm_api.tokens import Claims, Tokens
from qsession.lifecycle.errors import (
    FailedPrecondition,
    InvalidArgument,
    LifecycleError,
    NotFound,
)
from qsession.runtime import Runtime, WorkloadFilter, list_workloads
from qsession.server.auth import AuthFailures, Instance, http_peer_key, token_hash
from qsession.server.connections import HttpConnections, HttpSite, http_status
from qsession.store.sqlite import JobFilter
from qsession.v1 import job_pb2
from qsession.wire.backends import decode_target
from qsession.wire.usage import ibm_usage

log = logging.getLogger("qsession.ibm_api")

PREFIXES = ("/api/v1", "/experimental/api/v1")
STATUS_WAIT = 0.5  # seconds a status read of an unfinished job may wait for its end
MAX_LIST = 100  # jobs in one page of GET /jobs
MAX_WORKLOADS = 50  # workloads in one page of GET /workloads (IBM's maximum)
ERROR_CODES = {400: "1234", 401: "1001", 403: "1002", 404: "1211", 405: "1005", 409: "1213"}
CLAIMS = web.RequestKey("claims", Claims)


@dataclass(frozen=True)
class Account:
    """An instance as the IBM API sees it: its name, plan and CRN."""

    instance: Instance
    crn: str


def error(status: int, message: str, field: str | None = None) -> web.Response:
    """IBM's error document."""
    body = {
        "errors": [
            {
                "code": ERROR_CODES.get(status, str(status)),
                "message": message,
                "more_info": field or "",
            }
        ],
        "trace": "",
        "status_code": status,
    }
    return web.json_response(body, status=status)


class IbmApi:
    """The running IBM REST API front end.

    Args:
        runtime: the application layer.
        accounts: each instance token's SHA-256 -> the account it authenticates.
        tokens: issues and checks access tokens.
        failures: the failed-authentication throttle shared with gRPC and the page.
        connections: the HTTP connection budget shared with the page.
        limits: the server's ``[limits]`` (the largest body, shots and PUBs per job).
    """

    def __init__(
        self,
        runtime: Runtime,
        accounts: Mapping[str, Account],
        tokens: Tokens,
        failures: AuthFailures,
        connections: HttpConnections,
        limits: Limits,
    ) -> None:
        self.runtime = runtime
        self.accounts = dict(accounts)
        self.by_name = {account.instance.name: account for account in accounts.values()}
        self.tokens = tokens
        self.failures = failures
        self.connections = connections
        self.limits = limits
        self.port = 0
        self._online = datetime.now(UTC)  # the backends' online_date: this server's start
        self._site: HttpSite | None = None
        self._configurations: dict[str, tuple[dict, dict]] = {}

    def application(self) -> web.Application:
        app = web.Application(
            middlewares=[self._guard], client_max_size=self.limits.max_request_bytes
        )
        app.router.add_post("/identity/token", self._token)
        for prefix in PREFIXES:
            add = app.router
            add.add_get(f"{prefix}/backends", self._backends)
            add.add_get(f"{prefix}/backends/{{name}}/configuration", self._configuration)
            add.add_get(f"{prefix}/backends/{{name}}/properties", self._properties)
            add.add_get(f"{prefix}/backends/{{name}}/status", self._status)
            add.add_get(f"{prefix}/backends/{{name}}/defaults", self._defaults)
            add.add_get(f"{prefix}/instances/usage", self._usage)
            add.add_post(f"{prefix}/sessions", self._create_session)
            add.add_get(f"{prefix}/sessions/{{id}}", self._session)
            add.add_patch(f"{prefix}/sessions/{{id}}", self._update_session)
            add.add_delete(f"{prefix}/sessions/{{id}}/close", self._cancel_session)
            add.add_post(f"{prefix}/jobs", self._create_job)
            add.add_get(f"{prefix}/jobs", self._jobs)
            add.add_get(f"{prefix}/jobs/{{id}}", self._job)
            add.add_get(f"{prefix}/jobs/{{id}}/results", self._results)
            add.add_post(f"{prefix}/jobs/{{id}}/cancel", self._cancel_job)
            add.add_delete(f"{prefix}/jobs/{{id}}", self._delete_job)
            add.add_get(f"{prefix}/jobs/{{id}}/metrics", self._metrics)
            add.add_get(f"{prefix}/jobs/{{id}}/logs", self._logs)
            add.add_put(f"{prefix}/jobs/{{id}}/tags", self._tags)
            add.add_get(f"{prefix}/workloads", self._workloads)
        return app

    async def start(self, listen: str) -> None:
        self._site = await HttpSite.start(self.application(), listen, self.connections)
        self.port = self._site.port

    async def stop(self) -> None:
        if self._site is not None:
            await self._site.stop()

    # ------------------------------------------------------------------------- guard

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        """Authenticates every call but the token exchange; maps errors to IBM's JSON."""
        self.connections.spoke(request.transport)
        try:
            if request.path != "/identity/token":
                refused = self._authenticate(request)
                if refused is not None:
                    return refused
            return await handler(request)
        except LifecycleError as exc:
            return error(http_status(exc), exc.message, exc.field)
        except web.HTTPException as exc:  # the router's 404 and 405, a body over the limit
            if exc.status < 400:
                raise
            return error(exc.status, f"{request.method} {request.path}: {exc.reason}")

    def _peer(self, request: web.Request) -> str:
        return http_peer_key(request.remote)

    def _authenticate(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        claims = self.tokens.check(header[7:].strip()) if header.startswith("Bearer ") else None
        account = None if claims is None else self.by_name.get(claims.instance)
        crn = request.headers.get("Service-CRN")
        if account is None or account.crn != claims.crn or (crn and crn != account.crn):
            key = self._peer(request)
            self.failures.failed(key, request.remote or "unknown", request.path, "bearer")
            return error(
                401,
                "the access token is missing, forged or expired, or Service-CRN is not its "
                "instance's: get one at POST /identity/token with an instance token as apikey",
            )
        request[CLAIMS] = claims
        return None

    def _account(self, request: web.Request) -> Account:
        return self.by_name[request[CLAIMS].instance]

    # ----------------------------------------------------------------------- identity

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        key = self._peer(request)
        if form.get("grant_type") != "urn:ibm:params:oauth:grant-type:apikey":
            return error(
                400, "grant_type: use urn:ibm:params:oauth:grant-type:apikey", "grant_type"
            )
        apikey = str(form.get("apikey") or "")
        digest = token_hash(apikey) if apikey else None
        wait = self.failures.retry_after(key)
        if wait is not None and not self.failures.trusted(key, digest):
            self.failures.refused(key, request.remote or "unknown", "/identity/token")
            return error(400, f"too many failed authentications; retry in {wait:.0f} s", "apikey")
        account = None if digest is None else self.accounts.get(digest)
        if account is None:
            self.failures.failed(key, request.remote or "unknown", "/identity/token", "apikey")
            return error(400, "apikey: not an API key of this server (an instance token)", "apikey")
        self.failures.succeeded(key, digest)
        return web.json_response(self.tokens.issue(account.instance.name, account.crn))

    # ------------------------------------------------------------------------ backends

    def _documents(self, name: str) -> tuple[dict, dict]:
        """A backend's configuration and properties (made once: a backend does not change)."""
        if name not in self._configurations:
            message = self.runtime.backend(name)
            target = decode_target(message)
            self._configurations[name] = (
                backends.configuration(
                    name,
                    target,
                    online_date=self._online,
                    max_shots=self.limits.max_shots_per_pub,
                    max_experiments=self.limits.max_pubs_per_job,
                ),
                backends.properties(name, target, last_update=self._online),
            )
        return self._configurations[name]

    async def _backends(self, request: web.Request) -> web.Response:
        queues = self.runtime.queue_lengths()
        devices = [
            backends.device(b.name, b.num_qubits, queue_length=queues.get(b.name, (0, False))[0])
            for b in self.runtime.backends()
        ]
        return web.json_response({"devices": devices})

    async def _configuration(self, request: web.Request) -> web.Response:
        _no_calibration_id(request)
        return web.json_response(self._documents(request.match_info["name"])[0])

    async def _properties(self, request: web.Request) -> web.Response:
        _no_calibration_id(request)
        return web.json_response(self._documents(request.match_info["name"])[1])

    async def _defaults(self, request: web.Request) -> web.Response:
        target = decode_target(self.runtime.backend(request.match_info["name"]))
        return web.json_response(backends.defaults(target))

    async def _status(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.runtime.backend(name)
        queued = self.runtime.queue_lengths().get(name, (0, False))[0]
        return web.json_response(backends.status(name, queue_length=queued))

    async def _usage(self, request: web.Request) -> web.Response:
        account = self._account(request)
        instance = account.instance
        message = self.runtime.instance_message(instance.name, instance.plan.name)
        return web.json_response(ibm_usage(message, account.crn))

    # ------------------------------------------------------------------------ sessions

    async def _create_session(self, request: web.Request) -> web.Response:
        body = await _json(request)
        account = self._account(request)
        mode = convert.MODES.get(body.get("mode", "dedicated"))
        if mode is None:
            raise InvalidArgument("mode: 'dedicated' or 'batch'", field="mode")
        backend = body.get("backend") or body.get("backend_name")
        if not isinstance(backend, str) or not backend:
            raise InvalidArgument("backend: the name of a backend", field="backend")
        max_ttl = body.get("max_ttl")
        if max_ttl is not None and (isinstance(max_ttl, bool) or not isinstance(max_ttl, int)):
            raise InvalidArgument("max_ttl: whole seconds", field="max_ttl")
        session = await self.runtime.create_session(
            account.instance.name,
            account.instance.plan,
            backend,
            mode,
            "" if max_ttl is None else f"{max_ttl}s",
        )
        return web.json_response(convert.session_json(session))

    async def _session(self, request: web.Request) -> web.Response:
        instance = self._account(request).instance.name
        session = await self.runtime.get_session(instance, request.match_info["id"])
        return web.json_response(convert.session_json(self.runtime.session_message(session)))

    async def _update_session(self, request: web.Request) -> web.Response:
        body = await _json(request)
        if body.get("accepting_jobs") is not False:
            raise InvalidArgument(
                'accepting_jobs: only {"accepting_jobs": false} (close the session) is supported',
                field="accepting_jobs",
            )
        instance = self._account(request).instance.name
        await self.runtime.close_session(instance, request.match_info["id"])
        return web.Response(status=204)

    async def _cancel_session(self, request: web.Request) -> web.Response:
        instance = self._account(request).instance.name
        await self.runtime.cancel_session(instance, request.match_info["id"])
        return web.Response(status=204)

    # ---------------------------------------------------------------------------- jobs

    async def _create_job(self, request: web.Request) -> web.Response:
        raw = await request.read()
        instance = self._account(request).instance.name
        create = await asyncio.to_thread(_create_job_request, raw, instance)
        job, _ = await self.runtime.create_job(instance, create)
        return web.json_response(
            {"id": job.id, "backend": job.backend, "session_id": job.session_id or None}
        )

    async def _job(self, request: web.Request) -> web.Response:
        instance = self._account(request).instance.name
        with_params = request.query.get("exclude_params", "").lower() != "true"
        job, _ = await self.runtime.get_job(instance, request.match_info["id"], with_params)
        if with_params and not job.options.private:  # job.inputs: the PUBs as submitted
            document = convert.job_json(job)
            document["params"] = await asyncio.to_thread(convert.params_json, job)
            return web.json_response(document)
        if job.state not in convert.FINAL:
            job = await self._final_soon(instance, job)
        return web.json_response(convert.job_json(job))

    async def _final_soon(self, instance: str, job: job_pb2.Job) -> job_pb2.Job:
        """The job once final, or as it is after STATUS_WAIT seconds."""
        latest = job

        async def follow() -> None:
            nonlocal latest
            async for update in self.runtime.watch_until_final(instance, [job.id]):
                latest = getattr(update, "job", latest)

        try:
            await asyncio.wait_for(follow(), STATUS_WAIT)
        except TimeoutError:
            pass
        return latest

    async def _results(self, request: web.Request) -> web.Response:
        instance = self._account(request).instance.name
        job, _ = await self.runtime.get_job(instance, request.match_info["id"])
        if job.state == job_pb2.Job.STATE_ERROR:  # IBM's client reads the error from here
            return web.Response(text=job.error_message, content_type="text/plain")
        if job.state != job_pb2.Job.STATE_DONE:
            raise FailedPrecondition(
                f"id: job {job.id} is {convert.JOB_STATUS[job.state]}; results exist once "
                "it is Completed",
                field="id",
                reason="JOB_NOT_DONE",
            )
        try:
            data, _, _ = await self.runtime.job_result(instance, job.id)
        except FailedPrecondition as exc:
            if job.options.private and exc.reason == "RESULT_MISSING":
                return web.Response(text="", content_type="text/plain")  # read once already
            raise
        text = await asyncio.to_thread(convert.results_text, job.program, data)
        return web.Response(text=text, content_type="text/plain")

    async def _cancel_job(self, request: web.Request) -> web.Response:
        instance = self._account(request).instance.name
        await self.runtime.cancel_job(instance, request.match_info["id"])
        return web.Response(status=204)

    async def _delete_job(self, request: web.Request) -> web.Response:
        instance = self._account(request).instance.name
        await self.runtime.delete_job(instance, request.match_info["id"])
        return web.Response(status=204)

    async def _metrics(self, request: web.Request) -> web.Response:
        instance = self._account(request).instance.name
        job, _ = await self.runtime.get_job(instance, request.match_info["id"])
        return web.json_response(convert.metrics_json(job))

    async def _logs(self, request: web.Request) -> web.Response:
        instance = self._account(request).instance.name
        job, _ = await self.runtime.get_job(instance, request.match_info["id"])
        return web.Response(text=convert.logs_text(job), content_type="text/plain")

    async def _tags(self, request: web.Request) -> web.Response:
        body = await _json(request)
        tags = body.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidArgument("tags: a list of strings", field="tags")
        instance = self._account(request).instance.name
        await self.runtime.update_job_tags(instance, request.match_info["id"], tags)
        return web.Response(status=204)

    async def _jobs(self, request: web.Request) -> web.Response:
        instance = self._account(request).instance.name
        query = request.query
        limit = _int(query.get("limit", "10"), "limit", 0, MAX_LIST)
        offset = _int(query.get("offset", "0"), "offset", 0, 1_000_000)
        pending = query.get("pending")
        states = ()
        if pending is not None:
            states = (
                ("QUEUED", "RUNNING")
                if pending.lower() == "true"
                else ("CANCELLED", "DONE", "ERROR")
            )
        where = JobFilter(
            session_id=query.get("session_id") or None,
            backend=query.get("backend") or None,
            states=states,
            tags=tuple(query.getall("tags", ())),
            created_after=_time(query.get("created_after"), "created_after"),
            created_before=_time(query.get("created_before"), "created_before"),
            program=query.get("program") or None,
        )
        count = await self.runtime.count_jobs(instance, where)
        oldest_first = query.get("sort", "").upper() == "ASC"
        last = min(count, offset + limit)  # the page is rows [offset, last) of the listing
        rows: list[job_pb2.Job] = []
        start = None
        while len(rows) < last:  # only as many rows as the page needs, a keyset page at a time
            page, _ = await self.runtime.list_jobs(
                instance, where, start, min(500, last), oldest_first=oldest_first
            )
            rows += [job for _, job in page]
            if len(page) < min(500, last):
                break
            start = page[-1][0]
        return web.json_response(
            {
                "jobs": [convert.job_json(job) for job in rows[offset:last]],
                "count": count,
                "offset": offset,
                "limit": limit,
            }
        )

    async def _workloads(self, request: web.Request) -> web.Response:
        """IBM's ``GET /workloads``: sessions, batches and job-mode jobs in one listing, as the
        Workloads page lists them. Its cursors (``next``, ``previous``) are offsets."""
        account = self._account(request)
        query = request.query
        limit = _int(query.get("limit", "10"), "limit", 1, MAX_WORKLOADS)
        offset = _int(query.get("next") or query.get("previous") or "0", "next", 0, 1_000_000)
        sort = query.get("sort", "-createdAt")
        if sort not in ("createdAt", "-createdAt"):
            raise InvalidArgument("sort: createdAt or -createdAt", field="sort")
        if query.get("user", "me") != "me":
            raise InvalidArgument('user: only "me"', field="user")
        if query.get("search"):
            raise InvalidArgument(
                "search: not supported by this server; filter by tags, status, mode or backend",
                field="search",
            )
        statuses: list[str] = []
        for status in query.getall("status", ()):
            if status not in convert.WORKLOAD_STATES:
                raise InvalidArgument(
                    f"status: one of {', '.join(convert.WORKLOAD_STATES)}", field="status"
                )
            statuses += convert.WORKLOAD_STATES[status]
        where = WorkloadFilter(
            statuses=tuple(statuses),
            modes=(query["mode"],) if query.get("mode") else (),
            backend=query.get("backend", ""),
            tags=tuple(query.getall("tags", ())),
            created_after=_time(query.get("created_after"), "created_after"),
            created_before=_time(query.get("created_before"), "created_before"),
        )
        page = await list_workloads(
            self.runtime,
            account.instance.name,
            where,
            offset,
            limit,
            oldest_first=sort == "createdAt",
            count=True,
        )
        base = f"{request.path}?limit={limit}&sort={sort}"
        document: dict[str, Any] = {
            "workloads": [
                convert.workload_json(row, account.instance.name) for row in page["rows"]
            ],
            "total_count": page["total"],
            "limit": limit,
        }
        if page["more"]:
            document["next"] = {"href": f"{base}&next={offset + limit}"}
        if offset:
            document["previous"] = {"href": f"{base}&previous={max(0, offset - limit)}"}
        return web.json_response(document)


def _no_calibration_id(request: web.Request) -> None:
    """An emulated backend has one calibration, its profile's: asking for another by id finds
    nothing (IBM's client then reports the backend not found)."""
    calibration = request.query.get("calibration_id")
    if calibration:
        raise NotFound(
            f"calibration_id: backend {request.match_info['name']!r} has no calibration "
            f"{calibration!r}; an emulated backend has only its profile's (omit calibration_id)",
            field="calibration_id",
            reason="BACKEND_NOT_FOUND",
        )


def _create_job_request(raw: bytes, instance: str) -> job_pb2.CreateJobRequest:
    return convert.create_job_request(*convert.parse_job_body(raw, instance))


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("body: a JSON object", field="body") from None
    if not isinstance(body, dict):
        raise InvalidArgument("body: a JSON object", field="body")
    return body


def _int(text: str, name: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgument(f"{name}: an integer, got {text!r}", field=name) from None
    if not low <= value <= high:
        raise InvalidArgument(f"{name}: from {low} to {high}, got {value}", field=name)
    return value


def _time(text: str | None, name: str) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidArgument(f"{name}: an ISO 8601 time, got {text!r}", field=name) from None


async def start_ibm_api(
    runtime: Runtime,
    accounts: Mapping[str, Account],
    tokens: Tokens,
    failures: AuthFailures,
    connections: HttpConnections,
    listen: str,
    limits: Limits,
) -> IbmApi:
    """Serve IBM's REST API on ``listen`` (``host:port``; port 0: any free one)."""
    api = IbmApi(runtime, accounts, tokens, failures, connections, limits)
    await api.start(listen)
    log.info("IBM Quantum REST API on http://%s:%d/api/v1", listen.rpartition(":")[0], api.port)
    return api
