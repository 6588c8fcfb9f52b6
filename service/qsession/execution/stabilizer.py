"""Noisy Clifford circuits at any width: Pauli-frame sampling under a Pauli noise model.

A noisy circuit too wide for one density-matrix run (``sampling.DENSITY_MATRIX_MAX_QUBITS``)
is otherwise sampled one noisy trajectory per shot with a state vector (matrix product states
above 26 qubits): far too slow at 50 to 127 qubits. When the circuit is Clifford
(:func:`is_clifford`: Clifford gates, measurements, resets, barriers, delays and the idle
channels of :func:`.dd.idle_noise_channels`) and every error a Pauli channel, the stabilizer
formalism samples it exactly at any width. So each error is replaced by its Pauli twirl
(:func:`.noise.pauli_twirl`):

* each instruction's device error (Aer's, as the density-matrix path puts it after the
  instruction: depolarizing composed with thermal relaxation);
* each idle window's channel (relaxation and detuning, :mod:`.dd`), and each delay's thermal
  relaxation (what Aer's device model adds to a delay);
* readout errors stay what they are (classical already).

The shots are drawn by Pauli frames (:func:`sample_memory`): one noiseless reference shot
from Aer's stabilizer method, then every shot's deviation from it, a Pauli per qubit,
pushed through the circuit for all shots at once in numpy. Sampling the same Pauli model
with Aer's stabilizer method shot by shot (a tableau per shot, each error sampled by Aer)
took 20 to 35 s for 10,000 shots of a 100-qubit GHZ circuit on fake_brisbane; the frames take
a fraction of a second.

**Exactness.** Replacing a channel ``E`` by its twirl ``T`` changes nothing when ``E`` is a
Pauli channel (depolarizing is), and is exact on average when the device twirls it: a
Pauli-twirled 2-qubit Clifford gate's error, averaged over its twirls, is its Pauli twirl
(:mod:`.twirled_channel`), and a Pauli channel is unchanged by the twirl's conjugation, so
every randomization run with ``T`` has the twirl-averaged distribution (what is not
reproduced is, as in :mod:`.twirled_channel`, how the randomizations differ from one
another). The caller says which 2-qubit gates the circuit runs twirled (``twirled_gates``:
the circuit is one randomization of gate twirling). Every other non-Pauli channel (1-qubit
gate errors and idle windows, whose amplitude damping and detuning the device does not
twirl; 2-qubit errors without gate twirling) is an approximation, and the path says by how
much at most.

**The bound.** The output distribution's total-variation distance from the device's is at
most half the diamond-norm distance of the two circuits' channels, which by the triangle
inequality (replacing one channel at a time, each step a composition with channels of norm
1) is at most the sum over replaced channels of ``||E - T||_diamond``. Each term is bounded
by :func:`diamond_distance_bound` from the Choi matrix ``J`` of ``E - T`` (Qiskit's
:class:`~qiskit.quantum_info.Choi`, trace ``d`` for a channel): ``||Tr_out |J| ||_inf``, which
is at most the trace norm ``||J||_1`` (Watrous's bound ``||Phi||_diamond <= ||J(Phi)||_1``)
and up to ``d`` times tighter. Proof: ``J = J+ - J-`` splits ``E - T`` into completely
positive maps ``Phi+ - Phi-``; for any input ``rho`` (with any ancilla),
``||(Phi+ - Phi-)(rho)||_1 <= Tr (Phi+ + Phi-)(rho) <= ||(Phi+ + Phi-)^dag(I)||_inf``, and
``(Phi+ + Phi-)^dag(I)`` is the transpose of ``Tr_out (J+ + J-) = Tr_out |J|``. Channels
compared are cached, so a circuit's distinct errors are computed once.

The PUB's metadata says ``{"method": "stabilizer", "exact": bound == 0,
"pauli_approximation_bound": <the bound, rounded up to one significant digit>,
"twirled_gates": [...]}`` (:mod:`.methods`); a job that asked for
exact results (``options.simulator.exact``) is refused when the bound is positive, unless an
exact method runs the circuit in reasonable time (``exact_alternative``: the caller's
shot-by-shot state vector), which then runs instead.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from qiskit.circuit import (
    CircuitInstruction,
    ControlFlowOp,
    Operation,
    ParameterExpression,
    QuantumCircuit,
)
from qiskit.circuit.library import SdgGate, SGate, SXGate, get_standard_gate_name_mapping
from qiskit.exceptions import QiskitError
from qiskit.quantum_info import Choi, Clifford, Kraus, Operator, Pauli, pauli_basis
from qiskit.transpiler import QubitProperties
from qiskit.utils.units import apply_prefix
from qiskit_aer import AerSimulator
from qiskit_aer.noise import QuantumError, thermal_relaxation_error
from qiskit_aer.noise.errors.base_quantum_error import QuantumChannelInstruction

from qsession import _native
from qsession.execution import methods
from qsession.execution.aer import run_points
from qsession.execution.memo import Memo, derive
from qsession.execution.noise import DeviceNoise
from qsession.execution.reduction import ReducedCircuit

CLIFFORD_INSTRUCTIONS = frozenset(
    {"id", "x", "y", "z", "h", "s", "sdg", "sx", "sxdg", "cx", "cy", "cz", "swap", "ecr"}
    | {"measure", "reset", "barrier", "delay"}
)
"""Instructions that are Clifford whatever their parameters (Aer's stabilizer method runs
them all)."""

QUARTER_TURN_ROTATIONS = frozenset({"rx", "ry", "rz"})
"""Rotations that are Clifford at multiples of a quarter turn."""

PAULI_TOLERANCE = 1e-10
"""Diamond-distance bound below which a channel counts as a Pauli channel (rounding of the
Choi matrices is about 1e-16)."""

CHUNK_SHOTS = 1 << 17
"""Shots sampled at once: a chunk's bits take ``CHUNK_SHOTS`` bytes per clbit."""

