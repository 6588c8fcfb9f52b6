"""Sample classical registers from a circuit on Aer, packed in Qiskit's BitArray layout.

Three paths, chosen per circuit:

* probabilities: every measurement terminal and few enough active qubits (ideal: a state
  vector fits; noisy: a density matrix is cheap, no delay, no qubit read into two of the
  returned bits). Aer computes the exact distribution of the measured qubits once per parameter
  point (:mod:`.distribution`); the native kernel draws the shots and packs each register.
* stabilizer: a noisy Clifford circuit too wide for a density matrix. Its errors are replaced
  by their Pauli twirls, the shots drawn by Pauli frames at any width, and the PUB's metadata
  bounds what the replacement changed (:mod:`.stabilizer`).
* memory: everything else (mid-circuit measurement, reset, control flow, wide circuits).
  Aer samples with ``memory=True``; the native kernel converts its hex memory.

Either way the circuit is first reduced to its active qubits (:mod:`.reduction`); a
measurement of an idle qubit reads 0, or with noise 1 with that qubit's probability of reading
1 from state 0. A circuit of at least :data:`SPLIT_MIN_QUBITS` active qubits whose qubits fall
into groups that no gate joins is sampled group by group, each on its own path, and the
groups' bits combined (:mod:`.components`). An ideal circuit whose last gates before its
measurements only permute basis states or add phases measures before them and permutes the
bits instead (:mod:`.tail`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit.circuit import (
    ClassicalRegister,
    ControlFlowOp,
    QuantumCircuit,
)
from qiskit_aer import AerSimulator

from qsession import _native
from qsession.execution import components, methods, stabilizer, tail
from qsession.execution.aer import run_points
from qsession.execution.distribution import (
    apply_readout_errors,
    batched_trajectories,
    final_distribution,
)
from qsession.execution.memo import Memo, derive
from qsession.execution.noise import DeviceNoise
from qsession.execution.reduction import ReducedCircuit, reduce_circuit
from qsession.execution.stabilizer import is_clifford

STATEVECTOR_MAX_QUBITS = 26
"""Widest reduced circuit simulated as a state vector (2**26 complex amplitudes = 1 GiB)."""

PROBABILITIES_MAX_BITS = 24
"""Most measured qubits for the probabilities path (2**24 float64 = 128 MiB)."""

DENSITY_MATRIX_MAX_QUBITS = 10
"""Widest reduced circuit whose noisy distribution comes from one density-matrix run: 4**10
complex128 = 16 MiB and under a second for a 140-gate circuit. From 11 qubits on, shot-by-shot
Aer is faster below a few thousand shots (``bench/noisy_executor.py --widths``)."""

SPLIT_MIN_QUBITS = 5
"""Fewest active qubits for which independent groups are sampled apart: below it one run of
the whole is cheaper than one per group."""


def sample_registers(
    circuit: QuantumCircuit,
    registers: Sequence[ClassicalRegister],
    values: np.ndarray,
    shots: int,
    seed: np.random.SeedSequence,
    noise: DeviceNoise | None,
    memo: Memo | None = None,
    twirled_gates: frozenset[str] = frozenset(),
    batch_trajectories: bool = False,
) -> list[np.ndarray]:
    """Run ``circuit`` at each parameter point and return each register's shots.

    Args:
        circuit: a circuit on device qubits (qubit ``i`` is device qubit ``i``).
        registers: classical registers of ``circuit`` to return.
        values: float64 ``(num_points, circuit.num_parameters)``, columns in the order of
            ``circuit.parameters``.
        shots: shots per parameter point.
        seed: the randomness of this call; equal seeds give equal results.
        noise: the device's noise, or ``None`` for an ideal run.
        memo: remembers the reduced circuit of a circuit nobody modifies (a worker's).
        twirled_gates: names of the 2-qubit gates ``circuit`` runs Pauli-twirled (it is one
            randomization of gate twirling; ``twirled_channel.TWIRLED_GATES`` then). Only
            the stabilizer path reads it: their errors' Pauli twirls are then exact on
            average (:mod:`.stabilizer`); every other path applies the device's errors as
            they are.
        batch_trajectories: a noisy circuit too wide for a density matrix may draw
            several shots from each noisy state-vector trajectory
            (:func:`.distribution.batched_trajectories`: each shot's distribution exact,
            shots correlated; noted as approximate). For the Sampler, which reports shots;
            the Estimator's standard errors assume independent shots, so it does not. A job
            that asks for exact results runs shot by shot instead.

    Returns:
        One uint8 array per register, shape ``(num_points, shots, ceil(len(register) / 8))``:
        Qiskit's BitArray layout, register bit ``i`` in bit ``i % 8`` of byte
        ``-1 - i // 8``.

    Raises:
        ExecutionFailed: Aer cannot simulate the circuit.
    """
    reduced = derive(memo, circuit, "reduced", lambda: reduce_circuit(circuit))
    clbit_index = derive(
        memo, circuit, "clbit index", lambda: {c: i for i, c in enumerate(circuit.clbits)}
    )
    clbits = [[clbit_index[bit] for bit in register] for register in registers]
    if noise is None:
        split = derive(memo, circuit, "tail", lambda: tail.classical_tail(circuit, reduced))
        if split is not None:
            return _sample_with_tail(split, clbit_index, circuit, registers, values, shots, seed)
    parts = None
    if len(reduced.active) >= SPLIT_MIN_QUBITS:
        parts = derive(
            memo, circuit, "parts", lambda: components.independent_parts(circuit, reduced)
        )
    if parts is not None:
        packed = _sample_parts(
            parts,
            registers,
            clbits,
            values,
            shots,
            seed,
            noise,
            twirled_gates,
            batch_trajectories,
        )
        if noise is not None:
            flip_seed = seed.spawn(1)[0]
            _apply_idle_readout_errors(
                packed, reduced, clbits, noise, np.random.default_rng(flip_seed)
            )
        return packed
    column = {param: i for i, param in enumerate(circuit.parameters)}
    values = values[:, [column[param] for param in reduced.circuit.parameters]]
    aer_seed, draw_seed, flip_seed = seed.spawn(3)
    final = reduced.final_measures
    if final is not None and fits_probabilities(reduced, final, clbits, noise is not None):
        methods.note("statevector" if noise is None else "density_matrix")
        packed = _sample_from_probabilities(
            reduced, final, clbits, values, shots, draw_seed, noise, memo
        )
    elif (pauli := _pauli_run(reduced, noise, twirled_gates, memo)) is not None:
        packed = _sample_stabilizer(pauli, clbits, values.shape[0], shots, aer_seed)
    elif (
        batch_trajectories
        and noise is not None
        and final is not None
        and fits_trajectories(reduced, final, clbits)
        and not methods.exact_required()
    ):
        packed = _sample_from_probabilities(
            reduced, final, clbits, values, shots, draw_seed, noise, memo, trajectories=True
        )
    else:
        packed = _sample_from_memory(reduced, clbits, values, shots, aer_seed, noise)
    if noise is not None:
        _apply_idle_readout_errors(packed, reduced, clbits, noise, np.random.default_rng(flip_seed))
    return packed


def _sample_with_tail(
    split: tail.Tail,
    clbit_index: dict,
    circuit: QuantumCircuit,
    registers: Sequence[ClassicalRegister],
    values: np.ndarray,
    shots: int,
    seed: np.random.SeedSequence,
) -> list[np.ndarray]:
    """An ideal circuit's shots: its head's (every register, which the tail may read), the
    tail's bit operations done on them, then the registers asked for."""
    every = circuit.cregs
    packed = sample_registers(
        split.head, every, values[:, split.columns], shots, seed, None, split.memo
    )
    clbits = [[clbit_index[bit] for bit in register] for register in every]
    tail.apply(split.operations, packed, clbits)
    return [packed[every.index(register)] for register in registers]


def _sample_parts(
    parts: list[components.Part],
    registers: Sequence[ClassicalRegister],
    clbits: list[list[int]],
    values: np.ndarray,
    shots: int,
    seed: np.random.SeedSequence,
    noise: DeviceNoise | None,
    twirled_gates: frozenset[str],
    batch_trajectories: bool,
) -> list[np.ndarray]:
    """Each part whose measurements are returned sampled on its own (its own randomness),
    the registers combined (:mod:`.components`)."""
    wanted = {c for bits in clbits for c in bits}
    packed = [
        sample_registers(
            part.circuit,
            registers,
            values[:, part.columns],
            shots,
            part_seed,
            noise,
            part.memo,
            twirled_gates,
            batch_trajectories,
        )
        for part, part_seed in zip(parts, seed.spawn(len(parts)), strict=True)
        if part.clbits & wanted
    ]
    if not packed:
        return [
            np.zeros((values.shape[0], shots, _num_bytes(len(bits))), np.uint8) for bits in clbits
        ]
    return components.combine(packed)


def fits_probabilities(
    reduced: ReducedCircuit, final: dict[int, int], clbits: list[list[int]], noisy: bool
) -> bool:
    """Whether the probabilities path gives the distribution of the returned bits: a small
    enough final state, and with noise no delay (Aer relaxes delays only shot by shot) and each
    measured qubit in one returned bit (every measurement reads through its own error)."""
    read = {c: final[c] for bits in clbits for c in bits if c in final}
    measured = set(read.values())
    if noisy:
        return (
            len(reduced.active) <= DENSITY_MATRIX_MAX_QUBITS
            and len(measured) == len(read)
            and all(inst.operation.name != "delay" for inst in reduced.circuit.data)
        )
    return len(reduced.active) <= STATEVECTOR_MAX_QUBITS and len(measured) <= PROBABILITIES_MAX_BITS


def fits_trajectories(
    reduced: ReducedCircuit, final: dict[int, int], clbits: list[list[int]]
) -> bool:
    """Whether a noisy circuit's distribution can be averaged over state-vector trajectories
    (:func:`.distribution.trajectory_distribution`): a state vector fits, at most
    :data:`PROBABILITIES_MAX_BITS` measured qubits, each read into one returned bit, and no
    delay (Aer relaxes delays only through its noise model)."""
    read = {c: final[c] for bits in clbits for c in bits if c in final}
    measured = set(read.values())
    return (
        len(reduced.active) <= STATEVECTOR_MAX_QUBITS
        and len(measured) <= PROBABILITIES_MAX_BITS
        and len(measured) == len(read)
        and all(inst.operation.name != "delay" for inst in reduced.circuit.data)
    )


def _sample_from_probabilities(
    reduced: ReducedCircuit,
    final: dict[int, int],
    clbits: list[list[int]],
    values: np.ndarray,
    shots: int,
    seed: np.random.SeedSequence,
    noise: DeviceNoise | None,
    memo: Memo | None = None,
    trajectories: bool = False,
) -> list[np.ndarray]:
    """Shots drawn from the measured qubits' distribution: exact (a state vector or a
    density matrix), or with ``trajectories`` (noisy only) the mean over noisy state-vector
    trajectories (:func:`.distribution.batched_trajectories`), read through the readout
    errors."""
    measured = sorted({final[c] for bits in clbits for c in bits if c in final})
    positions = register_positions(final, clbits, measured)
    num_points = values.shape[0]
    # A circuit without parameters is the same at every point: one distribution, all shots.
    runs, draws = (num_points, shots) if values.shape[1] else (1, num_points * shots)
    seed, trajectory_seed = seed.spawn(2)
    if trajectories and noise is not None:
        states = batched_trajectories(
            reduced, measured, values[:runs], draws, noise, trajectory_seed, memo, {}
        )
        assignment = noise.readout_assignment(reduced.active[q] for q in measured)
        probabilities = [apply_readout_errors(state, assignment) for state in states]
    else:
        probabilities = final_distribution(reduced, measured, values[:runs], noise, memo)
    seeds = seed.generate_state(runs, np.uint64)
    out = [np.empty((num_points * shots, _num_bytes(len(bits))), np.uint8) for bits in clbits]
    for run in range(runs):
        outcomes = _native.sample_outcomes(probabilities[run], draws, int(seeds[run]))
        for register, bit_positions in zip(out, positions, strict=True):
            register[run * draws : (run + 1) * draws] = _native.pack_outcomes(
                outcomes, bit_positions
            )
    return [register.reshape(num_points, shots, register.shape[1]) for register in out]


def register_positions(
    final: dict[int, int], clbits: list[list[int]], measured: list[int]
) -> list[np.ndarray]:
    """Per register, int64 ``(bits,)``: which bit of an outcome over ``measured`` (reduced
    qubits, bit ``j`` = ``measured[j]``) each register bit holds; -1 for a bit no terminal
    measurement writes (it stays 0). What ``_native.pack_outcomes`` takes."""
    position = {qubit: j for j, qubit in enumerate(measured)}
    return [
        np.array([position[final[c]] if c in final else -1 for c in bits], dtype=np.int64)
        for bits in clbits
    ]


def _sample_from_memory(
    reduced: ReducedCircuit,
    clbits: list[list[int]],
    values: np.ndarray,
    shots: int,
    seed: np.random.SeedSequence,
    noise: DeviceNoise | None,
    memo: Memo | None = None,
) -> list[np.ndarray]:
    num_points = values.shape[0]
    out = [np.zeros((num_points * shots, _num_bytes(len(bits))), np.uint8) for bits in clbits]
    circuit = reduced.circuit
    if any(
        inst.operation.name == "measure" or isinstance(inst.operation, ControlFlowOp)
        for inst in circuit.data
    ):
        runs, draws = (num_points, shots) if values.shape[1] else (1, num_points * shots)
        method = _memory_method(circuit, noisy=noise is not None)
        _note_memory_method(method, circuit, noise is not None)
        simulator = AerSimulator(
            method=method,
            noise_model=noise.model_for(reduced.active) if noise is not None else None,
            seed_simulator=int(seed.generate_state(1, np.uint32)[0]),
        )
        result = run_points(simulator, circuit, values[:runs], shots=draws, memory=True)
        whole = [bits == list(range(circuit.num_clbits)) for bits in clbits]
        for run in range(runs):
            memory = _native.hex_to_packed(result.data(run)["memory"], circuit.num_clbits)
            for register, bits, is_whole in zip(out, clbits, whole, strict=True):
                register[run * draws : (run + 1) * draws] = (
                    memory if is_whole else _select_bits(memory, circuit.num_clbits, bits)
                )
    return [register.reshape(num_points, shots, register.shape[1]) for register in out]


def _pauli_run(
    reduced: ReducedCircuit,
    noise: DeviceNoise | None,
    twirled_gates: frozenset[str],
    memo: Memo | None,
) -> stabilizer.PauliRun | None:
    """The stabilizer path (:mod:`.stabilizer`) of a gate-twirled noisy Clifford circuit too
    wide for a density matrix, or ``None``: such a circuit's Pauli-twirled noise runs at any
    width in seconds, where shot-by-shot state vectors or matrix product states take minutes
    or more. Within a state vector's width a job that refuses approximations gets those.

    Only with gate twirling (``twirled_gates``): its 2-qubit errors are then Pauli channels
    on average. Untwirled, every error would be replaced by its Pauli twirl, which turns
    each 2-qubit gate's relaxation (decay towards ``|0>``) into bit flips both ways: the
    shots would follow a different device."""
    if noise is None or not twirled_gates or len(reduced.active) <= DENSITY_MATRIX_MAX_QUBITS:
        return None
    exact_alternative = len(reduced.active) <= STATEVECTOR_MAX_QUBITS
    return stabilizer.pauli_run(reduced, noise, twirled_gates, exact_alternative, memo)


def _sample_stabilizer(
    run: stabilizer.PauliRun,
    clbits: list[list[int]],
    num_points: int,
    shots: int,
    seed: np.random.SeedSequence,
) -> list[np.ndarray]:
    """Each register's shots of a stabilizer run (a Clifford circuit has no parameters: one
    Aer run for all points)."""
    num_clbits = run.num_clbits
    memory = stabilizer.sample_memory(run, num_points * shots, seed)
    return [
        (
            memory if bits == list(range(num_clbits)) else _select_bits(memory, num_clbits, bits)
        ).reshape(num_points, shots, -1)
        for bits in clbits
    ]


def _memory_method(circuit: QuantumCircuit, noisy: bool) -> str:
    """Aer's method: automatic while a state vector fits, then the stabilizer method for
    noiseless Clifford circuits, else matrix product states."""
    if circuit.num_qubits <= STATEVECTOR_MAX_QUBITS:
        return "automatic"
    if not noisy and all(is_clifford(inst.operation) for inst in circuit.data):
        return "stabilizer"
    return "matrix_product_state"


def _note_memory_method(method: str, circuit: QuantumCircuit, noisy: bool) -> None:
    """Say how a circuit sampled by Aer shot by shot was simulated (:mod:`.methods`): each
    shot is its own run, so its outcomes follow the model exactly; matrix product states keep
    Aer's default truncation (Schmidt weights below 1e-16 dropped: exact to rounding)."""
    if method == "automatic":
        method = "statevector"
    detail: dict[str, object] = {"shot_by_shot": True} if noisy else {}
    if method == "matrix_product_state":
        detail["truncation_threshold"] = 1e-16
    methods.note(method, **detail)


def _select_bits(packed: np.ndarray, num_bits: int, bits: list[int]) -> np.ndarray:
    """Gather bits ``bits`` of each packed row (BitArray layout, ``num_bits`` wide) into a
    new packed array of ``len(bits)`` bits (new bit ``i`` = old bit ``bits[i]``)."""
    if num_bits <= 64:
        row = np.zeros((packed.shape[0], 8), np.uint8)
        row[:, 8 - packed.shape[1] :] = packed
        outcomes = row.view(">u8").ravel().astype(np.uint64)
        return _native.pack_outcomes(outcomes, np.asarray(bits, dtype=np.int64))
    unpacked = np.unpackbits(packed, axis=1)  # column -1 - j holds bit j
    width = _num_bytes(len(bits)) * 8
    selected = np.zeros((packed.shape[0], width), np.uint8)
    selected[:, width - 1 - np.arange(len(bits))] = unpacked[:, -1 - np.asarray(bits)]
    return np.packbits(selected, axis=1)


def _apply_idle_readout_errors(
    packed: list[np.ndarray],
    reduced: ReducedCircuit,
    clbits: list[list[int]],
    noise: DeviceNoise,
    rng: np.random.Generator,
) -> None:
    """Set to 1, with that qubit's probability of reading 1 from state 0, each register bit
    holding an idle qubit's measurement (in place; one vector draw per such bit)."""
    for register, bits in zip(packed, clbits, strict=True):
        for i, clbit in enumerate(bits):
            qubit = reduced.idle_measures.get(clbit)
            if qubit is None:
                continue
            error = noise.readout_assignment([qubit])[0, 0, 1]
            flips = rng.random(register.shape[:2]) < error
            register[:, :, -1 - i // 8] |= flips.astype(np.uint8) << np.uint8(i % 8)


def _num_bytes(num_bits: int) -> int:
    return (num_bits + 7) // 8
