"""One gRPC channel per service, its stubs, and calls that raise the SDK's exceptions.

gRPC channels and stubs are thread-safe, so one ``Connection`` serves every thread.

The SDK's retry policy lives here, in one place. A server restart shows up in a client as
calls failing with UNAVAILABLE and streams cut with UNAVAILABLE, CANCELLED or a transport
error for a few seconds. :meth:`Connection.call` makes such a call again, with exponential
backoff and jitter, for up to ``retry_timeout`` seconds, when making it twice has the effect
of making it once (:data:`IDEMPOTENT_METHODS`), or when the request provably never left this
process. Streams that must outlive a restart (a job's result wait, a watch) are resumed by
their owners (``job.py``, ``watch.py``) with the same :func:`is_transient` test and the same
:class:`Backoff`.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc

from qsession.client.errors import (
    IBMApiError,
    IBMInputValueError,
    ResourceNotFoundError,
    from_rpc_error,
)
from qsession.v1 import backend_pb2_grpc, instance_pb2_grpc, job_pb2_grpc, session_pb2_grpc

UNARY_TIMEOUT = 120.0
"""Seconds a unary call may take before it fails with DEADLINE_EXCEEDED."""

DOWNLOAD_TIMEOUT = 600.0
"""Seconds a finite stream (a job result's chunks) may take in all."""

DEFAULT_RETRY_TIMEOUT = 60.0
"""Seconds the SDK keeps retrying while the server is unreachable, unless configured."""

RETRY_TIMEOUT_ENV = "QSESSION_RETRY_TIMEOUT"
"""The environment variable that sets the retry timeout when ``RuntimeService`` is not given
one."""

FIRST_RETRY_DELAY = 0.1
"""Seconds before the first retry; each later delay doubles, up to :data:`MAX_RETRY_DELAY`."""

MAX_RETRY_DELAY = 2.0
"""The longest pause between two attempts: a server that is back is found this fast."""

IDEMPOTENT_METHODS = frozenset(
    {
        # reads
        "InstanceService.GetInstance",
        "BackendService.GetBackend",
        "BackendService.ListBackends",
        "SessionService.GetSession",
        "SessionService.ListSessions",
        "JobService.GetJob",
        "JobService.ListJobs",
        "JobService.GetJobResult",
        # mutations whose repetition changes nothing more than the first call did
        "JobService.UpdateJob",  # sets the tags to the list given
        "JobService.CancelJob",  # see below
        "JobService.DeleteJob",  # see below
        "SessionService.CloseSession",  # closing a closed session changes nothing
        "SessionService.CancelSession",  # cancelling a closed session changes nothing
    }
)
"""The RPCs :meth:`Connection.call` retries on any transient failure, as ``Service.Method``.

``JobService.CreateJob`` and ``JobService.RunJob`` are retried too when their request
carries a ``request_id`` (the SDK always sets one): the server answers a repeat with the job
the first call created.
``SessionService.CreateSession`` carries no such id, so it is retried only when the request
never reached the server (:func:`never_sent`): a repeat could open a second session.

``JobService.CancelJob`` is idempotent in effect: the job ends CANCELLED once. Its answer is
not: if the first attempt reached the server and ended a queued job, and only its answer was
lost, the repeat is refused with FAILED_PRECONDITION ("already finished (CANCELLED)"). That
rare, truthful error is preferred to failing every cancel made during a restart.
``JobService.DeleteJob`` likewise: a repeat after a lost answer finds no job (NOT_FOUND)."""

_TLS_SCHEMES = ("https://", "grpcs://")
_PLAIN_SCHEMES = ("http://", "grpc://")
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    # gRPC's own reconnection backoff grows to 2 minutes by default; a restarted server
    # should be found within seconds of coming back
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", int(MAX_RETRY_DELAY * 1000)),
    # Server-streaming calls (results, watches) are read on the calling thread; by default
    # gRPC starts a thread per such call, which costs more than a small result's download.
    # Cancelling from another thread still works (watch.close(), tests/e2e/test_sdk_watch).
    (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1),
]
_IDEMPOTENT_WITH_REQUEST_ID = frozenset({"JobService.CreateJob", "JobService.RunJob"})
# Words of the messages gRPC gives a call whose connection broke (rather than an answer of
# the server): lower case, matched anywhere in the details.
_TRANSPORT_WORDS = (
    "stream removed",
    "rst_stream",
    "goaway",
    "socket closed",
    "connection reset",
    "broken pipe",
    "transport",
    "stream closed",
    "endpoint closing",
    "cancelling all calls",
)
_NEVER_SENT_WORDS = ("failed to connect to all addresses",)