REFERENCE_SEED = 0
"""Aer's seed for a circuit's reference shot."""

_CACHE_SIZE = 4096


def is_clifford(operation: Operation) -> bool:
    """Whether ``operation`` is a Clifford instruction: one of :data:`CLIFFORD_INSTRUCTIONS`,
    or an ``rx``/``ry``/``rz`` by a bound multiple of pi/2."""
    if operation.name in CLIFFORD_INSTRUCTIONS:
        return True
    if operation.name in QUARTER_TURN_ROTATIONS:
        return _quarter_turns(operation) is not None
    return False


@dataclass(frozen=True)
class _Gate:
    """A Clifford gate's action on Pauli frames: frame bit ``c`` of its qubits (``x_0 ..
    x_{k-1}, z_0 .. z_{k-1}``) becomes the XOR of the old bits ``sources[c]``."""

    qubits: tuple[int, ...]
    sources: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class _Error:
    """A Pauli channel on ``qubits``: Pauli ``i`` (X part ``x[i]``, Z part ``z[i]``, one
    column per qubit) with probability ``cumulative[i] - cumulative[i - 1]``."""

    qubits: tuple[int, ...]
    cumulative: np.ndarray
    x: np.ndarray
    z: np.ndarray


@dataclass(frozen=True)
class _Measure:
    """A measurement of ``qubit`` into ``clbit``, read through ``assignment`` (``[s, r]``
    the probability that state ``s`` reads ``r``; ``None`` for a perfect readout); ``kept``
    when nothing overwrites the bit afterwards."""

    qubit: int
    clbit: int
    assignment: np.ndarray | None
    kept: bool


@dataclass(frozen=True)
class _Reset:
    """A reset of ``qubit`` to ``|0>``: its frame loses its X part."""

    qubit: int


