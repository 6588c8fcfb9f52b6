"""The Sampler's twirled randomizations in closed form (execution/sampler_twirl.py) and its
batched noisy trajectories: their shots follow the reference path's distribution (a
chi-square test of homogeneity on the outcome counts), the PUB's metadata says which method
ran, and a job that asks for exact results never gets the trajectory average."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.transpiler import generate_preset_pass_manager
from scipy.stats import chi2_contingency

from qsession.execution import (
    Executor,
    distribution,
    load_profile,
    methods,
    sampler_twirl,
    sampling,
)
from qsession.execution.noise import DeviceNoise, restrict_target
from qsession.execution.profiles import DeviceProfile
from qsession.wire.options import (
    DynamicalDecouplingOptions,
    JobOptions,
    TwirlingOptions,
    encode_job_options,
)

SHOTS = 20_000


@pytest.fixture(scope="module")
def device() -> DeviceProfile:
    """Four connected qubits of fake_torino (0 - 1 - 2 - 3) with their calibration."""
    torino = load_profile("fake_torino").target
    return DeviceProfile("torino_4", restrict_target(torino, (0, 1, 2, 3)), "fake_torino 0-3")


def _ghz_pub(device: DeviceProfile) -> SamplerPub:
    circuit = QuantumCircuit(4)
    circuit.h(0)
    for qubit in range(3):
        circuit.cx(qubit, qubit + 1)
    circuit.rx(0.6, 3)
    circuit.measure_all()
    isa = generate_preset_pass_manager(optimization_level=1, target=device.target).run(circuit)
    return SamplerPub.coerce(isa, SHOTS)


def _options(exact: bool | None = None) -> object:
    return encode_job_options(
        JobOptions(
            twirling=TwirlingOptions(enable_gates=True, enable_measure=True),
            dynamical_decoupling=DynamicalDecouplingOptions(enable=True, sequence_type="XY4"),
            exact=exact,
        )
    )


def _counts(result) -> dict[str, int]:
    return result[0].data.meas.get_counts()


def _homogeneity_p(first: dict[str, int], second: dict[str, int]) -> float:
    """p-value of the chi-square test that two count dictionaries come from one distribution
    (outcomes seen fewer than 20 times in both pooled into one cell)."""
    keys = sorted(set(first) | set(second))
    table = np.array([[first.get(k, 0) for k in keys], [second.get(k, 0) for k in keys]])
    rare = table.sum(axis=0) < 20
    if rare.any():
        table = np.column_stack([table[:, ~rare], table[:, rare].sum(axis=1)])
    return float(chi2_contingency(table)[1])


def test_closed_form_shots_follow_the_per_randomization_reference(device) -> None:
    pub = _ghz_pub(device)
    closed = Executor(device, noise=True).run_sampler([pub], seed=1, options=_options())
    reference_executor = Executor(device, noise=True)
    reference_executor.twirl_in_closed_form = False
    reference = reference_executor.run_sampler([pub], seed=2, options=_options())
    assert _homogeneity_p(_counts(closed), _counts(reference)) > 1e-3
    (entry,) = closed[0].metadata["simulation"]["methods"]
    assert entry["method"] == "density_matrix" and entry["gate_twirling"] == "twirled_channel"
    assert entry["measure_twirling"] == "closed_form"
    assert closed[0].data.meas.num_shots == SHOTS


def test_batched_trajectories_follow_the_exact_distribution_and_say_so(device, monkeypatch) -> None:
    pub = _ghz_pub(device)
    exact = Executor(device, noise=True).run_sampler([pub], seed=1, options=_options())
    monkeypatch.setattr(sampling, "DENSITY_MATRIX_MAX_QUBITS", 2)
    batched = Executor(device, noise=True).run_sampler([pub], seed=4, options=_options())
    (entry,) = batched[0].metadata["simulation"]["methods"]
    assert entry["method"] == "trajectories" and entry["exact"] is False
    assert entry["trajectories"] == SHOTS // distribution.SHOTS_PER_TRAJECTORY
    assert 0 < entry["distribution_error"] < 0.1
    assert batched[0].metadata["simulation"]["exact"] is False
    # Shots sharing trajectories are correlated: test homogeneity at the trajectory count.
    scale = distribution.SHOTS_PER_TRAJECTORY
    thinned = {k: max(1, round(v / scale)) for k, v in _counts(batched).items()}
    reference = {k: max(1, round(v / scale)) for k, v in _counts(exact).items()}
    assert _homogeneity_p(thinned, reference) > 1e-3


def test_an_exact_job_runs_shot_by_shot_instead_of_batching(device, monkeypatch) -> None:
    pub = _ghz_pub(device)
    monkeypatch.setattr(sampling, "DENSITY_MATRIX_MAX_QUBITS", 2)
    small = SamplerPub.coerce(pub.circuit, 512)
    result = Executor(device, noise=True).run_sampler([small], seed=5, options=_options(True))
    simulation = result[0].metadata["simulation"]
    assert simulation["exact"] is True
    assert {entry["method"] for entry in simulation["methods"]} == {"statevector"}
    assert all(entry.get("shot_by_shot") for entry in simulation["methods"])


def test_a_flipped_measurement_reads_through_the_x_error_then_back(device) -> None:
    noise = DeviceNoise(device.target)
    assignment = noise.readout_assignment([1])[0]
    flipped = sampler_twirl.flipped_readout(noise, 1)
    np.testing.assert_allclose(flipped.sum(axis=1), 1.0)
    # Without the X's error it would be the assignment with both indices flipped; the error
    # moves a little probability, never much.
    assert np.max(np.abs(flipped - assignment[::-1, ::-1])) < 5e-3
    assert not np.allclose(flipped, assignment[::-1, ::-1], atol=1e-9)


def test_methods_refuse_an_approximation_only_when_exact_is_asked() -> None:
    with methods.recording(exact_required=False) as record:
        methods.note("trajectories", exact=False, trajectories=3)
        methods.note("trajectories", exact=False, trajectories=3)
    assert record.metadata() == {
        "methods": [{"method": "trajectories", "exact": False, "trajectories": 3, "circuits": 2}],
        "exact": False,
    }
    with methods.recording(exact_required=True), pytest.raises(methods.ApproximationRefused) as err:
        methods.note("trajectories", exact=False, trajectories=3)
    assert err.value.field == "options.simulator.exact"
