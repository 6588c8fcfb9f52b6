"""Exact outcome distributions of circuits whose measurements are all terminal.

Such a circuit's outcomes follow its final state, so Aer computes their distribution once per
parameter point and the shots are drawn from it (:mod:`.sampling`):

* ideal: the probabilities of the final state vector;
* noisy: the probabilities of the final density matrix under the device's gate errors
  (:meth:`DeviceNoise.gate_error`), then each measured qubit's readout assignment applied
  to the distribution, which is what Aer's readout error does to each shot.

The Estimator measures one circuit in several bases. :func:`final_states` gives the state
itself once per parameter point, and :func:`basis_probabilities` turns it into each basis's
distribution (the basis change of ``measurement_plan.basis_circuit``, which carries no device
error, applied exactly with Qiskit's ``quantum_info``): one simulation per point instead of
one per basis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import DensityMatrix, Operator, Statevector
from qiskit_aer import AerSimulator

from qsession.execution import methods, progress, single_qubit
from qsession.execution.aer import PreparedRun
from qsession.execution.memo import Memo, derive
from qsession.execution.noise import DeviceNoise
from qsession.execution.reduction import ReducedCircuit


def final_distribution(
    reduced: ReducedCircuit,
    measured: list[int],
    values: np.ndarray,
    noise: DeviceNoise | None,
    memo: Memo | None = None,
    readout: bool = True,
) -> list[np.ndarray]:
    """The probabilities of reading ``measured`` at the end of ``reduced.circuit``.

    Args:
        reduced: a circuit whose measurements are all terminal (``reduced.final_measures`` is
            not ``None``) and, with noise, that has no delay.
        measured: reduced qubits read, distinct; bit ``j`` of an outcome is qubit
            ``measured[j]``.
        values: float64 ``(points, reduced.circuit.num_parameters)``, columns in the order of
            ``reduced.circuit.parameters``; one row if the circuit has no parameters.
        noise: the device's noise (gate errors and readout errors of the device qubits
            ``reduced.active``), or ``None`` for an ideal device.
        memo: remembers the prepared circuit and simulator of a circuit nobody modifies.
        readout: whether the device's readout errors apply; ``False`` gives the final
            state's own distribution (a caller that applies its own readout channel).

    Returns:
        One float64 array of shape ``(2**len(measured),)`` per row of ``values``, summing to 1
        up to rounding (an entry may be rounding noise just below zero).

    Raises:
        ExecutionFailed: Aer cannot run the circuit.
    """
    if not measured:
        return [np.ones(1)] * values.shape[0]
    probabilities = None
    if len(reduced.active) == 1:  # in numpy, every point at once (or None: Aer)
        probabilities = single_qubit.final_probabilities(
            reduced.circuit, reduced.active[0], values, noise
        )
    if probabilities is not None:
        return _read(list(probabilities), reduced, measured, noise, readout)
    prepared = derive(
        memo,
        reduced,
        "probabilities",
        lambda: _prepared(reduced, noise, lambda c: c.save_probabilities(measured, label="p")),
        tuple(measured),
    )
    result = prepared.run(values)
    probabilities = [np.asarray(result.data(i)["p"], np.float64) for i in range(values.shape[0])]
    return _read(probabilities, reduced, measured, noise, readout)


def _read(
    probabilities: list[np.ndarray],
    reduced: ReducedCircuit,
    measured: list[int],
    noise: DeviceNoise | None,
    readout: bool,
) -> list[np.ndarray]:
    """The distributions read through the measured qubits' readout errors (if any apply)."""
    if noise is None or not readout:
        return probabilities
    assignment = noise.readout_assignment(reduced.active[q] for q in measured)
    return [apply_readout_errors(p, assignment) for p in probabilities]


SHOTS_PER_TRAJECTORY = 10
"""Shots drawn per noisy trajectory when a density matrix is too large (the trajectory
count is the shots over this). Shot by shot (Aer's one trajectory per shot) costs this many
times more; the correlation it adds is reported with its size (:func:`batched_trajectories`)."""


