"""Issue 6, TLS: with [server] tls_cert and tls_key the server speaks only TLS.

The test makes a self-signed certificate for 127.0.0.1 with the openssl command.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import grpc
import pytest
from qiskit import QuantumCircuit

from qsession.v1 import backend_pb2, backend_pb2_grpc
from tests.conftest import PREMIUM_TOKEN, ServerHandle, base_config, start_server
from tests.e2e.conftest import RawClient

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """(certificate PEM path, key PEM path) of a self-signed certificate for 127.0.0.1."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "server.crt", where / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=qsession test",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, certificate):
    cert, key = certificate
    data = tmp_path_factory.mktemp("tls-data")
    config = base_config(
        data,
        server={
            "listen": "127.0.0.1:0",
            "data_dir": str(data),
            "tls_cert": str(cert),
            "tls_key": str(key),
        },
        backends=[{"name": "ideal_24", "profile": "ideal_24"}],
    )
    with start_server(config) as handle:
        yield handle


def list_backends(channel: grpc.Channel) -> list[str]:
    stub = backend_pb2_grpc.BackendServiceStub(channel)
    answer = stub.ListBackends(
        backend_pb2.ListBackendsRequest(),
        metadata=(("authorization", f"Bearer {PREMIUM_TOKEN}"),),
        timeout=5,
    )
    return [b.name for b in answer.backends]


@dataclass
class TlsHandle(ServerHandle):
    """A handle whose channels use TLS, trusting ``root`` (PEM)."""

    root: bytes = b""

    def channel(self) -> grpc.Channel:
        channel = grpc.secure_channel(
            self.address, grpc.ssl_channel_credentials(root_certificates=self.root)
        )
        self._channels.append(channel)
        return channel


def test_a_tls_client_trusting_the_certificate_connects_and_runs_a_job(tls_server, certificate):
    handle = TlsHandle(address=tls_server.address, root=certificate[0].read_bytes())
    assert list_backends(handle.channel()) == ["ideal_24"]
    circuit = QuantumCircuit(2)
    circuit.x(1)
    circuit.measure_all()
    assert RawClient(handle).run([(circuit, None, 20)])[0].data.meas.get_counts() == {"10": 20}
    for channel in handle._channels:
        channel.close()


def test_a_plaintext_client_cannot_talk_to_a_tls_server(tls_server):
    with grpc.insecure_channel(tls_server.address) as channel, pytest.raises(grpc.RpcError) as info:
        list_backends(channel)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_tls_client_that_does_not_trust_the_certificate_is_refused(tls_server):
    with grpc.secure_channel(tls_server.address, grpc.ssl_channel_credentials()) as channel:
        with pytest.raises(grpc.RpcError) as info:
            list_backends(channel)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_certificate_without_its_key_is_a_config_error(certificate):
    from qsession.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="tls_key"):
        parse_config({"server": {"tls_cert": str(certificate[0])}})


@pytest.mark.parametrize("how", ["https_url", "tls_flag", "env_ca_cert"])
def test_the_sdk_connects_over_tls_trusting_a_given_certificate(
    tls_server, certificate, how, monkeypatch
):
    from qsession import RuntimeService

    cert = str(certificate[0])
    if how == "https_url":
        service = RuntimeService(
            url=f"https://{tls_server.address}", token=PREMIUM_TOKEN, ca_cert=cert
        )
    elif how == "tls_flag":
        service = RuntimeService(
            url=tls_server.address, token=PREMIUM_TOKEN, tls=True, ca_cert=cert
        )
    else:
        monkeypatch.setenv("QSESSION_CA_CERT", cert)
        service = RuntimeService(url=f"https://{tls_server.address}", token=PREMIUM_TOKEN)
    assert [backend.name for backend in service.backends()] == ["ideal_24"]
