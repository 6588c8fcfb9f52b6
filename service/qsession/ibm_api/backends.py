"""IBM Quantum's backend documents, built from a device's :class:`~qiskit.transpiler.Target`.

qiskit-ibm-runtime (0.51.0) learns everything about a backend from four JSON documents of
IBM's REST API (``/v1``); this module writes them for an emulated QPU:

``GET /backends`` -> ``{"devices": [device(...), ...]}``
    The list of backends. ``QiskitRuntimeService._discover_backends_from_instance`` reads each
    ``name`` (and ``physical_qubits``), ``least_busy()`` reads ``status.name``, ``qubits`` and
    ``queue_length``.
``GET /backends/{name}/configuration`` -> :func:`configuration`
    The static description: qubit count, gates and where they act, supported instructions,
    ``dt``. Read by ``utils/backend_decoder.py configuration_from_server_data`` into a
    ``QasmBackendConfiguration``; any error there and the client silently drops the backend.
``GET /backends/{name}/properties`` -> :func:`properties`
    The calibration: T1/T2/frequency and readout of every qubit, error and length of every
    gate. Read by ``properties_from_server_data`` into a ``BackendProperties`` (not fetched at
    all when the configuration says ``"simulator": true``).
``GET /backends/{name}/status`` -> :func:`status`
    Operational flag and queue length, fetched before every job submission
    (``api/rest/cloud_backend.py CloudBackend.status``).

``IBMBackend.target`` then rebuilds a Target from the configuration and the properties with
``utils/backend_converter.py convert_to_target``; the functions here are the inverse of that
conversion, so the client transpiles for the same ISA, coupling map, errors and durations as
our own executor uses.

Units: a Target holds SI units (seconds, Hz) and errors as probabilities. IBM's documents use
nanoseconds for ``dt``, ``dtm``, ``gate_length`` and ``readout_length``; microseconds for
``T1``, ``T2``, ``rep_delay_range`` and ``default_rep_delay``; GHz for ``frequency``. Errors
stay probabilities (unit ``""``).

What these documents cannot carry (the client's Target differs there):

* Instructions the client cannot rebuild are left out: directives and control-flow
  operations other than ``if_else``, ``for_loop``, ``switch_case`` and ``while_loop`` (``box``,
  ``break``/``break_loop``, ``continue``/``continue_loop``, ``barrier``, ``store``), and any
  other non-gate instruction besides ``measure``, ``reset`` and ``delay``.
* The client pins ``measure``, ``reset`` and ``delay`` to every qubit even where our Target
  declares them global, and once it has properties it gives every qubit a
  ``QubitProperties`` (all ``None`` when the Target has none).
* Calibration timestamps: every value is dated with the one ``last_update`` given.
* ``prob_meas0_prep1``/``prob_meas1_prep0``: a Target only knows the mean readout error.
* A gate outside Qiskit's standard library reaches the client as an opaque gate with no
  definition, and only if it is tied to particular qubits.
* By default (``use_fractional_gates=False``) the client itself removes the fractional gates
  (parametrised gates other than ``rz``/``p``/``u1``, e.g. ``rx``, ``rzz``, ``u``, ``cp``) from
  the configuration; a user gets them with ``backend(name, use_fractional_gates=True)``. The
  client also bounds ``rzz`` angles to [0, pi/2].
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from qiskit.circuit import Gate, Parameter, ParameterExpression, QuantumCircuit
from qiskit.circuit.equivalence_library import SessionEquivalenceLibrary
from qiskit.circuit.tools import pi_check
from qiskit.exceptions import QiskitError
from qiskit.transpiler import InstructionProperties, PassManager, Target
from qiskit.transpiler.passes import BasisTranslator, UnrollCustomDefinitions

BACKEND_VERSION = "1.0.0"
"""The ``backend_version`` of every document unless the caller gives another."""

PROCESSOR_TYPE: Mapping[str, str] = {"family": "qsession emulator", "revision": "1"}
"""The ``processor_type`` reported unless the caller gives another (IBM: ``{"family":
"Heron", "revision": "2"}``)."""

REP_DELAY_RANGE_US = (0.0, 500.0)
"""Allowed ``rep_delay`` between shots, in microseconds (IBM's value for its devices; the
client's ``backend.options.rep_delay`` refuses values outside it)."""

DEFAULT_REP_DELAY_US = 250.0
"""Default ``rep_delay``, in microseconds (IBM's value)."""

NON_UNITARY = ("measure", "reset", "delay")
"""The non-gate instructions the client rebuilds from ``supported_instructions``."""

CONTROL_FLOW = ("if_else", "for_loop", "switch_case", "while_loop")
"""The control-flow operations the client rebuilds (its ``convert_to_target`` knows no
others; naming e.g. ``box`` there makes it fail)."""

_Value = tuple[str, float | None, str]
"""A calibration value: (name, value or ``None`` if unknown, unit)."""

_QASM2_IDENTIFIER = re.compile(r"[a-z][A-Za-z0-9_]*")
_QASM2_RESERVED = frozenset(
    ("pi", "sin", "cos", "tan", "exp", "ln", "sqrt", "gate", "opaque", "qreg", "creg")
    + ("measure", "reset", "barrier", "if", "include")
)
"""Lower-case words OpenQASM 2 reserves: no parameter may be called so."""
_ASCII_PARAMETER_NAMES = {
    "θ": "theta",
    "ϴ": "theta",
    "φ": "phi",
    "ϕ": "phi",
    "λ": "lambda",
    "γ": "gamma",
    "β": "beta",
}
"""Qiskit's Greek parameter names, spelt as IBM's configurations spell them."""


# --------------------------------------------------------------------------- documents


def configuration(
    name: str,
    target: Target,
    *,
    online_date: datetime,
    max_shots: int,
    max_experiments: int,
    simulator: bool = False,
    version: str = BACKEND_VERSION,
    processor_type: Mapping[str, str | int] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """The document of ``GET /backends/{name}/configuration``.

    Args:
        name: the backend's name (``backend_name``).
        target: the device: its gates and where they act, measure/reset/delay, control flow,
            ``dt`` and timing constraints.
        online_date: when the backend came online (a naive datetime is taken as UTC).
        max_shots: the most shots one circuit may ask for.
        max_experiments: the most circuits one job may hold.
        simulator: ``True`` makes the client skip the properties and open no sessions
            (``Session(backend)`` then runs jobs outside any session); keep ``False`` for a
            backend that must support sessions.
        version: ``backend_version``.
        processor_type: ``{"family", "revision"}``; :data:`PROCESSOR_TYPE` by default.
        description: one line for humans; the Target's description, else ``"<n> qubit
            device"``.

    Returns:
        A JSON-ready dict. ``basis_gates`` are the Target's gates (every operation that is a
        :class:`~qiskit.circuit.Gate`, so not measure, reset, delay, control flow or
        directives); ``gates`` describe each basis gate (and reset) with the qubits it is tied
        to (``coupling_map``, absent for a gate available on any qubits) and its definition in
        OpenQASM 2 ``U``/``CX``; ``supported_instructions`` add measure, reset, delay and the
        control flow the Target has; ``coupling_map`` lists the two-qubit edges, ``null``
        when two-qubit gates act on any pair.
    """
    num_qubits = _num_qubits(target)
    basis_gates = _basis_gates(target)
    control_flow = [op for op in CONTROL_FLOW if op in target.operation_names]
    gates = [_gate_config(target, gate) for gate in basis_gates]
    if "reset" in target.operation_names:
        gates.append(_reset_config(target))
    document: dict[str, Any] = {
        "backend_name": name,
        "backend_version": version,
        "n_qubits": num_qubits,
        "basis_gates": basis_gates,
        "gates": gates,
        "supported_instructions": (
            basis_gates + [op for op in NON_UNITARY if op in target.operation_names] + control_flow
        ),
        # Static facts of a gate-model cloud QPU: no pulse access, per-shot memory, and no
        # legacy ``c_if`` conditionals (dynamic circuits are the control-flow instructions).
        "local": False,
        "simulator": simulator,
        "conditional": False,
        "open_pulse": False,
        "memory": True,
        "coupling_map": _coupling_map(target),
        # Measurements are not multiplexed in the emulator: each qubit is its own group.
        "meas_map": [[qubit] for qubit in range(num_qubits)],
        "online_date": _iso(online_date),
        "max_shots": max_shots,
        "max_experiments": max_experiments,
        "dynamic_reprate_enabled": True,
        "rep_delay_range": list(REP_DELAY_RANGE_US),
        "default_rep_delay": DEFAULT_REP_DELAY_US,
        "timing_constraints": {
            "granularity": target.granularity,
            "min_length": target.min_length,
            "pulse_alignment": target.pulse_alignment,
            "acquire_alignment": target.acquire_alignment,
        },
        # "dynamic_circuits" is what ``service.backends(dynamic_circuits=True)`` looks for.
        "supported_features": ["qasm3", "dynamic_circuits"] if control_flow else [],
        "processor_type": dict(processor_type or PROCESSOR_TYPE),
        "description": description or target.description or f"{num_qubits} qubit device",
    }
    if target.dt is not None:
        # IBM's devices sample their output on the same clock as their input: dtm = dt.
        document["dt"] = _ns(target.dt)
        document["dtm"] = _ns(target.dt)
    return document


def properties(
    name: str, target: Target, *, last_update: datetime, version: str = BACKEND_VERSION
) -> dict[str, Any]:
    """The document of ``GET /backends/{name}/properties``: the calibration of ``target``.

    Args:
        name: the backend's name (``backend_name``; the client overwrites it with the name
            it asked for).
        target: the device.
        last_update: when it was calibrated: ``last_update_date`` and the ``date`` of every
            value (a naive datetime is taken as UTC).
        version: ``backend_version``.

    Returns:
        A JSON-ready dict for ``BackendProperties.from_dict``. Every qubit has
        ``operational`` (1), then whichever of ``T1``, ``T2`` (us), ``frequency`` (GHz) its
        QubitProperties know and ``readout_error``, ``readout_length`` (ns) from its
        ``measure`` properties. Every (gate or reset, qubits) with properties has
        ``gate_error`` and/or ``gate_length`` (ns). Values the Target does not have are
        omitted, never invented; ``general`` is empty.
    """
    date = _iso(last_update)
    num_qubits = _num_qubits(target)
    qubit_properties = target.qubit_properties or [None] * num_qubits
    measure = target["measure"] if "measure" in target.operation_names else {}
    qubits = []
    for qubit in range(num_qubits):
        # ``operational`` keeps the list non-empty: the client fails on a qubit without
        # any value (``BackendProperties.is_qubit_operational``).
        values: list[_Value] = [("operational", 1, "")]
        known = qubit_properties[qubit]
        if known is not None:
            values += [
                ("T1", _us(known.t1), "us"),
                ("T2", _us(known.t2), "us"),
                ("frequency", _ghz(known.frequency), "GHz"),
            ]
        readout = measure.get((qubit,))
        if readout is not None:
            values += [
                ("readout_error", _number(readout.error), ""),
                ("readout_length", _ns(readout.duration), "ns"),
            ]
        qubits.append(_nduvs(values, date))
    gates = []
    for gate in [*_basis_gates(target), "reset"]:
        pinned = _pinned(target, gate)
        for qargs in sorted(pinned):
            calibration = pinned[qargs]
            if calibration is None:
                continue
            parameters = _nduvs(
                [
                    ("gate_error", _number(calibration.error), ""),
                    ("gate_length", _ns(calibration.duration), "ns"),
                ],
                date,
            )
            if parameters:
                gates.append(
                    {
                        "qubits": list(qargs),
                        "gate": gate,
                        "name": gate + "_".join(str(q) for q in qargs),
                        "parameters": parameters,
                    }
                )
    return {
        "backend_name": name,
        "backend_version": version,
        "last_update_date": date,
        "qubits": qubits,
        "gates": gates,
        "general": [],
    }


def defaults(target: Target) -> dict[str, Any]:
    """The document of ``GET /backends/{name}/defaults`` (IBM's pulse defaults).

    An emulated QPU has no pulse-level calibration: ``pulse_library`` and ``cmd_def`` are
    empty, ``qubit_freq_est`` holds the profile's qubit frequencies (GHz; 0 where it has
    none), and ``meas_freq_est`` is empty (no profile has readout resonator frequencies).
    """
    frequencies = [
        _ghz(None if known is None else known.frequency) or 0.0
        for known in (target.qubit_properties or [None] * target.num_qubits)
    ]
    return {
        "qubit_freq_est": frequencies,
        "meas_freq_est": [],
        "buffer": 0,
        "pulse_library": [],
        "cmd_def": [],
    }


def status(
    name: str, *, queue_length: int, operational: bool = True, version: str = BACKEND_VERSION
) -> dict[str, Any]:
    """The document of ``GET /backends/{name}/status``.

    The client maps ``state`` to ``operational``, ``status`` to ``status_msg`` (it warns when
    an operational backend is not ``"active"``), ``length_queue`` to ``pending_jobs``; QRMI
    accepts jobs only when ``status`` is ``active`` or ``online``. ``name`` is not part of the
    document (the client takes it from the URL).

    Args:
        name: the backend's name.
        queue_length: jobs waiting for the backend.
        operational: whether it accepts jobs.
        version: ``backend_version``.
    """
    return {
        "state": operational,
        "status": "active" if operational else "offline",
        "message": "available" if operational else "unavailable",
        "length_queue": queue_length,
        "backend_version": version,
    }


def device(
    name: str,
    num_qubits: int,
    *,
    queue_length: int,
    operational: bool = True,
    processor_type: Mapping[str, str | int] | None = None,
) -> dict[str, Any]:
    """One entry of ``GET /backends`` (``{"devices": [...]}``).

    Args:
        name: the backend's name.
        num_qubits: its qubits (``qubits`` and ``physical_qubits``: an emulated device has
            no couplers or spare qubits).
        queue_length: jobs waiting for it.
        operational: ``status.name`` ``"online"``, else ``"offline"`` (``least_busy()``
            considers only online devices).
        processor_type: ``{"family", "revision"}``; :data:`PROCESSOR_TYPE` by default.
    """
    return {
        "name": name,
        "status": {
            "name": "online" if operational else "offline",
            "reason": "available" if operational else "unavailable",
        },
        "is_simulator": False,
        "qubits": num_qubits,
        "physical_qubits": num_qubits,
        "queue_length": queue_length,
        "processor_type": dict(processor_type or PROCESSOR_TYPE),
    }


# --------------------------------------------------------------------------- the Target


def _num_qubits(target: Target) -> int:
    """The Target's qubit count (a device Target always has one)."""
    if target.num_qubits is None:
        raise ValueError("a backend's Target must declare its number of qubits")
    return int(target.num_qubits)


def _basis_gates(target: Target) -> list[str]:
    """The Target's gates, sorted: operations that are :class:`Gate` instances (control flow
    is stored as a class, measure, reset, delay and directives are not gates)."""
    return sorted(
        name
        for name in target.operation_names
        if isinstance(target.operation_from_name(name), Gate)
    )


def _pinned(target: Target, name: str) -> dict[tuple[int, ...], InstructionProperties | None]:
    """The qubits ``name`` is tied to, with their InstructionProperties (possibly ``None``);
    empty when the instruction is absent or available on any qubits."""
    if name not in target.operation_names:
        return {}
    return {
        tuple(int(q) for q in qargs): calibration
        for qargs, calibration in target[name].items()
        if qargs is not None
    }


def _qargs_list(target: Target, name: str) -> list[list[int]]:
    """:func:`_pinned`'s qubits as a sorted JSON list."""
    return sorted(list(qargs) for qargs in _pinned(target, name))


def _coupling_map(target: Target) -> list[list[int]] | None:
    """The directed two-qubit edges, or ``None`` when two-qubit gates act on any pair."""
    coupling = target.build_coupling_map()
    if coupling is None:
        return None
    return sorted([int(a), int(b)] for a, b in coupling.get_edges())


def _gate_config(target: Target, name: str) -> dict[str, Any]:
    """One ``gates`` entry: name, parameter names, OpenQASM 2 definition, and the qubits the
    gate is tied to (no ``coupling_map`` for a gate available on any qubits: the client then
    adds it globally)."""
    gate = target.operation_from_name(name)
    parameters, qasm_def = _definition(gate)
    entry: dict[str, Any] = {"name": name, "parameters": parameters, "qasm_def": qasm_def}
    if qargs := _qargs_list(target, name):
        entry["coupling_map"] = qargs
    return entry


def _reset_config(target: Target) -> dict[str, Any]:
    """The ``gates`` entry IBM gives ``reset``: not unitary, so no definition."""
    entry: dict[str, Any] = {"name": "reset", "parameters": [], "qasm_def": ""}
    if qargs := _qargs_list(target, "reset"):
        entry["coupling_map"] = qargs
    return entry


# --------------------------------------------------------------------------- qasm_def


def _definition(gate: Gate) -> tuple[list[str], str]:
    """A gate's parameter names and its definition in OpenQASM 2 primitives ``U`` and ``CX``,
    as IBM's ``qasm_def`` (``gate cz q0, q1 { U(pi/2, 0, pi) q1; CX q0, q1; ... }``), up to
    global phase.

    Parameter names are OpenQASM 2 identifiers: Qiskit's Greek names are spelt out
    (``λ`` -> ``lambda``), others become ``p0``, ``p1``... The definition is ``""`` for a
    gate Qiskit cannot express in ``U`` and ``CX`` (an opaque gate).
    """
    renamed: dict[Parameter, Parameter] = {}
    for value in gate.params:
        if isinstance(value, ParameterExpression):
            for parameter in sorted(value.parameters, key=lambda p: p.name):
                if parameter not in renamed:
                    taken = {p.name for p in renamed.values()}
                    renamed[parameter] = Parameter(_identifier(parameter.name, len(renamed), taken))
    names = [p.name for p in renamed.values()]

    circuit = QuantumCircuit(gate.num_qubits)
    circuit.append(gate, circuit.qubits)
    circuit.assign_parameters(renamed, inplace=True)
    to_u_cx = PassManager(
        [
            UnrollCustomDefinitions(SessionEquivalenceLibrary, basis_gates=["u", "cx"]),
            BasisTranslator(SessionEquivalenceLibrary, target_basis=["u", "cx"]),
        ]
    )
    try:
        expanded = to_u_cx.run(circuit)
    except QiskitError:  # no rule to rewrite it (TranspilerError is a QiskitError too)
        return names, ""

    qubits = ["q"] if gate.num_qubits == 1 else [f"q{i}" for i in range(gate.num_qubits)]
    body = []
    for instruction in expanded.data:
        operands = ", ".join(qubits[expanded.find_bit(q).index] for q in instruction.qubits)
        if instruction.operation.name == "u":
            angles = ", ".join(
                pi_check(angle, output="qasm", eps=1e-9) for angle in instruction.operation.params
            )
            body.append(f"U({angles}) {operands};")
        else:
            body.append(f"CX {operands};")
    header = f"gate {gate.name}({', '.join(names)})" if names else f"gate {gate.name}"
    return names, f"{header} {', '.join(qubits)} {{ {' '.join(body)} }}"


def _identifier(name: str, index: int, taken: set[str]) -> str:
    """``name`` as an OpenQASM 2 identifier not in ``taken`` (see :func:`_definition`)."""
    candidate = name if _QASM2_IDENTIFIER.fullmatch(name) else _ASCII_PARAMETER_NAMES.get(name)
    while candidate is None or candidate in taken or candidate in _QASM2_RESERVED:
        candidate, index = f"p{index}", index + 1
    return candidate


# --------------------------------------------------------------------------- values


def _nduvs(values: list[_Value], date: str) -> list[dict[str, Any]]:
    """The known ``values`` as IBM writes them ("Nduv": name, date, unit, value)."""
    return [
        {"date": date, "name": name, "unit": unit, "value": value}
        for name, value, unit in values
        if value is not None
    ]


def _iso(when: datetime) -> str:
    """ISO 8601 with an offset, in UTC (a naive datetime is taken as UTC)."""
    aware = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return aware.isoformat()


def _number(value: float | None) -> float | None:
    """A plain finite float (numpy scalars converted), or ``None`` for unknown or NaN."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _ns(seconds: float | None) -> float | None:
    """Seconds to nanoseconds (``* 10**9``: the inverse of the client's ``/ 10**9``)."""
    value = _number(seconds)
    return None if value is None else value * 10**9


def _us(seconds: float | None) -> float | None:
    """Seconds to microseconds."""
    value = _number(seconds)
    return None if value is None else value * 10**6


def _ghz(hertz: float | None) -> float | None:
    """Hz to GHz."""
    value = _number(hertz)
    return None if value is None else value / 10**9