def trajectory_distribution(
    reduced: ReducedCircuit,
    measured: list[int],
    values: np.ndarray,
    noise: DeviceNoise,
    trajectories: int,
    seed: int,
    memo: Memo | None = None,
) -> tuple[list[np.ndarray], float | None]:
    """The distribution of ``measured`` (before readout errors) averaged over
    ``trajectories`` noisy state-vector runs of ``reduced.circuit`` per parameter point: an
    unbiased estimate of :func:`final_distribution`'s (``readout=False``) when a density
    matrix is too large. Each run draws one Kraus operator per error (Aer's trajectories).

    Args:
        reduced, measured, values, memo: as for :func:`final_distribution`.
        noise: the device's noise (gate errors written into the circuit).
        trajectories: noisy runs per parameter point.
        seed: Aer's seed for the runs.

    Returns:
        The mean distribution per row of ``values``, and its estimated error: the largest
        over points of ``sum_x sqrt(Var_k p_k(x) / trajectories) / 2`` (the expected total
        variation from the exact distribution, to first order), from the runs' own spread;
        ``None`` when the per-run distributions are too large to keep (``2**len(measured)
        * trajectories`` above :data:`SPREAD_MAX_ENTRIES`).

    Raises:
        ExecutionFailed: Aer cannot run the circuit.
    """
    per_shot = 2 ** len(measured) * trajectories <= SPREAD_MAX_ENTRIES
    data = run_probabilities(reduced, measured, values, noise, trajectories, seed, memo, per_shot)
    if not per_shot:
        return data, None
    error = max(float(np.sqrt(runs.var(axis=0, ddof=1) / trajectories).sum() / 2) for runs in data)
    return [runs.mean(axis=0) for runs in data], error


def run_probabilities(
    reduced: ReducedCircuit,
    measured: list[int],
    values: np.ndarray,
    noise: DeviceNoise | None,
    runs: int,
    seed: int,
    memo: Memo | None = None,
    per_run: bool = True,
) -> list[np.ndarray]:
    """The probabilities of ``measured`` (before readout errors) at the end of ``runs``
    state-vector runs of ``reduced.circuit`` per row of ``values``: noisy trajectories (one
    Kraus operator drawn per error), or with ``noise`` ``None`` ideal runs.

    Returns:
        Per row of ``values``: float64 ``(runs, 2**len(measured))``, each run's own, or with
        ``per_run`` false ``(2**len(measured),)``, their mean.

    Raises:
        ExecutionFailed: Aer cannot run the circuit.
    """
    prepared = derive(
        memo,
        reduced,
        "run probabilities",
        lambda: _prepared(
            reduced,
            noise,
            lambda c: c.save_probabilities(measured, label="p", pershot=per_run),
            method="statevector",
        ),
        tuple(measured),
        per_run,
    )
    # In batches, so that a long run reports its progress as it goes. Aer seeds shot i of a
    # run with seed + i: a batch starting at run t runs with seed + t, so the batches are
    # the runs of one Aer run of them all, none repeated.
    batches = np.array_split(np.arange(runs), min(BATCHES, runs))
    results = [
        prepared.run(values, shots=len(batch), seed=seed + int(batch[0]))
        for batch in progress.iterate(batches, len(batches))
    ]
    probabilities = []
    for i in range(values.shape[0]):
        parts = [np.asarray(result.data(i)["p"], np.float64) for result in results]
        if per_run:
            probabilities.append(np.concatenate([p.reshape(-1, p.shape[-1]) for p in parts]))
        else:  # each batch's mean over its runs
            sizes = [len(batch) for batch in batches]
            probabilities.append(np.average(parts, axis=0, weights=sizes))
    return probabilities


BATCHES = 10
"""Aer runs a trajectory average is split into (each one reports progress)."""


SPREAD_MAX_ENTRIES = 2**22
"""Most per-run probabilities :func:`trajectory_distribution` keeps to measure its error
(32 MiB of float64)."""


def batched_trajectories(
    reduced: ReducedCircuit,
    measured: list[int],
    values: np.ndarray,
    shots: int,
    noise: DeviceNoise,
    seed: np.random.SeedSequence,
    memo: Memo | None,
    detail: dict,
) -> list[np.ndarray]:
    """The distribution the shots are drawn from when a density matrix is too large: the
    mean over ``ceil(shots / SHOTS_PER_TRAJECTORY)`` noisy state-vector trajectories
    (:func:`trajectory_distribution`), noted as the approximate method
    ``"trajectories"`` with its estimated error.

    Each shot's outcome then has exactly the model's distribution (a trajectory average is
    unbiased), but shots drawn from the same trajectories are correlated: an outcome's
    frequency over ``S`` shots has variance ``p(1-p)/S + (1 - 1/S) Var_k(p_k)/K`` (``K``
    trajectories, ``p_k`` a trajectory's probability of it) instead of ``p(1-p)/S``. The
    second term is what ``distribution_error`` estimates (its square root, summed over the
    outcomes, halved: the expected total variation between the averaged and the exact
    distribution)."""
    trajectories = max(1, min(shots, math.ceil(shots / SHOTS_PER_TRAJECTORY)))
    seed_value = int(seed.generate_state(1, np.uint32)[0])
    states, error = trajectory_distribution(
        reduced, measured, values, noise, trajectories, seed_value, memo
    )
    bound = {} if error is None else {"distribution_error": round(error, 6)}
    methods.note(
        "trajectories",
        exact=False,
        trajectories=trajectories,
        shots_per_trajectory=SHOTS_PER_TRAJECTORY,
        **bound,
        **detail,
    )
    return states


