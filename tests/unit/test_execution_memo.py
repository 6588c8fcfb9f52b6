"""A worker's memo skips repeated work but never changes a result."""

from __future__ import annotations

import numpy as np
from qiskit.circuit.library import efficient_su2
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import Executor, load_profile
from qsession.execution.memo import Memo
from qsession.execution.request import execute_request
from qsession.v1 import job_pb2
from qsession.wire import encode_estimator_pub, encode_sampler_pub


def vqe_requests(points: int) -> list[bytes]:
    """Serialized Estimator and Sampler requests of the seed guide's VQE at ``points`` points."""
    profile = load_profile("fake_torino")
    ansatz = generate_preset_pass_manager(target=profile.target, optimization_level=1).run(
        efficient_su2(2)
    )
    hamiltonian = SparsePauliOp.from_list([("YZ", 0.398), ("ZI", -0.398), ("XX", 0.181)])
    observables = [op.apply_layout(ansatz.layout) for op in hamiltonian]
    measured = ansatz.measure_all(inplace=False)
    rng = np.random.default_rng(3)
    requests = []
    first: list = []
    for _ in range(points):
        values = rng.uniform(0, 2 * np.pi, ansatz.num_parameters)
        estimator = encode_estimator_pub(EstimatorPub.coerce((ansatz, observables, values), 0.02))
        sampler = encode_sampler_pub(SamplerPub.coerce((measured, values, 500)))
        # the same circuit message every time (QPY's layout section is not byte-stable)
        first = first or [estimator.circuit, sampler.circuit]
        estimator.circuit.CopyFrom(first[0])
        sampler.circuit.CopyFrom(first[1])
        requests.append(
            job_pb2.CreateJobRequest(
                program=job_pb2.PROGRAM_ESTIMATOR, estimator_pubs=[estimator]
            ).SerializeToString()
        )
        requests.append(
            job_pb2.CreateJobRequest(
                program=job_pb2.PROGRAM_SAMPLER, sampler_pubs=[sampler]
            ).SerializeToString()
        )
    return requests


def test_results_with_the_memo_are_bit_for_bit_those_without_it():
    profile = load_profile("fake_torino")
    plain = Executor(profile, noise=True)
    remembering = Executor(profile, noise=True, memo=Memo())
    for request in vqe_requests(3):
        expected = data_of(execute_request(plain, request, seed=11))
        assert data_of(execute_request(remembering, request, seed=11)) == expected


def data_of(result: bytes) -> list[bytes]:
    """The bytes of every array in a serialized JobResult (its timestamps left out)."""
    message = job_pb2.JobResult.FromString(result)
    arrays = []
    for pub in message.pub_results:
        arrays += [pub.evs.data, pub.stds.data, *(reg.samples.data for reg in pub.registers)]
    return arrays


def test_a_repeated_circuit_is_parsed_once():
    memo = Memo()
    executor = Executor(load_profile("fake_torino"), noise=False, memo=memo)
    requests = vqe_requests(4)
    execute_request(executor, requests[0], seed=1)
    (first,) = parsed(memo)
    for request in requests[1:]:  # new values, the same two circuits
        execute_request(executor, request, seed=1)
    circuits = parsed(memo)
    assert len(circuits) == 2 and any(c is first for c in circuits)


def parsed(memo: Memo) -> list:
    return [value for key, (_, value) in memo._entries.items() if key[0] == "circuit"]


def test_the_memo_keeps_at_most_its_capacity():
    memo = Memo(capacity=3)
    for i in range(10):
        memo.get(i, lambda i=i: i * i)
    assert list(memo._entries) == [7, 8, 9]
    assert memo.get(8, lambda: -1) == 64


def test_a_circuit_checked_for_one_device_is_checked_again_for_another() -> None:
    """Admission shares one memo across backends: passing ideal_24's check must not let the
    same circuit object onto fake_torino, whose ISA it is not."""
    from qiskit import QuantumCircuit

    from qsession.execution import InvalidPub

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    memo = Memo()
    pub = SamplerPub.coerce((circuit, None, 10))
    Executor(load_profile("ideal_24"), noise=False, memo=memo).validate_sampler_pub(pub, 0)
    torino = Executor(load_profile("fake_torino"), noise=False, memo=memo)
    try:
        torino.validate_sampler_pub(pub, 0)
    except InvalidPub as refused:
        assert "not supported by fake_torino" in str(refused)
    else:
        raise AssertionError("fake_torino accepted a circuit that is not its ISA")


def test_the_memo_keeps_at_most_its_bytes_of_circuits_and_always_the_newest():
    memo = Memo(max_bytes=100)
    for i in range(5):
        memo.get(("circuit", i), lambda i=i: i, weight=40)
    assert list(memo._entries) == [("circuit", 3), ("circuit", 4)]  # 80 of 100 bytes
    memo.get(("circuit", "huge"), lambda: "huge", weight=1000)
    assert list(memo._entries) == [("circuit", "huge")]
    memo.get("cheap", lambda: 0)  # the budget is still exceeded: the oversized one goes
    assert list(memo._entries) == ["cheap"] and memo._bytes == 0


def test_a_forgotten_circuit_is_parsed_again():
    from qiskit import QuantumCircuit

    from qsession.wire import encode_circuit

    circuit = QuantumCircuit(1)
    circuit.x(0)
    message = encode_circuit(circuit)
    memo = Memo()
    first = memo.circuit(message, "circuit")
    assert memo.circuit(message, "circuit") is first
    memo.forget_circuit(message)
    assert memo.circuit(message, "circuit") is not first
    assert memo._bytes == len(message.SerializeToString())
