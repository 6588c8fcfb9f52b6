"""Aer runs of a circuit over all its parameter points, failures as :class:`ExecutionFailed`.

A circuit the executor runs again and again (a session's VQE ansatz, each iteration with new
parameter values) is prepared once with :class:`PreparedRun`: Aer's compilation of the
circuit (which also moves quantum-error instructions into the noise model), its assembly
into Aer's native circuit, and the serialized noise model are kept, and each run only binds
the new values. ``AerSimulator.run`` redoes all three every call, which for a small circuit
costs several times the simulation itself (for a 52-gate, 2-qubit ansatz on this project's
bench machine: about 2.5 ms of Python around 0.4 ms of C++, and for a noisy device more, as
the noise model is converted to a dict on every run).

``PreparedRun`` drives the same Aer steps ``AerBackend._execute_circuits_job`` takes, in the
same order and with the same configuration, so results equal ``AerSimulator.run``'s for the
same seed; ``tests/unit/test_aer_prepared.py`` checks that. The steps are Aer's own
functions, some of them not public: when an Aer release changes them, ``PreparedRun`` falls
back to ``AerSimulator.run``, so a new Aer costs speed, never correctness.
"""

from __future__ import annotations

import logging

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.result import Result
from qiskit_aer import AerSimulator

from qsession.execution.errors import ExecutionFailed

log = logging.getLogger(__name__)

MAX_CONFIGS = 8
"""Aer configurations a prepared circuit keeps (one per shots and memory it ran with)."""


def run_points(
    simulator: AerSimulator,
    circuit: QuantumCircuit,
    values: np.ndarray,
    shots: int,
    memory: bool,
    seed: int | None = None,
) -> Result:
    """Run ``circuit`` once per row of ``values`` (float64 ``(points, circuit.num_parameters)``,
    columns in the order of ``circuit.parameters``), or once if it has no parameters; with
    ``seed``, Aer's ``seed_simulator`` for this run.

    Returns:
        Aer's result; experiment ``i`` is row ``i`` of ``values``.

    Raises:
        ExecutionFailed: Aer cannot run the circuit.
    """
    try:
        seeded = {} if seed is None else {"seed_simulator": seed}
        result = simulator.run(
            circuit, parameter_binds=_binds(circuit, values), shots=shots, memory=memory, **seeded
        ).result()
    except Exception as error:
        raise ExecutionFailed(f"the emulator could not run the circuit: {error}") from error
    return _checked(result)


class PreparedRun:
    """``circuit`` compiled and assembled once for ``simulator``; :meth:`run` binds values.

    Neither the circuit nor the simulator's options may change afterwards (the memo that
    keeps a ``PreparedRun`` holds circuits nobody modifies).
    """

    def __init__(self, simulator: AerSimulator, circuit: QuantumCircuit):
        self.simulator = simulator
        self.circuit = circuit
        self._native = None
        try:
            self._native = _NativeRun(simulator, circuit)
        except Exception as error:  # noqa: BLE001 - an Aer whose internals moved: run() is used
            log.warning("Aer's assembly could not be kept (%s); using AerSimulator.run", error)

    def run(
        self, values: np.ndarray, shots: int = 1, memory: bool = False, seed: int | None = None
    ) -> Result:
        """As :func:`run_points` on the prepared circuit.

        Raises:
            ExecutionFailed: Aer cannot run the circuit.
        """
        if self._native is None:
            return run_points(self.simulator, self.circuit, values, shots, memory, seed)
        try:
            result = self._native.run(values, shots, memory, seed)
        except Exception as error:
            raise ExecutionFailed(f"the emulator could not run the circuit: {error}") from error
        return _checked(result)


