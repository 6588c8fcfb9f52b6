"""The Estimator's light-cone path (execution/light_cone.py): a term's backward light cone is
what it should be, each cone's state gives exactly the distribution the whole circuit's state
gives its terms (noisy, twirl-averaged and scheduled circuits included), and the executor's
values from cones agree with the whole-state path and with exact references, a wide device
included."""

from __future__ import annotations

import time
from unittest import mock

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import Pauli, SparsePauliOp, Statevector
from qiskit.transpiler import Target, generate_preset_pass_manager

from qsession.execution import (
    Executor,
    light_cone,
    load_profile,
    methods,
    sampling,
    twirled_channel,
)
from qsession.execution import estimator_plan as plans
from qsession.execution.dd import DynamicalDecoupling, idle_noise_channels, schedule_idle
from qsession.execution.distribution import basis_probabilities, final_states
from qsession.execution.noise import DeviceNoise
from qsession.execution.reduction import reduce_circuit
from qsession.v1 import job_pb2

TORINO = load_profile("fake_torino")
BRISBANE = load_profile("fake_brisbane")


def _line(target: Target, length: int, start: int = 0) -> list[int]:
    """``length`` device qubits in a line of the coupling graph, from ``start``."""
    coupling = target.build_coupling_map()
    end = max(range(target.num_qubits), key=lambda q: coupling.distance(start, q))
    return list(coupling.shortest_undirected_path(start, end)[:length])


def _brickwork(width: int, layers: int, seed: int = 1) -> QuantumCircuit:
    """``layers`` brick layers of CX on a line of ``width`` qubits, random rotations between."""
    rng = np.random.default_rng(seed)
    circuit = QuantumCircuit(width)
    for layer in range(layers):
        for qubit in range(width):
            circuit.ry(rng.uniform(0, np.pi), qubit)
            circuit.rz(rng.uniform(0, np.pi), qubit)
        for qubit in range(layer % 2, width - 1, 2):
            circuit.cx(qubit, qubit + 1)
    return circuit


def _isa(circuit: QuantumCircuit, layout: list[int]) -> QuantumCircuit:
    manager = generate_preset_pass_manager(
        optimization_level=1, target=TORINO.target, initial_layout=layout, seed_transpiler=11
    )
    return manager.run(circuit)


def _local_observables(isa: QuantumCircuit, width: int) -> list[SparsePauliOp]:
    """Z on each qubit, ZZ and XX on neighbours, and a sum of terms several cones apart."""
    labels = []
    for qubit in range(width):
        labels.append([("Z", [qubit], 1.0)])
    for qubit in range(width - 1):
        labels.append([("ZZ", [qubit, qubit + 1], 1.0)])
        labels.append([("XX", [qubit, qubit + 1], 1.0)])
    labels.append([("Z", [0], 0.5), ("Z", [width - 1], -0.7), ("YY", [2, 3], 0.3)])
    return [
        SparsePauliOp.from_sparse_list(terms, width).apply_layout(isa.layout) for terms in labels
    ]


def _marginal(probabilities: np.ndarray, size: int, columns: np.ndarray) -> np.ndarray:
    """A distribution over ``size`` bits reduced to bits ``columns`` (bit ``i`` of the result
    = bit ``columns[i]``)."""
    tensor = probabilities.reshape((2,) * size)
    order = [size - 1 - c for c in reversed(columns.tolist())]
    return np.einsum(tensor, list(range(size)), order).reshape(-1)


def _cone_qubits(circuit: QuantumCircuit, qubits: list[int]) -> set[int]:
    """The device qubits of the cone of a Z term on ``qubits`` of ``circuit`` (ideal, the
    whole state vector made unavailable: a small circuit would rather use it)."""
    label = SparsePauliOp.from_sparse_list([("Z" * len(qubits), qubits, 1.0)], circuit.num_qubits)
    pub = EstimatorPub.coerce((circuit, label))
    plan, _ = plans.measured_bases(pub)
    with mock.patch.object(sampling, "STATEVECTOR_MAX_QUBITS", 0):
        cones = light_cone.light_cone_plan([circuit], plan, None)
    assert cones is not None
    (group,) = cones.groups[0]
    return set(cones.cones[0][group.cones[0]].reduced.active)


