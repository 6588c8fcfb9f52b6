"""The ``fake_torino`` and ``fake_fez`` targets, built from the ibm_torino and ibm_fez
calibration snapshots (see NOTICE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qiskit.circuit.library.standard_gates import get_standard_gate_name_mapping
from qiskit.providers import QubitProperties
from qiskit.transpiler import InstructionProperties, Target
from qiskit.utils.units import apply_prefix

from qsession.execution.profiles.control_flow import CONTROL_FLOW_OPS

_DATA = Path(__file__).parent
_NON_UNITARY = ("measure", "reset", "delay")


def fake_torino_target() -> Target:
    """Return the 133-qubit heavy-hex target of ``conf_torino.json`` + ``props_torino.json``."""
    return target_from_calibration(
        json.loads((_DATA / "conf_torino.json").read_text()),
        json.loads((_DATA / "props_torino.json").read_text()),
    )


def fake_fez_target() -> Target:
    """Return the 156-qubit heavy-hex IBM Heron r2 target of ``conf_fez.json`` +
    ``props_fez.json``."""
    return target_from_calibration(
        json.loads((_DATA / "conf_fez.json").read_text()),
        json.loads((_DATA / "props_fez.json").read_text()),
    )


def fake_brisbane_target() -> Target:
    """Return the 127-qubit heavy-hex IBM Eagle r3 target of ``conf_brisbane.json`` +
    ``props_brisbane.json`` (two-qubit gate: ecr)."""
    return target_from_calibration(
        json.loads((_DATA / "conf_brisbane.json").read_text()),
        json.loads((_DATA / "props_brisbane.json").read_text()),
    )


def snapshot_files(directory: Path) -> tuple[Path, Path]:
    """The ``conf_*.json`` and ``props_*.json`` of a calibration snapshot directory (the
    layout of qiskit-ibm-runtime's fake backends: the backend configuration and properties
    as IBM's API returns them).

    Raises:
        ValueError: the directory does not hold exactly one of each.
    """
    confs, props = sorted(directory.glob("conf_*.json")), sorted(directory.glob("props_*.json"))
    if len(confs) != 1 or len(props) != 1:
        raise ValueError(
            f"{directory} must hold one conf_<name>.json and one props_<name>.json (an IBM "
            f"backend's configuration and properties), found {[p.name for p in confs + props]}"
        )
    return confs[0], props[0]


def snapshot_target(directory: Path) -> Target:
    """The target of an operator's own calibration snapshot directory (see
    :func:`snapshot_files`)."""
    conf, props = snapshot_files(directory)
    return target_from_calibration(json.loads(conf.read_text()), json.loads(props.read_text()))


def target_from_calibration(conf: dict[str, Any], props: dict[str, Any]) -> Target:
    """Build a :class:`Target` from an IBM backend configuration and properties snapshot.

    Instructions are the configuration's basis gates, the supported measure/reset/delay and
    control flow. Gate errors and durations come from the properties (durations converted to
    seconds); a qubit's ``readout_error`` and ``readout_length`` become its measure error and
    duration; T1/T2 (seconds) and frequency (Hz) become its :class:`QubitProperties`. ``dt`` is
    in seconds.
    """
    num_qubits = conf["n_qubits"]
    qubit_values = [_values(entries) for entries in props["qubits"]]
    target = Target(
        description=f"{conf['backend_name']} {conf['backend_version']} calibration snapshot",
        num_qubits=num_qubits,
        dt=conf["dt"] * 1e-9,
        qubit_properties=[
            QubitProperties(t1=q.get("T1"), t2=q.get("T2"), frequency=q.get("frequency"))
            for q in qubit_values
        ],
        **conf.get("timing_constraints", {}),
    )
    supported = set(conf.get("supported_instructions", ()))
    gate_names = set(conf["basis_gates"]) | (supported & {"reset"})
    gate_props: dict[str, dict[tuple[int, ...], InstructionProperties]] = {
        name: {} for name in gate_names
    }
    for gate in props["gates"]:
        if gate["gate"] in gate_names:
            values = _values(gate["parameters"])
            gate_props[gate["gate"]][tuple(gate["qubits"])] = InstructionProperties(
                error=values.get("gate_error"), duration=values.get("gate_length")
            )
    mapping = get_standard_gate_name_mapping()
    for name in sorted(gate_names):
        target.add_instruction(mapping[name], gate_props[name] or None)
    if "measure" in supported:
        target.add_instruction(
            mapping["measure"],
            {
                (q,): InstructionProperties(
                    error=values.get("readout_error"), duration=values.get("readout_length")
                )
                for q, values in enumerate(qubit_values)
            },
        )
    if "delay" in supported:
        target.add_instruction(mapping["delay"], {(q,): None for q in range(num_qubits)})
    for name, op in CONTROL_FLOW_OPS.items():
        if name in supported:
            target.add_instruction(op, name=name)
    return target


def _values(entries: list[dict[str, Any]]) -> dict[str, float]:
    """Map each ``{"name", "value", "unit"}`` entry to its value in SI units (s, Hz)."""
    return {
        e["name"]: apply_prefix(e["value"], e["unit"]) if e["unit"] else e["value"] for e in entries
    }