@dataclass(frozen=True)
class PauliRun:
    """A reduced Clifford circuit under its Pauli noise, ready for Pauli-frame sampling.

    Attributes:
        num_qubits, num_clbits: the reduced circuit's.
        program: its instructions in order, each Clifford gate, Pauli error (the twirl of an
            instruction's error, an idle window's or a delay's), measurement or reset.
        reference: uint8 ``(num_clbits,)``: one noiseless shot of the circuit (Aer's
            stabilizer method), what the frames flip.
        bound: a bound on the total-variation distance between the distribution of the
            circuit's classical bits under the device's noise and under the Pauli noise, in
            [0, 1]; 0 when nothing non-Pauli was replaced but twirled 2-qubit gate errors.
        twirled_gates: the 2-qubit gates whose errors counted as twirled (exactly replaced).
    """

    num_qubits: int
    num_clbits: int
    program: tuple[_Gate | _Error | _Measure | _Reset, ...]
    reference: np.ndarray
    bound: float
    twirled_gates: frozenset[str]


def pauli_run(
    reduced: ReducedCircuit,
    noise: DeviceNoise,
    twirled_gates: frozenset[str] = frozenset(),
    exact_alternative: bool = False,
    memo: Memo | None = None,
) -> PauliRun | None:
    """The stabilizer run of ``reduced`` under ``noise``'s Pauli twirl, or ``None`` when the
    circuit is not one it runs (a non-Clifford instruction, parameters, control flow, an
    error channel other than the idle ones) or when the job asked for exact results, the
    bound is positive and ``exact_alternative`` says an exact method runs the circuit.

    Args:
        reduced: the circuit reduced to its active qubits (reduced qubit ``j`` is device
            qubit ``reduced.active[j]``).
        noise: the device's noise.
        twirled_gates: names of the 2-qubit gates the circuit runs Pauli-twirled (it is one
            randomization of gate twirling): their errors' twirls are exact on average.
        exact_alternative: whether an exact method (shot-by-shot state vectors) can run the
            circuit instead when the job refuses approximations.
        memo: remembers the run of a circuit nobody modifies (a worker's).

    Raises:
        ExecutionFailed: Aer cannot run the circuit's reference shot.
    """
    run = derive(
        memo, reduced, "pauli run", lambda: _build(reduced, noise, twirled_gates), twirled_gates
    )
    if run is not None and run.bound > 0 and exact_alternative and methods.exact_required():
        return None
    return run