def test_the_cone_of_a_local_term_follows_the_gates_backwards() -> None:
    """A CX chain 0->1->...->9 carries every qubit into the last one's cone, but the first
    qubit only sees the first gate; in one layer of disjoint gates a cone is its gate's
    pair; barriers join nothing; two brick layers reach two qubits either way."""
    chain = QuantumCircuit(10)
    for qubit in range(9):
        chain.cx(qubit, qubit + 1)
    assert _cone_qubits(chain, [9]) == set(range(10))
    assert _cone_qubits(chain, [0]) == {0, 1}
    assert _cone_qubits(chain, [4]) == set(range(6))  # cx(4, 5) acts on 4 too
    layer = QuantumCircuit(10)
    layer.h(range(10))
    layer.barrier()
    for qubit in range(0, 10, 2):
        layer.cx(qubit, qubit + 1)
    layer.barrier()
    assert _cone_qubits(layer, [3]) == {2, 3}
    assert _cone_qubits(layer, [3, 4]) == {2, 3, 4, 5}
    bricks = _brickwork(10, 2)
    assert _cone_qubits(bricks, [5]) == {4, 5, 6, 7}  # cx(5, 6), then cx(4, 5) and cx(6, 7)
    assert _cone_qubits(bricks, [0]) == {0, 1}  # qubit 0 has no second-layer gate


def test_a_term_whose_cone_is_too_wide_or_a_mid_circuit_measurement_has_no_plan() -> None:
    """A noisy cone wider than a density matrix is a wide group (trajectories) unless the
    job asks for exact results; one wider than a state vector, or a circuit that is not one
    unitary, has no plan."""
    noise = DeviceNoise(TORINO.target)
    chain = QuantumCircuit(26)
    for qubit in range(25):
        chain.cx(qubit, qubit + 1)

    def plan_of(label_qubit: int, circuit: QuantumCircuit = chain) -> light_cone.LightConePlan:
        pub = EstimatorPub.coerce((chain, _term(26, "Z", [label_qubit])))
        return light_cone.light_cone_plan([circuit], plans.measured_bases(pub)[0], noise)

    assert plan_of(25) is None  # all 26 qubits in its cone
    (group,) = plan_of(11).groups[0]  # 0..12 (cx(11, 12) acts on 11): a wide group
    assert len(group.wide[0].position) == 13 and plan_of(11).trajectories > 0
    with methods.recording(exact_required=True):
        assert plan_of(11) is None
        assert plan_of(8).trajectories == 0  # 0..9: one density matrix, exact
    (group,) = plan_of(0).groups[0]
    assert set(plan_of(0).cones[0][group.cones[0]].position) == {0, 1}
    measured = chain.copy()
    measured.measure_all()
    measured.h(0)  # after a measurement of qubit 0: not one unitary
    assert plan_of(0, measured) is None


WIDTH = 7
"""Qubits of the fake_torino cases: wider than the density-matrix limit they run with."""
CONE_LIMIT = 6
"""The density-matrix limit the fake_torino cases patch in: two brick layers give a term on
two neighbours a cone of up to six qubits, and the whole seven-qubit state no longer fits."""


@pytest.fixture(scope="module")
def torino_case() -> tuple[QuantumCircuit, list[SparsePauliOp]]:
    """Two brick layers on seven fake_torino qubits in a line, transpiled, and local
    observables on them (bases X, Y and Z, split over several cones under the limit)."""
    isa = _isa(_brickwork(WIDTH, 2), _line(TORINO.target, WIDTH, start=10))
    return isa, _local_observables(isa, WIDTH)


def _circuit_forms(isa: QuantumCircuit) -> dict[str, tuple[QuantumCircuit, DeviceNoise]]:
    """The circuit as the executor may run it, with the noise it runs with: as given; as a
    job runs it (scheduled, each idle window a relaxation channel); and that circuit's
    average over gate twirls (Kraus dressings, twirled gate errors)."""
    noise = DeviceNoise(TORINO.target)
    scheduled = idle_noise_channels(
        schedule_idle(isa, TORINO.target, DynamicalDecoupling()), TORINO.target
    )
    averaged = twirled_channel.twirl_averaged_circuit(scheduled, noise)
    return {
        "as given": (isa, noise),
        "scheduled": (scheduled, noise),
        "twirl averaged": (averaged, noise.twirl_averaged(twirled_channel.TWIRLED_GATES)),
    }


