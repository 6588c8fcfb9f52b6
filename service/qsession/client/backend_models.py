"""``backend.configuration()`` and ``backend.properties()`` in qiskit-ibm-runtime's shapes.

Qiskit 2 removed ``BackendConfiguration`` and ``BackendProperties``, but libraries written for
IBM backends still read them (mthree reads ``max_shots``, ``max_experiments`` and
``faulty_qubits()``; Aer's ``NoiseModel.from_backend_properties`` walks ``gates`` and
``qubits``). The classes here have the attribute and method names of qiskit-ibm-runtime's
``QasmBackendConfiguration`` and ``BackendProperties`` and are read from the backend's Qiskit
:class:`~qiskit.transpiler.Target`, so the two always agree.

Units are IBM's. Attributes and lookup methods give SI units: seconds for T1, T2, ``dt`` and
durations, Hz for frequencies, probabilities (0..1) for errors. The property records
(:class:`Nduv`) and ``to_dict()`` keep IBM's server units, each value beside its unit: T1 and T2
in ``"us"``, frequency in ``"GHz"``, lengths in ``"ns"``, errors unitless; a configuration's
``to_dict()`` gives ``dt`` in ns, as IBM's does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qiskit.circuit import Gate
from qiskit.transpiler import Target
from qiskit.utils.units import apply_prefix

from qsession.client.errors import QSessionError

Property = tuple[float, datetime]
"""A property's value in SI units and when it was measured."""


class BackendPropertyError(QSessionError, ValueError):
    """A qubit, gate or property the backend's properties do not have; the message names it.

    Also a ``ValueError``, which is what libraries catch when a device lacks a value (Aer's
    ``NoiseModel.from_backend_properties`` skips relaxation noise without T1/T2 that way).
    """


class PulseDefaultsError(QSessionError, AttributeError):
    """``backend.defaults()``: qsession's emulated QPUs have no pulse defaults.

    Also an ``AttributeError``, so code that probes for pulse support the way it probes
    qiskit-ibm-runtime's ``IBMBackend`` (which has no ``defaults`` any more) keeps working.
    """


@dataclass(frozen=True)
class BackendConfiguration:
    """The fixed description of a backend, shaped like qiskit-ibm-runtime's
    ``QasmBackendConfiguration``.

    Attributes:
        backend_name: The backend's name.
        backend_version: The backend's version (qsession: its device profile's name).
        n_qubits: Number of physical qubits.
        basis_gates: Names of the gates circuits may use (no measure, reset, delay or control
            flow; those are in ``supported_instructions``), sorted.
        coupling_map: Directed ``[control, target]`` pairs where two-qubit gates run, or
            ``None`` for an all-to-all device.
        simulator: Always ``False``: every qsession backend emulates a QPU with a queue.
        local: Always ``False``: the backend runs on a server.
        conditional: Whether circuits may branch on measurements (the target has ``if_else``).
        open_pulse: Always ``False``: Qiskit 2 has no pulse programs.
        memory: Always ``True``: ``backend.run(..., memory=True)`` returns per-shot outcomes.
        max_shots: The largest number of shots of one circuit.
        max_experiments: The largest number of circuits (PUBs) of one job.
        dt: The device's sample time in seconds, or ``None`` when not applicable.
        supported_instructions: Every instruction name of the target, sorted.
        processor_type: Always ``None``: the server's Backend message does not carry the
            device's processor family.
        dynamic_reprate_enabled: Always ``False``: an emulator has no repetition delay to set.
        meas_levels: ``[2]``: results are classified bits only.
    """

    backend_name: str
    backend_version: str
    n_qubits: int
    basis_gates: list[str]
    coupling_map: list[list[int]] | None
    simulator: bool
    local: bool
    conditional: bool
    open_pulse: bool
    memory: bool
    max_shots: int
    max_experiments: int
    dt: float | None
    supported_instructions: list[str]
    processor_type: dict[str, str] | None = None
    dynamic_reprate_enabled: bool = False
    meas_levels: list[int] = field(default_factory=lambda: [2])

    @classmethod
    def from_target(
        cls,
        target: Target,
        *,
        backend_name: str,
        backend_version: str,
        simulator: bool,
        max_shots: int,
        max_experiments: int,
    ) -> BackendConfiguration:
        """The configuration of a backend whose device is ``target``."""
        names = sorted(target.operation_names)
        coupling = target.build_coupling_map()
        edges = None if coupling is None else sorted(list(e) for e in coupling.get_edges())
        return cls(
            backend_name=backend_name,
            backend_version=backend_version,
            n_qubits=target.num_qubits,
            basis_gates=[n for n in names if isinstance(target.operation_from_name(n), Gate)],
            coupling_map=edges,
            simulator=simulator,
            local=False,
            conditional="if_else" in names,
            open_pulse=False,
            memory=True,
            max_shots=max_shots,
            max_experiments=max_experiments,
            dt=target.dt,
            supported_instructions=names,
        )

    @property
    def num_qubits(self) -> int:
        """Number of physical qubits (Qiskit's name for ``n_qubits``)."""
        return self.n_qubits

    def to_dict(self) -> dict[str, Any]:
        """The configuration as IBM's server sends it (``dt`` in ns; absent when ``None``)."""
        out = {
            "backend_name": self.backend_name,
            "backend_version": self.backend_version,
            "n_qubits": self.n_qubits,
            "basis_gates": list(self.basis_gates),
            "local": self.local,
            "simulator": self.simulator,
            "conditional": self.conditional,
            "open_pulse": self.open_pulse,
            "memory": self.memory,
            "max_shots": self.max_shots,
            "max_experiments": self.max_experiments,
            "coupling_map": self.coupling_map,
            "supported_instructions": list(self.supported_instructions),
            "dynamic_reprate_enabled": self.dynamic_reprate_enabled,
            "meas_levels": list(self.meas_levels),
            "processor_type": self.processor_type,
        }
        if self.dt is not None:
            out["dt"] = self.dt * 1e9
        return out


