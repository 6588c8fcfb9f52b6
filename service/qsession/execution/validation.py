"""PUB validation against a device: width, ISA, measurements, shots, parameter values."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from qiskit.circuit import ControlFlowOp, QuantumCircuit
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.transpiler import Target

from qsession.execution.errors import InvalidPub
from qsession.execution.memo import Memo, derive
from qsession.wire.shots import precision_problem, shots_for_precision, smallest_precision

MAX_SHOTS = 10_000_000
"""The most shots one PUB may take (Sampler ``shots``; Estimator ``ceil(1/precision**2)``)."""

TRANSPILE_HINT = (
    "transpile it for the backend with the TranspilerService.Transpile RPC (in Python: "
    "generate_preset_pass_manager(backend=backend).run(circuit))"
)


def validate_sampler_pub(
    pub: SamplerPub, field: str, target: Target, device: str, memo: Memo | None = None
) -> None:
    """Check that ``pub`` runs on ``target`` as given.

    Args:
        pub: the coerced PUB, ``pub.shots`` resolved.
        field: the PUB's place in the request, e.g. ``"sampler_pubs[0]"``.
        target: the device.
        device: the device name, for messages.
        memo: remembers that a circuit nobody modifies passed the device checks.

    Raises:
        InvalidPub: naming ``field`` + ``.circuit`` / ``.shots`` / ``.parameter_values``.
    """
    circuit = pub.circuit
    _check_circuit_once(memo, circuit, f"{field}.circuit", target, device)
    if not circuit.cregs:
        raise InvalidPub(
            f"{field}.circuit",
            "circuit has no classical registers; the Sampler returns one BitArray per classical "
            "register, so measure into one (e.g. circuit.measure_all())",
        )
    if not any(inst.operation.name == "measure" for inst in _flat(circuit)):
        raise InvalidPub(
            f"{field}.circuit",
            "circuit has no measurements; add them (e.g. circuit.measure_all())",
        )
    if pub.shots is None or not 0 < pub.shots <= MAX_SHOTS:
        raise InvalidPub(f"{field}.shots", f"shots must be in 1..{MAX_SHOTS}, got {pub.shots}")
    _check_parameter_values(pub.parameter_values, circuit, f"{field}.parameter_values")


def validate_estimator_pub(
    pub: EstimatorPub, field: str, target: Target, device: str, memo: Memo | None = None
) -> None:
    """Check that ``pub`` runs on ``target`` as given (final measurements are allowed).

    Args:
        pub: the coerced PUB, ``pub.precision`` resolved.
        field: the PUB's place in the request, e.g. ``"estimator_pubs[0]"``.
        target: the device.
        device: the device name, for messages.
        memo: remembers that a circuit nobody modifies passed the device checks.

    Raises:
        InvalidPub: naming ``field`` + ``.circuit`` / ``.observables`` / ``.precision`` /
            ``.parameter_values``.
    """
    circuit = pub.circuit
    _check_circuit_once(memo, circuit, f"{field}.circuit", target, device)
    if pub.observables.num_qubits != circuit.num_qubits:
        raise InvalidPub(
            f"{field}.observables",
            f"observables act on {pub.observables.num_qubits} qubits but the circuit has "
            f"{circuit.num_qubits}; apply the circuit's layout "
            "(observable.apply_layout(isa_circuit.layout))",
        )
    precision = pub.precision
    if (
        precision is None
        or precision_problem(precision) is not None
        or shots_for_precision(precision) > MAX_SHOTS
    ):
        raise InvalidPub(
            f"{field}.precision",
            f"precision must be positive and at least {smallest_precision(MAX_SHOTS):.3g} "
            f"(at most {MAX_SHOTS} shots), got {precision}",
        )
    _check_parameter_values(pub.parameter_values, circuit, f"{field}.parameter_values")


def _check_circuit_once(
    memo: Memo | None, circuit: QuantumCircuit, field: str, target: Target, device: str
) -> None:
    """``_check_circuit``, remembered per circuit object and device: a circuit that fits one
    device may not fit another."""
    derive(memo, circuit, "isa", lambda: _check_circuit(circuit, field, target, device), device)


def _check_circuit(circuit: QuantumCircuit, field: str, target: Target, device: str) -> None:
    if circuit.num_qubits > target.num_qubits:
        raise InvalidPub(
            field,
            f"circuit has {circuit.num_qubits} qubits but {device} has {target.num_qubits}",
        )
    for name, qargs in _instructions_on_physical_qubits(circuit, tuple(range(circuit.num_qubits))):
        if name != "barrier" and not target.instruction_supported(name, qargs):
            raise InvalidPub(
                field,
                f"instruction '{name}' on qubits {list(qargs)} is not supported by {device} "
                f"(instructions: {', '.join(sorted(target.operation_names))}); {TRANSPILE_HINT}",
            )


def _instructions_on_physical_qubits(
    circuit: QuantumCircuit, physical: tuple[int, ...]
) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Yield ``(name, physical qubits)`` of every instruction, control-flow bodies included;
    ``physical[i]`` is the device qubit of ``circuit.qubits[i]``."""
    for inst in circuit.data:
        qargs = tuple(physical[circuit.find_bit(q).index] for q in inst.qubits)
        yield inst.operation.name, qargs
        if isinstance(inst.operation, ControlFlowOp):
            for block in inst.operation.blocks:
                yield from _instructions_on_physical_qubits(block, qargs)


def _flat(circuit: QuantumCircuit) -> Iterator:
    """Every instruction of ``circuit``, control-flow bodies included."""
    for inst in circuit.data:
        yield inst
        if isinstance(inst.operation, ControlFlowOp):
            for block in inst.operation.blocks:
                yield from _flat(block)


def _check_parameter_values(values: BindingsArray, circuit: QuantumCircuit, field: str) -> None:
    if values.num_parameters != circuit.num_parameters:
        raise InvalidPub(
            field,
            f"{values.num_parameters} values per point for {circuit.num_parameters} parameters",
        )
    for array in values.data.values():
        if not np.all(np.isfinite(array)):
            raise InvalidPub(field, "parameter values must be finite")