@pytest.mark.parametrize("form", ["as given", "scheduled", "twirl averaged"])
def test_each_cone_gives_its_terms_the_whole_states_distribution_exactly(
    torino_case: tuple[QuantumCircuit, list[SparsePauliOp]], form: str
) -> None:
    """For every basis and every group of its terms, the group's outcome distribution from
    its cone's density matrix equals the marginal of the whole circuit's (to rounding)."""
    isa, observables = torino_case
    circuit, noise = _circuit_forms(isa)[form]
    plan, _ = plans.measured_bases(EstimatorPub.coerce((circuit, observables)))
    with mock.patch.object(sampling, "DENSITY_MATRIX_MAX_QUBITS", CONE_LIMIT):
        cones = light_cone.light_cone_plan([circuit], plan, noise)
    assert cones is not None and cones.split
    assert cones.max_cone_qubits <= CONE_LIMIT
    reduced = reduce_circuit(circuit.remove_final_measurements(inplace=False))
    (whole,) = final_states(reduced, np.zeros((1, 0)), noise)
    position = {qubit: j for j, qubit in enumerate(reduced.active)}
    states = light_cone.cone_states(cones, np.zeros((1, 0)), [], noise)
    for basis, groups in zip(plan.bases, cones.groups, strict=True):
        full = basis_probabilities(whole, [position[q] for q in basis.qubits], basis.paulis)
        read = set()
        for group in groups:
            (cone,) = group.cones
            cone_plan = cones.cones[0][cone]
            probabilities = basis_probabilities(
                states.states[0][cone][0],
                [cone_plan.position[q] for q in group.basis.qubits],
                group.basis.paulis,
            )
            expected = _marginal(full, len(basis.qubits), group.columns)
            np.testing.assert_allclose(probabilities, expected, atol=1e-12)
            read.update(group.terms.tolist())
        assert read == set(range(len(basis.terms)))  # every term in one group


def _agree(first, second, sigmas: float = 5.0, rtol: float = 0.1) -> None:
    """Two estimates of the same values agree within ``sigmas`` combined standard errors,
    and their standard errors within ``rtol``."""
    bound = sigmas * np.hypot(first.data.stds, second.data.stds)
    assert np.all(np.abs(first.data.evs - second.data.evs) <= bound)
    np.testing.assert_allclose(first.data.stds, second.data.stds, rtol=rtol)


def _methods(result) -> dict[str, dict]:
    return {entry["method"]: entry for entry in result.metadata["simulation"]["methods"]}


def test_noisy_values_from_cones_agree_with_the_whole_density_matrix(
    torino_case: tuple[QuantumCircuit, list[SparsePauliOp]],
) -> None:
    """No options: the same observables from the seven-qubit density matrix and, under the
    patched limit, from the cones; the metadata names the light cone and its caveat."""
    isa, observables = torino_case
    pub = EstimatorPub.coerce((isa, observables), precision=0.004)
    executor = Executor(TORINO, noise=True)
    whole = executor.run_estimator([pub], seed=1)[0]
    assert "light_cone" not in _methods(whole)
    with mock.patch.object(sampling, "DENSITY_MATRIX_MAX_QUBITS", CONE_LIMIT):
        cones = executor.run_estimator([pub], seed=2)[0]
    entry = _methods(cones)["light_cone"]
    assert entry["exact"] and cones.metadata["simulation"]["exact"]
    assert entry["max_cone_qubits"] <= CONE_LIMIT
    assert entry["groups"] > 3 and entry["covariance"] == light_cone.COVARIANCE
    assert np.all(np.abs(whole.data.evs) <= 1.5)  # the sum observable reaches 1.5
    _agree(whole, cones)