@dataclass(frozen=True)
class Nduv:
    """One measured property: name, date, unit and value, as in qiskit-ibm-runtime.

    Attributes:
        date: When the value was measured.
        name: The property's name, e.g. ``"T1"``, ``"readout_error"``, ``"gate_length"``.
        unit: The value's unit with an SI prefix (``"us"``, ``"GHz"``, ``"ns"``) or ``""``.
        value: The value in ``unit``.
    """

    date: datetime
    name: str
    unit: str
    value: float

    def to_dict(self) -> dict[str, Any]:
        """``{"date", "name", "unit", "value"}``."""
        return {"date": self.date, "name": self.name, "unit": self.unit, "value": self.value}


@dataclass(frozen=True)
class GateProperties:
    """The measured properties of one gate on specific qubits, as in qiskit-ibm-runtime.

    Attributes:
        qubits: The physical qubits, in order.
        gate: The gate's name, e.g. ``"cz"``.
        parameters: ``gate_error`` (unitless) and/or ``gate_length`` (``"ns"``).
        name: IBM's label for the entry, e.g. ``"cz0_1"``.
    """

    qubits: list[int]
    gate: str
    parameters: list[Nduv]
    name: str

    def to_dict(self) -> dict[str, Any]:
        """``{"qubits", "gate", "parameters", "name"}`` with the parameters as dicts."""
        return {
            "qubits": list(self.qubits),
            "gate": self.gate,
            "parameters": [p.to_dict() for p in self.parameters],
            "name": self.name,
        }


