"""Noisy Clifford circuits at any width (execution/stabilizer.py): Pauli-frame samples follow
the exact distribution of the Pauli-twirled noise, the reported bound holds against the
device's own noise, it is zero when only twirled 2-qubit errors were replaced, and wide
Sampler and Estimator PUBs take the path (or are refused when the job asked for exact)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.circuit.library import (
    CZGate,
    Measure,
    RZGate,
    SXGate,
    XGate,
    get_standard_gate_name_mapping,
)
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import (
    Chi,
    Choi,
    Kraus,
    Operator,
    SparsePauliOp,
    Statevector,
    pauli_basis,
)
from qiskit.transpiler import (
    InstructionProperties,
    QubitProperties,
    Target,
    generate_preset_pass_manager,
)
from qiskit_aer import AerSimulator
from qiskit_aer.noise import (
    NoiseModel,
    ReadoutError,
    amplitude_damping_error,
    pauli_error,
)
from qiskit_aer.noise.device import basic_device_gate_errors
from qiskit_aer.noise.errors.base_quantum_error import QuantumChannelInstruction
from scipy.stats import chi2_contingency

from qsession.execution import Executor, dd, load_profile, methods, stabilizer
from qsession.execution.distribution import apply_readout_errors, final_distribution
from qsession.execution.noise import DeviceNoise, pauli_twirl, restrict_target
from qsession.execution.reduction import ReducedCircuit, reduce_circuit
from qsession.execution.sampling import sample_registers
from qsession.wire.options import JobOptions, TwirlingOptions, encode_job_options

CZ = frozenset({"cz"})
"""The 2-qubit gates the line targets' circuits run Pauli-twirled."""

TWIRLED = encode_job_options(JobOptions(twirling=TwirlingOptions(enable_gates=True)))
"""Options of a gate-twirled job: the stabilizer path runs only for those."""


@pytest.fixture(scope="module")
def torino_noise() -> DeviceNoise:
    return DeviceNoise(load_profile("fake_torino").target)


@pytest.fixture(scope="module")
def brisbane() -> Executor:
    return Executor(load_profile("fake_brisbane"), noise=True)


def _torino_device_circuit(circuit: QuantumCircuit, seed: int) -> QuantumCircuit:
    """``circuit`` as the emulated fake_torino runs a job's circuit: transpiled, scheduled,
    its idle windows relaxation-and-detuning channels."""
    target = load_profile("fake_torino").target
    isa = generate_preset_pass_manager(
        optimization_level=1, target=target, seed_transpiler=seed
    ).run(circuit)
    scheduled = dd.schedule_idle(isa, target, dd.DynamicalDecoupling())
    return dd.idle_noise_channels(scheduled, target)


def _clifford_circuit(num_qubits: int) -> QuantumCircuit:
    """A GHZ state with a few more Clifford gates, measured: outcomes spread, non-trivial."""
    circuit = QuantumCircuit(num_qubits)
    circuit.h(0)
    for q in range(num_qubits - 1):
        circuit.cx(q, q + 1)
    circuit.s(1)
    circuit.h(1)
    circuit.sdg(num_qubits - 1)
    circuit.h(num_qubits - 1)
    circuit.measure_all()
    return circuit


def _pauli_distribution(reduced: ReducedCircuit, noise: DeviceNoise) -> np.ndarray:
    """The exact distribution of the measured qubits (bit ``j`` = ``j``-th measured reduced
    qubit, ascending) under the Pauli twirl of every error: one density-matrix run of the
    circuit with each device error and idle channel replaced by its twirl."""
    circuit = reduced.circuit
    unitary = circuit.copy_empty_like()
    for inst in circuit.data:
        operation = inst.operation
        if operation.name == "measure":
            continue
        if isinstance(operation, QuantumChannelInstruction):
            unitary.append(
                Kraus(pauli_twirl(operation._quantum_error)).to_instruction(), inst.qubits
            )
            continue
        unitary.append(inst)
        device = tuple(reduced.active[circuit.find_bit(q).index] for q in inst.qubits)
        error = noise.quantum_error(operation.name, device)
        if error is not None:
            unitary.append(Kraus(pauli_twirl(error)).to_instruction(), inst.qubits)
    measured = sorted(set(reduced.final_measures.values()))
    unitary.save_probabilities(measured, label="p")
    result = AerSimulator(method="density_matrix").run(unitary).result()
    probabilities = np.asarray(result.data(0)["p"], np.float64)
    return apply_readout_errors(
        probabilities, noise.readout_assignment(reduced.active[q] for q in measured)
    )