@pytest.mark.parametrize("level", [1, 2])
def test_mitigated_values_from_cones_agree_with_the_whole_density_matrix(
    torino_case: tuple[QuantumCircuit, list[SparsePauliOp]], level: int
) -> None:
    """Level 1 (measurement twirling, TREX) and level 2 (gate twirling in closed form, ZNE):
    the cones serve the closed form of gate twirling too, and agree with the whole state."""
    isa, observables = torino_case
    pub = EstimatorPub.coerce((isa, observables[:WIDTH]), precision=0.01)
    options = job_pb2.JobOptions(resilience_level=level)
    executor = Executor(TORINO, noise=True)
    whole = executor.run_estimator([pub], seed=1, options=options)[0]
    with mock.patch.object(sampling, "DENSITY_MATRIX_MAX_QUBITS", CONE_LIMIT):
        cones = executor.run_estimator([pub], seed=2, options=options)[0]
    assert "light_cone" in _methods(cones)
    if level == 2:
        assert cones.metadata["resilience"]["gate_twirling"] == twirled_channel.EXACT
    if level == 1:
        _agree(whole, cones)
        return
    # ZNE's extrapolated standard errors vary with the values extrapolated (between two
    # seeds by up to 2x, either path): compare the standard errors at each noise factor.
    bound = 5.0 * np.hypot(whole.data.stds, cones.data.stds)
    assert np.all(np.abs(whole.data.evs - cones.data.evs) <= bound)
    np.testing.assert_allclose(
        whole.data.stds_noise_factors, cones.data.stds_noise_factors, rtol=0.1
    )


def test_the_per_randomization_reference_path_runs_each_twirl_by_cones(
    torino_case: tuple[QuantumCircuit, list[SparsePauliOp]],
) -> None:
    """Gate twirling without the closed form: each randomization's own twirled circuit is
    read from its own cones, and agrees with the closed form."""
    isa, observables = torino_case
    pub = EstimatorPub.coerce((isa, observables[:WIDTH]), precision=0.02)
    options = job_pb2.JobOptions(resilience_level=2)
    options.resilience.zne_mitigation = False
    reference = Executor(TORINO, noise=True)
    reference.twirl_in_closed_form = False
    closed = Executor(TORINO, noise=True)
    with mock.patch.object(sampling, "DENSITY_MATRIX_MAX_QUBITS", CONE_LIMIT):
        per_twirl = reference.run_estimator([pub], seed=1, options=options)[0]
        averaged = closed.run_estimator([pub], seed=2, options=options)[0]
    assert per_twirl.metadata["resilience"]["gate_twirling"] == twirled_channel.REFERENCE
    assert averaged.metadata["resilience"]["gate_twirling"] == twirled_channel.EXACT
    assert _methods(per_twirl)["light_cone"]["circuits"] == 1  # one plan, all randomizations
    _agree(per_twirl, averaged)


def _layers(target: Target, qubits: list[int]) -> tuple[list, list]:
    """Two layers of disjoint ``ecr`` pairs (each in the device's direction) among
    ``qubits``: a greedy matching, then one of the remaining pairs."""
    chosen = set(qubits)
    pairs = sorted(p for p in target["ecr"] if p[0] in chosen and p[1] in chosen)
    layers: list[list] = []
    for _ in range(2):
        busy: set[int] = set()
        layer = []
        for a, b in pairs:
            if a in busy or b in busy or any((a, b) in done for done in layers):
                continue
            layer.append((a, b))
            busy |= {a, b}
        layers.append(layer)
    return layers[0], layers[1]


def _region(target: Target, size: int) -> list[int]:
    """``size`` connected device qubits around qubit 0 (breadth first)."""
    coupling = target.build_coupling_map()
    by_distance = sorted(range(target.num_qubits), key=lambda q: (coupling.distance(0, q), q))
    return sorted(by_distance[:size])


def _term(num_qubits: int, pauli: str, qubits: list[int]) -> SparsePauliOp:
    return SparsePauliOp.from_sparse_list([(pauli * len(qubits), qubits, 1.0)], num_qubits)


