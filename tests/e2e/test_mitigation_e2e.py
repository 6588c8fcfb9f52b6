"""Error mitigation through the SDK on a real server: a resilience level 2 job returns IBM's
ZNE fields with IBM's shapes and job metadata blocks, and gate-twirled Sampler jobs run."""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession import EstimatorV2, SamplerV2

SEED_GUIDE_DD_BLOCK = {
    "enable": False,
    "sequence_type": "XX",
    "extra_slack_distribution": "middle",
    "scheduling_method": "alap",
}
"""The seed guide's printed ``dynamical_decoupling`` job metadata."""


def _bell(backend) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return generate_preset_pass_manager(optimization_level=1, backend=backend).run(circuit)


def test_level_2_returns_ibm_zne_fields(torino) -> None:
    estimator = EstimatorV2(mode=torino, options={"resilience_level": 2})
    estimator.options.resilience.zne.extrapolator = ["exponential", "linear"]
    isa = _bell(torino).remove_final_measurements(inplace=False)
    observables = [SparsePauliOp("ZZ").apply_layout(isa.layout)] * 2
    result = estimator.run([(isa, observables)], precision=0.05).result()
    data = result[0].data
    assert data.evs.shape == (2,)
    assert data.evs_noise_factors.shape == (2, 3)
    assert data.stds_noise_factors.shape == (2, 3)
    assert data.ensemble_stds_noise_factors.shape == (2, 3)
    assert data.evs_extrapolated.shape == (2, 2, 4)  # 2 extrapolators x (0, 1, 3, 5)
    assert data.stds_extrapolated.shape == (2, 2, 4)
    # fake_torino here is noiseless: every value is the ideal 1 up to shot noise.
    assert np.all(np.abs(data.evs - 1) < 5 * data.stds + 1e-9)
    metadata = result[0].metadata
    assert metadata["num_randomizations"] >= 1 and "zne" in metadata["resilience"]
    assert result.metadata["version"] == 2
    assert result.metadata["dynamical_decoupling"] == SEED_GUIDE_DD_BLOCK
    assert result.metadata["twirling"]["enable_gates"] is True
    assert result.metadata["resilience"]["zne_mitigation"] is True
    assert result.metadata["resilience"]["zne"]["noise_factors"] == [1.0, 3.0, 5.0]


def test_level_1_metadata_is_the_seed_guides(torino) -> None:
    estimator = EstimatorV2(mode=torino)
    isa = _bell(torino).remove_final_measurements(inplace=False)
    observable = SparsePauliOp("ZZ").apply_layout(isa.layout)
    result = estimator.run([(isa, observable)], precision=0.05).result()
    assert result.metadata["dynamical_decoupling"] == SEED_GUIDE_DD_BLOCK
    assert result.metadata["resilience"] == {
        "measure_mitigation": True,
        "zne_mitigation": False,
        "pec_mitigation": False,
    }
    assert result[0].metadata["resilience"] == {}


def test_twirled_sampler_returns_the_shots_asked(torino) -> None:
    sampler = SamplerV2(mode=torino)
    sampler.options.twirling.enable_gates = True
    sampler.options.twirling.enable_measure = True
    result = sampler.run([_bell(torino)], shots=1000).result()
    counts = result[0].data.meas.get_counts()
    assert result[0].data.meas.num_shots == 1000
    assert set(counts) <= {"00", "11"}
