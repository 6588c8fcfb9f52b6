"""Device profiles: fake_torino is the real ibm_torino device, ideal_24 runs anything."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import PROFILE_NAMES, load_profile


def test_fake_torino_has_133_qubits_on_a_connected_heavy_hex_lattice() -> None:
    target = load_profile("fake_torino").target
    coupling = target.build_coupling_map()
    degree = Counter(a for a, _ in coupling.get_edges())
    assert target.num_qubits == 133
    assert coupling.is_connected()
    assert max(degree.values()) == 3
    degree_three = {q for q, d in degree.items() if d == 3}
    assert not any(a in degree_three and b in degree_three for a, b in coupling.get_edges())
    assert len(coupling.get_edges()) == 2 * 150


def test_fake_torino_basis_is_cz_sx_rz_x_with_measure_reset_delay() -> None:
    names = set(load_profile("fake_torino").target.operation_names)
    assert {"cz", "sx", "rz", "x", "id", "measure", "reset", "delay"} <= names
    assert not names & {"h", "cx", "ecr", "rzz"}


def test_fake_torino_carries_errors_durations_and_qubit_properties_in_si_units() -> None:
    target = load_profile("fake_torino").target
    cz = target["cz"][(0, 1)]
    assert 0 < cz.error < 0.05 and 1e-8 < cz.duration < 1e-6
    sx = target["sx"][(5,)]
    assert 0 < sx.error < 0.01 and sx.duration == pytest.approx(32e-9)
    readout = target["measure"][(0,)]
    assert readout.error == pytest.approx(0.166748046875) and readout.duration == pytest.approx(
        1.56e-6
    )
    qubit = target.qubit_properties[0]
    assert qubit.t1 == pytest.approx(224.087e-6, rel=1e-4) and 1e-5 < qubit.t2 < 1e-2
    assert target.dt == pytest.approx(4e-9)


def test_a_bell_circuit_transpiles_to_fake_torino_instructions() -> None:
    target = load_profile("fake_torino").target
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    isa = generate_preset_pass_manager(target=target, optimization_level=1).run(bell)
    assert isa.num_qubits == 133
    for inst in isa.data:
        qubits = tuple(isa.find_bit(q).index for q in inst.qubits)
        assert inst.name == "barrier" or target.instruction_supported(inst.name, qubits)


def test_ideal_24_runs_textbook_gates_on_any_qubits() -> None:
    target = load_profile("ideal_24").target
    assert target.num_qubits == 24
    for name, qubits in [("h", (7,)), ("cx", (23, 0)), ("ecr", (3, 17)), ("ry", (5,)),
                         ("measure", (11,)), ("reset", (2,)), ("delay", (9,))]:  # fmt: skip
        assert target.instruction_supported(name, qubits), name
    assert target.build_coupling_map() is None


def test_profiles_are_built_once() -> None:
    assert load_profile("fake_torino") is load_profile("fake_torino")


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="fake_torino.*ideal_24") as error:
        load_profile("ibm_nowhere")
    assert "ibm_nowhere" in str(error.value)
    assert PROFILE_NAMES == ("fake_torino", "fake_fez", "fake_brisbane", "ideal_24")


def test_fake_brisbane_is_a_127_qubit_eagle_with_ecr_gates() -> None:
    target = load_profile("fake_brisbane").target
    assert target.num_qubits == 127
    assert {"ecr", "rz", "sx", "x", "measure"} <= set(target.operation_names)
    assert target.qubit_properties[0].t1 > 0


def test_an_operators_snapshot_directory_is_a_profile(tmp_path) -> None:
    from shutil import copy

    from qsession.execution import profiles

    source = Path(profiles.__file__).parent
    copy(source / "conf_torino.json", tmp_path / "conf_mine.json")
    copy(source / "props_torino.json", tmp_path / "props_mine.json")
    mine = load_profile(str(tmp_path))
    torino = load_profile("fake_torino").target
    assert mine.target.num_qubits == torino.num_qubits
    assert mine.target.instruction_supported("cz", (0, 1)) == torino.instruction_supported(
        "cz", (0, 1)
    )
    (tmp_path / "props_mine.json").unlink()
    with pytest.raises(ValueError, match="props_<name>.json"):
        load_profile(f"{tmp_path}/")  # another name: profiles are cached by name