def test_a_wide_noisy_pub_of_local_terms_runs_by_cones_and_matches_exact_windows() -> None:
    """48 qubits of fake_brisbane (127), two layers of ``ecr`` with rotations between: the
    noisy Estimator runs by light cones in seconds (not shot by shot), and each term agrees
    with the whole density matrix of a window around it (every gate within two gates of
    the term's qubits), run on the executor's single-state path."""
    target = BRISBANE.target
    num_qubits = target.num_qubits
    region = _region(target, 48)
    first, second = _layers(target, region)
    rng = np.random.default_rng(5)
    circuit = QuantumCircuit(num_qubits)
    for layer in (first, second):
        for qubit in region:
            circuit.rz(rng.uniform(0, 2 * np.pi), qubit)
            circuit.sx(qubit)
            circuit.rz(rng.uniform(0, 2 * np.pi), qubit)
        for a, b in layer:
            circuit.ecr(a, b)
    terms = [("Z", [q]) for q in region] + [("ZZ", list(p)) for p in second]
    terms += [("XX", list(p)) for p in second[:6]] + [("YZ", list(p)) for p in first[:6]]
    observables = [_term(num_qubits, pauli, qubits) for pauli, qubits in terms]
    precision = 4e-4  # 6.25 million shots a basis: a drawn count costs no more than a few
    executor = Executor(BRISBANE, noise=True)
    start = time.perf_counter()
    result = executor.run_estimator([EstimatorPub.coerce((circuit, observables), precision)], 1)
    elapsed = time.perf_counter() - start
    (pub_result,) = result
    entry = _methods(pub_result)["light_cone"]
    assert entry["max_cone_qubits"] <= sampling.DENSITY_MATRIX_MAX_QUBITS
    assert "statevector" not in _methods(pub_result)  # nothing ran shot by shot
    assert elapsed < 60  # a few seconds warm; building the gate errors dominates a first run

    edges = first + second
    for index in list(range(0, len(terms), 7)) + [len(terms) - 1, len(terms) - 8]:
        pauli, qubits = terms[index]
        window = set(qubits)
        for _ in range(2):  # every qubit within two gates
            window |= {q for a, b in edges if {a, b} & window for q in (a, b)}
        local = QuantumCircuit(num_qubits)
        for inst in circuit.data:
            if {circuit.find_bit(q).index for q in inst.qubits} <= window:
                local.append(inst)
        pub = EstimatorPub.coerce((local, observables[index]), precision)
        exact = executor.run_estimator([pub], seed=2)[0]
        assert "light_cone" not in _methods(exact)  # the window's whole density matrix
        difference = pub_result.data.evs[index] - exact.data.evs
        assert abs(difference) <= 5 * np.hypot(pub_result.data.stds[index], exact.data.stds)


def test_a_127_qubit_ideal_pub_matches_its_analytic_values() -> None:
    """All of fake_brisbane, ideal: a rotation ``sx rz(b) sx rz(a)`` on each qubit, then
    two layers of ``ecr`` and the same two in reverse (``ecr`` is its own inverse, so the
    state is the product of the rotated qubits while every cone spans several gates): Z, X
    and ZZ read what each qubit's own state gives, to within the shot noise."""
    target = BRISBANE.target
    num_qubits = target.num_qubits
    first, second = _layers(target, list(range(num_qubits)))
    angles = np.random.default_rng(8).uniform(0, 2 * np.pi, (num_qubits, 2))
    circuit = QuantumCircuit(num_qubits)
    z, x = np.empty(num_qubits), np.empty(num_qubits)
    for qubit, (a, b) in enumerate(angles):
        one = QuantumCircuit(1)
        for wire, gates in ((qubit, circuit), (0, one)):
            gates.rz(a, wire)
            gates.sx(wire)
            gates.rz(b, wire)
            gates.sx(wire)
        state = Statevector(one)
        z[qubit] = state.expectation_value(Pauli("Z")).real
        x[qubit] = state.expectation_value(Pauli("X")).real
    for layer in (first, second, second, first):
        for a, b in layer:
            circuit.ecr(a, b)
    observables, expected = [], []
    for qubit in range(num_qubits):
        observables += [_term(num_qubits, "Z", [qubit]), _term(num_qubits, "X", [qubit])]
        expected += [z[qubit], x[qubit]]
    for a, b in second:
        observables.append(_term(num_qubits, "ZZ", [a, b]))
        expected.append(z[a] * z[b])
    shots = 10_000
    pub = EstimatorPub.coerce((circuit, observables), precision=1 / np.sqrt(shots))
    start = time.perf_counter()
    result = Executor(BRISBANE, noise=False).run_estimator([pub], seed=3)[0]
    elapsed = time.perf_counter() - start
    entry = _methods(result)["light_cone"]
    assert 4 < entry["max_cone_qubits"] <= plans.ESTIMATOR_STATE_MAX_QUBITS
    assert elapsed < 30
    expected = np.array(expected)
    assert np.ptp(expected) > 1.5  # values across the range
    error = np.sqrt((1 - np.square(expected)) / shots)  # each value's exact standard error
    assert np.all(np.abs(result.data.evs - expected) <= 5 * error + 5 / shots)
    np.testing.assert_allclose(result.data.stds, error, rtol=0.05, atol=5e-4)