def final_states(
    reduced: ReducedCircuit,
    values: np.ndarray,
    noise: DeviceNoise | None,
    extra_qubits: int = 0,
    memo: Memo | None = None,
) -> list[Statevector] | list[DensityMatrix]:
    """The final state of ``reduced.circuit`` (which has no measurement) at each parameter
    point: a state vector, or with ``noise`` the density matrix under the device's gate errors.

    Args:
        reduced: a reduced circuit without measurements and, with noise, without delays.
        values: as for :func:`final_distribution`.
        noise: the device's noise, or ``None`` for an ideal device.
        extra_qubits: idle qubits (in ``|0>``) appended after the reduced circuit's qubits,
            e.g. qubits a basis change reads that the circuit never touches.
        memo: remembers the prepared circuit and simulator of a circuit nobody modifies.

    Raises:
        ExecutionFailed: Aer cannot run the circuit.
    """
    prepared = derive(
        memo,
        reduced,
        "state",
        lambda: _prepared(
            reduced,
            noise,
            lambda c: (
                c.save_statevector("s") if noise is None else c.save_density_matrix(label="s")
            ),
        ),
    )
    methods.note("statevector" if noise is None else "density_matrix")
    result = prepared.run(values)
    states = [result.data(i)["s"] for i in range(values.shape[0])]
    if extra_qubits:
        idle = (Statevector if noise is None else DensityMatrix).from_int(0, 2**extra_qubits)
        states = [state.expand(idle) for state in states]
    return states


def basis_probabilities(
    state: Statevector | DensityMatrix, qubits: Sequence[int], paulis: str
) -> np.ndarray:
    """The distribution of measuring ``qubits`` of ``state`` in the bases ``paulis`` (one of
    "X", "Y", "Z" per qubit): float64 ``(2**len(qubits),)``, bit ``j`` = ``qubits[j]``.

    What ``state.evolve(change, qargs=qubits).probabilities(qargs=qubits)`` gives, computed
    qubit by qubit: each measured qubit's 2x2 basis change applied to the state vector's
    tensor (then its squared magnitudes summed over the other qubits), or to the measured
    qubits' reduced density matrix (then its diagonal). A state is read this way three or
    more times per parameter point; Qiskit's general ``evolve``, or one ``2**m``-square
    change matrix (``8**m`` operations), costs far more than these ``m`` local steps."""
    measured = len(qubits)
    if isinstance(state, Statevector):
        num_qubits = state.num_qubits
        # little-endian: qubit q is axis num_qubits - 1 - q of the state's tensor
        tensor = state.data.reshape((2,) * num_qubits)
        for qubit, pauli in zip(qubits, paulis, strict=True):
            if pauli != "Z":
                tensor = _apply_to_axis(_QUBIT_CHANGE[pauli], tensor, num_qubits - 1 - qubit)
        magnitudes = np.square(tensor.real) + np.square(tensor.imag)
        order = [num_qubits - 1 - q for q in reversed(qubits)]
        marginal = np.einsum(magnitudes, list(range(num_qubits)), order)
        return np.ascontiguousarray(marginal.reshape(-1), np.float64)
    tensor = _reduced_density_matrix(state, qubits).reshape((2,) * (2 * measured))
    for j, pauli in enumerate(paulis):  # bit j: row axis measured - 1 - j, column 2m - 1 - j
        if pauli != "Z":
            change = _QUBIT_CHANGE[pauli]
            tensor = _apply_to_axis(change, tensor, measured - 1 - j)
            tensor = _apply_to_axis(change.conj(), tensor, 2 * measured - 1 - j)
    diagonal = np.diagonal(tensor.reshape(2**measured, 2**measured))
    return np.ascontiguousarray(diagonal.real, np.float64)


