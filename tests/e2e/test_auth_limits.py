"""Issue 12, failed authentication: logged at a bounded rate without the token, and throttled
per peer address.

The server runs in-process with ``auth_failures_per_minute = 20``. A burst of wrong tokens from
127.0.0.1 writes one WARNING naming the peer and the token's SHA-256 prefix (never the token),
then one report of the failures it did not log, ten seconds later. After 20 failures within the
minute the calls from 127.0.0.1 are refused with UNAUTHENTICATED without their token being
looked up, a valid token's too (else the limit would not limit guessing), until the minute has
passed: all but those with a token that authenticated from 127.0.0.1 before the burst, so that
a client sharing an address with a misbehaving one is not locked out by it. A client on
127.0.0.2 (through a forwarder whose connections come from that address) is served as before.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time

import grpc
import pytest

from qsession.server import auth
from qsession.server.auth import AuthFailures, peer_key
from qsession.v1 import backend_pb2, backend_pb2_grpc, job_pb2, job_pb2_grpc
from tests.conftest import OPEN_TOKEN, PREMIUM_TOKEN, base_config, start_server
from tests.e2e.conftest import error_info_metadata

PER_MINUTE = 20
BURST = 300
WRONG = "tok-wrong-guess-8d1f2a"
OTHER_HOST = "127.0.0.2"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


class Forwarder:
    """Accepts connections on 127.0.0.1 and relays each to ``target`` from OTHER_HOST, so the
    server sees the client as another peer."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, source_address=(OTHER_HOST, 0))
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def throttling(tmp_path):
    """A fresh in-process server (a peer's throttle lasts a minute) and a forwarder to it."""
    try:
        with socket.socket() as probe:
            probe.bind((OTHER_HOST, 0))
    except OSError:
        pytest.skip(f"cannot bind {OTHER_HOST} to act as a second peer")
    config = base_config(tmp_path, limits={"auth_failures_per_minute": PER_MINUTE})
    with start_server(config) as handle:
        forwarder = Forwarder(("127.0.0.1", int(handle.address.rsplit(":", 1)[1])))
        try:
            yield handle, forwarder
        finally:
            forwarder.close()


def channel(address: str) -> grpc.Channel:
    """A channel with a connection of its own."""
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


def list_backends(stub: backend_pb2_grpc.BackendServiceStub, token: str) -> grpc.RpcError | None:
    """The error of a ListBackends call as ``token`` (None if it succeeded)."""
    try:
        stub.ListBackends(backend_pb2.ListBackendsRequest(), metadata=bearer(token), timeout=10)
    except grpc.RpcError as error:
        return error
    return None


def warnings_about(caplog, host: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "qsession.server" and r.levelno == logging.WARNING and host in r.getMessage()
    ]


def test_a_burst_of_wrong_tokens_is_logged_boundedly_and_throttles_only_its_peer(
    throttling, caplog
):
    handle, forwarder = throttling
    caplog.set_level(logging.DEBUG, logger="qsession.server")
    local = backend_pb2_grpc.BackendServiceStub(channel(handle.address))
    remote_channel = channel(f"127.0.0.1:{forwarder.port}")
    remote = backend_pb2_grpc.BackendServiceStub(remote_channel)
    assert list_backends(remote, PREMIUM_TOKEN) is None  # the other peer, before the burst
    assert list_backends(local, OPEN_TOKEN) is None  # a client sharing the burst's address

    started = time.monotonic()
    errors = [list_backends(local, WRONG) for _ in range(BURST)]
    burst_seconds = time.monotonic() - started
    assert all(e is not None and e.code() == grpc.StatusCode.UNAUTHENTICATED for e in errors)
    assert all("missing or invalid token" in e.details() for e in errors[:PER_MINUTE])
    for error in errors[PER_MINUTE:]:  # refused without their token being checked
        assert "too many failed authentications from 127.0.0.1" in error.details()
        info = error_info_metadata(error)
        assert (info["limit"], info["max"]) == ("auth_failures_per_minute", str(PER_MINUTE))
        assert 0 < int(info["retry_after_seconds"]) <= 60

    # A valid token never seen from the throttled peer is refused too, on any method, until
    # the minute has passed (see test_the_throttle_ends_when_the_minute_has_passed)...
    refused = list_backends(local, PREMIUM_TOKEN)
    assert refused is not None and "too many failed authentications" in refused.details()
    jobs = job_pb2_grpc.JobServiceStub(channel(handle.address))
    watch = job_pb2.WatchJobsRequest()
    with pytest.raises(grpc.RpcError) as info:
        list(jobs.WatchJobs(watch, metadata=bearer(PREMIUM_TOKEN), timeout=5))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # ...while the token that authenticated from it before the burst is still served.
    assert list_backends(local, OPEN_TOKEN) is None
    with pytest.raises(grpc.RpcError) as info:
        list(jobs.WatchJobs(watch, metadata=bearer(OPEN_TOKEN), timeout=1))
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # watching, not refused

    # Another peer is served, and its own wrong token is an ordinary failure.
    assert list_backends(remote, PREMIUM_TOKEN) is None
    assert list_backends(remote, OPEN_TOKEN) is None
    wrong = list_backends(remote, WRONG)
    assert wrong is not None and "missing or invalid token" in wrong.details()

    # One WARNING for the burst (its first failure), naming the peer and the token's hash
    # prefix, never the token...
    assert burst_seconds < auth.LOG_INTERVAL, "the burst was too slow to test the log's rate"
    lines = warnings_about(caplog, "127.0.0.1")
    assert len(lines) == 1, lines
    digest = hashlib.sha256(WRONG.encode()).hexdigest()
    assert "ipv4:127.0.0.1:" in lines[0] and digest[: auth.TOKEN_PREFIX] in lines[0]
    assert digest not in lines[0]  # only the prefix at WARNING
    # ...then, once LOG_INTERVAL has passed, one report of what it did not log.
    time.sleep(auth.LOG_INTERVAL - (time.monotonic() - started) + 1.0)
    lines = warnings_about(caplog, "127.0.0.1")
    assert len(lines) == 2, lines
    suppressed = f"{PER_MINUTE - 1} failed authentications and {BURST - PER_MINUTE + 2} calls"
    assert suppressed in lines[1] and "throttled" in lines[1], lines[1]
    assert len(warnings_about(caplog, OTHER_HOST)) == 1  # the other peer's one failure
    for record in caplog.records:
        for token in (WRONG, PREMIUM_TOKEN, OPEN_TOKEN):
            assert token not in record.getMessage()


