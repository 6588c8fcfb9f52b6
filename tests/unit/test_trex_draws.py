"""TREX and measurement twirling draw each group of randomizations that share an instance and a
readout channel as one multinomial draw (``estimator_plan.draw_groups``). Level-1 values and
standard errors keep the distribution of one draw per randomization (Kolmogorov-Smirnov over
200 seeds), and the groups are what they should be."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from scipy.stats import ks_2samp

from qsession.execution import Executor, estimator_plan
from qsession.execution.memo import Memo
from qsession.v1 import job_pb2
from tests.unit.test_twirled_channel import _device

SEEDS = 200


def _pub(device) -> EstimatorPub:
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.ry(0.7, 2)
    isa = generate_preset_pass_manager(optimization_level=1, target=device.target).run(circuit)
    observables = [SparsePauliOp(label) for label in ("ZZI", "IZZ", "XXX", "ZII")]
    laid_out = [observable.apply_layout(isa.layout) for observable in observables]
    return EstimatorPub.coerce((isa, laid_out, None, 0.02))


def _one_group_per_randomization(instances, randomizations, masks):
    return [(r % instances, None if masks is None else masks[r], 1) for r in range(randomizations)]


def test_level_1_values_keep_the_per_randomization_distribution(monkeypatch) -> None:
    device = _device()
    pub, options = _pub(device), job_pb2.JobOptions(resilience_level=1)
    executor = Executor(device, noise=True, memo=Memo())

    def sample(seeds: range) -> dict[str, np.ndarray]:
        data = [executor.run_estimator([pub], seed, options)[0].data for seed in seeds]
        return {"evs": np.array([d.evs for d in data]), "stds": np.array([d.stds for d in data])}

    grouped = sample(range(SEEDS))
    with monkeypatch.context() as patch:
        patch.setattr(estimator_plan, "draw_groups", _one_group_per_randomization)
        reference = sample(range(SEEDS, 2 * SEEDS))
    for name, values in grouped.items():
        for column in range(values.shape[1]):
            p = ks_2samp(values[:, column], reference[name][:, column]).pvalue
            assert p > 1e-3, (name, column, p)


@pytest.mark.parametrize("masks", [None, "twirled"])
def test_randomizations_group_by_instance_and_mask(masks) -> None:
    flips = np.array([[0, 1], [1, 0], [0, 1], [0, 0], [1, 0], [0, 1]], dtype=bool)
    groups = estimator_plan.draw_groups(2, 6, None if masks is None else flips)
    if masks is None:
        assert [(i, m, n) for i, m, n in groups] == [(0, None, 3), (1, None, 3)]
    else:
        assert [(i, m.tolist(), n) for i, m, n in groups] == [
            (0, [False, True], 2),  # randomizations 0 and 2
            (1, [True, False], 1),
            (1, [False, False], 1),
            (0, [True, False], 1),
            (1, [False, True], 1),
        ]
    assert sum(n for _, _, n in groups) == 6
