"""One Aer call over all parameter points of a circuit, failures as :class:`ExecutionFailed`."""

from __future__ import annotations

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.result import Result
from qiskit_aer import AerSimulator

from qsession.execution.errors import ExecutionFailed


def run_points(
    simulator: AerSimulator, circuit: QuantumCircuit, values: np.ndarray, shots: int, memory: bool
) -> Result:
    """Run ``circuit`` once per row of ``values`` (float64 ``(points, circuit.num_parameters)``,
    columns in the order of ``circuit.parameters``), or once if it has no parameters.

    Returns:
        Aer's result; experiment ``i`` is row ``i`` of ``values``.

    Raises:
        ExecutionFailed: Aer cannot run the circuit.
    """
    binds = None
    if circuit.num_parameters:
        binds = [{param: values[:, j] for j, param in enumerate(circuit.parameters)}]
    try:
        result = simulator.run(circuit, parameter_binds=binds, shots=shots, memory=memory).result()
    except Exception as error:
        raise ExecutionFailed(f"the emulator could not run the circuit: {error}") from error
    if not result.success:
        raise ExecutionFailed(f"the emulator could not run the circuit: {result.status}")
    return result
