"""Dynamical decoupling and the idle noise of the emulated QPU (:mod:`qsession.execution.dd`)."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import Operator, SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import Executor, load_profile
from qsession.execution.dd import (
    SEQUENCE_TYPES,
    DynamicalDecoupling,
    frequency_offsets,
    idle_noise_channels,
    schedule_idle,
)
from qsession.v1 import job_pb2, options_pb2

TORINO = load_profile("fake_torino")


def _idle_bell(microseconds: float = 20) -> QuantumCircuit:
    """A Bell pair, then a long wait on both qubits: the idle window DD acts on."""
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.delay(microseconds, [0, 1], unit="us")
    return generate_preset_pass_manager(optimization_level=1, target=TORINO.target).run(circuit)


def _options(enable: bool, sequence_type: str = "XX") -> job_pb2.JobOptions:
    return job_pb2.JobOptions(
        resilience_level=0,
        dynamical_decoupling=options_pb2.DynamicalDecouplingOptions(
            enable=enable, sequence_type=sequence_type
        ),
    )


def _xx_pub(isa: QuantumCircuit) -> EstimatorPub:
    observable = SparsePauliOp("XX").apply_layout(isa.layout)
    return EstimatorPub.coerce((isa, observable, None, 1 / 64))


def _on_used_qubits(circuit: QuantumCircuit) -> tuple[QuantumCircuit, list[int]]:
    """The instructions of ``circuit`` other than delays and barriers, on the qubits they use."""
    used = sorted(
        {
            circuit.find_bit(q).index
            for inst in circuit.data
            if inst.operation.name not in ("delay", "barrier")
            for q in inst.qubits
        }
    )
    local = QuantumCircuit(len(used), global_phase=circuit.global_phase)
    for inst in circuit.data:
        if inst.operation.name in ("delay", "barrier"):
            continue
        local.append(inst.operation, [used.index(circuit.find_bit(q).index) for q in inst.qubits])
    return local, used


@pytest.mark.parametrize("sequence_type", SEQUENCE_TYPES)
@pytest.mark.parametrize("scheduling_method", ["alap", "asap"])
def test_dd_keeps_the_circuit_isa_and_its_unitary(sequence_type, scheduling_method) -> None:
    isa = _idle_bell()
    decoupled = schedule_idle(
        isa,
        TORINO.target,
        DynamicalDecoupling(
            enable=True, sequence_type=sequence_type, scheduling_method=scheduling_method
        ),
    )
    assert decoupled.count_ops()["x"] >= 4  # the sequence went into the idle windows
    for inst in decoupled.data:
        qubits = tuple(decoupled.find_bit(q).index for q in inst.qubits)
        assert TORINO.target.instruction_supported(inst.operation.name, qubits), inst
    before, used_before = _on_used_qubits(isa)
    after, used_after = _on_used_qubits(decoupled)
    assert used_before == used_after
    assert Operator(after).equiv(Operator(before))


def test_idle_noise_replaces_the_delays_inside_the_circuit_with_channels() -> None:
    scheduled = schedule_idle(_idle_bell(), TORINO.target, DynamicalDecoupling())
    noisy = idle_noise_channels(scheduled, TORINO.target)
    assert "delay" not in noisy.count_ops()
    assert noisy.count_ops()["quantum_channel"] >= 2


def test_frequency_offsets_are_deterministic_and_in_the_documented_range() -> None:
    offsets = frequency_offsets(TORINO.target)
    assert offsets.shape == (TORINO.target.num_qubits,)
    assert np.all((np.abs(offsets) >= 2e3) & (np.abs(offsets) <= 20e3))
    assert np.array_equal(offsets, frequency_offsets(load_profile("fake_torino").target))
    assert (offsets > 0).any() and (offsets < 0).any()


def test_dd_changes_nothing_beyond_shot_noise_on_an_ideal_backend() -> None:
    executor = Executor(TORINO, noise=False)
    pub = _xx_pub(_idle_bell())
    plain = executor.run_estimator([pub], 3, _options(False))[0].data
    for sequence_type in SEQUENCE_TYPES:
        decoupled = executor.run_estimator([pub], 4, _options(True, sequence_type))[0].data
        assert float(decoupled.evs) == pytest.approx(1.0, abs=1e-9)  # XX of a Bell pair
    assert float(plain.evs) == pytest.approx(1.0, abs=1e-9)


def test_dd_cuts_the_idle_error_of_a_bell_pair_on_noisy_torino() -> None:
    # 20 us idle: without DD the qubits' frequency offsets rotate the Bell pair's phase and
    # <XX> falls far below its relaxation-limited value; DD refocuses the rotation.
    executor = Executor(TORINO, noise=True)
    pub = _xx_pub(_idle_bell())
    plain = executor.run_estimator([pub], 5, _options(False))[0].data
    decoupled = executor.run_estimator([pub], 6, _options(True))[0].data
    error_plain, error_dd = 1 - float(plain.evs), 1 - float(decoupled.evs)
    margin = 5 * np.hypot(float(plain.stds), float(decoupled.stds))
    assert error_plain - error_dd > margin, (error_plain, error_dd, margin)
    metadata = executor.run_estimator([pub], 6, _options(True, "XY4")).metadata
    assert metadata["dynamical_decoupling"]["enable"] is True
    assert metadata["dynamical_decoupling"]["sequence_type"] == "XY4"


def test_the_sampler_accepts_dd_and_keeps_the_bell_correlation() -> None:
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.delay(2, [0, 1], unit="us")
    circuit.measure([0, 1], [0, 1])
    isa = generate_preset_pass_manager(optimization_level=1, target=TORINO.target).run(circuit)
    executor = Executor(TORINO, noise=True)
    pub = SamplerPub.coerce((isa, None, 2000))
    for enable in (False, True):
        options = job_pb2.JobOptions(
            dynamical_decoupling=options_pb2.DynamicalDecouplingOptions(enable=enable)
        )
        counts = executor.run_sampler([pub], 7, options)[0].data.c.get_counts()
        assert sum(counts.values()) == 2000
        assert (counts.get("00", 0) + counts.get("11", 0)) / 2000 > 0.7
