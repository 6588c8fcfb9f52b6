"""A device's noise, restricted to the qubits a reduced circuit uses."""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import NoReturn

import numpy as np
from qiskit.providers import BackendV2, Options
from qiskit.transpiler import Target
from qiskit_aer.noise import NoiseModel


class DeviceNoise:
    """Aer noise models (``NoiseModel.from_backend``) for subsets of a target's qubits.

    Gate errors become depolarizing errors, durations with T1/T2 thermal relaxation, measure
    errors symmetric readout errors.
    """

    def __init__(self, target: Target) -> None:
        self._target = target
        measure = target.get("measure") or {}
        self._readout = np.array(
            [
                (props.error or 0.0) if (props := measure.get((q,))) is not None else 0.0
                for q in range(target.num_qubits)
            ]
        )
        self.model_for = lru_cache(maxsize=64)(self._model_for)

    def readout_errors(self, qubits: list[int]) -> np.ndarray:
        """Probability (float64, one per qubit) that a measurement of ``qubits`` reads wrong."""
        return self._readout[qubits]

    def _model_for(self, qubits: tuple[int, ...]) -> NoiseModel:
        """The noise model of device qubits ``qubits``, renumbered ``0..len(qubits)-1``
        (cached per qubit tuple); ideal when the target has no calibration."""
        backend = _TargetBackend(restrict_target(self._target, qubits))
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=".*has no QubitProperties", category=UserWarning
            )
            return NoiseModel.from_backend(backend)


def restrict_target(target: Target, qubits: tuple[int, ...]) -> Target:
    """The sub-device on ``qubits``: qubit ``qubits[j]`` becomes ``j``; instructions on other
    qubits are dropped; properties, qubit properties and ``dt`` are kept."""
    index = {q: j for j, q in enumerate(qubits)}
    all_props = target.qubit_properties
    sub = Target(
        description=target.description,
        num_qubits=len(qubits),
        dt=target.dt,
        qubit_properties=[all_props[q] for q in qubits] if all_props else None,
    )
    for name in target.operation_names:
        operation = target.operation_from_name(name)
        props = target[name]
        if isinstance(operation, type) or props is None or None in props:
            sub.add_instruction(operation, name=name)
            continue
        sub.add_instruction(
            operation,
            {
                tuple(index[q] for q in qargs): value
                for qargs, value in props.items()
                if all(q in index for q in qargs)
            },
            name=name,
        )
    return sub


class _TargetBackend(BackendV2):
    """The minimal BackendV2 ``NoiseModel.from_backend`` reads a target from."""

    def __init__(self, target: Target) -> None:
        super().__init__(name="qsession-device")
        self._target = target

    @property
    def target(self) -> Target:
        return self._target

    @property
    def max_circuits(self) -> None:
        return None

    @classmethod
    def _default_options(cls) -> Options:
        return Options()

    def run(self, run_input: object, **options: object) -> NoReturn:
        raise NotImplementedError("a calibration holder, not an executable backend")