def test_noisy_cones_wider_than_a_density_matrix_run_by_trajectories() -> None:
    """Under a density-matrix limit of 3, most of the seven-qubit case's cones (up to 6
    qubits) run by noisy state-vector trajectories: the values agree with the whole density
    matrix within the reported standard errors, which hold the trajectories' spread as
    noted; the metadata says it is an approximation, with its bound; a job asking for exact
    results samples each basis shot by shot instead."""
    isa = _isa(_brickwork(WIDTH, 2), _line(TORINO.target, WIDTH, start=10))
    observables = _local_observables(isa, WIDTH)
    pub = EstimatorPub.coerce((isa, observables), precision=0.01)
    executor = Executor(TORINO, noise=True)
    whole = executor.run_estimator([pub], seed=1)[0]
    with mock.patch.object(sampling, "DENSITY_MATRIX_MAX_QUBITS", 3):
        wide = executor.run_estimator([pub], seed=2)[0]
        options = job_pb2.JobOptions(exact=True, resilience_level=0)
        coarse = EstimatorPub.coerce((isa, observables), precision=0.1)  # shot by shot: slow
        exact = executor.run_estimator([coarse], seed=3, options=options)
    entry = _methods(wide)["light_cone_trajectories"]
    assert not entry["exact"] and not wide.metadata["simulation"]["exact"]
    assert entry["trajectories"] == light_cone.trajectories(6) == 1024
    bound = entry["trajectory_standard_error"]
    assert 0 < bound < 0.01
    assert "light_cone" in _methods(wide)
    added = np.square(wide.data.stds) - np.square(whole.data.stds)  # the trajectories' part
    assert np.all(added >= -0.2 * np.square(whole.data.stds))  # shot noise's own spread
    # at most the bound's variance per cone an observable reads (the sum: three)
    assert np.all(added <= 0.2 * np.square(whole.data.stds) + 3 * bound**2)
    assert added.max() > 0.1 * np.square(whole.data.stds).max()  # it is there
    _agree(whole, wide, rtol=1.0)
    assert exact[0].metadata["simulation"]["exact"]
    assert "light_cone_trajectories" not in _methods(exact[0])


def test_an_ideal_cone_wider_than_the_state_limit_runs_once_on_a_state_vector() -> None:
    """Ideal, a cone wider than the single-state limit (patched to 3) is one exact
    state-vector run of the cone and its basis change: the same values as the whole
    state, within shot noise, and nothing approximate noted. (A circuit whose whole state
    vector per basis costs less than its cones samples each basis from it instead.)"""
    isa = _isa(_brickwork(WIDTH, 2), _line(TORINO.target, WIDTH, start=10))
    pub = EstimatorPub.coerce((isa, _local_observables(isa, WIDTH)), precision=0.01)
    executor = Executor(TORINO, noise=False)
    whole = executor.run_estimator([pub], seed=1)[0]
    with (
        mock.patch.object(plans, "ESTIMATOR_STATE_MAX_QUBITS", 3),
        mock.patch.object(sampling, "STATEVECTOR_MAX_QUBITS", 6),  # else the whole state's
    ):
        wide = executor.run_estimator([pub], seed=2)[0]
    assert wide.metadata["simulation"]["exact"]
    assert _methods(wide)["light_cone"]["max_cone_qubits"] > 3
    _agree(whole, wide)
    with mock.patch.object(plans, "ESTIMATOR_STATE_MAX_QUBITS", 3):
        sampled = executor.run_estimator([pub], seed=3)[0]
    assert set(_methods(sampled)) == {"statevector"}  # 3 bases of 7 qubits: cheaper whole
