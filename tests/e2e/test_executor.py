"""Executor jobs: IBM's QuantumProgram in, IBM's QuantumProgramResult out, through qsession's
SDK (``from qsession import Executor, QuantumProgram``) and the raw contract."""

from __future__ import annotations

import io

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from qiskit import QuantumCircuit, qpy
from qiskit.primitives import StatevectorSampler
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime.results.quantum_program import QuantumProgramResult

from qsession import (
    Batch,
    Executor,
    QuantumProgram,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    Session,
)
from qsession.v1 import job_pb2, quantum_program_pb2
from qsession.wire.arrays import encode_float64
from qsession.wire.circuits import encode_circuit
from tests.circuits import mid_circuit_measured, swept_ghz

SHOTS = 4000


def isa(circuit: QuantumCircuit, backend) -> QuantumCircuit:
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)


def assert_same_distribution(ours: np.ndarray, theirs: np.ndarray, size: int) -> None:
    """Two samples of ``size`` outcomes each (integers below ``size``) agree outcome by
    outcome within 4 sigma of their difference."""
    p, q = (np.bincount(x.reshape(-1), minlength=size) / x.size for x in (ours, theirs))
    pooled = (p + q) / 2
    sigma = np.sqrt(np.maximum(pooled * (1 - pooled), 1 / ours.size) * 2 / ours.size)
    assert np.all(np.abs(p - q) <= 4 * sigma), (p, q)


def two_registers() -> QuantumCircuit:
    """X on qubit 0 into a 3-bit register ``a``; qubit 1 left in 0 into a 1-bit register ``b``."""
    from qiskit import ClassicalRegister, QuantumRegister

    circuit = QuantumCircuit(
        QuantumRegister(3), ClassicalRegister(3, "a"), ClassicalRegister(1, "b")
    )
    circuit.x(0)
    circuit.measure([0, 1, 2], circuit.cregs[0])
    circuit.measure([1], circuit.cregs[1])
    return circuit


def test_ghz_sweep_item_matches_statevector_sampler_within_4_sigma(ideal):
    circuit = swept_ghz(4)
    thetas = np.linspace(0, np.pi, 6).reshape(2, 3, 1)
    program = QuantumProgram(shots=SHOTS)
    program.append_circuit_item(isa(circuit, ideal), circuit_arguments=thetas)

    result = Executor(ideal).run(program).result()

    bits = result[0]["c"]
    assert bits.shape == (2, 3, SHOTS, 4)
    outcomes = bits @ (1 << np.arange(4))  # little-endian: bit j at index j
    exact = StatevectorSampler(seed=7).run([(circuit, thetas)], shots=SHOTS).result()[0].data.c
    for index in np.ndindex(2, 3):
        assert_same_distribution(outcomes[index], exact[index].array[:, 0], 16)


def test_result_has_ibms_shapes_dtypes_and_bit_order(ideal):
    circuit = swept_ghz(2)
    program = QuantumProgram(shots=16, passthrough_data={"tag": "run", "x": np.arange(3.0)})
    program.append_circuit_item(isa(circuit, ideal), circuit_arguments=np.zeros((5, 1)))
    program.append_circuit_item(isa(two_registers(), ideal))

    result = Executor(ideal).run(program).result()

    assert isinstance(result, QuantumProgramResult)
    assert len(result) == 2
    sweep, fixed = result[0], result[1]
    assert set(sweep) == {"c"} and set(fixed) == {"a", "b"}
    assert sweep["c"].dtype == np.bool_ and sweep["c"].shape == (5, 16, 2)
    assert fixed["a"].dtype == np.bool_ and fixed["a"].shape == (16, 3)
    assert fixed["b"].shape == (16, 1)
    # little-endian: bit j of the register at index j
    assert fixed["a"].tolist() == [[True, False, False]] * 16
    assert not fixed["b"].any()
    assert not sweep["c"].any()  # theta = 0: |00>
    assert result.passthrough_data["tag"] == "run"
    np.testing.assert_array_equal(result.passthrough_data["x"], np.arange(3.0))
    chunks = list(result.timing)
    assert [part.idx_item for chunk in chunks for part in chunk.parts] == [0, 1]
    assert [part.size for chunk in chunks for part in chunk.parts] == [5, 1]
    assert all(chunk.start <= chunk.stop for chunk in chunks)
    assert result.timing.duration >= 0


