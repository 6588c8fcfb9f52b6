"""Issue 6, limits: each configured limit answers RESOURCE_EXHAUSTED or INVALID_ARGUMENT with
google.rpc.Status details (a BadRequest naming the field, an ErrorInfo naming the limit), and
circuits whose size is a bomb never reach the server's own parser.

The server runs with small limits: 256 KiB per request, 3 PUBs per job, 1000 shots per PUB,
5000 samples per job, 40 classical bits per circuit, 4 queued jobs per instance, and 256 MiB of
memory to parse a circuit.
"""

from __future__ import annotations

import io
import struct

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from qiskit import QuantumCircuit, qpy
from qiskit.circuit import Parameter

from qsession.v1 import job_pb2, types_pb2
from tests.conftest import base_config, start_server
from tests.e2e.conftest import RawClient

LIMITS = {
    "max_request_bytes": 256 * 1024,
    "max_pubs_per_job": 3,
    "max_shots_per_pub": 1000,
    "max_samples_per_job": 5000,
    "max_clbits_per_circuit": 40,
    "max_queued_jobs_per_instance": 4,
    "circuit_parse_memory_bytes": 256 * 1024 * 1024,
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    config = base_config(
        tmp_path_factory.mktemp("limits"),
        limits=LIMITS,
        backends=[
            {"name": "ideal_24", "profile": "ideal_24"},
            {"name": "slow", "profile": "ideal_24", "min_job_duration": "1s"},
        ],
    )
    with start_server(config) as handle:
        yield handle


@pytest.fixture
def client(limited) -> RawClient:
    return RawClient(limited)


def qpy_bytes(circuit: QuantumCircuit) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


def measured(num_qubits: int = 1, num_clbits: int | None = None) -> QuantumCircuit:
    circuit = QuantumCircuit(num_qubits, num_clbits if num_clbits is not None else num_qubits)
    circuit.x(0)
    circuit.measure(range(num_qubits), range(num_qubits))
    return circuit


def sampler_pub(circuit: QuantumCircuit | None = None, **fields) -> types_pb2.SamplerPub:
    return types_pb2.SamplerPub(
        circuit=types_pb2.Circuit(qpy=qpy_bytes(circuit or measured())), **fields
    )


def rejection(client: RawClient, request: job_pb2.CreateJobRequest):
    """(code, message, BadRequest fields, ErrorInfo) of a CreateJob that must fail."""
    with pytest.raises(grpc.RpcError) as info:
        client.jobs.CreateJob(request, metadata=client.metadata, timeout=60)
    status = rpc_status.from_call(info.value)
    fields, error_info = [], None
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend(v.field for v in bad.field_violations)
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            error_info = error_details_pb2.ErrorInfo()
            detail.Unpack(error_info)
    return info.value.code(), info.value.details(), fields, error_info


def sampler_job(*pubs, backend: str = "ideal_24", **options) -> job_pb2.CreateJobRequest:
    return job_pb2.CreateJobRequest(
        program=job_pb2.PROGRAM_SAMPLER,
        backend=backend,
        sampler_pubs=list(pubs),
        options=job_pb2.JobOptions(**options),
    )


def assert_limit(answer, code: grpc.StatusCode, field: str | None, limit: str) -> None:
    got_code, message, fields, info = answer
    assert got_code == code, message
    assert fields == ([field] if field else [])
    expected = "CIRCUIT_TOO_WIDE" if limit == "backend_qubits" else "LIMIT_EXCEEDED"
    assert info is not None and info.reason == expected
    assert info.metadata["limit"] == limit and int(info.metadata["max"]) > 0


def test_a_request_over_max_request_bytes_is_resource_exhausted(client):
    pub = sampler_pub()
    pub.circuit.qpy += b"\0" * LIMITS["max_request_bytes"]
    code, message, _, _ = rejection(client, sampler_job(pub))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, message


def test_more_pubs_than_max_pubs_per_job_is_resource_exhausted(client):
    answer = rejection(client, sampler_job(*[sampler_pub()] * 4))
    assert_limit(answer, grpc.StatusCode.RESOURCE_EXHAUSTED, "sampler_pubs", "max_pubs_per_job")


@pytest.mark.parametrize(
    ("request_factory", "field"),
    [
        (lambda: sampler_job(sampler_pub(shots=1001)), "sampler_pubs[0].shots"),
        (lambda: sampler_job(sampler_pub(), default_shots=1001), "options.default_shots"),
        (lambda: sampler_job(sampler_pub()), "sampler_pubs[0]"),  # the default 4096 shots
    ],
    ids=["pub shots", "default_shots option", "default shots"],
)
def test_shots_over_max_shots_per_pub_are_invalid_argument_naming_the_field(
    client, request_factory, field
):
    assert_limit(
        rejection(client, request_factory()),
        grpc.StatusCode.INVALID_ARGUMENT,
        field,
        "max_shots_per_pub",
    )


@pytest.mark.parametrize("precision", [0.01, 1e-160, 1e-200])
def test_a_precision_needing_more_shots_than_the_limit_is_invalid_argument(client, precision):
    circuit = QuantumCircuit(1)
    circuit.h(0)
    request = job_pb2.CreateJobRequest(
        program=job_pb2.PROGRAM_ESTIMATOR,
        backend="ideal_24",
        estimator_pubs=[
            types_pb2.EstimatorPub(
                circuit=types_pb2.Circuit(qpy=qpy_bytes(circuit)),
                observables=types_pb2.ObservableArray(
                    observables=[types_pb2.Observable(terms=[{"label": "Z", "coefficient": 1.0}])]
                ),
                precision=precision,
            )
        ],
    )
    answer = rejection(client, request)
    assert_limit(
        answer, grpc.StatusCode.INVALID_ARGUMENT, "estimator_pubs[0].precision", "max_shots_per_pub"
    )


def test_shots_times_parameter_points_over_max_samples_per_job_is_resource_exhausted(client):
    circuit = QuantumCircuit(1)
    circuit.rx(Parameter("a"), 0)
    circuit.measure_all()
    values = types_pb2.Float64Array(data=np.zeros(6).tobytes(), shape=[6, 1])
    pub = sampler_pub(
        circuit,
        shots=1000,
        parameter_values=types_pb2.ParameterValues(parameters=["a"], values=values),
    )
    assert_limit(
        rejection(client, sampler_job(pub)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "sampler_pubs",
        "max_samples_per_job",
    )


def test_a_circuit_wider_than_the_backend_is_invalid_argument_naming_it(client):
    answer = rejection(
        client, sampler_job(sampler_pub(measured(25)), sampler_pub(measured(2), shots=10))
    )
    assert_limit(
        answer, grpc.StatusCode.INVALID_ARGUMENT, "sampler_pubs[0].circuit", "backend_qubits"
    )
    assert "25 qubits" in answer[1] and "24" in answer[1]


def test_more_classical_bits_than_the_limit_is_invalid_argument(client):
    answer = rejection(client, sampler_job(sampler_pub(measured(1, 41), shots=10)))
    assert_limit(
        answer,
        grpc.StatusCode.INVALID_ARGUMENT,
        "sampler_pubs[0].circuit",
        "max_clbits_per_circuit",
    )


def test_queued_jobs_over_the_instance_limit_are_resource_exhausted(client):
    accepted = [
        client.jobs.CreateJob(
            sampler_job(sampler_pub(shots=10), backend="slow"), metadata=client.metadata
        ).job
        for _ in range(LIMITS["max_queued_jobs_per_instance"] + 1)  # the first one starts running
    ]
    answer = rejection(client, sampler_job(sampler_pub(shots=10), backend="slow"))
    assert_limit(answer, grpc.StatusCode.RESOURCE_EXHAUSTED, None, "max_queued_jobs_per_instance")
    for job in accepted:
        client.jobs.CancelJob(job_pb2.CancelJobRequest(id=job.id), metadata=client.metadata)


def qpy_claiming_qubits(num_qubits: int) -> bytes:
    """A one-qubit circuit's QPY whose header claims ``num_qubits`` qubits."""
    data = qpy_bytes(measured())
    at = data.find(struct.pack("!II", 1, 1))
    return data[:at] + struct.pack("!II", num_qubits, 1) + data[at + 8 :]


@pytest.mark.parametrize(
    "circuit",
    [
        types_pb2.Circuit(qpy=qpy_claiming_qubits(50_000_000)),
        types_pb2.Circuit(qpy=qpy_claiming_qubits(2**32 - 1)),
        types_pb2.Circuit(qasm3="OPENQASM 3.0; qubit[100000000] q;"),
        types_pb2.Circuit(qasm3="OPENQASM 3.0; bit[30000*30000] c;"),
    ],
    ids=["qpy 5e7 qubits", "qpy 2^32 qubits", "qasm3 1e8 qubits", "qasm3 9e8 bits"],
)
def test_a_circuit_bomb_is_invalid_argument_and_the_server_keeps_serving(client, limited, circuit):
    answer = rejection(client, sampler_job(types_pb2.SamplerPub(circuit=circuit)))
    assert answer[0] == grpc.StatusCode.INVALID_ARGUMENT, answer[1]
    assert answer[2] and answer[2][0].startswith("sampler_pubs[0].circuit")
    health = health_pb2_grpc.HealthStub(limited.channel())
    assert (
        health.Check(health_pb2.HealthCheckRequest()).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    assert client.run([(measured(), None, 10)])[0].data.c.get_counts() == {"1": 10}


def test_a_limit_above_what_the_executor_runs_is_a_config_error():
    from qsession.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="max_shots_per_pub"):
        parse_config({"limits": {"max_shots_per_pub": 10_000_001}})