def _device_distribution(reduced: ReducedCircuit, noise: DeviceNoise) -> np.ndarray:
    measured = sorted(set(reduced.final_measures.values()))
    return final_distribution(reduced, measured, np.zeros((1, 0)), noise)[0]


def _by_clbits(reduced: ReducedCircuit, distribution: np.ndarray) -> np.ndarray:
    """``distribution`` over the measured qubits as a distribution over the clbits' values
    (clbit ``c`` = bit ``c`` of the index)."""
    measured = sorted(set(reduced.final_measures.values()))
    outcomes = np.arange(distribution.size)
    index = np.zeros_like(outcomes)
    for clbit, qubit in reduced.final_measures.items():
        index |= ((outcomes >> measured.index(qubit)) & 1) << clbit
    out = np.zeros(2**reduced.circuit.num_clbits)
    np.add.at(out, index, distribution)
    return out


def _frequencies(packed: np.ndarray, num_clbits: int) -> np.ndarray:
    values = np.zeros(packed.shape[0], np.int64)
    for byte in range(packed.shape[1]):
        values |= packed[:, -1 - byte].astype(np.int64) << (8 * byte)
    return np.bincount(values, minlength=2**num_clbits) / packed.shape[0]


def _tv(p: np.ndarray, q: np.ndarray) -> float:
    return 0.5 * float(np.abs(p - q).sum())