def test_inputs_give_back_the_program(ideal):
    arguments = np.linspace(0, 1, 6).reshape(2, 3, 1)
    program = QuantumProgram(shots=8, passthrough_data={"k": [1, 2]})
    program.append_circuit_item(isa(swept_ghz(2), ideal), circuit_arguments=arguments)
    job = Executor(ideal).run(program)
    job.result()
    again = job.inputs["quantum_program"]
    assert isinstance(again, QuantumProgram)
    assert again.shots == 8 and again.passthrough_data == {"k": [1, 2]}
    np.testing.assert_array_equal(again.items[0].circuit_arguments, arguments)
    assert Executor(ideal).run(again).result()[0]["c"].shape == (2, 3, 8, 2)


def test_result_types_equal_ibms_local_executor():
    """IBM's own Executor in local mode (Aer) on the same program gives the same keys,
    shapes and dtypes as qsession's."""
    from qiskit_ibm_runtime import Executor as IBMExecutor
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    fake = FakeManilaV2()
    circuit = isa(swept_ghz(3), fake)
    arguments = np.linspace(0, 1, 4).reshape(2, 2, 1)
    program = QuantumProgram(shots=8)
    program.append_circuit_item(circuit, circuit_arguments=arguments)
    ibm = IBMExecutor(fake).run(program).result()
    ours = Executor(fake).run(program).result()  # qsession's local testing mode
    assert type(ours) is type(ibm)
    for mine, theirs in zip(ours, ibm, strict=True):
        assert set(mine) == set(theirs)
        for name in mine:
            assert (mine[name].shape, mine[name].dtype) == (theirs[name].shape, theirs[name].dtype)


def test_executor_runs_in_a_session_and_a_batch(ideal):
    circuit = isa(swept_ghz(2), ideal)
    program = QuantumProgram(shots=10)
    program.append_circuit_item(circuit, circuit_arguments=[[np.pi]])
    for mode_class in (Session, Batch):
        with mode_class(backend=ideal) as mode:
            executor = Executor(mode)
            executor.options.environment.job_tags = ["executor"]
            job = executor.run(program)
            assert job.session_id == mode.session_id
            assert job.primitive_id == "executor"
            assert job.tags == ["executor"]
            assert job.result()[0]["c"].all()  # theta = pi: |11>
            assert job.usage() >= 0


def _request(
    server, item: quantum_program_pb2.QuantumProgramItem, **program
) -> job_pb2.CreateJobRequest:
    return job_pb2.CreateJobRequest(
        backend=server.backend,
        program=job_pb2.PROGRAM_EXECUTOR,
        quantum_program=quantum_program_pb2.QuantumProgram(
            shots=program.pop("shots", 10), items=[item], **program
        ),
    )


def _field(error: grpc.RpcError) -> str:
    """The field the error's BadRequest names."""
    for detail in rpc_status.from_call(error).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return bad.field_violations[0].field
    raise AssertionError(f"no BadRequest in {error.details()}")


def _refused(client, request: job_pb2.CreateJobRequest) -> grpc.RpcError:
    """The CreateJob error for ``request``, after checking that it stored no job."""
    before = client.jobs.ListJobs(job_pb2.ListJobsRequest(), metadata=client.metadata).jobs
    with pytest.raises(grpc.RpcError) as caught:
        client.jobs.CreateJob(request, metadata=client.metadata, timeout=60)
    after = client.jobs.ListJobs(job_pb2.ListJobsRequest(), metadata=client.metadata).jobs
    assert [job.id for job in after] == [job.id for job in before]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return caught.value


