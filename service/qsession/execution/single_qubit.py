"""One qubit's final distribution computed in numpy, every parameter point at once.

A circuit split into independent parts (:mod:`.components`) often leaves many parts of one
qubit: IBM's client-side TREX measures all 133 qubits of fake_torino, each through a basis
change of a few single-qubit gates. Aer runs each parameter point of each part as its own
experiment, about 0.1 ms of overhead each; a 2x2 density matrix per point, evolved gate by
gate as a batch, costs less than that for all points together.

The arithmetic is Aer's: each gate's unitary, then its error channel (the same Kraus
instruction :class:`.noise.DeviceNoise` writes into Aer's circuit, as its superoperator), and the
probabilities of the final diagonal. Gates whose matrix this module does not build, and
parameters that are expressions rather than plain parameters, return ``None``: the caller
runs Aer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from qiskit.circuit import Parameter, QuantumCircuit

from qsession.execution.noise import DeviceNoise

_FIXED = {
    name: np.asarray(matrix, complex)
    for name, matrix in {
        "id": [[1, 0], [0, 1]],
        "x": [[0, 1], [1, 0]],
        "y": [[0, -1j], [1j, 0]],
        "z": [[1, 0], [0, -1]],
        "h": np.array([[1, 1], [1, -1]]) / np.sqrt(2),
        "s": [[1, 0], [0, 1j]],
        "sdg": [[1, 0], [0, -1j]],
        "t": [[1, 0], [0, np.exp(1j * np.pi / 4)]],
        "tdg": [[1, 0], [0, np.exp(-1j * np.pi / 4)]],
        "sx": np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2,
        "sxdg": np.array([[1 - 1j, 1 + 1j], [1 + 1j, 1 - 1j]]) / 2,
    }.items()
}


def _rz(theta: np.ndarray) -> np.ndarray:
    out = np.zeros((theta.size, 2, 2), complex)
    out[:, 0, 0] = np.exp(-0.5j * theta)
    out[:, 1, 1] = np.exp(0.5j * theta)
    return out


def _phase(theta: np.ndarray) -> np.ndarray:
    out = np.zeros((theta.size, 2, 2), complex)
    out[:, 0, 0] = 1
    out[:, 1, 1] = np.exp(1j * theta)
    return out


def _rx(theta: np.ndarray) -> np.ndarray:
    out = np.empty((theta.size, 2, 2), complex)
    out[:, 0, 0] = out[:, 1, 1] = np.cos(theta / 2)
    out[:, 0, 1] = out[:, 1, 0] = -1j * np.sin(theta / 2)
    return out


def _ry(theta: np.ndarray) -> np.ndarray:
    out = np.empty((theta.size, 2, 2), complex)
    out[:, 0, 0] = out[:, 1, 1] = np.cos(theta / 2)
    out[:, 0, 1] = -np.sin(theta / 2)
    out[:, 1, 0] = np.sin(theta / 2)
    return out


_ROTATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "rz": _rz,
    "p": _phase,
    "u1": _phase,
    "rx": _rx,
    "ry": _ry,
}
"""One-angle gates by their matrix for a batch of angles (global phases as Qiskit's)."""


def final_probabilities(
    circuit: QuantumCircuit, device_qubit: int, values: np.ndarray, noise: DeviceNoise | None
) -> np.ndarray | None:
    """The probabilities of reading 0 and 1 at the end of a one-qubit ``circuit`` (gates,
    barriers and terminal measurements only), before readout errors.

    Args:
        circuit: one qubit.
        device_qubit: the device qubit it is, whose gate errors apply.
        values: float64 ``(points, circuit.num_parameters)``, columns in the order of
            ``circuit.parameters``.
        noise: the device's noise, or ``None``.

    Returns:
        float64 ``(points, 2)``, or ``None`` when a gate or parameter is not one this module
        builds (the caller then runs Aer).
    """
    points = values.shape[0]
    column = {param: i for i, param in enumerate(circuit.parameters)}
    rho = np.zeros((points, 2, 2), complex)
    rho[:, 0, 0] = 1
    for inst in circuit.data:
        name = inst.operation.name
        if name in ("measure", "barrier"):
            continue
        unitary = _unitary(name, inst.operation.params, column, values)
        if unitary is None:
            return None
        rho = unitary @ rho @ np.conj(np.swapaxes(unitary, -1, -2))
        if noise is not None:
            superop = noise.gate_superop(name, (device_qubit,))
            if superop is not None:
                rho = _apply_channel(superop, rho)
    return np.clip(np.real(np.diagonal(rho, axis1=1, axis2=2)), 0.0, None)


def _unitary(
    name: str, params: list, column: dict[Parameter, int], values: np.ndarray
) -> np.ndarray | None:
    """The gate's matrix, ``(2, 2)`` or ``(points, 2, 2)``; ``None`` if not built here."""
    if not params:
        return _FIXED.get(name)
    build = _ROTATIONS.get(name)
    if build is None or len(params) != 1:
        return None
    (angle,) = params
    if isinstance(angle, Parameter):
        return build(values[:, column[angle]])
    if isinstance(angle, int | float):
        return build(np.full(values.shape[0], float(angle)))
    return None  # a parameter expression


def _apply_channel(superop: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """``superop`` applied to each density matrix of ``rho`` ``(points, 2, 2)``."""
    vectors = np.swapaxes(rho, -1, -2).reshape(rho.shape[0], 4)  # column-stacked
    out = vectors @ superop.T
    return np.swapaxes(out.reshape(rho.shape[0], 2, 2), -1, -2)
