"""Sessions and batches: groups of jobs on one backend, opened on the server at construction.

As in qiskit-ibm-runtime, ``with Session(backend) as session:`` makes the session the default
mode of primitives built inside the block, and leaving the block closes the session (queued
jobs still run; nothing is cancelled).

A session or batch on one of IBM's fake backends (``Session(backend=FakeManilaV2())``) is one
of local testing mode (:mod:`qsession.local`): nothing is created on a server, and its jobs run
in this process.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from qsession.client.backend import QSessionBackend
from qsession.client.errors import IBMInputValueError, SessionClosedError
from qsession.client.times import iso
from qsession.local import is_local_backend
from qsession.v1 import session_pb2

if TYPE_CHECKING:
    from qiskit.providers import BackendV2

    from qsession.client.service import RuntimeService
    from qsession.fake_provider.local_service import QiskitRuntimeLocalService

_CURRENT: ContextVar[Session | None] = ContextVar("qsession_current_session", default=None)

_STATE_NAMES = {
    session_pb2.Session.STATE_OPEN: "open",
    session_pb2.Session.STATE_ACTIVE: "active",
    session_pb2.Session.STATE_INACTIVE: "inactive",
    session_pb2.Session.STATE_CLOSED: "closed",
}
_MODE_NAMES = {
    session_pb2.Session.MODE_DEDICATED: "dedicated",
    session_pb2.Session.MODE_BATCH: "batch",
}


def current_session() -> Session | None:
    """The session or batch of the innermost enclosing ``with`` block in this context, if any."""
    return _CURRENT.get()


def _seconds(value: float) -> int | float:
    """Whole seconds as ``int`` (as the IBM API reports them), else the float."""
    return int(value) if float(value).is_integer() else value


class Session:
    """A Qiskit Runtime session on a qsession backend: dedicated access to the QPU.

    The session is created on the server when the object is constructed; it starts (and its
    max TTL clock starts) when its first job starts running. Between jobs the QPU is held for
    the interactive TTL; then the session becomes inactive until its next job. It ends when
    closed and drained, cancelled, or when the max TTL is reached.

    Example::

        from qsession import QiskitRuntimeService, Session, SamplerV2 as Sampler

        service = QiskitRuntimeService()
        backend = service.least_busy(operational=True, simulator=False)
        with Session(backend=backend, max_time="25m") as session:
            sampler = Sampler()            # runs in ``session``
            job = sampler.run([isa_circuit])
            print(session.status())        # "In progress, accepting new jobs"
        print(job.result()[0].data.meas.get_counts())

    Args:
        backend: A backend from :class:`RuntimeService`, or one of IBM's fake backends
            (``qsession.fake_provider``: local testing mode).
        max_time: The max TTL: seconds (int) or a duration such as ``"25m"`` or
            ``"2h 30m 40s"``; ``None`` takes the instance plan's maximum.
        create_new: Create the session on the server (``False`` is used by :meth:`from_id`).

    The ``Session`` and ``Batch`` that :mod:`qsession` exports also take the old call shapes
    (a backend name, ``service=``, ``session.run(...)``): see :mod:`qsession.client.compat`.

    In local testing mode (``backend`` is one of IBM's fake backends, as in
    qiskit-ibm-runtime's local mode) the session exists only in this object: it has no id, no
    TTLs (``max_time`` is accepted and has no effect) and no server state, so
    :meth:`details`, :meth:`status` and :meth:`usage` return ``None``; its jobs run in this
    process (see :mod:`qsession.local`). :meth:`close` and :meth:`cancel` stop it accepting
    jobs; jobs already submitted still run.

    Raises:
        ValueError: ``backend`` is neither a qsession backend nor a fake backend.
        IBMInputValueError: ``max_time`` is unparseable or outside the plan's limits.
        IBMNotAuthorizedError: the instance's plan does not allow sessions (Open Plan).
    """

    _mode = session_pb2.Session.MODE_DEDICATED

    def __init__(
        self,
        backend: QSessionBackend,
        max_time: int | str | None = None,
        *,
        create_new: bool | None = True,
    ):
        self._local = is_local_backend(backend)
        if not self._local and not isinstance(backend, QSessionBackend):
            raise ValueError(  # noqa: TRY004 - qiskit-ibm-runtime raises ValueError here
                f"Invalid backend type {type(backend)}: use a backend from "
                "RuntimeService.backend(), backends() or least_busy(), or a fake backend "
                "(local testing mode)"
            )
        if max_time is not None and not isinstance(max_time, int | str):
            raise IBMInputValueError(
                f"max_time must be seconds (int) or a string like '2h 30m', got {max_time!r}"
            )
        self._backend: QSessionBackend | BackendV2 = backend
        self._service: RuntimeService | QiskitRuntimeLocalService
        if self._local:
            from qsession.fake_provider.local_service import QiskitRuntimeLocalService

            self._service = QiskitRuntimeLocalService()
        else:
            self._service = backend.service
            self._operations = backend._operations
        self._max_time = max_time
        self._active = True
        self._session_id: str | None = None
        self._entered = threading.local()  # per thread: the ContextVar tokens of open blocks
        if create_new and not self._local:
            self._session_id = self._operations.sessions.create(
                backend.name, self._mode, "" if max_time is None else str(max_time)
            ).id

    def __repr__(self) -> str:
        return f"<{type(self).__name__}('{self._session_id}', backend='{self._backend.name}')>"

    @property
    def session_id(self) -> str | None:
        """The session's id."""
        return self._session_id

    @property
    def service(self) -> RuntimeService | QiskitRuntimeLocalService:
        """The :class:`RuntimeService` the session belongs to (local testing mode: a
        :class:`~qsession.fake_provider.local_service.QiskitRuntimeLocalService`)."""
        return self._service

    def backend(self) -> str:
        """The name of the session's backend."""
        return self._backend.name

    def _fetch(self) -> session_pb2.Session:
        return self._operations.sessions.get(self._session_id)

    def details(self) -> dict[str, Any] | None:
        """The session's configuration and state, as qiskit-ibm-runtime returns them.

        Returns:
            ``None`` in local testing mode, else a dict with:

            * ``id``: the session id;
            * ``backend_name``: the backend;
            * ``interactive_timeout``: the interactive TTL in seconds (0 for batches);
            * ``max_time``: the max TTL in seconds;
            * ``active_timeout``: whole seconds left until the max TTL;
            * ``state``: ``"open"``, ``"active"``, ``"inactive"`` or ``"closed"``;
            * ``accepting_jobs``: whether new jobs may be submitted;
            * ``last_job_started`` / ``last_job_completed``: when its latest job started /
              finished (ISO 8601 UTC text, ``None`` before);
            * ``started_at``: when its first job started; ``closed_at``: when it closed;
              ``activated_at``: when it last became active (``None`` before);
            * ``mode``: ``"dedicated"`` or ``"batch"``;
            * ``usage_time``: usage in seconds (``None`` before the first job starts);
            * ``timestamps``: every state change, oldest first, as
              ``{"status": state, "timestamp": ISO text}``.
        """
        if self._local:
            return None
        message = self._fetch()
        return {
            "id": message.id,
            "backend_name": message.backend,
            "interactive_timeout": _seconds(message.interactive_ttl_seconds),
            "max_time": _seconds(message.max_ttl_seconds),
            "active_timeout": int(message.active_ttl_seconds),
            "state": _STATE_NAMES.get(message.state, "unknown"),
            "accepting_jobs": message.accepting_jobs,
            "last_job_started": iso(message.last_job_start_time),
            "last_job_completed": iso(message.last_job_end_time),
            "started_at": iso(message.start_time),
            "closed_at": iso(message.close_time),
            "activated_at": iso(message.activate_time),
            "mode": _MODE_NAMES.get(message.mode, "unknown"),
            "usage_time": _seconds(message.usage_seconds)
            if message.start_time.ByteSize()
            else None,
            "timestamps": [
                {"status": _STATE_NAMES.get(t.state, "unknown"), "timestamp": iso(t.time)}
                for t in message.transitions
            ],
        }

    def status(self) -> str | None:
        """The session's status, in the words of the IBM documentation.

        Returns:
            * ``None``: in local testing mode.
            * ``"Pending"``: created but not active (no job started yet, or inactive after the
              interactive TTL); its next job waits in the queue like any other.
            * ``"In progress, accepting new jobs"``: active and accepting new jobs.
            * ``"In progress, not accepting new jobs"``: active but closed to new jobs; it
              closes once its remaining jobs finish.
            * ``"Closed"``: its max TTL passed, or it was closed or cancelled and has ended.
        """
        if self._local:
            return None
        message = self._fetch()
        if message.state in (session_pb2.Session.STATE_OPEN, session_pb2.Session.STATE_INACTIVE):
            return "Pending"
        if message.state == session_pb2.Session.STATE_ACTIVE:
            if message.accepting_jobs:
                return "In progress, accepting new jobs"
            return "In progress, not accepting new jobs"
        return "Closed"

    def usage(self) -> float | None:
        """Usage in seconds, ``None`` before the first job starts (and in local testing mode).

        For a session: the time from its first job's start until it went inactive, closed, or
        its last job completed. For a batch: the QPU time of its jobs.
        """
        if self._local:
            return None
        message = self._fetch()
        return message.usage_seconds if message.start_time.ByteSize() else None

    def close(self) -> None:
        """Stop accepting new jobs; queued and running jobs still run to completion.

        The session ends as soon as its last job finishes.
        """
        self._active = False
        if self._session_id:
            self._operations.sessions.close(self._session_id)

    def cancel(self) -> None:
        """Cancel the session's queued jobs and close it; a running job completes."""
        self._active = False
        if self._session_id:
            self._operations.sessions.cancel(self._session_id)

    def _check_accepting(self) -> None:
        """Raise before submitting through a session this object closed or cancelled.

        Raises:
            SessionClosedError: the session was closed or cancelled here.
        """
        if not self._active:
            which = type(self).__name__.lower()
            if self._session_id:  # a local session has none
                which += f" {self._session_id}"
            raise SessionClosedError(
                f"The {which} is closed and does not accept new jobs; open a new one."
            )

    @classmethod
    def from_id(cls, session_id: str, service: RuntimeService) -> Session:
        """A ``Session`` (or ``Batch``) object for an existing session id.

        Args:
            session_id: The id, e.g. ``service.job(job_id).session_id``.
            service: The :class:`RuntimeService` of the instance that owns the session.

        Raises:
            SessionNotFoundError: no such session on this instance.
            IBMInputValueError: the id names a batch and ``cls`` is ``Session``, or the
                other way round.
        """
        message = service._operations.sessions.get(session_id)
        if message.mode != cls._mode:
            raise IBMInputValueError(
                f"Input ID {session_id} has execution mode {_MODE_NAMES.get(message.mode)} "
                f"instead of {_MODE_NAMES[cls._mode]}."
            )
        session = cls(service.backend(message.backend), create_new=False)
        session._session_id = session_id
        session._active = message.accepting_jobs
        return session

    def __enter__(self) -> Self:
        if not hasattr(self._entered, "tokens"):
            self._entered.tokens = []
        self._entered.tokens.append(_CURRENT.set(self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        _CURRENT.reset(self._entered.tokens.pop())
        self.close()


class Batch(Session):
    """A Qiskit Runtime batch: independent jobs that go through the normal queue together.

    A batch holds the QPU for no interactive TTL; its usage is its jobs' QPU time. Open it
    like a :class:`Session` (its constructor and methods are the same)::

        with Batch(backend=backend):
            sampler = SamplerV2()
            jobs = [sampler.run([circuit]) for circuit in isa_circuits]
    """

    _mode = session_pb2.Session.MODE_BATCH