def test_wrong_argument_shape_is_refused_by_name_and_nothing_is_stored(client, ideal):
    item = quantum_program_pb2.QuantumProgramItem(
        circuit=encode_circuit(isa(swept_ghz(2), ideal)),
        circuit_arguments=encode_float64(np.zeros((3, 2))),  # the circuit has 1 parameter
    )
    error = _refused(client, _request(client.handle, item))
    assert _field(error) == "quantum_program.items[0].circuit_arguments"
    assert "(3, 2)" in error.details()


@pytest.mark.parametrize("level", ["kerneled", "avg_kerneled", "both"])
def test_meas_level_other_than_classified_is_refused_by_name(client, ideal, level):
    item = quantum_program_pb2.QuantumProgramItem(
        circuit=encode_circuit(isa(two_registers(), ideal))
    )
    error = _refused(client, _request(client.handle, item, meas_level=level))
    assert _field(error) == "quantum_program.meas_level"
    assert repr(level) in error.details()


def test_qpy_from_the_future_is_refused_naming_both_versions(client, ideal):
    buffer = io.BytesIO()
    qpy.dump(isa(two_registers(), ideal), buffer)
    data = bytearray(buffer.getvalue())
    data[6] = qpy.QPY_VERSION + 1
    item = quantum_program_pb2.QuantumProgramItem()
    item.circuit.qpy = bytes(data)
    error = _refused(client, _request(client.handle, item))
    assert _field(error) == "quantum_program.items[0].circuit.qpy"
    assert f"QPY version {qpy.QPY_VERSION + 1}" in error.details()
    assert f"up to {qpy.QPY_VERSION}" in error.details()


def test_sampler_options_are_refused_for_an_executor_job(client, ideal):
    item = quantum_program_pb2.QuantumProgramItem(
        circuit=encode_circuit(isa(two_registers(), ideal))
    )
    request = _request(client.handle, item)
    request.options.default_shots = 5
    error = _refused(client, request)
    assert _field(error) == "options.default_shots"


def heavy(backend) -> QuantumProgram:
    """A program that runs for seconds: a 20-qubit circuit Aer simulates shot by shot."""
    program = QuantumProgram(shots=40)
    program.append_circuit_item(isa(mid_circuit_measured(20), backend))
    return program


def test_max_execution_time_ends_an_executor_job_in_error(ideal):
    job = Executor(ideal, options={"max_execution_time": 1}).run(heavy(ideal))
    with pytest.raises(RuntimeJobFailureError, match="max_execution_time"):
        job.result(timeout=120)
    assert job.status() == "ERROR"


def test_cancelling_an_executor_job_cancels_it(ideal):
    job = Executor(ideal).run(heavy(ideal))
    job.cancel()
    with pytest.raises(RuntimeInvalidStateError, match="cancelled"):
        job.result(timeout=120)
    assert job.status() == "CANCELLED"


def noisy_x(num_randomizations: int):
    """A twirled box flipping one qubit (sx sx = X) with InjectNoise ``n``, then a twirled
    measurement: its template circuit and samplex (samplomatic's ``build``)."""
    from samplomatic import InjectNoise, Twirl, build

    circuit = QuantumCircuit(1, 1)
    with circuit.box([Twirl(), InjectNoise(ref="n")]):
        circuit.sx(0)
        circuit.sx(0)
    with circuit.box([Twirl()]):
        circuit.measure(0, 0)
    return build(circuit)


def z_values(item) -> np.ndarray:
    """Per randomization, the mean of Z over its shots, the twirl's measurement flips undone."""
    bits = item["c"][..., 0] ^ item["measurement_flips.c"][..., 0, 0][..., None]
    return 1 - 2 * bits.mean(axis=-1)


