"""``backend.configuration()``, ``backend.properties()``, ``defaults()`` and ``backend.run()``
in qiskit-ibm-runtime's and Aer's shapes, read from the backend's Target of a live server."""

from __future__ import annotations

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Clbit
from qiskit.providers import JobStatus
from qiskit.result import Result
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator

from qsession import IBMInputValueError, Session
from qsession.client.backend_models import BackendPropertyError
from tests.circuits import bell


def two_registers() -> QuantumCircuit:
    """X on qubits 0 and 2; qubit 0 -> register ``a`` (1 bit), qubits 1, 2 -> ``b`` (2 bits)."""
    circuit = QuantumCircuit(
        QuantumRegister(3, "q"), ClassicalRegister(1, "a"), ClassicalRegister(2, "b"), name="two"
    )
    circuit.x([0, 2])
    circuit.measure(0, circuit.cregs[0][0])
    circuit.measure([1, 2], circuit.cregs[1])
    return circuit


# ---------------------------------------------------------------- configuration()


def test_configuration_describes_the_device_of_the_target(torino):
    config = torino.configuration()
    assert config.backend_name == "fake_torino"
    assert config.n_qubits == config.num_qubits == 133
    assert config.basis_gates == ["cz", "id", "rz", "sx", "x"]
    assert set(config.supported_instructions) == set(torino.target.operation_names)
    assert {tuple(edge) for edge in config.coupling_map} == set(
        torino.target.build_coupling_map().get_edges()
    )
    assert config.dt == torino.target.dt
    assert (config.simulator, config.local, config.open_pulse) == (False, False, False)
    assert config.memory is True
    assert config.conditional is True  # the target has if_else


def test_configuration_limits_are_the_servers(torino):
    config = torino.configuration()
    assert config.max_shots == torino.max_shots
    assert config.max_experiments == torino.max_circuits


def test_an_all_to_all_device_has_no_coupling_map(ideal):
    assert ideal.configuration().coupling_map is None
    assert ideal.configuration().n_qubits == 24


def test_configuration_to_dict_has_ibms_keys_and_dt_in_ns(torino):
    data = torino.configuration().to_dict()
    assert data["n_qubits"] == 133
    assert data["max_experiments"] == torino.max_circuits
    assert data["dt"] == pytest.approx(torino.target.dt * 1e9)


# ---------------------------------------------------------------- properties()


def test_qubit_properties_are_the_targets_in_seconds(torino):
    properties = torino.properties()
    for qubit in (0, 7, 132):
        assert properties.t1(qubit) == pytest.approx(torino.target.qubit_properties[qubit].t1)
        assert properties.t2(qubit) == pytest.approx(torino.target.qubit_properties[qubit].t2)


def test_readout_error_and_length_are_the_measure_instructions(torino):
    properties = torino.properties()
    for qubit in (0, 7, 132):
        measure = torino.target["measure"][(qubit,)]
        assert properties.readout_error(qubit) == pytest.approx(measure.error)
        assert properties.readout_length(qubit) == pytest.approx(measure.duration)


def test_gate_error_and_length_are_the_targets(torino):
    properties = torino.properties()
    a, b = next(iter(torino.target["cz"]))
    cz = torino.target["cz"][(a, b)]
    assert properties.gate_error("cz", (a, b)) == pytest.approx(cz.error)
    assert properties.gate_length("cz", [a, b]) == pytest.approx(cz.duration)
    assert properties.gate_error("sx", 3) == pytest.approx(torino.target["sx"][(3,)].error)


def test_property_lookups_return_value_and_date(torino):
    properties = torino.properties()
    value, date = properties.qubit_property(5, "T1")
    assert value == properties.t1(5)
    assert date == properties.last_update_date
    assert set(properties.qubit_property(5)) >= {"T1", "T2", "readout_error", "readout_length"}
    assert set(properties.gate_property("x", 5)) == {"gate_error", "gate_length"}


def test_no_qubit_or_gate_is_faulty(torino, ideal):
    for backend in (torino, ideal):
        assert backend.properties().faulty_qubits() == []
        assert backend.properties().faulty_gates() == []
    assert torino.properties().is_qubit_operational(0)


