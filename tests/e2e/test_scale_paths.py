"""Issue 29 through the SDK on a live server's noisy fake_brisbane: wide noisy jobs take the
execution path that fits them, each PUB says in its metadata which simulation methods ran
and whether its numbers are exact, and ``options.simulator.exact`` keeps approximations out.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession import EstimatorV2, SamplerV2
from qsession.exceptions import RuntimeJobFailureError
from tests.circuits import ghz
from tests.conftest import noisy_backend


@pytest.fixture(scope="module")
def brisbane(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A live server's fake_brisbane (127 qubits) with its noise model."""
    with noisy_backend(tmp_path_factory.mktemp("scale"), "fake_brisbane") as backend:
        yield backend


def _isa(backend, circuit: QuantumCircuit) -> QuantumCircuit:
    pass_manager = generate_preset_pass_manager(
        optimization_level=1, backend=backend, seed_transpiler=3
    )
    return pass_manager.run(circuit)


def _chain(width: int, angle: float = 0.3) -> QuantumCircuit:
    """A rotated, entangled chain of ``width`` qubits, measured."""
    circuit = QuantumCircuit(width)
    for qubit in range(width):
        circuit.ry(angle * (qubit + 1), qubit)
    for qubit in range(width - 1):
        circuit.cx(qubit, qubit + 1)
    circuit.measure_all()
    return circuit


def _methods(result) -> dict[str, dict]:
    return {entry["method"]: entry for entry in result[0].metadata["simulation"]["methods"]}


def _sampler(backend) -> SamplerV2:
    sampler = SamplerV2(mode=backend)
    sampler.options.dynamical_decoupling.enable = True
    sampler.options.dynamical_decoupling.sequence_type = "XY4"
    sampler.options.twirling.enable_gates = True
    sampler.options.simulator.seed_simulator = 11
    return sampler


def test_a_small_twirled_sampler_job_runs_one_exact_density_matrix(brisbane) -> None:
    result = _sampler(brisbane).run([_isa(brisbane, _chain(5))], shots=1000).result()
    entry = _methods(result)["density_matrix"]
    assert entry["exact"] is True and entry["gate_twirling"] == "twirled_channel"
    assert result[0].metadata["simulation"]["exact"] is True
    assert result[0].data.meas.num_shots == 1000


def test_a_wide_noisy_sampler_job_batches_trajectories_and_says_so(brisbane) -> None:
    circuit = _isa(brisbane, _chain(12))
    batched = _sampler(brisbane).run([circuit], shots=200).result()
    entry = _methods(batched)["trajectories"]
    assert entry["exact"] is False and entry["trajectories"] == 20
    assert 0 < entry["distribution_error"] < 0.5
    assert batched[0].metadata["simulation"]["exact"] is False

    exact_sampler = _sampler(brisbane)
    exact_sampler.options.simulator.exact = True
    exact = exact_sampler.run([circuit], shots=200).result()
    assert exact[0].metadata["simulation"]["exact"] is True
    assert "trajectories" not in _methods(exact)
    # The same distribution: each qubit's frequency of ones agrees within shot and trajectory
    # noise (the unit tests compare the distributions statistically).
    ones = [
        np.unpackbits(result[0].data.meas.array, axis=-1)[..., -12:].mean(axis=0)
        for result in (batched, exact)
    ]
    assert np.max(np.abs(ones[0] - ones[1])) < 0.12


def test_a_wide_estimator_job_of_local_terms_runs_by_light_cones(brisbane) -> None:
    width = 40
    circuit = QuantumCircuit(width)
    for qubit in range(width):
        circuit.ry(0.2, qubit)
    isa = _isa(brisbane, circuit)
    observables = [
        SparsePauliOp("I" * (width - 1 - q) + "Z" + "I" * q).apply_layout(isa.layout)
        for q in range(0, width, 4)
    ]
    estimator = EstimatorV2(mode=brisbane, options={"resilience_level": 1})
    result = estimator.run([(isa, observables)], precision=0.02).result()
    entry = _methods(result)["light_cone"]
    assert entry["exact"] is True and entry["max_cone_qubits"] <= 10
    # <Z> = cos(0.2) = 0.980 ideally; TREX leaves the gate and relaxation errors (< 0.05).
    evs = result[0].data.evs
    assert np.all(np.abs(evs - np.cos(0.2)) < 0.05 + 5 * result[0].data.stds)


def test_a_wide_twirled_clifford_job_runs_the_stabilizer_path_and_exact_refuses_it(
    brisbane,
) -> None:
    isa = _isa(brisbane, ghz(30))
    sampler = SamplerV2(mode=brisbane)
    sampler.options.twirling.enable_gates = True
    result = sampler.run([isa], shots=2000).result()
    entry = _methods(result)["stabilizer"]
    assert entry["exact"] is False and entry["pauli_approximation_bound"] > 0
    assert result[0].metadata["simulation"]["exact"] is False
    assert result[0].data.meas.num_shots == 2000

    sampler.options.simulator.exact = True
    job = sampler.run([isa], shots=2000)
    with pytest.raises(RuntimeJobFailureError) as failure:
        job.result()
    assert "options.simulator.exact" in str(failure.value)
    assert job.status() == "ERROR"
