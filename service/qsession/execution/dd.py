"""Idle time on the emulated QPU: scheduling, dynamical decoupling and the noise of idle windows.

On hardware a qubit that waits while others run gates still decoheres, and it precesses at a
small residual detuning from its drive frame. Aer's device noise model (``NoiseModel.from_backend``)
puts errors on gates, measurements and explicit delays only, so an unscheduled circuit's idle
windows would be free. For a job on a noisy device the executor therefore runs what the QPU
would run:

1. **Schedule** the ISA circuit with the device's durations (the profile's ``Target``;
   Qiskit's ``ALAPScheduleAnalysis`` or ``ASAPScheduleAnalysis`` as
   ``dynamical_decoupling.scheduling_method`` says) and make every idle window an explicit
   delay (``PadDelay``) or, with ``dynamical_decoupling.enable``, fill it with the DD sequence
   (``PadDynamicalDecoupling``, IBM's ``extra_slack_distribution`` and
   ``skip_reset_qubits``). See :func:`schedule_idle`.
2. **Idle noise** (:func:`idle_noise_channels`): each delay of ``t`` seconds on qubit ``q``
   becomes one channel, Aer's thermal relaxation
   (``thermal_relaxation_error(T1_q, min(T2_q, 2 T1_q), t)``, the device's calibrated T1/T2)
   composed with a coherent ``rz(2 pi delta_q t)``. Delays before a qubit's first operation
   (it is in ``|0>``, which neither relaxes nor precesses) and after its final measurement
   (nothing reads it any more) are dropped. The same model applies with and without DD, so the two
   compare fairly; the DD pulses carry the device's own ``x`` gate errors.

The detuning ``delta_q`` (:func:`frequency_offsets`) is not in the calibration snapshot. The model:
``|delta_q|`` log-uniform in [2 kHz, 20 kHz] with a random sign, drawn once per device from a
fixed seed (:data:`DETUNING_SEED` and the CRC-32 of the target's description), so a device's
offsets are the same in every process and every job. That is the range IBM reports for the
residual detuning and static ZZ shift of idle transmons (a few kHz to tens of kHz); over a
1 us idle window it is a phase of 0.01 to 0.13 rad. The offset acts during delays only:
gates are calibrated in the qubit's frame, and a DD pulse's own duration (tens of ns) is
too short for it to matter.

DD sequences, in the device's basis gates (so the circuit stays ISA):

* ``XX``: ``x, x``.
* ``XpXm``: ``rx(pi), rx(-pi)`` where the device has ``rx``; otherwise ``x, x``. ``rx(-pi)`` is
  ``x`` up to a global phase: the two differ on hardware by the sign of the drive, which
  matters for pulse-shape errors the emulator's depolarizing gate errors do not carry.
* ``XY4``: ``x, y, x, y``, each ``y`` scheduled with ``x``'s duration then written as
  ``rz(pi), x`` (``-Y``, the sign kept in the global phase; ``rz`` is virtual and takes no
  time).

Ideal devices run DD too (it changes nothing but the shot noise); they get no idle noise.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np
from qiskit.circuit import ControlFlowOp, Delay, QuantumCircuit
from qiskit.circuit.library import RXGate, RZGate, XGate, YGate
from qiskit.converters import circuit_to_dag, dag_to_circuit
from qiskit.quantum_info import Kraus
from qiskit.transpiler import InstructionDurations, PassManager, Target
from qiskit.transpiler.exceptions import TranspilerError
from qiskit.transpiler.passes import (
    ALAPScheduleAnalysis,
    ASAPScheduleAnalysis,
    PadDelay,
    PadDynamicalDecoupling,
    TimeUnitConversion,
)
from qiskit.utils.units import apply_prefix
from qiskit_aer.noise import QuantumError, thermal_relaxation_error

SEQUENCE_TYPES = ("XX", "XpXm", "XY4")
SLACK_DISTRIBUTIONS = ("middle", "edges")
SCHEDULING_METHODS = ("alap", "asap")

DETUNING_SEED = 14
"""Seed of the per-qubit frequency offsets (with the CRC-32 of the target's description)."""
DETUNING_RANGE_HZ = (2e3, 20e3)
"""Range of ``|delta_q|``, drawn log-uniformly."""


class SchedulingError(ValueError):
    """The circuit cannot be scheduled on the device (no durations, or control flow)."""


@dataclass(frozen=True)
class DynamicalDecoupling:
    """Resolved ``dynamical_decoupling`` options (IBM's defaults; DD off)."""

    enable: bool = False
    sequence_type: str = "XX"
    extra_slack_distribution: str = "middle"
    scheduling_method: str = "alap"
    skip_reset_qubits: bool = False

    def metadata(self) -> dict:
        """IBM's ``dynamical_decoupling`` job metadata block."""
        return {
            "enable": self.enable,
            "sequence_type": self.sequence_type,
            "extra_slack_distribution": self.extra_slack_distribution,
            "scheduling_method": self.scheduling_method,
        }


def schedule_idle(
    circuit: QuantumCircuit, target: Target, dd: DynamicalDecoupling
) -> QuantumCircuit:
    """``circuit`` scheduled with ``target``'s durations, its idle windows filled with delays
    or, with ``dd.enable``, the DD sequence (still an ISA circuit of ``target``; with DD its
    unitary is the original's up to a global phase). Only qubits the circuit operates on get
    DD: an unused qubit stays unused, as on IBM's devices.

    Raises:
        SchedulingError: the circuit has control flow, or an instruction without a duration.
    """
    if any(isinstance(inst.operation, ControlFlowOp) for inst in circuit.data):
        raise SchedulingError("circuits with control flow are not scheduled")
    durations = _durations(target)
    schedule = ALAPScheduleAnalysis if dd.scheduling_method == "alap" else ASAPScheduleAnalysis
    if dd.enable:
        sequence = _sequence(target, dd.sequence_type)
        pad = PadDynamicalDecoupling(
            durations,
            sequence,
            qubits=[q for q in sorted(_busy_spans(circuit)) if _supports_x(target, q)],
            skip_reset_qubits=dd.skip_reset_qubits,
            pulse_alignment=target.pulse_alignment,
            extra_slack_distribution=dd.extra_slack_distribution,
        )
    else:
        pad = PadDelay(durations=durations)
    physical = _physical(circuit)
    try:
        padded = PassManager([TimeUnitConversion(durations), schedule(durations), pad]).run(
            physical
        )
    except TranspilerError as exc:
        raise SchedulingError(str(exc)) from exc
    padded = _ys_as_basis_gates(padded) if dd.enable and dd.sequence_type == "XY4" else padded
    padded.metadata = circuit.metadata
    return padded


def idle_noise_channels(circuit: QuantumCircuit, target: Target) -> QuantumCircuit:
    """``circuit`` (scheduled: delays in ``dt``) with each delay on a qubit replaced by that
    qubit's idle channel (thermal relaxation and detuning, see the module docstring), except
    delays before the qubit's first operation (it is still in ``|0>``) and after its last one
    when that is a measurement (nothing reads it any more), which are dropped, as are delays
    on qubits without T1/T2 or that nothing acts on. Trailing idle time of an unmeasured
    qubit is kept: an Estimator measures it after the circuit."""
    busy = _busy_spans(circuit)
    offsets = frequency_offsets(target)
    properties = target.qubit_properties or [None] * target.num_qubits
    idle = circuit.copy_empty_like()
    for position, inst in enumerate(circuit.data):
        if inst.operation.name != "delay":
            idle.append(inst)
            continue
        qubit = circuit.find_bit(inst.qubits[0]).index
        if qubit not in busy:
            continue
        first, last = busy[qubit]
        measured_last = circuit.data[last].operation.name == "measure"
        props = properties[qubit]
        if position < first or (measured_last and position > last):
            continue
        if props is None or not props.t1 or not props.t2:
            continue
        seconds = _seconds(inst.operation, target.dt)
        if seconds > 0:
            channel = _idle_channel(props.t1, props.t2, float(offsets[qubit]), seconds)
            idle.append(channel, [qubit])
    return idle


def frequency_offsets(target: Target) -> np.ndarray:
    """float64 ``(num_qubits,)``: each qubit's static frequency offset ``delta_q`` in Hz."""
    return _offsets(target.description or "", target.num_qubits)


@cache
def _offsets(description: str, num_qubits: int) -> np.ndarray:
    rng = np.random.default_rng([DETUNING_SEED, zlib.crc32(description.encode())])
    low, high = np.log10(DETUNING_RANGE_HZ)
    magnitudes = 10.0 ** rng.uniform(low, high, num_qubits)
    signs = np.where(rng.random(num_qubits) < 0.5, -1.0, 1.0)
    offsets = signs * magnitudes
    offsets.flags.writeable = False
    return offsets


def _idle_channel(t1: float, t2: float, offset_hz: float, seconds: float):
    """The channel of ``seconds`` idle: thermal relaxation then ``rz(2 pi offset t)`` (they
    commute), as one Aer instruction holding one Kraus channel (Aer applies a mixture of
    circuits far more slowly in the density-matrix method, as for gate errors in noise.py)."""
    relaxation = thermal_relaxation_error(t1, min(t2, 2 * t1), seconds)
    precession = QuantumError(RZGate(2 * math.pi * offset_hz * seconds))
    return QuantumError(Kraus(relaxation.compose(precession))).to_instruction()


def _busy_spans(circuit: QuantumCircuit) -> dict[int, tuple[int, int]]:
    """Qubit -> positions in ``circuit.data`` of its first and last operation other than a
    delay or barrier."""
    spans: dict[int, tuple[int, int]] = {}
    for position, inst in enumerate(circuit.data):
        if inst.operation.name in ("delay", "barrier"):
            continue
        for bit in inst.qubits:
            qubit = circuit.find_bit(bit).index
            first, _ = spans.get(qubit, (position, position))
            spans[qubit] = (first, position)
    return spans


def _seconds(delay: Delay, dt: float | None) -> float:
    if delay.unit == "dt":
        return float(delay.duration) * (dt or 0.0)
    return apply_prefix(float(delay.duration), delay.unit)


def _durations(target: Target) -> InstructionDurations:
    """The target's durations, plus ``y`` on every qubit with ``x``'s duration (XY4)."""
    durations = target.durations()
    if "x" in target.operation_names:
        props = target["x"]
        extra = [
            ("y", qargs, value.duration, "s")
            for qargs, value in props.items()
            if qargs is not None and value is not None and value.duration is not None
        ]
        durations = durations.update(extra)
    return durations


def _supports_x(target: Target, qubit: int) -> bool:
    return target.instruction_supported("x", (qubit,))


def _sequence(target: Target, sequence_type: str) -> list:
    if sequence_type == "XpXm":
        if "rx" in target.operation_names:
            return [RXGate(math.pi), RXGate(-math.pi)]
        return [XGate(), XGate()]
    if sequence_type == "XY4":
        return [XGate(), YGate(), XGate(), YGate()]
    return [XGate(), XGate()]


def _ys_as_basis_gates(circuit: QuantumCircuit) -> QuantumCircuit:
    """Each ``y`` written as ``rz(pi), x`` (``x . rz(pi) = -Y``), the global phase kept."""
    rewritten = circuit.copy_empty_like()
    for inst in circuit.data:
        if inst.operation.name == "y":
            (qubit,) = inst.qubits
            rewritten.rz(math.pi, qubit)
            rewritten.x(qubit)
            rewritten.global_phase += math.pi  # x . rz(pi) = -Y
            continue
        rewritten.append(inst)
    return rewritten


def _physical(circuit: QuantumCircuit) -> QuantumCircuit:
    """``circuit`` with one quantum register named ``q`` (what Qiskit's DD pass requires)."""
    if len(circuit.qregs) == 1 and circuit.qregs[0].name == "q":
        return circuit
    dag = circuit_to_dag(circuit)
    physical = QuantumCircuit(circuit.num_qubits, name=circuit.name, global_phase=dag.global_phase)
    for creg in circuit.cregs:
        physical.add_register(creg)
    loose = [bit for bit in circuit.clbits if not circuit.find_bit(bit).registers]
    if loose:
        physical.add_bits(loose)
    for inst in circuit.data:
        qubits = [physical.qubits[circuit.find_bit(q).index] for q in inst.qubits]
        physical.append(inst.operation, qubits, inst.clbits)
    physical = dag_to_circuit(circuit_to_dag(physical))
    physical._layout = circuit.layout
    return physical