class BackendProperties:
    """Measured qubit and gate properties of a backend, like qiskit-ibm-runtime's
    ``BackendProperties``.

    Qubit properties: ``T1``, ``T2``, ``frequency`` (from the target's ``qubit_properties``),
    ``readout_error`` and ``readout_length`` (the ``measure`` instruction's error and duration).
    Gate properties: ``gate_error`` and ``gate_length`` of every instruction other than
    ``measure`` that the target gives on specific qubits. Properties the target lacks are
    absent (an ideal device has none), and asking for them raises
    :class:`BackendPropertyError`.

    Attributes:
        backend_name: The backend's name.
        backend_version: The backend's version.
        last_update_date: When the properties were measured; every :class:`Nduv` carries it.
        qubits: Per qubit (index = physical qubit), its :class:`Nduv` records.
        gates: One :class:`GateProperties` per gate and qubits.
        general: Always empty: there are no device-wide properties.
    """

    def __init__(
        self,
        backend_name: str,
        backend_version: str,
        last_update_date: datetime,
        qubits: list[list[Nduv]],
        gates: list[GateProperties],
    ):
        self.backend_name = backend_name
        self.backend_version = backend_version
        self.last_update_date = last_update_date
        self.qubits = qubits
        self.gates = gates
        self.general: list[Nduv] = []
        self._qubits: list[dict[str, Property]] = [
            {p.name: (apply_prefix(p.value, p.unit), p.date) for p in records} for records in qubits
        ]
        self._gates: dict[str, dict[tuple[int, ...], dict[str, Property]]] = {}
        for entry in gates:
            self._gates.setdefault(entry.gate, {})[tuple(entry.qubits)] = {
                p.name: (apply_prefix(p.value, p.unit), p.date) for p in entry.parameters
            }

    @classmethod
    def from_target(
        cls, target: Target, *, backend_name: str, backend_version: str, date: datetime
    ) -> BackendProperties:
        """The properties ``target`` holds, each dated ``date``."""
        qubits: list[list[Nduv]] = [[] for _ in range(target.num_qubits)]
        for q, props in enumerate(target.qubit_properties or ()):
            if props is None:
                continue
            for name, value, unit, scale in (
                ("T1", props.t1, "us", 1e6),
                ("T2", props.t2, "us", 1e6),
                ("frequency", props.frequency, "GHz", 1e-9),
            ):
                if value is not None:
                    qubits[q].append(Nduv(date, name, unit, value * scale))
        gates: list[GateProperties] = []
        for name in sorted(target.operation_names):
            for qargs, props in target[name].items():
                if qargs is None or props is None:
                    continue
                if name == "measure":
                    qubits[qargs[0]].extend(
                        _records(date, props.error, props.duration, "readout_error", "readout")
                    )
                    continue
                records = _records(date, props.error, props.duration, "gate_error", "gate")
                if records:
                    label = name + "_".join(str(q) for q in qargs)
                    gates.append(GateProperties(list(qargs), name, records, label))
        return cls(backend_name, backend_version, date, qubits, gates)

    def to_dict(self) -> dict[str, Any]:
        """The properties as IBM's server sends them: ``backend_name``, ``backend_version``,
        ``last_update_date``, ``qubits`` (lists of Nduv dicts), ``gates``, ``general``."""
        return {
            "backend_name": self.backend_name,
            "backend_version": self.backend_version,
            "last_update_date": self.last_update_date,
            "qubits": [[p.to_dict() for p in records] for records in self.qubits],
            "gates": [g.to_dict() for g in self.gates],
            "general": [],
        }

    # ------------------------------------------------------------------ qubits

    def qubit_property(self, qubit: int, name: str | None = None) -> dict[str, Property] | Property:
        """A qubit's properties: all as ``{name: (value, date)}``, or the one called ``name``.

        Raises:
            BackendPropertyError: no such qubit, or it has no property ``name``.
        """
        if not 0 <= qubit < len(self._qubits):
            raise BackendPropertyError(
                f"{self.backend_name} has no qubit {qubit} (it has {len(self._qubits)})"
            )
        if name is None:
            return dict(self._qubits[qubit])
        try:
            return self._qubits[qubit][name]
        except KeyError:
            raise BackendPropertyError(
                f"Couldn't find the property '{name}' for qubit {qubit} of {self.backend_name}."
            ) from None

    def t1(self, qubit: int) -> float:
        """The qubit's energy relaxation time T1 in seconds.

        Raises:
            BackendPropertyError: no such qubit, or its T1 is unknown.
        """
        return self._qubit_value(qubit, "T1")

    def t2(self, qubit: int) -> float:
        """The qubit's dephasing time T2 in seconds.

        Raises:
            BackendPropertyError: no such qubit, or its T2 is unknown.
        """
        return self._qubit_value(qubit, "T2")

    def frequency(self, qubit: int) -> float:
        """The qubit's frequency in Hz.

        Raises:
            BackendPropertyError: no such qubit, or its frequency is unknown.
        """
        return self._qubit_value(qubit, "frequency")

    def readout_error(self, qubit: int) -> float:
        """The probability (0..1) that measuring the qubit reports the wrong bit.

        Raises:
            BackendPropertyError: no such qubit, or its readout error is unknown.
        """
        return self._qubit_value(qubit, "readout_error")

    def readout_length(self, qubit: int) -> float:
        """How long measuring the qubit takes, in seconds.

        Raises:
            BackendPropertyError: no such qubit, or its readout length is unknown.
        """
        return self._qubit_value(qubit, "readout_length")

    def is_qubit_operational(self, qubit: int) -> bool:
        """Always ``True`` for a qubit of the device (see :meth:`faulty_qubits`).

        Raises:
            BackendPropertyError: no such qubit.
        """
        self.qubit_property(qubit)
        return True

    def faulty_qubits(self) -> list[int]:
        """Always empty: the server reports no faulty qubits, and every qubit of an emulated
        device operates."""
        return []

    # ------------------------------------------------------------------ gates

    def gate_property(
        self, gate: str, qubits: int | Iterable[int] | None = None, name: str | None = None
    ) -> dict[tuple[int, ...], dict[str, Property]] | dict[str, Property] | Property:
        """A gate's properties: per qubits ``{qubits: {name: (value, date)}}``; on ``qubits``,
        ``{name: (value, date)}``; or, with ``name`` too, ``(value, date)``.

        Raises:
            BackendPropertyError: the gate, the gate on ``qubits``, or the property is
                unknown, or ``name`` is given without ``qubits``.
        """
        if gate not in self._gates:
            raise BackendPropertyError(f"Could not find properties of gate {gate!r}")
        if qubits is None:
            if name is not None:
                raise BackendPropertyError(f"Provide qubits to get {name} of {gate}")
            return {q: dict(props) for q, props in self._gates[gate].items()}
        key = (qubits,) if isinstance(qubits, int) else tuple(qubits)
        if key not in self._gates[gate]:
            raise BackendPropertyError(f"Could not find properties of gate {gate!r} on {key}")
        if name is None:
            return dict(self._gates[gate][key])
        try:
            return self._gates[gate][key][name]
        except KeyError:
            raise BackendPropertyError(
                f"Could not find the property '{name}' of gate {gate!r} on {key}"
            ) from None

    def gate_error(self, gate: str, qubits: int | Iterable[int]) -> float:
        """The gate's error rate (0..1) on ``qubits``.

        Raises:
            BackendPropertyError: the gate on ``qubits`` or its error is unknown.
        """
        return self.gate_property(gate, qubits, "gate_error")[0]  # type: ignore[return-value]

    def gate_length(self, gate: str, qubits: int | Iterable[int]) -> float:
        """The gate's duration on ``qubits`` in seconds.

        Raises:
            BackendPropertyError: the gate on ``qubits`` or its duration is unknown.
        """
        return self.gate_property(gate, qubits, "gate_length")[0]  # type: ignore[return-value]

    def is_gate_operational(self, gate: str, qubits: int | Iterable[int] | None = None) -> bool:
        """Always ``True`` for a gate the properties list (see :meth:`faulty_gates`).

        Raises:
            BackendPropertyError: the gate, or the gate on ``qubits``, is unknown.
        """
        self.gate_property(gate, qubits)
        return True

    def faulty_gates(self) -> list[GateProperties]:
        """Always empty: the server reports no faulty gates."""
        return []

    def _qubit_value(self, qubit: int, name: str) -> float:
        return self.qubit_property(qubit, name)[0]  # type: ignore[return-value]


def _records(
    date: datetime, error: float | None, duration: float | None, error_name: str, prefix: str
) -> list[Nduv]:
    """``<error_name>`` (unitless) and ``<prefix>_length`` (ns) records of the values set."""
    records = []
    if error is not None:
        records.append(Nduv(date, error_name, "", error))
    if duration is not None:
        records.append(Nduv(date, f"{prefix}_length", "ns", duration * 1e9))
    return records
