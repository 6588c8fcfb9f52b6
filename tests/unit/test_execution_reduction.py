"""Active-qubit reduction: a device-wide circuit is simulated on the qubits it uses."""

from __future__ import annotations

from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import load_profile
from qsession.execution.reduction import reduce_circuit


def test_a_transpiled_bell_circuit_reduces_to_its_two_layout_qubits() -> None:
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    target = load_profile("fake_torino").target
    isa = generate_preset_pass_manager(target=target, optimization_level=1).run(bell)
    isa.measure_all()  # every device qubit measured again, into a second "meas<N>" register
    reduced = reduce_circuit(isa)
    layout = sorted(isa.layout.final_index_layout()[:2])
    assert reduced.active == tuple(layout)
    assert reduced.circuit.num_qubits == 2 and reduced.circuit.num_clbits == 2 + 133
    assert [c.name for c in reduced.circuit.cregs] == [c.name for c in isa.cregs]
    idle = {q for q in range(133) if q not in layout}
    assert set(reduced.idle_measures.values()) == idle
    assert reduced.final_measures is not None


def test_a_reset_of_an_untouched_qubit_is_dropped_but_a_later_reset_is_kept() -> None:
    circuit = QuantumCircuit(3, 1)
    circuit.reset([0, 1, 2])
    circuit.x(1)
    circuit.reset(1)
    circuit.measure(1, 0)
    reduced = reduce_circuit(circuit)
    assert reduced.active == (1,)
    assert [inst.name for inst in reduced.circuit.data] == ["x", "reset", "measure"]
    assert reduced.final_measures is None


def test_an_idle_measurement_read_by_control_flow_keeps_its_qubit() -> None:
    circuit = QuantumCircuit(3, 2)
    circuit.measure(2, 0)
    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.x(0)
    circuit.measure(0, 1)
    reduced = reduce_circuit(circuit)
    assert reduced.active == (0, 2)
    assert reduced.idle_measures == {}


def test_an_idle_measurement_overwriting_an_active_one_keeps_its_qubit() -> None:
    circuit = QuantumCircuit(2, 1)
    circuit.x(0)
    circuit.measure(0, 0)
    circuit.measure(1, 0)
    assert reduce_circuit(circuit).active == (0, 1)


def test_terminal_measurements_map_clbits_to_reduced_qubits() -> None:
    circuit = QuantumCircuit(5, 2)
    circuit.h(3)
    circuit.measure(3, 1)
    circuit.measure(4, 0)
    reduced = reduce_circuit(circuit)
    assert reduced.active == (3,)
    assert reduced.final_measures == {1: 0}
    assert reduced.idle_measures == {0: 4}