R = TypeVar("R")


def parse_url(url: str) -> tuple[str, bool]:
    """``(host:port, use_tls)`` for ``host:port``, ``https://host:port`` or ``grpcs://host:port``."""
    for scheme in _TLS_SCHEMES:
        if url.startswith(scheme):
            return url[len(scheme) :].rstrip("/"), True
    for scheme in _PLAIN_SCHEMES:
        if url.startswith(scheme):
            return url[len(scheme) :].rstrip("/"), False
    return url.rstrip("/"), False


def retry_timeout_setting(value: float | None) -> float:
    """The retry timeout to use: ``value``, else ``$QSESSION_RETRY_TIMEOUT``, else 60 s.

    Raises:
        IBMInputValueError: a negative value, or an environment value that is not a number.
    """
    if value is None:
        text = os.environ.get(RETRY_TIMEOUT_ENV, "").strip()
        if not text:
            return DEFAULT_RETRY_TIMEOUT
        try:
            value = float(text)
        except ValueError:
            raise IBMInputValueError(
                f"${RETRY_TIMEOUT_ENV} must be a number of seconds (0 disables retries), "
                f"got {text!r}"
            ) from None
    if not value >= 0:  # also refuses NaN
        raise IBMInputValueError(
            f"retry_timeout must be 0 or more seconds (0 disables retries), got {value!r}"
        )
    return float(value)


def is_transient(code: grpc.StatusCode | None, details: str | None) -> bool:
    """Whether a call that failed with ``code`` and ``details`` may succeed if made again.

    True for an unreachable server (UNAVAILABLE) and for a connection that broke under the
    call: CANCELLED or ABORTED (the server never sends either), and INTERNAL or UNKNOWN when
    the details are gRPC's words for a broken stream (``Stream removed``, ``RST_STREAM``...)
    rather than the server's own error. The caller must rule out its own cancellation.
    """
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED):
        return True
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        text = (details or "").lower()
        return any(word in text for word in _TRANSPORT_WORDS)
    return False


def never_sent(exc: grpc.RpcError) -> bool:
    """Whether a failed call provably never reached the server (no connection was made), so
    that even a call that is not idempotent may be made again."""
    text = (exc.details() or "").lower()
    return exc.code() == grpc.StatusCode.UNAVAILABLE and any(w in text for w in _NEVER_SENT_WORDS)