class _NativeRun:
    """The steps of ``AerBackend._execute_circuits_job`` split into once and per run."""

    def __init__(self, simulator: AerSimulator, circuit: QuantumCircuit):
        from qiskit_aer.backends.aer_compiler import assemble_circuits
        from qiskit_aer.backends.backend_utils import LIBRARY_DIR

        self._simulator = simulator
        self._library_dir = LIBRARY_DIR
        circuits, noise_model = simulator._compile([circuit])
        if simulator._target is not None:
            basis_gates = simulator.configuration().basis_gates
            aer_circuits, self._index_maps = assemble_circuits(circuits, basis_gates)
        else:
            aer_circuits, self._index_maps = assemble_circuits(circuits)
        aer_circuits[0].circ_id = 0
        self._slots = _parameter_slots(circuits[0], self._index_maps[0])
        self._circuits = circuits
        self._aer_circuits = aer_circuits
        self._noise = noise_model.to_dict(serializable=True) if noise_model else {}
        self._configs: dict[tuple[int, bool], object] = {}  # (shots, memory) -> AerConfig

    def run(self, values: np.ndarray, shots: int, memory: bool, seed: int | None) -> Result:
        config = self._config(shots, memory)
        if seed is not None:
            config.seed_simulator = seed
        if self._slots:
            config.parameterizations = [_parameterization(self._slots, self._circuits[0], values)]
        output = self._simulator._controller.execute(self._aer_circuits, self._noise, config)
        if not isinstance(output, dict):
            raise RuntimeError(f"no result: {output}")  # PreparedRun.run: ExecutionFailed
        output.update(job_id="", date="", backend_name=self._simulator.name, backend_version="")
        for result in output["results"]:
            if "header" in result:
                result["header"]["metadata"] = self._circuits[0].metadata
                result.pop("circ_id", None)
        return self._simulator._format_results(output)

    def _config(self, shots: int, memory: bool):
        """Aer's configuration of a run, built once per shots and memory (from the simulator's
        options, as ``generate_aer_config`` does); each run sets only its parameter values."""
        from qiskit_aer.backends.aer_compiler import generate_aer_config

        config = self._configs.get((shots, memory))
        if config is None:
            if len(self._configs) >= MAX_CONFIGS:
                self._configs.clear()
            config = generate_aer_config(
                self._circuits, self._simulator.options, shots=shots, memory=memory
            )
            config.library_dir = self._library_dir
            self._configs[shots, memory] = config
        return config


def _parameter_slots(circuit: QuantumCircuit, index_map) -> list[tuple[list[int], object]]:
    """Where Aer's native circuit takes each unbound parameter or expression: ``[position,
    parameter]`` pairs as ``AerBackend._convert_circuit_binds`` walks them (the global phase,
    then each instruction's parameters)."""
    from qiskit.circuit import ParameterExpression
    from qiskit_aer.backends.aer_compiler import AerConfig

    slots = []

    def add(position: tuple[int, int], param: object) -> None:
        if isinstance(param, ParameterExpression) and param.parameters:
            slots.append((position, param))

    add((AerConfig.GLOBAL_PHASE_POS, -1), circuit.global_phase)
    for index, instruction in enumerate(circuit.data):
        if instruction.operation.is_parameterized():
            for position, param in enumerate(instruction.operation.params):
                add((index_map[index] if index_map else index, position), param)
    return slots


def _parameterization(slots, circuit: QuantumCircuit, values: np.ndarray) -> list:
    """Aer's parameterization of one circuit at the rows of ``values``: each slot's values."""
    from qiskit.circuit import Parameter

    (columns,) = _binds(circuit, values)
    table = []
    for position, param in slots:
        if isinstance(param, Parameter):
            table.append([position, columns[param]])
        else:
            table.append(
                [
                    position,
                    [
                        float(param.bind({p: columns[p][i] for p in param.parameters}))
                        for i in range(values.shape[0])
                    ],
                ]
            )
    return table


def _binds(circuit: QuantumCircuit, values: np.ndarray) -> list[dict] | None:
    if not circuit.num_parameters:
        return None
    return [{param: values[:, j] for j, param in enumerate(circuit.parameters)}]


def _checked(result: Result) -> Result:
    if not result.success:
        raise ExecutionFailed(f"the emulator could not run the circuit: {result.status}")
    return result
