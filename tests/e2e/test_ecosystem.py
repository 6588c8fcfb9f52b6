"""Qiskit libraries built on the V2 primitives run unchanged against a live qsession server.

Each test hands a qsession primitive or backend to a third-party library, exactly where the
library's documentation hands it qiskit-ibm-runtime's, and checks that the library's answer is
physically right. The server is a real one with a noiseless ``ideal_24`` and a noisy
``fake_torino`` (the profile's Aer noise model).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.circuit.library import real_amplitudes
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.transpiler import generate_preset_pass_manager

from qsession import BitArray, EstimatorV2, RuntimeService, SamplerV2
from tests.circuits import ghz
from tests.conftest import base_config, start_server


@pytest.fixture(scope="module")
def ecosystem_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    config = base_config(
        tmp_path_factory.mktemp("ecosystem"),
        backends=[
            {"name": "ideal_24", "profile": "ideal_24"},
            {"name": "fake_torino", "profile": "fake_torino", "noise": True},
        ],
    )
    with start_server(config) as handle:
        yield handle


@pytest.fixture(scope="module")
def service(ecosystem_server) -> RuntimeService:
    return RuntimeService(url=ecosystem_server.address, token=ecosystem_server.token)


@pytest.fixture(scope="module")
def ideal(service):
    return service.backend("ideal_24")


def isa_of(circuit: QuantumCircuit, backend) -> QuantumCircuit:
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)


def exact_energy(circuit: QuantumCircuit, observable: SparsePauliOp, values: dict) -> float:
    bound = circuit.assign_parameters(values)
    return float(Statevector(bound).expectation_value(observable).real)


def test_machine_learning_estimator_qnn_forward_and_backward_match_the_statevector(ideal):
    from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    x, w = ParameterVector("x", 2), ParameterVector("w", 2)
    circuit = QuantumCircuit(2)
    circuit.ry(x[0], 0)
    circuit.ry(x[1], 1)
    circuit.cx(0, 1)
    circuit.ry(w[0], 0)
    circuit.rx(w[1], 1)
    observable = SparsePauliOp(["ZZ", "XI"], [1.0, 0.5])
    isa = isa_of(circuit, ideal)
    estimator = EstimatorV2(mode=ideal, options={"simulator": {"seed_simulator": 11}})
    qnn = EstimatorQNN(
        circuit=isa,
        estimator=estimator,
        observables=observable.apply_layout(isa.layout),
        input_params=list(x),
        weight_params=list(w),
        gradient=ParamShiftEstimatorGradient(estimator),
        default_precision=0.01,
    )
    inputs, weights = np.array([0.4, -1.1]), np.array([0.7, 0.3])
    forward = qnn.forward(inputs, weights)
    point = dict(zip([*x, *w], [*inputs, *weights], strict=True))
    assert forward.shape == (1, 1)
    assert abs(forward[0, 0] - exact_energy(circuit, observable, point)) < 0.06
    _, weight_gradient = qnn.backward(inputs, weights)
    assert weight_gradient.shape == (1, 1, 2)
    for k in range(2):
        plus, minus = dict(point), dict(point)
        plus[w[k]] += np.pi / 2
        minus[w[k]] -= np.pi / 2
        exact = (
            exact_energy(circuit, observable, plus) - exact_energy(circuit, observable, minus)
        ) / 2
        assert abs(weight_gradient[0, 0, k] - exact) < 0.06, k


def test_algorithms_vqe_with_a_parameter_shift_gradient_finds_the_ground_energy(ideal):
    from qiskit_algorithms import VQE
    from qiskit_algorithms.gradients import ParamShiftEstimatorGradient
    from qiskit_algorithms.optimizers import GradientDescent

    hamiltonian = SparsePauliOp(["ZZ", "XI", "IX"], [1.0, 0.6, 0.6])
    ground = float(np.linalg.eigvalsh(hamiltonian.to_matrix()).min())
    ansatz = isa_of(real_amplitudes(2, reps=2), ideal)
    estimator = EstimatorV2(mode=ideal, options={"default_precision": 0.01})
    start = np.full(ansatz.num_parameters, 0.3)
    vqe = VQE(
        estimator,
        ansatz,
        GradientDescent(maxiter=40, learning_rate=0.3),
        gradient=ParamShiftEstimatorGradient(estimator),
        initial_point=start,
    )
    result = vqe.compute_minimum_eigenvalue(hamiltonian.apply_layout(ansatz.layout))
    assert abs(result.eigenvalue.real - ground) < 0.08, (result.eigenvalue, ground)
    virtual = real_amplitudes(2, reps=2)
    initial = dict(zip(virtual.parameters, start, strict=True))
    assert exact_energy(virtual, hamiltonian, initial) > ground + 0.5  # VQE really optimized


def test_sqd_diagonalizes_a_molecule_from_a_qsession_bit_array(ideal):
    from pyscf import ao2mo, fci, gto, scf
    from qiskit_addon_sqd.fermion import diagonalize_fermionic_hamiltonian

    molecule = gto.M(atom="H 0 0 0; H 0 0 0.735", basis="6-31g", verbose=0)
    orbitals = scf.RHF(molecule).run().mo_coeff
    norb, nelec = orbitals.shape[1], (1, 1)
    one_body = orbitals.T @ molecule.intor("int1e_kin") @ orbitals
    one_body += orbitals.T @ molecule.intor("int1e_nuc") @ orbitals
    two_body = ao2mo.restore(1, ao2mo.kernel(molecule, orbitals), norb)
    exact, _ = fci.direct_spin1.kernel(one_body, two_body, norb, nelec)

    uniform = QuantumCircuit(2 * norb)
    uniform.h(range(2 * norb))
    uniform.measure_all()
    sampler = SamplerV2(mode=ideal, options={"simulator": {"seed_simulator": 5}})
    bits = sampler.run([isa_of(uniform, ideal)], shots=4000).result()[0].data.meas
    assert isinstance(bits, BitArray) and bits.num_bits == 2 * norb

    result = diagonalize_fermionic_hamiltonian(
        one_body, two_body, bits, samples_per_batch=300, norb=norb, nelec=nelec,
        num_batches=1, max_iterations=2, seed=5,
    )  # fmt: skip
    assert result.energy == pytest.approx(exact, abs=1e-6)


def test_mthree_calibrates_through_backend_run_and_raises_the_ghz_population(service):
    import mthree

    backend = service.backend("fake_torino")
    n = 5
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(ghz(n))
    shots = 4000
    counts = SamplerV2(mode=backend).run([isa], shots=shots).result()[0].data.meas.get_counts()
    mapping = mthree.utils.final_measurement_mapping(isa)
    mit = mthree.M3Mitigation(backend)
    mit.cals_from_system(mapping)  # readout calibration circuits through backend.run
    quasis = mit.apply_correction(counts, mapping)
    raw = (counts.get("0" * n, 0) + counts.get("1" * n, 0)) / shots
    mitigated = quasis.get("0" * n, 0) + quasis.get("1" * n, 0)
    assert mit.cal_timestamp is not None  # read from the calibration job's metrics()
    assert mitigated > raw
    assert mitigated > 0.9
