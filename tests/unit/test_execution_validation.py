"""PUB validation: what the device cannot run is refused with the field and the fix."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession.execution import Executor, InvalidPub, load_profile


@pytest.fixture(scope="module")
def torino() -> Executor:
    return Executor(load_profile("fake_torino"), noise=False)


@pytest.fixture(scope="module")
def ideal() -> Executor:
    return Executor(load_profile("ideal_24"), noise=False)


def measured(num_qubits: int) -> QuantumCircuit:
    circuit = QuantumCircuit(num_qubits)
    circuit.measure_all()
    return circuit


def test_a_gate_outside_the_isa_is_named_with_its_qubits_and_the_fix(torino: Executor) -> None:
    circuit = QuantumCircuit(2)
    circuit.h(1)
    circuit.measure_all()
    with pytest.raises(InvalidPub) as error:
        torino.validate_sampler_pub(SamplerPub.coerce(circuit, 100), 3)
    assert error.value.field == "sampler_pubs[3].circuit"
    assert "'h' on qubits [1]" in error.value.message
    assert "generate_preset_pass_manager(backend=backend)" in error.value.message


def test_a_two_qubit_gate_between_uncoupled_qubits_is_refused(torino: Executor) -> None:
    circuit = QuantumCircuit(6)
    circuit.cz(0, 5)
    circuit.measure_all()
    with pytest.raises(InvalidPub, match=r"'cz' on qubits \[0, 5\]"):
        torino.validate_sampler_pub(SamplerPub.coerce(circuit, 100), 0)


def test_instructions_inside_control_flow_are_checked(torino: Executor) -> None:
    circuit = QuantumCircuit(2, 1)
    circuit.measure(0, 0)
    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.cx(0, 1)
    with pytest.raises(InvalidPub, match=r"'cx' on qubits \[0, 1\]"):
        torino.validate_sampler_pub(SamplerPub.coerce(circuit, 100), 0)


def test_a_circuit_wider_than_the_device_is_refused(ideal: Executor) -> None:
    with pytest.raises(InvalidPub, match="25 qubits but ideal_24 has 24") as error:
        ideal.validate_sampler_pub(SamplerPub.coerce(measured(25), 100), 1)
    assert error.value.field == "sampler_pubs[1].circuit"


def test_a_sampler_circuit_needs_a_classical_register_and_measurements(ideal: Executor) -> None:
    with pytest.raises(InvalidPub, match="no classical registers"):
        ideal.validate_sampler_pub(SamplerPub.coerce(QuantumCircuit(2), 100), 0)
    unmeasured = QuantumCircuit(2, 2)
    unmeasured.h(0)
    with pytest.raises(InvalidPub, match="no measurements"):
        ideal.validate_sampler_pub(SamplerPub.coerce(unmeasured, 100), 0)


def test_unresolved_shots_are_refused(ideal: Executor) -> None:
    with pytest.raises(InvalidPub) as error:
        ideal.validate_sampler_pub(SamplerPub.coerce(measured(1)), 0)
    assert error.value.field == "sampler_pubs[0].shots"


def test_non_finite_parameter_values_are_refused(ideal: Executor) -> None:
    theta = Parameter("theta")
    circuit = QuantumCircuit(1)
    circuit.rx(theta, 0)
    circuit.measure_all()
    with pytest.raises(InvalidPub, match="finite") as error:
        ideal.validate_sampler_pub(SamplerPub.coerce((circuit, [0.1, np.nan]), 10), 2)
    assert error.value.field == "sampler_pubs[2].parameter_values"


def test_observables_of_another_width_than_the_circuit_are_refused(ideal: Executor) -> None:
    pub = EstimatorPub(
        QuantumCircuit(2), ObservablesArray.coerce("ZZZ"), precision=0.1, validate=False
    )
    with pytest.raises(InvalidPub, match="3 qubits but the circuit has 2") as error:
        ideal.validate_estimator_pub(pub, 4)
    assert error.value.field == "estimator_pubs[4].observables"


def test_a_parameter_count_other_than_the_circuits_is_refused(ideal: Executor) -> None:
    theta = Parameter("theta")
    circuit = QuantumCircuit(1)
    circuit.rx(theta, 0)
    circuit.measure_all()
    values = BindingsArray({("a", "b"): np.zeros((4, 2))})
    pub = SamplerPub(circuit, values, shots=10, validate=False)
    with pytest.raises(InvalidPub, match="2 values per point for 1 parameters") as error:
        ideal.validate_sampler_pub(pub, 0)
    assert error.value.field == "sampler_pubs[0].parameter_values"


def test_zero_precision_is_refused(ideal: Executor) -> None:
    with pytest.raises(InvalidPub) as error:
        ideal.validate_estimator_pub(
            EstimatorPub.coerce((QuantumCircuit(1), "Z"), precision=0.0), 0
        )
    assert error.value.field == "estimator_pubs[0].precision"


def test_estimator_circuits_are_isa_checked_too(torino: Executor) -> None:
    circuit = QuantumCircuit(1)
    circuit.h(0)
    with pytest.raises(InvalidPub, match="'h' on qubits \\[0\\]") as error:
        torino.validate_estimator_pub(EstimatorPub.coerce((circuit, "Z"), precision=0.1), 0)
    assert error.value.field == "estimator_pubs[0].circuit"


def test_running_an_invalid_pub_raises_the_same_error(torino: Executor) -> None:
    circuit = QuantumCircuit(1)
    circuit.h(0)
    circuit.measure_all()
    with pytest.raises(InvalidPub, match="'h'"):
        torino.run_sampler([SamplerPub.coerce(circuit, 10)], seed=1)
