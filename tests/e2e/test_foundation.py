"""Issue 2: the contract, auth, and Sampler/Estimator jobs end to end on a real server."""

from __future__ import annotations

import io

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from qiskit import QuantumCircuit, qpy
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession.v1 import backend_pb2, job_pb2, types_pb2
from tests.circuits import bell


def test_reflection_lists_the_three_services_health_and_reflection(server):
    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel())
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {s.name for s in next(responses).list_services_response.service}
    assert {
        "qsession.v1.BackendService",
        "qsession.v1.SessionService",
        "qsession.v1.JobService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


def test_health_reports_serving_without_a_token(server):
    stub = health_pb2_grpc.HealthStub(server.channel())
    assert (
        stub.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    )


@pytest.mark.parametrize(
    "metadata", [(), (("authorization", "Bearer wrong"),), (("authorization", "tok-lab"),)]
)
def test_rpc_without_a_valid_token_is_unauthenticated(server, metadata):
    backends, _, jobs = server.stubs()
    with pytest.raises(grpc.RpcError) as info:
        backends.ListBackends(backend_pb2.ListBackendsRequest(), metadata=metadata)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as info:
        list(jobs.WatchJobs(job_pb2.WatchJobsRequest(), metadata=metadata, timeout=5))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_backends_describe_devices_for_transpilation(client):
    backends = client.backends.ListBackends(
        backend_pb2.ListBackendsRequest(), metadata=client.metadata
    ).backends
    by_name = {b.name: b for b in backends}
    torino = by_name["fake_torino"]
    assert torino.num_qubits == 133 and not torino.simulator and torino.operational
    assert {"cz", "sx", "rz", "x", "measure"} <= set(torino.basis_gates)
    assert len(torino.coupling_map) > 2 * 133
    cz = next(i for i in torino.instructions if i.name == "cz")
    assert all(p.HasField("error") and p.HasField("duration") for p in cz.properties)
    assert len(torino.qubit_properties) == 133 and torino.qubit_properties[0].t1 > 0
    assert by_name["ideal_24"].num_qubits == 24


def test_get_unknown_backend_is_not_found(client):
    with pytest.raises(grpc.RpcError) as info:
        client.backends.GetBackend(
            backend_pb2.GetBackendRequest(name="ibm_nowhere"), metadata=client.metadata
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "ibm_nowhere" in info.value.details()


def test_bell_sampler_gives_only_00_and_11_about_half_each(client):
    result = client.run([(bell(),)])
    counts = result[0].data.meas.get_counts()
    shots = sum(counts.values())
    assert shots == 4096 and set(counts) <= {"00", "11"}
    assert abs(counts.get("00", 0) - shots / 2) < 5 * np.sqrt(shots / 4)


def test_estimator_zz_on_a_bell_state_is_one(client):
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    result = client.run(
        [(circuit, [SparsePauliOp("ZZ"), SparsePauliOp("XX"), SparsePauliOp("ZI")])], "estimator"
    )
    evs, stds = result[0].data.evs, result[0].data.stds
    assert np.allclose(evs[:2], 1.0) and abs(evs[2]) < 5 * stds[2] + 1e-9
    assert result[0].metadata["shots"] == 4096 and result[0].metadata[
        "target_precision"
    ] == pytest.approx(1 / 64)


def test_sampler_broadcasts_a_single_parameter_over_a_3x2_array(client):
    theta = Parameter("theta")
    circuit = QuantumCircuit(1)
    circuit.rx(theta, 0)
    circuit.measure_all()
    values = np.array([[0.0, np.pi], [0.0, np.pi], [np.pi, 0.0]]).reshape(3, 2, 1)
    result = client.run([(circuit, values, 256)])
    meas = result[0].data.meas
    assert meas.shape == (3, 2) and meas.num_shots == 256
    ones = meas.bitcount().sum(axis=-1)
    assert np.array_equal(ones, np.array([[0, 256], [0, 256], [256, 0]]))


def test_estimator_broadcasts_observables_against_parameters(client):
    theta = Parameter("theta")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    observables = [[SparsePauliOp("Z")], [SparsePauliOp("X")], [SparsePauliOp("Y")]]
    result = client.run([(circuit, observables, [[0.0], [np.pi / 2]])], "estimator")
    evs = result[0].data.evs
    assert evs.shape == (3, 2)
    assert evs[0, 0] == pytest.approx(1.0) and evs[1, 1] == pytest.approx(1.0, abs=0.1)


def test_fake_torino_returns_a_133_bit_register(client):
    circuit = QuantumCircuit(133)
    circuit.x(range(0, 133, 2))
    circuit.measure_all()
    result = client.run([(circuit, None, 64)], backend="fake_torino")
    meas = result[0].data.meas
    assert meas.num_bits == 133
    expected = "".join("1" if q % 2 == 0 else "0" for q in reversed(range(133)))
    assert meas.get_counts() == {expected: 64}


def test_session_guide_circuit_on_fake_torino_has_two_registers(client, server):
    backend = QuantumCircuit(2)
    backend.h(0)
    backend.cx(0, 1)
    backend.ry(Parameter("a"), 0)
    backend.cx(0, 1)
    backend.h(0)
    backend.measure_all()
    from qsession.wire.backends import decode_target

    target = decode_target(
        client.backends.GetBackend(
            backend_pb2.GetBackendRequest(name="fake_torino"), metadata=client.metadata
        ).backend
    )
    transpiled = generate_preset_pass_manager(optimization_level=1, target=target).run(backend)
    transpiled.measure_all()
    params = np.random.default_rng(7).uniform(size=(2, 3)).T
    result = client.run([(transpiled, params)], backend="fake_torino")
    data = result[0].data
    first, second = (register.name for register in transpiled.cregs)  # "meas" and "meas<N>"
    assert data[first].shape == (3, 2) and data[first].num_bits == 2
    assert data[second].shape == (3, 2) and data[second].num_bits == 133


def test_a_result_over_4_mib_arrives_intact(client):
    theta = Parameter("theta")
    circuit = QuantumCircuit(24)
    circuit.rx(theta, range(24))
    circuit.measure_all()
    values = np.array([0.0, np.pi] * 4).reshape(8, 1)
    result = client.run([(circuit, values, 200_000)])
    meas = result[0].data.meas
    assert meas.array.nbytes > 4 * 1024 * 1024
    assert np.all(meas.array[0::2] == 0) and np.all(meas.array[1::2] == 0xFF)


def _bad_request(client, **fields) -> grpc.RpcError:
    request = job_pb2.CreateJobRequest(
        backend=client.handle.backend, program=job_pb2.PROGRAM_SAMPLER, **fields
    )
    with pytest.raises(grpc.RpcError) as info:
        client.jobs.CreateJob(request, metadata=client.metadata)
    return info.value


def _qpy(circuit: QuantumCircuit) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


def test_unparseable_qpy_is_invalid_argument_naming_the_field(client):
    error = _bad_request(
        client, sampler_pubs=[types_pb2.SamplerPub(circuit=types_pb2.Circuit(qpy=b"not qpy"))]
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sampler_pubs[0].circuit.qpy" in error.details()


def test_parameter_values_of_the_wrong_width_are_invalid_argument(client):
    circuit = QuantumCircuit(1)
    circuit.rx(Parameter("a"), 0)
    circuit.measure_all()
    values = types_pb2.Float64Array(data=np.zeros(6).tobytes(), shape=[3, 2])
    pub = types_pb2.SamplerPub(
        circuit=types_pb2.Circuit(qpy=_qpy(circuit)),
        parameter_values=types_pb2.ParameterValues(parameters=["a"], values=values),
    )
    error = _bad_request(client, sampler_pubs=[pub])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sampler_pubs[0].parameter_values.values" in error.details()


@pytest.mark.parametrize("shots", [0, -5])
def test_non_positive_shots_are_invalid_argument(client, shots):
    pub = types_pb2.SamplerPub(circuit=types_pb2.Circuit(qpy=_qpy(bell())), shots=shots)
    error = _bad_request(client, sampler_pubs=[pub])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sampler_pubs[0].shots" in error.details()


def test_unknown_backend_is_not_found_and_the_server_stays_healthy(client, server):
    pub = types_pb2.SamplerPub(circuit=types_pb2.Circuit(qpy=_qpy(bell())))
    request = job_pb2.CreateJobRequest(
        backend="ibm_nowhere", program=job_pb2.PROGRAM_SAMPLER, sampler_pubs=[pub]
    )
    with pytest.raises(grpc.RpcError) as info:
        client.jobs.CreateJob(request, metadata=client.metadata)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and "backend" in info.value.details()
    health = health_pb2_grpc.HealthStub(server.channel())
    assert (
        health.Check(health_pb2.HealthCheckRequest()).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    assert client.run([(bell(), None, 100)])[0].data.meas.num_shots == 100