_QUBIT_CHANGE = {
    "X": np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2),
    "Y": np.array([[1, -1j], [1, 1j]], dtype=complex) / np.sqrt(2),
}
"""What turns measuring X (H) or Y (H after Sdg) into measuring Z on one qubit."""


def _apply_to_axis(matrix: np.ndarray, tensor: np.ndarray, axis: int) -> np.ndarray:
    """``matrix`` (2x2) applied to index ``axis`` of ``tensor``."""
    return np.moveaxis(np.tensordot(matrix, tensor, axes=(1, axis)), 0, axis)


def _reduced_density_matrix(
    state: Statevector | DensityMatrix, qubits: Sequence[int]
) -> np.ndarray:
    """``state``'s density matrix on ``qubits`` (the others traced out), index bit ``j`` =
    ``qubits[j]``."""
    num_qubits = state.num_qubits
    measured = len(qubits)
    # little-endian: qubit q is axis num_qubits - 1 - q of the state's tensor
    order = [num_qubits - 1 - q for q in reversed(qubits)]
    order += [axis for axis in range(num_qubits) if axis not in order]
    size, rest = 2**measured, 2 ** (num_qubits - measured)
    data = state.data
    if isinstance(state, Statevector):
        amplitudes = data.reshape((2,) * num_qubits).transpose(order).reshape(size, rest)
        return amplitudes @ amplitudes.conj().T
    tensor = data.reshape((2,) * (2 * num_qubits))
    columns = [num_qubits + axis for axis in order]
    matrix = tensor.transpose(order + columns).reshape(size, rest, size, rest)
    return np.einsum("arbr->ab", matrix)


@lru_cache(maxsize=1024)
def _basis_change(paulis: str) -> Operator | None:
    """The unitary that turns measuring ``paulis`` into measuring Z on each qubit (Sdg then H
    for Y, H for X), or ``None`` for all Z; one matrix applied at once to the state."""
    change = QuantumCircuit(len(paulis))
    for j, pauli in enumerate(paulis):
        if pauli == "Y":
            change.sdg(j)
        if pauli in "XY":
            change.h(j)
    return Operator(change) if change.data else None


def _prepared(
    reduced: ReducedCircuit, noise: DeviceNoise | None, save, method: str | None = None
) -> PreparedRun:
    """``reduced.circuit`` without its measurements, ended by ``save(circuit)``, prepared for
    its simulator: statevector, or density matrix with each instruction followed by its gate
    error as a Kraus instruction (``method`` overrides: a noisy ``"statevector"`` runs
    trajectories).

    The errors are written into the circuit rather than given as a noise model: Aer applies
    a noise model's error after its gate just the same, but converts the model from Python
    on every run (0.65 of 0.9 ms for the seed VQE's ansatz on two fake_torino qubits).
    """
    unitary = reduced.circuit.copy_empty_like()
    for inst in reduced.circuit.data:
        name = inst.operation.name
        if name == "measure":
            continue
        unitary.append(inst.operation, inst.qubits, inst.clbits, copy=False)
        if noise is not None:
            qubits = tuple(reduced.active[unitary.find_bit(q).index] for q in inst.qubits)
            error = noise.gate_error(name, qubits)
            if error is not None:
                unitary.append(error, inst.qubits, copy=False)
    if method is None:
        method = "statevector" if noise is None else "density_matrix"
    simulator = AerSimulator(method=method)
    save(unitary)
    return PreparedRun(simulator, unitary)


def apply_readout_errors(probabilities: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """The distribution of what is read when each qubit is read through its own assignment
    matrix: ``P(read r) = sum_s P(s) * prod_j assignment[j, s_j, r_j]``.

    Args:
        probabilities: float64 ``(2**m,)``, bit ``j`` of the index = qubit ``j``'s state.
        assignment: float64 ``(m, 2, 2)``, entry ``[j, s, r]`` = probability that qubit ``j``
            in state ``s`` reads ``r``.

    Returns:
        float64 ``(2**m,)``, bit ``j`` of the index = the value read for qubit ``j``.
    """
    num_qubits = assignment.shape[0]
    read = probabilities
    for j in range(num_qubits):
        high, low = 2 ** (num_qubits - 1 - j), 2**j
        read = np.einsum("hsl,sr->hrl", read.reshape(high, 2, low), assignment[j])
    return read.reshape(-1)