def sample_memory(run: PauliRun, shots: int, seed: np.random.SeedSequence) -> np.ndarray:
    """``shots`` shots of ``run``: uint8 ``(shots, ceil(num_clbits / 8))``, all the circuit's
    clbits in Qiskit's BitArray layout (clbit ``i`` in bit ``i % 8`` of byte ``-1 - i // 8``).

    Pauli-frame sampling: every shot is the reference shot with a Pauli frame (an X and a Z
    bit per qubit, packed eight shots a byte) pushed through the circuit: Clifford gates
    conjugate it, each error multiplies a Pauli drawn per shot into it, a measurement's
    bit is the reference's flipped where the frame has an X on the qubit (then read through
    the readout error). A random Z on every qubit at the start (|0> does not see it) and
    after every measurement and reset (a Z eigenstate does not see it) makes each
    non-deterministic measurement uniformly random and its correlations those of the
    circuit (Gidney, "Stim: a fast stabilizer circuit simulator", Quantum 5, 497 (2021),
    section on Pauli frames). Exact for Pauli noise; numpy over all shots at once, one step
    per instruction.

    Raises:
        ApproximationRefused: the bound is positive and the job asked for exact results.
    """
    methods.note(
        "stabilizer",
        exact=run.bound == 0,
        pauli_approximation_bound=_round_up(run.bound),
        twirled_gates=sorted(run.twirled_gates),
    )
    chunks = [len(c) for c in np.array_split(np.arange(shots), max(1, -(-shots // CHUNK_SHOTS)))]
    seeds = seed.spawn(len(chunks))
    return np.concatenate(
        [
            _sample_frames(run, size, np.random.default_rng(chunk_seed))
            for size, chunk_seed in zip(chunks, seeds, strict=True)
        ]
    )


def _sample_frames(run: PauliRun, shots: int, rng: np.random.Generator) -> np.ndarray:
    """:func:`sample_memory` of one chunk of shots."""
    width = (shots + 7) // 8
    x = np.zeros((run.num_qubits, width), np.uint8)
    z = rng.integers(0, 256, (run.num_qubits, width), np.uint8)
    bits = np.repeat(run.reference[:, None], shots, axis=1)  # (clbits, shots)
    for step in run.program:
        if isinstance(step, _Gate):
            old = [x[q] for q in step.qubits] + [z[q] for q in step.qubits]
            new = [_xor(old, sources, width) for sources in step.sources]
            k = len(step.qubits)
            for j, q in enumerate(step.qubits):
                x[q], z[q] = new[j], new[k + j]
        elif isinstance(step, _Error):
            drawn = np.searchsorted(step.cumulative[:-1], rng.random(shots), side="right")
            for j, q in enumerate(step.qubits):
                x[q] ^= np.packbits(step.x[drawn, j])
                z[q] ^= np.packbits(step.z[drawn, j])
        elif isinstance(step, _Measure):
            if step.kept:
                read = bits[step.clbit] ^ np.unpackbits(x[step.qubit], count=shots)
                if step.assignment is not None:
                    wrong = np.where(read == 1, step.assignment[1, 0], step.assignment[0, 1])
                    read ^= (rng.random(shots) < wrong).astype(np.uint8)
                bits[step.clbit] = read
            z[step.qubit] = rng.integers(0, 256, width, np.uint8)
        else:
            x[step.qubit] = 0
            z[step.qubit] = rng.integers(0, 256, width, np.uint8)
    num_bytes = (run.num_clbits + 7) // 8
    columns = np.zeros((shots, num_bytes * 8), np.uint8)
    columns[:, num_bytes * 8 - 1 - np.arange(run.num_clbits)] = bits.T
    return np.packbits(columns, axis=1)


def _xor(rows: list[np.ndarray], sources: tuple[int, ...], width: int) -> np.ndarray:
    out = np.zeros(width, np.uint8)
    for r in sources:
        out ^= rows[r]
    return out


def diamond_distance_bound(error: QuantumError, replacement: QuantumError) -> float:
    """An upper bound on ``||error - replacement||_diamond``: ``||Tr_out |J| ||_inf`` for the
    Choi matrix ``J`` of their difference (see the module docstring; at most ``||J||_1``)."""
    difference = Choi(error).data - Choi(replacement).data
    return _choi_distance_bound(difference, 2**error.num_qubits)


def _choi_distance_bound(difference: np.ndarray, dim: int) -> float:
    """``||Tr_out |J| ||_inf`` for a Hermitian ``J`` (Qiskit's Choi layout)."""
    eigenvalues, vectors = np.linalg.eigh(difference)
    absolute = (vectors * np.abs(eigenvalues)) @ vectors.conj().T
    reduced = np.einsum("iaja->ij", absolute.reshape(dim, dim, dim, dim))  # trace the output
    return float(np.linalg.eigvalsh(reduced)[-1])


def _build(
    reduced: ReducedCircuit, noise: DeviceNoise, twirled_gates: frozenset[str]
) -> PauliRun | None:
    """:func:`pauli_run`'s run, before the job's exactness is considered: one pass over the
    circuit that writes its frame program, sums the bound and collects the noiseless circuit
    of the reference shot."""
    circuit = reduced.circuit
    if circuit.num_parameters or isinstance(circuit.global_phase, ParameterExpression):
        return None
    target = noise.target
    properties = target.qubit_properties or [None] * target.num_qubits
    noiseless = circuit.copy_empty_like()  # the reference shot's circuit
    errors = noise.quantum_errors(
        {
            (
                inst.operation.name,
                tuple(reduced.active[circuit.find_bit(q).index] for q in inst.qubits),
            )
            for inst in circuit.data
            if inst.operation.name not in ("barrier", "delay", "measure")
        },
    )
    program: list[_Gate | _Error | _Measure | _Reset] = []
    total = 0.0
    last_write = {}
    for inst in circuit.data:
        operation = inst.operation
        local = tuple(circuit.find_bit(q).index for q in inst.qubits)
        device = tuple(reduced.active[j] for j in local)
        exact = False
        if isinstance(operation, QuantumChannelInstruction):
            error: QuantumError | None = operation._quantum_error  # an idle window (dd.py)
        elif isinstance(operation, ControlFlowOp) or not is_clifford(operation):
            return None
        elif operation.name == "delay":
            error = _delay_relaxation(operation, properties[device[0]], target.dt)
        elif operation.name == "barrier":
            continue
        else:
            if operation.name == "measure":
                clbit = circuit.find_bit(inst.clbits[0]).index
                last_write[clbit] = len(program)
                assignment = noise.readout_assignment(device)[0]
                perfect = np.array_equal(assignment, np.eye(2))
                program.append(_Measure(local[0], clbit, None if perfect else assignment, False))
                noiseless._append(inst)
            elif operation.name == "reset":
                program.append(_Reset(local[0]))
                noiseless._append(inst)
            else:
                for gate in _stabilizer_gates(operation):
                    noiseless._append(CircuitInstruction(gate, inst.qubits))
                    sources = _frame_sources(gate.name)
                    if sources is not None:
                        program.append(_Gate(local, sources))
            error = errors.get((operation.name, device))
            exact = len(device) == 2 and operation.name in twirled_gates
        if error is None:
            continue
        twirl, distance = _replacement(error)
        if not exact:
            total += distance
        if twirl is not None:
            program.append(_Error(local, *twirl))
    for clbit, position in last_write.items():
        step = program[position]
        program[position] = _Measure(step.qubit, clbit, step.assignment, True)
    return PauliRun(
        circuit.num_qubits,
        circuit.num_clbits,
        tuple(program),
        _reference(noiseless),
        min(1.0, total / 2),
        frozenset(twirled_gates),
    )


def _reference(circuit: QuantumCircuit) -> np.ndarray:
    """uint8 ``(num_clbits,)``: one noiseless shot of a Clifford ``circuit`` (Aer's
    stabilizer method, a fixed seed: any valid shot serves as the frames' reference)."""
    if not circuit.num_clbits:
        return np.zeros(0, np.uint8)
    simulator = AerSimulator(method="stabilizer", seed_simulator=REFERENCE_SEED)
    result = run_points(simulator, circuit, np.zeros((1, 0)), shots=1, memory=True)
    packed = _native.hex_to_packed(result.data(0)["memory"], circuit.num_clbits)
    return np.unpackbits(packed[0][::-1], bitorder="little")[: circuit.num_clbits]


@lru_cache(maxsize=64)
def _frame_sources(name: str) -> tuple[tuple[int, ...], ...] | None:
    """How gate ``name`` (a Clifford without parameters) maps Pauli frames (:class:`_Gate`),
    from its Clifford tableau (row ``r`` the image of ``x_r`` or ``z_{r-k}``); ``None`` when
    it maps every frame to itself (a Pauli gate: signs do not matter to frames)."""
    tableau = Clifford(get_standard_gate_name_mapping()[name]).tableau[:, :-1]
    if np.array_equal(tableau, np.eye(tableau.shape[0], dtype=bool)):
        return None
    return tuple(tuple(np.flatnonzero(tableau[:, c]).tolist()) for c in range(tableau.shape[1]))


def _stabilizer_gates(operation: Operation) -> list[Operation]:
    """``operation`` in gates without parameters: ``rz``, ``rx`` and ``ry`` by quarter turns
    become powers of ``s`` and of ``sx`` (conjugated by ``s`` for ``ry``), the global phase,
    which no measurement sees, dropped; anything else as it is."""
    if operation.name not in QUARTER_TURN_ROTATIONS:
        return [operation]
    turns = _quarter_turns(operation) % 4
    if operation.name == "rz":
        return [SGate()] * turns
    gates: list[Operation] = [SXGate()] * turns
    if operation.name == "ry":  # ry(a) = s . rx(a) . sdg, as S X Sdg = Y
        gates = [SdgGate(), *gates, SGate()]
    return gates


def _quarter_turns(operation: Operation) -> int | None:
    (angle,) = operation.params
    if isinstance(angle, ParameterExpression):
        return None
    turns = float(angle) / (math.pi / 2)
    return round(turns) if math.isclose(turns, round(turns), abs_tol=1e-9) else None


def _delay_relaxation(
    operation: Operation, props: QubitProperties | None, dt: float | None
) -> QuantumError | None:
    """What Aer's device noise model (``NoiseModel.from_backend``'s relaxation pass, at zero
    temperature) does to a qubit over a delay: thermal relaxation with ``min(T2, 2 T1)``."""
    if props is None or not props.t1 or not props.t2:
        return None
    if operation.unit == "dt":
        seconds = float(operation.duration) * (dt or 0.0)
    else:
        seconds = apply_prefix(float(operation.duration), operation.unit)
    if seconds <= 0:
        return None
    return thermal_relaxation_error(props.t1, min(props.t2, 2 * props.t1), seconds)


_by_object: OrderedDict[int, tuple[QuantumError, tuple[tuple | None, float]]] = OrderedDict()
_by_channel: OrderedDict[Hashable, tuple[tuple | None, float]] = OrderedDict()
_lock = threading.Lock()


def _replacement(error: QuantumError) -> tuple[tuple | None, float]:
    """``error``'s Pauli twirl as the ``cumulative, x, z`` of an :class:`_Error` (``None``
    when it is the identity) and the bound on their diamond distance (0 below
    :data:`PAULI_TOLERANCE`), remembered per error object (a device's gate errors are cached
    objects; kept alive with the entry, so the id is not reused) and per channel (idle
    windows of equal length on one qubit)."""
    with _lock:
        held = _by_object.get(id(error))
        if held is not None and held[0] is error:
            _by_object.move_to_end(id(error))
            return held[1]
    key = _channel_key(error)
    with _lock:
        entry = _by_channel.get(key)
    if entry is None:
        entry = _twirl_and_distance(error)
    with _lock:
        entry = _by_channel.setdefault(key, entry)
        _by_object[id(error)] = (error, entry)
        for cache in (_by_channel, _by_object):
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
    return entry


def _twirl_and_distance(error: QuantumError) -> tuple[tuple | None, float]:
    """``error``'s Pauli twirl (the probabilities :func:`.noise.pauli_twirl` gives, from
    ``error``'s Kraus operators ``K``: ``p_P = sum_K |Tr(P K)|**2 / d**2``) and the bound on
    the diamond distance between them, from their Choi matrices."""
    num_qubits = error.num_qubits
    dim = 2**num_qubits
    kraus = _kraus(error)
    paulis = pauli_basis(num_qubits)
    matrices = paulis.to_matrix(array=True)
    traces = np.einsum("pab,kba->pk", matrices, kraus)
    probabilities = np.clip(np.sum(np.abs(traces) ** 2, axis=1) / dim**2, 0.0, None)
    probabilities /= probabilities.sum()
    twirl_kraus = np.sqrt(probabilities)[:, None, None] * matrices
    distance = _choi_distance_bound(_choi(kraus) - _choi(twirl_kraus), dim)
    distance = 0.0 if distance < PAULI_TOLERANCE else distance
    if probabilities[0] == 1.0:  # pauli_basis starts with the identity
        return None, distance
    keep = np.flatnonzero(probabilities > 0)
    cumulative = np.cumsum(probabilities[keep])
    cumulative[-1] = 1.0
    twirl = (cumulative, paulis.x[keep].astype(np.uint8), paulis.z[keep].astype(np.uint8))
    return twirl, distance


def _choi(kraus: np.ndarray) -> np.ndarray:
    """The Choi matrix (Qiskit's convention, index ``input * d + output``) of the channel of
    Kraus operators ``kraus`` (``(m, d, d)``): ``sum_K vec(K) vec(K)^dag`` with
    ``vec(K)[i * d + a] = K[a, i]``."""
    vectors = kraus.transpose(0, 2, 1).reshape(kraus.shape[0], -1)
    return vectors.T @ vectors.conj()


def _kraus(error: QuantumError) -> np.ndarray:
    """complex ``(m, d, d)``: Kraus operators of ``error``, each circuit's probability folded
    in (products over its instructions' Kraus operators), computed in numpy: Qiskit's
    conversion builds a channel object per instruction (60 ms for a 2-qubit device error of
    48 circuits). Qiskit's conversion for an instruction of a kind not handled here."""
    num_qubits = error.num_qubits
    operators = []
    embedded: dict[tuple, list[np.ndarray]] = {}  # an error's circuits share instructions
    for circuit, probability in zip(error.circuits, error.probabilities, strict=True):
        products = [math.sqrt(probability) * np.eye(2**num_qubits, dtype=complex)]
        for inst in circuit.data:
            qargs = tuple(circuit.find_bit(q).index for q in inst.qubits)
            key = (inst.operation.name, _params_key(inst.operation), qargs)
            full = embedded.get(key)
            if full is None:
                kraus = _kraus_operators(inst.operation)
                if kraus is None:
                    return np.asarray(Kraus(error).data)
                full = [_on_qubits(matrix, list(qargs), num_qubits) for matrix in kraus]
                embedded[key] = full
            products = [matrix @ product for product in products for matrix in full]
        operators.extend(products)
    return np.asarray(operators)


def _params_key(operation: Operation) -> tuple:
    return tuple(p if isinstance(p, str) else np.asarray(p).tobytes() for p in operation.params)


def _kraus_operators(operation: Operation) -> list[np.ndarray] | None:
    """The Kraus operators of one instruction of an Aer error circuit, or ``None``."""
    name = operation.name
    if name == "pauli":
        return [Pauli(operation.params[0]).to_matrix()]
    if name == "kraus":
        return [np.asarray(matrix, complex) for matrix in operation.params]
    if name == "reset":
        return [np.array([[1, 0], [0, 0]], complex), np.array([[0, 1], [0, 0]], complex)]
    try:
        return [Operator(operation).data]
    except QiskitError:
        return None


def _on_qubits(matrix: np.ndarray, qargs: list[int], num_qubits: int) -> np.ndarray:
    """``matrix`` acting on ``qargs`` of ``num_qubits`` qubits, as a full matrix."""
    if qargs == list(range(num_qubits)):
        return matrix
    if len(qargs) == 1:  # little-endian: qubit j is the 2**j digit of the index
        (j,) = qargs
        return np.kron(np.kron(np.eye(2 ** (num_qubits - 1 - j)), matrix), np.eye(2**j))
    identity = Operator(np.eye(2**num_qubits))
    return identity.compose(Operator(matrix), qargs=qargs).data


def _channel_key(error: QuantumError) -> Hashable:
    """What identifies ``error``'s channel: its circuits' instructions and parameters (Kraus
    matrices as bytes) with their probabilities."""
    parts = []
    for circuit, probability in zip(error.circuits, error.probabilities, strict=True):
        for inst in circuit.data:
            params = _params_key(inst.operation)
            qubits = tuple(circuit.find_bit(q).index for q in inst.qubits)
            parts.append((float(probability), inst.operation.name, params, qubits))
        parts.append(None)
    return (error.num_qubits, tuple(parts))


def _round_up(value: float) -> float:
    """``value`` rounded up to one significant digit: still a bound, and the notes of a
    PUB's randomizations (whose bounds differ by the twirls' merged pulses) coincide, so
    its metadata lists one entry per circuit shape rather than one per randomization."""
    if value <= 0:
        return 0.0
    exponent = math.floor(math.log10(value))
    digit = math.ceil(value / 10.0**exponent - 1e-12)
    return min(1.0, float(f"{digit}e{exponent}"))