class Backoff:
    """The pauses between attempts: exponential with jitter, for a limited time.

    The first pause is about :data:`FIRST_RETRY_DELAY`, each next one about twice as long, at
    most :data:`MAX_RETRY_DELAY`; each is drawn between half and all of that, so that clients
    cut off by the same restart do not all come back in the same instant.

    Args:
        budget: Seconds of failed attempts in a row after which to give up, counted from the
            first failure (the creation of this object); 0 gives up at once.
        deadline: A ``time.monotonic()`` value no pause may go past (a caller's own timeout),
            or ``None``.
    """

    def __init__(self, budget: float, deadline: float | None = None):
        self.give_up_at = time.monotonic() + budget
        self.deadline = deadline
        self.attempts = 0
        self.started = time.monotonic()

    def sleep(self) -> bool:
        """Pause before the next attempt; ``False``, without a pause, once the budget is spent
        or the deadline has passed: then give up (:meth:`past_deadline` tells which).

        A pause that would pass the budget or the deadline is cut short at it, so that one
        last attempt is made then.
        """
        now = time.monotonic()
        if now >= self.give_up_at or self.past_deadline():
            return False
        ceiling = min(MAX_RETRY_DELAY, FIRST_RETRY_DELAY * 2 ** min(self.attempts, 16))
        self.attempts += 1
        pause = random.uniform(ceiling / 2, ceiling)
        end = min(now + pause, self.give_up_at)
        if self.deadline is not None:
            end = min(end, self.deadline)
        time.sleep(max(0.0, end - now))
        return True

    def past_deadline(self) -> bool:
        """Whether the caller's deadline has passed."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    @property
    def retried_for(self) -> float | None:
        """Seconds since the first failure, or ``None`` if no retry was made."""
        return time.monotonic() - self.started if self.attempts else None


class Connection:
    """A channel to one qsession server, authenticated as one instance.

    Args:
        url: The server address (see :func:`parse_url`).
        token: The instance's bearer token, sent as ``authorization: Bearer <token>``.
        tls: Force TLS on (``True``) or off (``False``); ``None`` follows the URL's scheme, or
            is on when ``ca_cert`` is given.
        ca_cert: A PEM file of root certificates to trust (e.g. a self-signed server's
            certificate); default ``$QSESSION_CA_CERT``, else the system's roots.
        retry_timeout: Seconds to keep retrying a call while the server is unreachable (see
            :meth:`call`); 0 disables retries.

    Attributes:
        retry_timeout: As given.
        reached: Whether the server has answered anything on this connection yet. Until it
            has, an unreachable server fails at once instead of being waited for: that is a
            wrong URL or a server that was never started, not a restart.
    """

    def __init__(
        self,
        url: str,
        token: str,
        tls: bool | None = None,
        ca_cert: str | os.PathLike | None = None,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
    ):
        self.url = url
        self.retry_timeout = retry_timeout
        self.reached = False
        self._closed = False
        target, scheme_tls = parse_url(url)
        ca_cert = ca_cert or os.environ.get("QSESSION_CA_CERT") or None
        use_tls = tls if tls is not None else (scheme_tls or ca_cert is not None)
        if use_tls:
            roots = Path(ca_cert).read_bytes() if ca_cert else None
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.secure_channel(target, credentials, options=_CHANNEL_OPTIONS)
        else:
            self._channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.backends = backend_pb2_grpc.BackendServiceStub(self._channel)
        self.sessions = session_pb2_grpc.SessionServiceStub(self._channel)
        self.jobs = job_pb2_grpc.JobServiceStub(self._channel)
        self.instances = instance_pb2_grpc.InstanceServiceStub(self._channel)
        # each stub method object -> "Service.Method", to look the retry policy up by name
        self._method_names: dict[int, str] = {}
        for service, stub in (
            ("BackendService", self.backends),
            ("SessionService", self.sessions),
            ("JobService", self.jobs),
            ("InstanceService", self.instances),
        ):
            for name, method in vars(stub).items():
                self._method_names[id(method)] = f"{service}.{name}"

    # ------------------------------------------------------------------ retry policy

    def is_idempotent(self, method: Callable[..., Any], request: Any) -> bool:
        """Whether making this call twice has the effect of making it once."""
        name = self._method_names.get(id(method), "")
        if name in _IDEMPOTENT_WITH_REQUEST_ID:
            return bool(getattr(request, "request_id", ""))
        return name in IDEMPOTENT_METHODS

    def backoff(self, deadline: float | None = None) -> Backoff:
        """A :class:`Backoff` for a failure that happened just now: it gives up after
        ``retry_timeout`` seconds, or at once while the server has never been reached."""
        return Backoff(self.retry_timeout if self.reached else 0.0, deadline)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: calls cut off by it are not made again."""
        return self._closed

    def may_retry(self, exc: grpc.RpcError) -> bool:
        """Whether a failure of a call this connection made is worth another attempt at all:
        it is transient, retries are on, and the channel is still open."""
        return (
            not self._closed and self.retry_timeout > 0 and is_transient(exc.code(), exc.details())
        )

    # ------------------------------------------------------------------ calls

    def call(
        self,
        method: Callable[..., R],
        request: Any,
        *,
        not_found: type[ResourceNotFoundError] = ResourceNotFoundError,
        timeout: float | None = UNARY_TIMEOUT,
        deadline: float | None = None,
    ) -> R:
        """Make a unary call, retrying transient failures of idempotent calls.

        An idempotent call (see :data:`IDEMPOTENT_METHODS`) that fails transiently (see
        :func:`is_transient`), and any call that never reached the server, is made again
        with backoff until it gets an answer, ``retry_timeout`` seconds have passed since
        its first failure, or the ``time.monotonic()`` value ``deadline`` (a caller's own
        timeout) has passed; each attempt may take ``timeout`` seconds.

        Raises:
            QSessionError: the subclass for the server's status (see ``errors``); an
                unreachable server raises :class:`IBMApiError` naming the URL.
        """
        backoff: Backoff | None = None
        while True:
            try:
                response = method(request, metadata=self.metadata, timeout=timeout)
            except grpc.RpcError as exc:
                retry = self.may_retry(exc) and (
                    self.is_idempotent(method, request) or never_sent(exc)
                )
                if retry:
                    backoff = backoff or self.backoff(deadline)
                    if backoff.sleep():
                        continue
                retried_for = backoff.retried_for if backoff else None
                raise self.error(exc, not_found, retried_for=retried_for) from None
            self.reached = True
            return response

    def stream(
        self, method: Callable[..., Any], request: Any, *, timeout: float | None = None
    ) -> Any:
        """Start a server-streaming call; iterate it, handing ``grpc.RpcError`` to :meth:`error`.

        No retries: the caller resumes the stream in its own way (see ``watch.py``).
        """
        return method(request, metadata=self.metadata, timeout=timeout)

    def iterate(
        self,
        method: Callable[..., Any],
        request: Any,
        *,
        not_found: type[ResourceNotFoundError] = ResourceNotFoundError,
        timeout: float | None = DOWNLOAD_TIMEOUT,
        retry: bool = True,
    ) -> Iterator[Any]:
        """The messages of a finite server stream, with errors mapped as in :meth:`call`.

        With ``retry``, a stream of an idempotent method that fails transiently before its
        first message is started again as :meth:`call` would; a failure after it is raised,
        since the messages already yielded cannot be taken back. ``retry=False`` suits a
        stream that may rightly wait long for its first message (a result wait): the caller
        decides what to do. Closing the iterator before the stream ends cancels the call.
        """
        backoff: Backoff | None = None
        while True:
            started = False
            call = self.stream(method, request, timeout=timeout)
            try:
                for message in call:
                    started = self.reached = True
                    yield message
                return
            except GeneratorExit:
                call.cancel()  # the caller stopped reading: free the stream now, not at GC
                raise
            except grpc.RpcError as exc:
                if retry and not started and self.may_retry(exc):
                    if self.is_idempotent(method, request) or never_sent(exc):
                        backoff = backoff or self.backoff()
                        if backoff.sleep():
                            continue
                retried_for = backoff.retried_for if backoff else None
                raise self.error(exc, not_found, retried_for=retried_for) from None

    def error(
        self,
        exc: grpc.RpcError,
        not_found: type[ResourceNotFoundError] = ResourceNotFoundError,
        *,
        retried_for: float | None = None,
    ) -> Exception:
        """The SDK exception for a failed call (``retried_for``: seconds spent retrying)."""
        code = exc.code()
        if not is_transient(code, exc.details()):
            self.reached = True  # the server answered, if only with an error
        if code == grpc.StatusCode.UNAVAILABLE:
            retried = f" (retried for {retried_for:.1f} s)" if retried_for else ""
            return IBMApiError(
                f"cannot reach the qsession server at {self.url}{retried}: {exc.details()} "
                "(is it running? `make serve` starts a local one)",
                code=code,
            )
        return from_rpc_error(exc, not_found)

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled and no longer retried."""
        self._closed = True
        self._channel.close()