def test_an_unknown_qubit_raises_naming_it(torino):
    with pytest.raises(BackendPropertyError, match="qubit 133"):
        torino.properties().t1(133)


def test_a_missing_property_raises_naming_it_and_the_qubit(torino, ideal):
    with pytest.raises(BackendPropertyError, match="'frequency' for qubit 4"):
        torino.properties().frequency(4)  # the torino snapshot has no frequencies
    with pytest.raises(BackendPropertyError, match="'T1' for qubit 0"):
        ideal.properties().t1(0)


def test_an_unknown_gate_or_gate_on_other_qubits_raises_naming_it(torino):
    with pytest.raises(BackendPropertyError, match="'cx'"):
        torino.properties().gate_error("cx", (0, 1))
    with pytest.raises(BackendPropertyError, match=r"'cz' on \(0, 2\)"):
        torino.properties().gate_error("cz", (0, 2))


def test_ibms_backend_properties_read_to_dict_to_the_same_values(torino):
    from qiskit_ibm_runtime.models import BackendProperties as IBMBackendProperties

    ours = torino.properties()
    ibm = IBMBackendProperties.from_dict(ours.to_dict())
    assert ibm.t1(9) == pytest.approx(ours.t1(9))
    assert ibm.readout_length(9) == pytest.approx(ours.readout_length(9))
    assert ibm.gate_length("sx", 9) == pytest.approx(ours.gate_length("sx", 9))


def test_aer_builds_a_noise_model_from_the_properties(torino):
    from qiskit_aer.noise import NoiseModel

    noise = NoiseModel.from_backend_properties(torino.properties(), thermal_relaxation=False)
    assert {"cz", "sx", "x", "measure"} <= set(noise.noise_instructions)
    assert len(noise.noise_qubits) == 133


def test_defaults_raise_saying_there_is_no_pulse(torino):
    with pytest.raises(AttributeError, match="no pulse defaults"):
        torino.defaults()


# ---------------------------------------------------------------- run()


def test_run_returns_a_qiskit_result_with_all_shots_counted(ideal):
    job = ideal.run(bell(), shots=1000)
    result = job.result()
    assert isinstance(result, Result)
    counts = result.get_counts()
    assert sum(counts.values()) == 1000
    assert set(counts) <= {"00", "11"}
    assert job.status() is JobStatus.DONE


def test_run_counts_and_memory_read_as_aers(ideal):
    ours = ideal.run(two_registers(), shots=20, memory=True).result()
    aer = AerSimulator().run(two_registers(), shots=20, memory=True).result()
    assert ours.get_counts() == aer.get_counts() == {"10 1": 20}
    assert ours.get_memory() == aer.get_memory()


def test_run_of_several_circuits_is_one_job_with_a_result_per_circuit(ideal):
    isa = generate_preset_pass_manager(backend=ideal, optimization_level=1).run(bell())
    job = ideal.run([isa, two_registers()], shots=50, job_tags=["calibration"])
    counts = job.result().get_counts()
    assert len(counts) == 2
    assert counts[1] == {"10 1": 50}
    assert job.tags == ["calibration"]
    assert job.metrics()["num_pubs"] == 2


def test_run_inside_a_session_block_runs_in_that_session(ideal):
    with Session(backend=ideal) as session:
        job = ideal.run(bell(), shots=10)
        assert job.session_id == session.session_id
        assert sum(job.result().get_counts().values()) == 10


def test_run_uses_the_backends_shots_option(ideal):
    assert ideal.options.shots == 4000
    assert sum(ideal.run(bell()).result().get_counts().values()) == 4000


def test_run_accepts_and_ignores_rep_delay(ideal):
    counts = ideal.run(bell(), shots=10, rep_delay=250e-6).result().get_counts()
    assert sum(counts.values()) == 10


def test_an_unknown_run_option_raises_naming_it(ideal):
    with pytest.raises(IBMInputValueError, match="meas_level"):
        ideal.run(bell(), meas_level=1)


def test_a_circuit_with_bits_outside_registers_is_refused(ideal):
    circuit = QuantumCircuit(1)
    circuit.add_bits([Clbit()])
    with pytest.raises(IBMInputValueError, match="outside any classical register"):
        ideal.run(circuit)
