"""RuntimeService: the entry point, like qiskit-ibm-runtime's ``QiskitRuntimeService``."""

from __future__ import annotations

import itertools
import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Literal

import grpc

from qsession.client import accounts
from qsession.client.backend import QSessionBackend
from qsession.client.connection import Connection, retry_timeout_setting
from qsession.client.errors import (
    BackendNotFoundError,
    IBMApiError,
    IBMInputValueError,
    QSessionError,
)
from qsession.client.job import HeldResult, RuntimeJobV2
from qsession.client.operations import Operations
from qsession.client.primitives import SamplerV2
from qsession.client.watch import JobWatch
from qsession.config import crn_of
from qsession.v1 import backend_pb2, instance_pb2, job_pb2, types_pb2
from qsession.wire import circuit_digest, to_timestamp
from qsession.wire.backends import fractional_gates
from qsession.wire.usage import ibm_usage

_PENDING = (job_pb2.Job.STATE_QUEUED, job_pb2.Job.STATE_RUNNING)
_FINISHED = (job_pb2.Job.STATE_DONE, job_pb2.Job.STATE_ERROR, job_pb2.Job.STATE_CANCELLED)
_FILTERABLE = (
    "backend_name",
    "num_qubits",
    "operational",
    "simulator",
    "noisy",
    "pending_jobs",
    "profile",
    "status_msg",
)
_MAX_PAGE = 1000
_PROGRAMS = {
    "sampler": job_pb2.PROGRAM_SAMPLER,
    "estimator": job_pb2.PROGRAM_ESTIMATOR,
    "executor": job_pb2.PROGRAM_EXECUTOR,
}
CHANNELS = ("ibm_quantum_platform", "ibm_cloud", "local")
"""qiskit-ibm-runtime's channels. A qsession server serves the first two alike (the account's
URL says where it is); ``"local"`` is local testing mode (:mod:`qsession.local`)."""
ChannelType = Literal["ibm_quantum_platform", "ibm_cloud", "local"]
log = logging.getLogger(__name__)
_REMEMBERED_CIRCUITS = 256  # per session: fewer than the server keeps
HELD_RESULT_STREAMS = 16
"""How many jobs of one service may hold their RunJob stream open for ``result()`` at once
(each counts against the instance's ``max_streams_per_instance``); a job submitted beyond
that is created with CreateJob and its result fetched with GetJobResult."""


def _pubs_of(request: job_pb2.CreateJobRequest):
    """The request's PUB messages (Sampler or Estimator)."""
    return request.sampler_pubs or request.estimator_pubs