def test_the_throttle_ends_when_the_minute_has_passed():
    now = [1000.0]
    failures = AuthFailures(per_minute=3, clock=lambda: now[0])
    for _ in range(3):
        assert failures.retry_after("10.0.0.7") is None
        failures.failed("10.0.0.7", "ipv4:10.0.0.7:4000", "/m", "no 'authorization' metadata")
    assert failures.retry_after("10.0.0.7") == pytest.approx(auth.WINDOW)
    assert failures.retry_after("10.0.0.8") is None  # another peer
    now[0] += auth.WINDOW - 1
    assert failures.retry_after("10.0.0.7") == pytest.approx(1)
    now[0] += 1
    assert failures.retry_after("10.0.0.7") is None
    failures.failed("10.0.0.7", "ipv4:10.0.0.7:4000", "/m", "no 'authorization' metadata")
    assert failures.retry_after("10.0.0.7") is None  # a new window: one failure so far


def test_a_window_starts_at_its_first_failure_not_at_an_earlier_success():
    now = [1000.0]
    failures = AuthFailures(per_minute=2, clock=lambda: now[0])
    failures.succeeded("10.0.0.7", "digest")
    now[0] += auth.WINDOW - 5
    for _ in range(2):
        failures.failed("10.0.0.7", "ipv4:10.0.0.7:4000", "/m", "no 'authorization' metadata")
    now[0] += 10  # past a window counted from the success, within one from the first failure
    assert failures.retry_after("10.0.0.7") == pytest.approx(auth.WINDOW - 10)


def test_only_tokens_that_authenticated_from_the_peer_pass_its_throttle():
    failures = AuthFailures(per_minute=1, clock=lambda: 0.0)
    for i in range(auth.TRUSTED_PER_PEER + 1):
        failures.succeeded("10.0.0.7", f"digest-{i}")
    failures.failed("10.0.0.7", "ipv4:10.0.0.7:4000", "/m", "no 'authorization' metadata")
    assert failures.retry_after("10.0.0.7") is not None
    assert failures.trusted("10.0.0.7", f"digest-{auth.TRUSTED_PER_PEER}")
    assert not failures.trusted("10.0.0.7", "digest-0")  # the oldest forgotten
    assert not failures.trusted("10.0.0.7", None)
    assert not failures.trusted("10.0.0.8", f"digest-{auth.TRUSTED_PER_PEER}")


def test_peers_are_remembered_boundedly():
    failures = AuthFailures(per_minute=1, clock=lambda: 0.0)
    for i in range(auth.MAX_PEERS + 50):
        failures.failed(f"peer-{i}", f"peer-{i}", "/m", "no 'authorization' metadata")
    assert len(failures._peers) == auth.MAX_PEERS
    assert failures.retry_after("peer-0") is None  # the oldest forgotten
    assert failures.retry_after(f"peer-{auth.MAX_PEERS + 49}") is not None


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        ("ipv4:10.1.2.3:50051", "10.1.2.3"),
        ("ipv6:%5B2001:db8:1:2::7%5D:443", "2001:db8:1:2::/64"),
        ("ipv6:[2001:db8:1:2:ffff::9]:443", "2001:db8:1:2::/64"),
        ("ipv6:%5B::ffff:10.1.2.3%5D:443", "10.1.2.3"),
        ("unix:/tmp/qsession.sock", "unix:/tmp/qsession.sock"),
    ],
)
def test_a_peer_is_its_address_without_the_port(peer, key):
    assert peer_key(peer) == key