def test_inject_noise_scales_z_by_exp_minus_2r(ideal):
    from qiskit.quantum_info import PauliLindbladMap

    template, samplex = noisy_x(1)
    rates = (0.05, 0.15, 0.3)
    program = QuantumProgram(shots=8)
    for rate in rates:
        program.append_samplex_item(
            template,
            samplex,
            {"pauli_lindblad_maps.n": PauliLindbladMap.from_list([("X", rate)])},
            shape=(1500,),
        )
    result = Executor(ideal).run(program).result()
    for rate, item in zip(rates, result, strict=True):
        assert item["c"].shape == (1500, 8, 1)
        assert item["measurement_flips.c"].shape == (1500, 1, 1)
        z = z_values(item)
        expected = -np.exp(-2 * rate)  # X then X noise: |1>, <Z> = -e^{-2r}
        sigma = z.std(ddof=1) / np.sqrt(z.size)
        assert abs(z.mean() - expected) <= 4 * sigma, (rate, z.mean(), expected, sigma)


def test_a_samplex_item_gives_the_same_bits_for_the_same_seed(ideal):
    from qiskit.quantum_info import PauliLindbladMap

    template, samplex = noisy_x(1)
    program = QuantumProgram(shots=4)
    program.append_samplex_item(
        template,
        samplex,
        {"pauli_lindblad_maps.n": PauliLindbladMap.from_list([("X", 0.2)])},
        shape=(3, 5),
    )
    runs = [
        Executor(ideal, options={"simulator": {"seed_simulator": 11}}).run(program).result()[0]
        for _ in range(2)
    ]
    assert set(runs[0]) == {"c", "measurement_flips.c", "pauli_signs"}
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name])
    assert runs[0]["c"].shape == (3, 5, 4, 1)


def _samplex_item(ideal, **fields) -> quantum_program_pb2.QuantumProgramItem:
    from qiskit.quantum_info import PauliLindbladMap

    from qsession.wire.samplex import encode_arguments, encode_samplex

    template, samplex = noisy_x(1)
    item = quantum_program_pb2.QuantumProgramItem(
        circuit=encode_circuit(template),
        samplex_json=encode_samplex(samplex),
        samplex_arguments_json=encode_arguments(
            {"pauli_lindblad_maps.n": PauliLindbladMap.from_list([("X", 0.1)])}
        ),
        shape=[4],
    )
    for name, value in fields.items():
        setattr(item, name, value)
    return item


def test_a_malformed_samplex_is_refused_by_name_and_nothing_is_stored(client, ideal):
    item = _samplex_item(ideal, samplex_json='{"ssv": 4, "samplex_json": "not a samplex"}')
    error = _refused(client, _request(client.handle, item))
    assert _field(error) == "quantum_program.items[0].samplex_json"


def test_a_samplex_from_the_future_is_refused_naming_both_versions(client, ideal):
    from qsession.wire.samplex import samplex_version

    item = _samplex_item(ideal)
    newer = samplex_version() + 1
    item.samplex_json = item.samplex_json.replace(f'"ssv":{samplex_version()}', f'"ssv":{newer}', 1)
    error = _refused(client, _request(client.handle, item))
    assert _field(error) == "quantum_program.items[0].samplex_json"
    assert f"version {newer}" in error.details()
    assert f"up to {samplex_version()}" in error.details()


def test_a_raw_samplex_item_runs(client, ideal):
    job = client.jobs.CreateJob(
        _request(client.handle, _samplex_item(ideal)), metadata=client.metadata, timeout=60
    ).job
    assert client.wait(job.id).state == job_pb2.Job.STATE_DONE


def test_samplex_arguments_that_leave_an_input_unbound_are_refused(client, ideal):
    item = _samplex_item(ideal, samplex_arguments_json="{}")
    error = _refused(client, _request(client.handle, item))
    assert _field(error) == "quantum_program.items[0].samplex_arguments_json"


def test_mismatched_chunk_sizes_are_refused_by_name(client, ideal):
    circuit = encode_circuit(isa(two_registers(), ideal))
    request = _request(client.handle, quantum_program_pb2.QuantumProgramItem(circuit=circuit))
    request.quantum_program.items.add(circuit=circuit, chunk_size=4)  # the first is auto
    error = _refused(client, request)
    assert _field(error) == "quantum_program.items[0].chunk_size"
    assert "all set chunk_size or all leave it unset" in error.details()
