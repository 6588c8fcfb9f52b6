"""Every option name of qiskit-ibm-runtime 0.43's EstimatorOptions and SamplerOptions, set
through the SDK on a real server: each is accepted and applied, or refused with a message
that names it."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession import EstimatorV2, SamplerV2
from qsession.client.errors import IBMInputValueError

# (path, a value to set); a value IBM accepts for that option.
ESTIMATOR_OPTIONS = [
    ("default_precision", 0.05),
    ("default_shots", 400),
    ("resilience_level", 1),
    ("seed_estimator", 7),
    ("max_execution_time", 300),
    ("dynamical_decoupling.enable", True),
    ("dynamical_decoupling.sequence_type", "XY4"),
    ("dynamical_decoupling.extra_slack_distribution", "edges"),
    ("dynamical_decoupling.scheduling_method", "asap"),
    ("dynamical_decoupling.skip_reset_qubits", True),
    ("resilience.measure_mitigation", True),
    ("resilience.measure_noise_learning.num_randomizations", 8),
    ("resilience.measure_noise_learning.shots_per_randomization", "auto"),
    ("resilience.zne_mitigation", True),
    ("resilience.zne.noise_factors", (1, 3, 5)),
    ("resilience.zne.extrapolator", "linear"),
    ("resilience.zne.amplifier", "gate_folding"),
    ("resilience.zne.extrapolated_noise_factors", (0, 1, 3, 5)),
    ("resilience.pec_mitigation", True),
    ("resilience.pec.max_overhead", 100),
    ("resilience.pec.noise_gain", "auto"),
    ("resilience.layer_noise_learning.max_layers_to_learn", 4),
    ("resilience.layer_noise_learning.shots_per_randomization", 64),
    ("resilience.layer_noise_learning.num_randomizations", 16),
    ("resilience.layer_noise_learning.layer_pair_depths", [0, 1]),
    ("resilience.layer_noise_model", []),
    ("execution.init_qubits", False),
    ("execution.rep_delay", 0.0005),
    ("twirling.enable_gates", True),
    ("twirling.enable_measure", True),
    ("twirling.num_randomizations", 4),
    ("twirling.shots_per_randomization", 100),
    ("twirling.strategy", "active"),
    ("experimental", {"execution_path": "gen3-turbo"}),
    ("environment.log_level", "INFO"),
    ("environment.job_tags", ["options"]),
    ("environment.private", True),
    ("simulator.seed_simulator", 3),
    ("simulator.noise_model", {}),
    ("simulator.coupling_map", [[0, 1]]),
    ("simulator.basis_gates", ["cz"]),
]

SAMPLER_OPTIONS = [
    ("default_shots", 100),
    ("max_execution_time", 300),
    ("dynamical_decoupling.enable", True),
    ("dynamical_decoupling.sequence_type", "XpXm"),
    ("dynamical_decoupling.extra_slack_distribution", "middle"),
    ("dynamical_decoupling.scheduling_method", "alap"),
    ("dynamical_decoupling.skip_reset_qubits", False),
    ("execution.init_qubits", True),
    ("execution.rep_delay", 0.0005),
    ("execution.meas_type", "kerneled"),
    ("twirling.enable_gates", True),
    ("twirling.enable_measure", True),
    ("twirling.num_randomizations", "auto"),
    ("twirling.shots_per_randomization", "auto"),
    ("twirling.strategy", "all"),
    ("experimental", {"x": 1}),
    ("environment.log_level", "DEBUG"),
    ("environment.job_tags", ["options"]),
    ("environment.private", True),
    ("simulator.seed_simulator", 3),
    ("simulator.noise_model", {}),
    ("simulator.coupling_map", [[0, 1]]),
    ("simulator.basis_gates", ["cz"]),
]


def _set(options, path: str, value) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        options = getattr(options, parent)
    setattr(options, name, value)


def _bell(backend) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return generate_preset_pass_manager(optimization_level=1, backend=backend).run(circuit)


def _accepted_or_named(run, path: str) -> None:
    """Run the job: it succeeds, or its error names the option (last component at least)."""
    name = path.split(".")[-1]
    try:
        run().result()
    except Exception as exc:  # noqa: BLE001 - a refusal may come from the SDK or the server
        assert name in str(exc), f"{path}: refused without naming it: {exc}"


@pytest.mark.parametrize(
    ("path", "value"), ESTIMATOR_OPTIONS, ids=[p for p, _ in ESTIMATOR_OPTIONS]
)
def test_every_estimator_option(torino, path, value) -> None:
    estimator = EstimatorV2(mode=torino)
    if path.startswith("resilience.measure_noise_learning"):
        estimator.options.resilience.measure_mitigation = True
    if path.startswith("resilience.zne.") or path == "resilience.zne_mitigation":
        estimator.options.twirling.enable_gates = False
    _set(estimator.options, path, value)
    isa = _bell(torino).remove_final_measurements(inplace=False)
    observable = SparsePauliOp("ZZ").apply_layout(isa.layout)
    _accepted_or_named(lambda: estimator.run([(isa, observable)], precision=0.05), path)


@pytest.mark.parametrize(("path", "value"), SAMPLER_OPTIONS, ids=[p for p, _ in SAMPLER_OPTIONS])
def test_every_sampler_option(torino, path, value) -> None:
    sampler = SamplerV2(mode=torino)
    _set(sampler.options, path, value)
    _accepted_or_named(lambda: sampler.run([_bell(torino)], shots=100), path)


def test_resilience_level_attribute_never_raises_attribute_error(torino) -> None:
    estimator = EstimatorV2(mode=torino, options={"resilience_level": 0})
    estimator.options.resilience_level = 2
    with pytest.raises(IBMInputValueError, match="resilience_level"):
        estimator.options.resilience_level = 3