class RuntimeService:
    """Access to a qsession server: backends, jobs and their events.

    The account is looked up in this order: the ``url`` and ``token`` arguments;
    ``$QSESSION_URL`` and ``$QSESSION_TOKEN``; the saved account ``name`` (or the saved
    default account, see :meth:`save_account`); the local server's dev account that
    ``make serve`` writes to ``~/.qsession/dev-account.json`` (``$QSESSION_HOME`` moves it).
    So with a local server running, ``RuntimeService()`` needs no arguments::

        from qsession import QiskitRuntimeService
        service = QiskitRuntimeService()
        backend = service.least_busy(operational=True, simulator=False)

    One service holds one gRPC channel, which every thread may share.

    Args:
        url: The server, ``host:port`` (plaintext) or ``https://host:port`` (TLS).
        token: The instance's token.
        name: A saved account's name.
        filename: The saved accounts file (default ``~/.qsession/accounts.json``).
        channel: qiskit-ibm-runtime's channel: ``"ibm_quantum_platform"`` (the default) and
            ``"ibm_cloud"`` are the same server; ``"local"`` makes a
            :class:`~qsession.fake_provider.local_service.QiskitRuntimeLocalService` instead
            (local testing mode: no server, the other arguments are ignored, as IBM's
            client does).
        instance: The instance to use, by name or CRN (``crn:v1:qsession:...:<name>::``): it
            must be the token's own, the only one an account has (checked now).
        tls: Connect with TLS even for a ``host:port`` URL (``https://`` URLs always do).
        ca_cert: A PEM file of root certificates to trust, for a server with a self-signed
            certificate (default ``$QSESSION_CA_CERT``, else the system's roots).
        retry_timeout: Seconds to ride out an unreachable server (a restart) before failing
            (default ``$QSESSION_RETRY_TIMEOUT``, else 60; 0 disables retries). Reads,
            submissions (each carries a request id, so a repeat returns the first job),
            cancels, tag updates and closing or cancelling sessions are retried with
            exponential backoff and jitter; creating a session is retried only when the
            request never left this process. ``job.result()`` and ``watch_jobs()`` resume
            across restarts. A server that this service has not reached yet is not waited
            for: a wrong URL or a server that is not running fails at once.

    Raises:
        IBMAccountError: no source provides both a URL and a token, or ``name`` is not saved.
        IBMInputValueError: a negative ``retry_timeout``, or a ``$QSESSION_RETRY_TIMEOUT``
            that is not a number; an unknown ``channel``; an ``instance`` that is not the
            token's.
    """

    def __new__(cls, *args: Any, channel: ChannelType | None = None, **kwargs: Any) -> Any:
        """``channel="local"``: local testing mode's service, as IBM's client makes it."""
        if channel == "local":
            from qsession.fake_provider.local_service import QiskitRuntimeLocalService

            return QiskitRuntimeLocalService()
        return super().__new__(cls)

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        name: str | None = None,
        filename: str | os.PathLike | None = None,
        *,
        channel: ChannelType | None = None,
        instance: str | None = None,
        tls: bool | None = None,
        ca_cert: str | os.PathLike | None = None,
        retry_timeout: float | None = None,
    ):
        if channel is not None and channel not in CHANNELS:
            raise IBMInputValueError(f"channel {channel!r}: use one of {list(CHANNELS)}")
        self._channel: str = channel or CHANNELS[0]
        self._account = accounts.resolve_account(url=url, token=token, name=name, filename=filename)
        self._connection = Connection(
            self._account.url,
            self._account.token,
            tls=tls,
            ca_cert=ca_cert,
            retry_timeout=retry_timeout_setting(retry_timeout),
        )
        self._operations = Operations(self._connection)
        # one object per (name, use_fractional_gates)
        self._backends: dict[tuple[str, bool | None], QSessionBackend] = {}
        self._lock = threading.Lock()
        # per session id ("" in job mode): the SHA-256 of circuits the server accepted
        self._sent_circuits: dict[str, OrderedDict[str, None]] = {}
        self._held_streams = threading.BoundedSemaphore(HELD_RESULT_STREAMS)
        self._run_job = True  # False once the server answered RunJob with UNIMPLEMENTED
        self._instance_name: str | None = None
        if instance is not None:
            self._check_instance(instance)

    def __repr__(self) -> str:
        return f"<RuntimeService(url='{self._account.url}')>"

    # ------------------------------------------------------------------ accounts

    @staticmethod
    def save_account(
        token: str | None = None,
        url: str | None = None,
        name: str | None = None,
        overwrite: bool | None = False,
        set_as_default: bool | None = None,
        filename: str | os.PathLike | None = None,
    ) -> None:
        """Save an account for ``RuntimeService()`` to find (file mode 0600).

        Args:
            token: The instance's token.
            url: The server, ``host:port`` or ``https://host:port``.
            name: The account's name (default ``"default"``, the default account).
            overwrite: Replace an account saved under the same name.
            set_as_default: Make this the account ``RuntimeService()`` uses.
            filename: The accounts file (default ``~/.qsession/accounts.json``).

        Raises:
            AccountAlreadyExistsError: ``name`` is saved already and ``overwrite`` is false.
        """
        accounts.save_account(
            url=url or "",
            token=token or "",
            name=name,
            overwrite=bool(overwrite),
            set_as_default=set_as_default,
            filename=filename,
        )

    @staticmethod
    def saved_accounts(
        default: bool | None = None,
        name: str | None = None,
        filename: str | os.PathLike | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The saved accounts by name; ``default=True`` keeps the default one, ``name`` one."""
        saved = accounts.read_accounts(filename)
        if name is not None:
            saved = {k: v for k, v in saved.items() if k == name}
        if default:
            chosen = accounts.default_account_name(saved)
            saved = {chosen: saved[chosen]} if chosen else {}
        return saved

    @staticmethod
    def delete_account(name: str | None = None, filename: str | os.PathLike | None = None) -> bool:
        """Delete a saved account (default name ``"default"``); False when none was saved."""
        return accounts.delete_account(name=name, filename=filename)

    def active_account(self) -> dict[str, str]:
        """The account in use: ``{"channel", "url", "token", "source"}``."""
        return {
            "channel": self._channel,
            "url": self._account.url,
            "token": self._account.token,
            "source": self._account.source,
        }

    @property
    def channel(self) -> str:
        """The channel the service was made with (``"ibm_quantum_platform"`` by default)."""
        return self._channel

    # ------------------------------------------------------------------ instance

    def _instance(self) -> instance_pb2.Instance:
        return self._operations.instance.get()

    def instances(self) -> list[dict[str, Any]]:
        """The instances this account can use: its token's own instance, the only one.

        Returns:
            ``[{"crn": name, "name": name, "plan": plan}]``, in qiskit-ibm-runtime's shape. The
            instance's name stands in for IBM Cloud's CRN: it is the id ``backends(instance=)``
            takes.
        """
        instance = self._instance()
        return [{"crn": instance.name, "name": instance.name, "plan": instance.plan}]

    def active_instance(self) -> str:
        """The name of the instance this account's token belongs to."""
        if self._instance_name is None:
            self._instance_name = self._instance().name
        return self._instance_name

    def _check_instance(self, instance: str) -> None:
        """Raise unless ``instance`` names the account's instance (by name or CRN).

        Raises:
            IBMInputValueError: it names another.
        """
        own = self.active_instance()
        if instance not in (own, crn_of(own)):
            raise IBMInputValueError(
                f"instance {instance!r} is not available to this account; its instance is "
                f"{own!r} (see instances())"
            )

    def usage(self) -> dict[str, Any]:
        """The instance's usage, with the keys of qiskit-ibm-runtime's ``usage()``.

        Returns:
            IBM's keys: ``instance_id``, ``plan_id``, ``usage_consumed_seconds`` (modelled QPU
            seconds over the server's window, 28 days by default), ``usage_allocation_seconds``,
            ``usage_limit_seconds`` (absent without a limit, as IBM), ``usage_limit_reached``,
            ``usage_remaining_seconds`` and ``usage_period``, in whole seconds as IBM gives
            them; and ``instance``, ``plan`` (qsession's names).
        """
        instance = self._instance()
        usage = ibm_usage(instance, instance.name)
        return {"instance": instance.name, "plan": instance.plan, **usage}

    # ------------------------------------------------------------------ backends

    def _backend_object(
        self, message: backend_pb2.Backend, use_fractional_gates: bool | None = None
    ) -> QSessionBackend:
        """The cached backend for ``message`` (one object per name and
        ``use_fractional_gates``), with fresh status."""
        key = (message.name, use_fractional_gates)
        with self._lock:
            backend = self._backends.get(key)
            if backend is None:
                backend = self._backends[key] = QSessionBackend(
                    message, self, self._operations, SamplerV2, use_fractional_gates
                )
            else:
                backend._message = message
            return backend

    def backend(
        self,
        name: str,
        instance: str | None = None,
        use_fractional_gates: bool | None = None,
        calibration_id: str | None = None,
    ) -> QSessionBackend:
        """The backend called ``name``.

        Args:
            name: The backend's name.
            instance: The instance to use it with: only the account's own (see
                :meth:`instances`).
            use_fractional_gates: ``True``: the device's Target as is, which must have
                fractional gates (gates with an angle that take time on the device, e.g. ``rx``,
                ``rzz``; qiskit-ibm-runtime's definition); ``False``: its Target without them;
                ``None`` (qsession's default; IBM's is ``False``): the Target as is.
            calibration_id: A calibration of the device. An emulated device has one, its
                profile's snapshot, with no id: any id is not found.

        Raises:
            BackendNotFoundError: the server has no such backend, or ``calibration_id`` is
                given (also a ``QiskitBackendNotFoundError``).
            IBMInputValueError: ``use_fractional_gates=True`` for a device without fractional
                gates, or an ``instance`` that is not the account's.
        """
        if instance is not None:
            self._check_instance(instance)
        if calibration_id is not None:
            log.warning(
                "Backend %s has no calibration %r: an emulated device has one calibration, "
                "its profile's snapshot",
                name,
                calibration_id,
            )
            raise BackendNotFoundError(f"No calibration {calibration_id!r} of backend {name!r}.")
        with self._lock:
            cached = self._backends.get((name, use_fractional_gates))
        if cached is not None:
            return cached
        message = self._operations.backends.get(name)
        if use_fractional_gates and not fractional_gates(message):
            raise IBMInputValueError(
                f"Backend '{name}' does not support fractional gates, but use_fractional_gates "
                "was set to True."
            )
        return self._backend_object(message, use_fractional_gates)

    def backends(
        self,
        name: str | None = None,
        min_num_qubits: int | None = None,
        instance: str | None = None,
        dynamic_circuits: bool | None = None,
        filters: Callable[[QSessionBackend], bool] | None = None,
        *,
        include_mocks: bool = False,
        **kwargs: Any,
    ) -> list[QSessionBackend]:
        """The server's backends, in configuration order, optionally filtered.

        Args:
            name: Only the backend with this name.
            min_num_qubits: Only backends with at least this many qubits.
            instance: The instance whose backends to list; every backend serves the account's
                own instance, the only one it may name (see :meth:`instances`).
            dynamic_circuits: Only backends that do (``True``) or do not (``False``) run
                dynamic circuits (``if_else`` and other control flow in their Target).
            filters: A predicate on backends, e.g. ``lambda b: b.status().pending_jobs < 5``.
            include_mocks: qiskit-ibm-runtime's mock (dry-run) devices; qsession has none, so
                it changes nothing.
            **kwargs: Attribute filters: ``operational``, ``simulator``, ``noisy``,
                ``num_qubits``, ``pending_jobs``, ``profile``, ``status_msg``, ``backend_name``.

        Raises:
            IBMInputValueError: an unknown attribute filter, or an instance that is not the
                account's.
        """
        unknown = set(kwargs) - set(_FILTERABLE)
        if unknown:
            raise IBMInputValueError(
                f"cannot filter backends by {sorted(unknown)}; use {list(_FILTERABLE)}"
            )
        if instance is not None:
            self._check_instance(instance)
        messages = self._operations.backends.list()
        selected = []
        for message in messages:
            attributes = {
                "backend_name": message.name,
                "num_qubits": message.num_qubits,
                "operational": message.operational,
                "simulator": message.simulator,
                "noisy": message.noisy,
                "pending_jobs": message.pending_jobs,
                "profile": message.profile,
                "status_msg": message.status_message,
            }
            if name is not None and message.name != name:
                continue
            if min_num_qubits is not None and message.num_qubits < min_num_qubits:
                continue
            if any(attributes[key] != value for key, value in kwargs.items()):
                continue
            selected.append(self._backend_object(message))
        if dynamic_circuits is not None:
            selected = [
                backend
                for backend in selected
                if ("if_else" in backend.target.operation_names) == dynamic_circuits
            ]
        if filters is not None:
            selected = [backend for backend in selected if filters(backend)]
        return selected

    def least_busy(
        self,
        min_num_qubits: int | None = None,
        filters: Callable[[QSessionBackend], bool] | None = None,
        **kwargs: Any,
    ) -> QSessionBackend:
        """The operational backend with the fewest pending jobs (first configured on a tie).

        Takes the same filters as :meth:`backends`, e.g.
        ``least_busy(operational=True, simulator=False, min_num_qubits=100)``.

        Raises:
            BackendNotFoundError: no operational backend matches.
        """
        kwargs.setdefault("operational", True)
        candidates = self.backends(min_num_qubits=min_num_qubits, filters=filters, **kwargs)
        if not candidates:
            raise BackendNotFoundError("No backend matches the criteria.")
        return min(candidates, key=lambda backend: backend._message.pending_jobs)

    # ------------------------------------------------------------------ jobs

    def _job_from_message(self, message: job_pb2.Job) -> RuntimeJobV2:
        return RuntimeJobV2(message, self, self._operations)

    def _create_job(self, request: job_pb2.CreateJobRequest) -> RuntimeJobV2:
        """Submit a job with a fresh request id, which every attempt carries.

        While the server is unreachable the connection retries the submission (see
        ``connection.IDEMPOTENT_METHODS``); the server answers a repeat of a request id it
        has seen with the job the first attempt created, so a submission whose answer was
        lost in a restart creates one job, not two.

        A circuit the server already holds for the job's session (in job mode, the instance)
        is sent by its SHA-256 instead of whole; if the server no longer holds one, the job is
        sent again with every circuit whole.
        """
        request.request_id = str(uuid.uuid4())
        scope = request.session_id
        whole = [pub.circuit.SerializeToString() for pub in _pubs_of(request)]
        digests = [circuit_digest(data) for data in whole]
        with self._lock:
            sent = self._sent_circuits.setdefault(scope, OrderedDict())
            for pub, digest in zip(_pubs_of(request), digests, strict=True):
                if digest in sent:
                    pub.circuit.CopyFrom(types_pb2.Circuit(sha256=digest))
        try:
            response, held = self._send_job(request)
        except QSessionError as exc:
            if exc.reason != "CIRCUIT_NOT_CACHED":
                raise
            for pub, data in zip(_pubs_of(request), whole, strict=True):
                pub.circuit.ParseFromString(data)  # the server forgot them: send them whole
            with self._lock:
                self._sent_circuits[scope].clear()
            response, held = self._send_job(request)
        with self._lock:
            sent = self._sent_circuits.setdefault(scope, OrderedDict())
            for digest in digests:
                sent[digest] = None
                sent.move_to_end(digest)
            while len(sent) > _REMEMBERED_CIRCUITS:
                sent.popitem(last=False)
        return RuntimeJobV2(response.job, self, self._operations, response.revision, held)

    def _send_job(
        self, request: job_pb2.CreateJobRequest
    ) -> tuple[job_pb2.CreateJobResponse, HeldResult | None]:
        """Submit the job, retried by the connection for as long as its retry timeout allows.

        With RunJob: the job's result arrives on the same stream, which the job holds for
        ``result()`` (one call per job instead of two, see the contract). With CreateJob when
        :data:`HELD_RESULT_STREAMS` jobs already hold theirs, when the server refuses RunJob
        with RESOURCE_EXHAUSTED (the instance has its ``max_streams_per_instance`` open; any
        other limit refuses CreateJob just the same), or when the server predates RunJob.
        """
        jobs = self._operations.jobs
        if not (self._run_job and self._held_streams.acquire(blocking=False)):
            return jobs.create(request), None
        stream = jobs.run(request)
        try:
            first = next(stream)
        except StopIteration:
            self._held_streams.release()
            raise IBMApiError("RunJob ended without acknowledging the job; retry") from None
        except QSessionError as exc:
            self._held_streams.release()
            if exc.code == grpc.StatusCode.UNIMPLEMENTED:
                self._run_job = False  # an older server: submit as before
            elif exc.code != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            return jobs.create(request), None
        except BaseException:
            self._held_streams.release()
            raise
        return first.created, HeldResult(stream, self._held_streams.release)

    def job(self, job_id: str) -> RuntimeJobV2:
        """The job with this id.

        Raises:
            RuntimeJobNotFound: no such job on this instance.
        """
        return self._job_from_message(self._operations.jobs.get(job_id).job)

    def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        backend_name: str | None = None,
        pending: bool | None = None,
        program_id: str | None = None,
        instance: str | None = None,
        job_tags: list[str] | None = None,
        session_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        descending: bool = True,
        *,
        tags: list[str] | None = None,
    ) -> list[RuntimeJobV2]:
        """The instance's jobs, newest first (oldest first with ``descending=False``),
        following the server's pages.

        Args:
            limit: At most this many jobs; ``None`` for all.
            skip: Leave out this many of the first matching jobs.
            backend_name: Only jobs on this backend.
            pending: ``True``: only QUEUED and RUNNING jobs; ``False``: only DONE, ERROR and
                CANCELLED ones.
            program_id: Only ``"sampler"`` or only ``"estimator"`` jobs.
            instance: The instance whose jobs to list: only the account's own (see
                :meth:`instances`).
            job_tags: Only jobs that carry all of these tags (``tags`` is the same filter).
            session_id: Only jobs of this session or batch.
            created_after: Only jobs created at or after this time (naive: local time).
            created_before: Only jobs created before this time (naive: local time).
            descending: Newest first (the default) or oldest first.

        Raises:
            IBMInputValueError: a negative limit or skip, both ``job_tags`` and ``tags``, tags
                that are not a list of strings, an unknown ``program_id``, or an ``instance``
                that is not the account's.
        """
        if (limit is not None and limit < 0) or skip < 0:
            raise IBMInputValueError("limit and skip must not be negative")
        if job_tags is not None and tags is not None:
            raise IBMInputValueError("give job_tags or tags, not both")
        wanted_tags = job_tags if job_tags is not None else tags
        if wanted_tags is not None and (
            isinstance(wanted_tags, str) or not all(isinstance(tag, str) for tag in wanted_tags)
        ):
            raise IBMInputValueError(f"job_tags must be a list of strings, got {wanted_tags!r}")
        if program_id is not None and program_id not in _PROGRAMS:
            raise IBMInputValueError(f"program_id {program_id!r}: use one of {list(_PROGRAMS)}")
        if instance is not None:
            self._check_instance(instance)
        end = None if limit is None else skip + limit
        request = job_pb2.ListJobsRequest(
            session_id=session_id or "",
            tags=wanted_tags or [],
            backend=backend_name or "",
            states=[] if pending is None else (_PENDING if pending else _FINISHED),
            program=_PROGRAMS.get(program_id or "", job_pb2.PROGRAM_UNSPECIFIED),
            order_by="create_time desc" if descending else "create_time asc",
            page_size=_MAX_PAGE if end is None else min(_MAX_PAGE, end),
        )
        if created_after is not None:
            request.created_after.CopyFrom(to_timestamp(created_after.timestamp()))
        if created_before is not None:
            request.created_before.CopyFrom(to_timestamp(created_before.timestamp()))
        matching = itertools.islice(self._job_pages(request), skip, end)
        return [self._job_from_message(message) for message in matching]

    def delete_job(self, job_id: str) -> None:
        """Delete a job and its result; this cannot be undone. An unfinished job is cancelled
        first (a running one is stopped), then deleted.

        Raises:
            RuntimeJobNotFound: no such job on this instance.
        """
        self._operations.jobs.delete(job_id)

    def _job_pages(self, request: job_pb2.ListJobsRequest) -> Iterator[job_pb2.Job]:
        """The jobs of ListJobs' pages in the request's order, a page read when the last is
        used up."""
        while True:
            response = self._operations.jobs.list(request)
            yield from response.jobs
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    def watch_jobs(
        self,
        session_id: str | None = None,
        job_ids: list[str] | None = None,
        tags: list[str] | None = None,
        after_revision: int | None = None,
    ) -> JobWatch:
        """Follow job state changes as they happen.

        Example::

            with service.watch_jobs(session_id=session.session_id) as events:
                for event in events:
                    print(event.revision, event.job_id, event.status, event.timestamp)
                    if event.status == "DONE":
                        break

        Args:
            session_id: Only jobs of this session or batch.
            job_ids: Only these jobs.
            tags: Only jobs that carry all of these tags.
            after_revision: ``None``: changes from now on; ``0``: from the oldest event the
                server retains; ``n``: the changes after revision ``n`` (to resume a watch).

        Returns:
            A :class:`JobWatch`: an iterator of :class:`JobEvent` (``revision``, ``job_id``,
            ``session_id``, ``status``, ``timestamp``, ``tags``, ``job``) that blocks for the
            next event, and a context manager that ends the stream.

        Raises:
            IBMInputValueError: (while iterating) ``after_revision`` is no longer retained.
        """
        request = job_pb2.WatchJobsRequest(
            session_id=session_id or "", job_ids=job_ids or [], tags=tags or []
        )
        if after_revision is not None:
            request.after_revision = after_revision
        return JobWatch(self._operations.jobs, self._job_from_message, request)

    def close(self) -> None:
        """Close the service's channel; objects made from it stop working."""
        self._connection.close()