def _shot_noise_tolerance(p: np.ndarray, shots: int, seed: int) -> float:
    """The 99.9% quantile of the total-variation distance between ``p`` and the frequencies
    of ``shots`` draws from it (1,000 draws)."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(shots, p / p.sum(), size=1000)
    distances = 0.5 * np.abs(counts / shots - p).sum(axis=1)
    return float(np.quantile(distances, 0.999))


@pytest.mark.parametrize("chunk", [stabilizer.CHUNK_SHOTS, 7001])
def test_frames_follow_the_exact_pauli_twirled_distribution_and_the_bound_holds(
    torino_noise: DeviceNoise, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stabilizer, "CHUNK_SHOTS", chunk)  # 7001: six chunks, ragged bytes
    reduced = reduce_circuit(_torino_device_circuit(_clifford_circuit(6), seed=3))
    assert any(isinstance(i.operation, QuantumChannelInstruction) for i in reduced.circuit.data)
    run = stabilizer.pauli_run(reduced, torino_noise)
    assert run is not None
    shots = 40_000
    sampled = _frequencies(
        stabilizer.sample_memory(run, shots, np.random.SeedSequence(5)), reduced.circuit.num_clbits
    )
    pauli = _by_clbits(reduced, _pauli_distribution(reduced, torino_noise))
    device = _by_clbits(reduced, _device_distribution(reduced, torino_noise))
    tolerance = _shot_noise_tolerance(pauli, shots, seed=6)
    assert _tv(sampled, pauli) <= tolerance
    # ... and the test can tell: noise moves the distribution far more than shot noise.
    ideal = Statevector(_clifford_circuit(6).remove_final_measurements(inplace=False))
    assert _tv(sampled, ideal.probabilities()) > 5 * tolerance
    assert 0 < run.bound < 1
    assert _tv(pauli, device) <= run.bound


@pytest.mark.parametrize("name", ["rx", "ry", "rz"])
def test_quarter_turn_rotations_become_the_same_clifford(name: str) -> None:
    for turns in range(-4, 6):
        gate = get_standard_gate_name_mapping()[name].base_class(turns * math.pi / 2)
        assert stabilizer.is_clifford(gate)
        rewritten = QuantumCircuit(1)
        for replacement in stabilizer._stabilizer_gates(gate):
            rewritten.append(replacement, [0])
        assert Operator(rewritten).equiv(Operator(gate)), (name, turns)
    assert not stabilizer.is_clifford(get_standard_gate_name_mapping()[name].base_class(0.3))


def test_mid_circuit_measurement_and_reset_match_aer_on_the_same_pauli_model() -> None:
    """Frames randomize a measured or reset qubit's Z: checked against Aer's density-matrix
    method shot by shot on the same Pauli errors and readout errors (chi-square)."""
    circuit = QuantumCircuit(QuantumRegister(4), ClassicalRegister(7))
    circuit.h(3)
    circuit.measure(3, 5)
    circuit.h(3)  # |m> -> |+> or |->: the next reading is random again
    circuit.measure(3, 6)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure(0, 0)
    circuit.reset(0)
    circuit.h(0)
    circuit.cx(1, 2)
    circuit.measure(0, 1)
    circuit.s(1)
    circuit.h(1)
    circuit.measure(1, 2)
    circuit.measure(2, 3)
    circuit.x(2)
    circuit.measure(2, 3)  # overwrites clbit 3
    circuit.measure(0, 4)
    isa = generate_preset_pass_manager(
        optimization_level=1, target=load_profile("fake_torino").target, seed_transpiler=1
    ).run(circuit)
    noise = DeviceNoise(load_profile("fake_torino").target)
    reduced = reduce_circuit(isa)
    run = stabilizer.pauli_run(reduced, noise)
    assert run is not None
    shots = 20_000
    frames = _frequencies(
        stabilizer.sample_memory(run, shots, np.random.SeedSequence(1)), circuit.num_clbits
    )
    model = NoiseModel()
    reference = reduced.circuit.copy_empty_like()
    for inst in reduced.circuit.data:
        reference.append(inst)
        device = tuple(reduced.active[reduced.circuit.find_bit(q).index] for q in inst.qubits)
        if inst.operation.name == "measure":
            continue
        error = noise.quantum_error(inst.operation.name, device)
        if error is not None:
            reference.append(pauli_twirl(error).to_instruction(), inst.qubits)
    for j, qubit in enumerate(reduced.active):
        model.add_readout_error(ReadoutError(noise.readout_assignment([qubit])[0]), [j])
    simulator = AerSimulator(method="density_matrix", noise_model=model, seed_simulator=2)
    counts = simulator.run(reference, shots=shots).result().get_counts()
    aer = np.zeros(2**circuit.num_clbits)
    for key, count in counts.items():
        aer[int(key, 2)] = count / shots
    table = np.stack([frames, aer]) * shots
    table = table[:, table.sum(axis=0) > 0]
    assert chi2_contingency(table).pvalue > 1e-4
    # Random outcomes are random: clbit 0 (half of a Bell pair) and clbit 6 (read after a
    # measurement and a Hadamard) are about half ones.
    for clbit in (0, 6):
        ones = sum(frames[v] for v in range(frames.size) if v >> clbit & 1)
        assert abs(ones - 0.5) < 0.05


def _clean_line_target(
    num_qubits: int, one_qubit_error: float, cz_error: float = 0.01, readout_error: float = 0.02
) -> Target:
    """A line of ``num_qubits`` qubits with T1/T2: ``cz`` has ``cz_error`` and, if that is
    positive, a duration (so a depolarizing and thermal-relaxation error, not a Pauli
    channel); 1-qubit gates take no time and have ``one_qubit_error`` (a depolarizing error:
    Pauli); each readout errs with ``readout_error``."""
    target = Target(
        num_qubits=num_qubits,
        dt=2.2222e-10,
        qubit_properties=[QubitProperties(t1=100e-6, t2=80e-6) for _ in range(num_qubits)],
    )
    one = {
        (q,): InstructionProperties(duration=0.0, error=one_qubit_error) for q in range(num_qubits)
    }
    target.add_instruction(SXGate(), dict(one))
    target.add_instruction(XGate(), dict(one))
    target.add_instruction(
        RZGate(Parameter("theta")),
        {(q,): InstructionProperties(duration=0.0, error=0.0) for q in range(num_qubits)},
    )
    target.add_instruction(
        CZGate(),
        {
            (q, q + 1): InstructionProperties(duration=100e-9 if cz_error else 0.0, error=cz_error)
            for q in range(num_qubits - 1)
        },
    )
    target.add_instruction(
        Measure(),
        {
            (q,): InstructionProperties(duration=1e-6, error=readout_error)
            for q in range(num_qubits)
        },
    )
    return target


def _line_ghz(target: Target) -> QuantumCircuit:
    circuit = QuantumCircuit(target.num_qubits)
    circuit.h(0)
    for q in range(target.num_qubits - 1):
        circuit.cx(q, q + 1)
    circuit.measure_all()
    return generate_preset_pass_manager(optimization_level=1, target=target, seed_transpiler=1).run(
        circuit
    )


def test_bound_is_zero_when_only_twirled_two_qubit_errors_were_not_pauli() -> None:
    target = _clean_line_target(12, one_qubit_error=1e-3)
    noise = DeviceNoise(target)
    circuit = _line_ghz(target)
    reduced = reduce_circuit(circuit)
    assert len(reduced.active) == 12
    twirled = stabilizer.pauli_run(reduced, noise, frozenset({"cz"}))
    untwirled = stabilizer.pauli_run(reduced, noise)
    assert twirled is not None and untwirled is not None
    assert twirled.bound == 0.0
    assert untwirled.bound > 0.0  # the cz errors' thermal relaxation is not a Pauli channel
    values = np.zeros((1, 0))
    with methods.recording() as record:
        sample_registers(
            circuit,
            circuit.cregs,
            values,
            100,
            np.random.SeedSequence(1),
            noise,
            twirled_gates=frozenset({"cz"}),
        )
    (entry,) = record.metadata()["methods"]
    assert entry["method"] == "stabilizer" and entry["exact"] is True
    assert entry["pauli_approximation_bound"] == 0.0 and entry["twirled_gates"] == ["cz"]


def test_registers_come_back_in_bit_array_layout() -> None:
    """A device without errors: the stabilizer path's registers (two, measured out of order,
    one bit overwritten, over two bytes) equal the ideal state-vector path's, bit for bit."""
    target = _clean_line_target(12, one_qubit_error=0.0, cz_error=0.0, readout_error=0.0)
    alpha, beta = ClassicalRegister(5, "alpha"), ClassicalRegister(9, "beta")
    circuit = QuantumCircuit(QuantumRegister(12), alpha, beta)
    circuit.x([1, 4, 6, 11])
    for q in range(11):
        circuit.cx(q, q + 1)
    circuit.s(3)
    circuit.h(3)
    circuit.h(3)
    circuit.sdg(3)
    circuit.measure([11, 0, 5, 7, 2], alpha)
    circuit.measure([3, 4, 6, 8, 9, 10, 1, 11, 0], beta)
    circuit.measure(9, alpha[1])  # overwrites alpha[1]
    isa = generate_preset_pass_manager(
        optimization_level=1, target=target, initial_layout=list(range(12)), seed_transpiler=1
    ).run(circuit)
    values, seed = np.zeros((2, 0)), np.random.SeedSequence(3)
    with methods.recording() as record:
        noisy = sample_registers(
            isa, isa.cregs, values, 20, seed, DeviceNoise(target), twirled_gates=CZ
        )
    (entry,) = record.metadata()["methods"]
    assert entry["method"] == "stabilizer" and entry["exact"] is True
    ideal = sample_registers(isa, isa.cregs, values, 20, seed, None)
    assert [a.shape for a in noisy] == [(2, 20, 1), (2, 20, 2)]
    for got, expected in zip(noisy, ideal, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert np.unique(ideal[1].reshape(-1, 2), axis=0).shape[0] == 1  # deterministic


def test_only_gate_twirled_circuits_take_the_stabilizer_path() -> None:
    """12 qubits whose only non-Pauli errors are the cz errors: gate-twirled, the stabilizer
    path is exact (bound 0), so a job that refuses approximations gets it too; untwirled,
    the path is not taken (every error would be approximated)."""
    target = _clean_line_target(12, one_qubit_error=1e-3)
    noise = DeviceNoise(target)
    circuit = _line_ghz(target)
    values = np.zeros((1, 0))
    seed = np.random.SeedSequence(1)
    with methods.recording(exact_required=True) as record:
        sample_registers(circuit, circuit.cregs, values, 50, seed, noise, twirled_gates=CZ)
    (entry,) = record.metadata()["methods"]
    assert entry["method"] == "stabilizer" and entry["exact"] is True
    with methods.recording() as record:
        sample_registers(circuit, circuit.cregs, values, 50, seed, noise)
    assert "stabilizer" not in {entry["method"] for entry in record.metadata()["methods"]}


def test_diamond_distance_bound_lies_between_the_choi_bounds_and_is_tight_for_unitaries() -> None:
    damping = amplitude_damping_error(0.2)
    twirl = pauli_twirl(damping)
    bound = stabilizer.diamond_distance_bound(damping, twirl)
    trace_norm = np.abs(np.linalg.eigvalsh(Choi(damping).data - Choi(twirl).data)).sum()
    assert trace_norm / 2 - 1e-12 <= bound <= trace_norm + 1e-12
    assert bound > 0.05
    flip = pauli_error([("X", 1.0)])
    identity = pauli_error([("I", 1.0)])
    assert stabilizer.diamond_distance_bound(flip, identity) == pytest.approx(2.0)


def test_choi_matrices_and_twirls_equal_qiskits(torino_noise: DeviceNoise) -> None:
    """The numpy Kraus products give Qiskit's Choi matrix, and the twirl ``pauli_twirl``'s
    probabilities, for device errors (depolarizing with thermal relaxation) and a product."""
    target = load_profile("fake_torino").target
    pair = next(q for q in target["cz"] if q is not None)
    errors = [torino_noise.quantum_error("sx", (0,)), torino_noise.quantum_error("cz", pair)]
    product = amplitude_damping_error(0.1).tensor(pauli_error([("X", 0.3), ("I", 0.7)]))
    errors.append(product)
    for error in errors:
        assert error is not None
        choi = stabilizer._choi(stabilizer._kraus(error))
        np.testing.assert_allclose(choi, Choi(error).data, atol=1e-12)
        (cumulative, x, z), distance = stabilizer._twirl_and_distance(error)
        twirl = pauli_twirl(error)
        expected = np.real(np.diag(Chi(twirl).data)) / 2**error.num_qubits
        labels = pauli_basis(error.num_qubits)
        kept = [
            i
            for i in range(len(labels))
            if any(
                np.array_equal(labels.x[i], xi) and np.array_equal(labels.z[i], zi)
                for xi, zi in zip(x, z, strict=True)
            )
        ]
        np.testing.assert_allclose(np.diff(cumulative, prepend=0.0), expected[kept], atol=1e-12)
        assert expected[kept].sum() == pytest.approx(1.0)
        assert distance == pytest.approx(stabilizer.diamond_distance_bound(error, twirl), abs=1e-10)


def test_device_errors_in_bulk_equal_aers_errors_of_each_instructions_qubits() -> None:
    """``DeviceNoise.quantum_errors`` computes many errors in one Aer call on a target
    holding just those instructions; each equals what Aer gives on the sub-device of the
    instruction's own qubits."""
    target = load_profile("fake_brisbane").target
    noise = DeviceNoise(target)
    pair = next(q for q in noise.target["ecr"] if q is not None)
    keys = {("sx", (5,)), ("x", (7,)), ("rz", (7,)), ("ecr", pair), ("reset", (9,)), ("h", (1,))}
    errors = noise.quantum_errors(keys)
    assert set(errors) == keys
    for (name, qubits), error in errors.items():
        local = tuple(range(len(qubits)))
        own = next(
            (
                e
                for n, on, e in basic_device_gate_errors(target=restrict_target(target, qubits))
                if n == name and tuple(on) == local
            ),
            None,
        )
        assert (error is None) == (own is None), name
        if error is not None:
            np.testing.assert_allclose(Choi(error).data, Choi(own).data, atol=1e-12)
    assert errors[("ecr", pair)] is not None and errors[("rz", (7,))] is None


def _tree_ghz(
    target: Target, num_qubits: int, measure: bool = True
) -> tuple[QuantumCircuit, list[int]]:
    """A GHZ state on the first ``num_qubits`` device qubits a breadth-first walk of the
    coupling map from qubit 0 reaches (CNOTs along the walk's edges, no routing needed),
    transpiled; and those qubits, in the order of the clbits that measure them."""
    neighbours: dict[int, set[int]] = {}
    for a, b in (q for q in target["ecr"] if q is not None):
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    order, tree, frontier = [0], [], [0]
    while frontier and len(order) < num_qubits:
        following = []
        for q in frontier:
            for r in sorted(neighbours[q]):
                if r not in order and len(order) < num_qubits:
                    order.append(r)
                    tree.append((q, r))
                    following.append(r)
        frontier = following
    circuit = QuantumCircuit(target.num_qubits, num_qubits if measure else 0)
    circuit.h(0)
    for q, r in tree:
        circuit.cx(q, r)
    if measure:
        circuit.measure(order, range(num_qubits))
    isa = generate_preset_pass_manager(
        optimization_level=1,
        target=target,
        initial_layout=list(range(target.num_qubits)),
        seed_transpiler=2,
    ).run(circuit)
    return isa, order


def test_127_qubit_ghz_sampler_pub_runs_the_stabilizer_path_in_seconds(brisbane: Executor) -> None:
    circuit, _ = _tree_ghz(brisbane.profile.target, 127)
    shots = 10_000
    result = brisbane.run_sampler([SamplerPub.coerce(circuit, shots)], seed=3, options=TWIRLED)[0]
    entries = result.metadata["simulation"]["methods"]
    assert {entry["method"] for entry in entries} == {"stabilizer"}
    (entry, *_) = entries
    assert entry["exact"] is False
    assert 0 < entry["pauli_approximation_bound"] <= 1
    weights = result.data.c.bitcount().astype(np.float64)
    # GHZ: half the shots in the all-zeros mode, half in the all-ones mode (the noise, Pauli
    # X and Y as often on either side, flips bits alike in both) ...
    assert abs(np.mean(weights < 127 / 2) - 0.5) < 5 * math.sqrt(0.25 / shots)
    # ... so the mean weight is what the readout errors alone make of a half-half qubit.
    noise = DeviceNoise(brisbane.profile.target)
    assignment = noise.readout_assignment(range(127))
    expected = float(np.sum(0.5 + 0.5 * (assignment[:, 0, 1] - assignment[:, 1, 0])))
    assert abs(weights.mean() - expected) < 5 * weights.std() / math.sqrt(shots)

    exact = encode_job_options(JobOptions(exact=True, twirling=TwirlingOptions(enable_gates=True)))
    with pytest.raises(methods.ApproximationRefused) as refused:
        brisbane.run_sampler([SamplerPub.coerce(circuit, shots)], seed=3, options=exact)
    assert refused.value.field == methods.EXACT_OPTION == "options.simulator.exact"


def test_gate_twirled_sampler_counts_the_twirled_gates_exact(brisbane: Executor) -> None:
    circuit, _ = _tree_ghz(brisbane.profile.target, 30)  # wider than a state vector's path
    result = brisbane.run_sampler([SamplerPub.coerce(circuit, 1000)], seed=3, options=TWIRLED)[0]
    entries = result.metadata["simulation"]["methods"]
    assert {entry["method"] for entry in entries} == {"stabilizer"}
    assert all(entry["twirled_gates"] == ["cx", "cz", "ecr", "iswap"] for entry in entries)
    assert sum(entry["circuits"] for entry in entries) == 16  # IBM's auto randomizations


def test_wide_noisy_clifford_estimator_pub_runs_the_stabilizer_path(brisbane: Executor) -> None:
    """A 40-qubit GHZ state's Z parity: the Estimator's bases reach the stabilizer path, and
    its value agrees with the parity of the Sampler's shots of the same circuit."""
    circuit, qubits = _tree_ghz(brisbane.profile.target, 40, measure=False)
    parity = SparsePauliOp.from_sparse_list([("Z" * 40, qubits, 1.0)], circuit.num_qubits)
    pub = EstimatorPub.coerce((circuit, parity), precision=0.02)
    level1 = encode_job_options(
        JobOptions(resilience_level=1, twirling=TwirlingOptions(enable_gates=True))
    )
    result = brisbane.run_estimator([pub], seed=5, options=level1)[0]
    assert {entry["method"] for entry in result.metadata["simulation"]["methods"]} == {"stabilizer"}
    unmitigated = JobOptions(resilience_level=0, twirling=TwirlingOptions(enable_gates=True))
    plain = brisbane.run_estimator([pub], seed=5, options=encode_job_options(unmitigated))[0]
    assert {entry["method"] for entry in plain.metadata["simulation"]["methods"]} == {"stabilizer"}
    measured, _ = _tree_ghz(brisbane.profile.target, 40)
    shots = brisbane.run_sampler([SamplerPub.coerce(measured, 10_000)], seed=6, options=TWIRLED)
    shots = shots[0].data.c
    sampled = float(np.mean((-1.0) ** shots.bitcount()))
    assert abs(float(plain.data.evs) - sampled) < 5 * math.hypot(0.02, 0.01)
