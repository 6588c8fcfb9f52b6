"""Gate twirling in closed form: the average over Pauli twirls as one density-matrix run.

Gate twirling (``twirling.enable_gates``) runs each randomization with its own Pauli twirl
of the 2-qubit gates: a Clifford gate ``G`` becomes ``P' G P`` with ``P' = G P G^dag`` (the
same unitary), ``P`` drawn uniformly from the 16 two-qubit Paulis. With the gate's error
``E`` after it, the twirled gate applies ``P' E(P' . P') P'`` after ``G``: the error
conjugated by a Pauli that runs over all Paulis as ``P`` does. Averaged over the twirls, the
error is its Pauli twirl (:func:`.noise.pauli_twirl`: the diagonal of its chi matrix). Each
gate's twirl is drawn independently and a circuit's channel is linear in each gate's
channel, so the average over randomizations of the final state is the final state of the
circuit whose 2-qubit gate errors are their Pauli twirls: one density-matrix run per noise
factor, not one per randomization.

One more thing differs between a randomization and the untwirled circuit: Qiskit's
``pauli_twirl_2q_gates`` merges the twirling Paulis into the neighbouring 1-qubit gates,
so a randomization has an ``x`` pulse (with its error) where a Pauli meets no ``sx`` to
merge into, half of the time. :func:`twirl_averaged_circuit` puts the average of that
error there. Without it the twirled average is off by up to 0.010 (the 4-qubit Ising case
of ``bench/mitigation.py`` at noise factor 5, where every fold adds such places); with it,
within 2.5e-4 (two standard errors) of the mean over 64 randomizations on the three bench
cases at noise factors 1, 3 and 5, on fake_torino (cz) and fake_brisbane (ecr).

What the closed form computes exactly and what it samples (per noise factor):

* **exact**: the final state averaged over gate twirls (one density-matrix run of
  :func:`twirl_averaged_circuit` with the device's noise
  :meth:`~.DeviceNoise.twirl_averaged` over :data:`TWIRLED_GATES`), each basis's outcome
  distribution taken from it, and each randomization's measurement twirl applied to that
  distribution exactly (its readout channel flipped where its mask flips).
* **sampled**, as on the per-randomization reference path: the measurement twirls' masks,
  TREX's calibration shots, the ZNE folding choice, and each randomization's ``shots /
  randomizations`` shots (one multinomial draw of outcome counts per randomization). The
  values and standard errors users get carry the shot noise and the measurement-twirl
  spread of the real procedure at the same shots and randomizations.
* **not reproduced**: how the gate-twirl randomizations differ from one another (through
  the non-Pauli part of the errors, thermal relaxation's amplitude damping, and through
  which merged Paulis cost an ``x``). Every randomization draws its shots from the twirled
  average, so the values miss a variance ``Var_r(mu_r) (1/R - 1/N)`` (``mu_r`` a
  randomization's exact value, ``R`` randomizations, ``N`` shots). On the bench cases the
  randomizations' values spread by 4e-4 to 1.2e-3 (standard deviation), so at level 2's
  defaults (4,096 shots, 32 randomizations) that is at most about 1e-3 of the shot-noise
  variance; it grows with the shots per randomization (5-10% of the variance at 100,000
  shots per randomization, a quarter at 500,000, in ``tests/unit/test_twirled_channel.py``),
  so above :data:`MAX_SHOTS_PER_RANDOMIZATION` the reference path runs.

``tests/unit/test_twirled_channel.py`` checks with a two-sample Kolmogorov-Smirnov test over
200 seeds that the values and standard errors the closed form reports follow the
reference path's distribution (and that without :func:`twirl_averaged_circuit` they do
not).

The closed form applies when every 2-qubit gate of the circuit is one Qiskit twirls as a
Clifford (:data:`TWIRLED_GATES`), the circuit's final state is simulated once for all its
bases (the executor's single-state plan: few enough qubits for a density matrix, terminal
measurements only) or as the states of its terms' light cones (:mod:`.light_cone`: each
cone few enough qubits for one), and each randomization has at most
:data:`MAX_SHOTS_PER_RANDOMIZATION` shots, or on an ideal device (every twirl is the
circuit). Otherwise the executor runs the reference path, one twirled circuit per
randomization, and says why in the PUB's ``resilience`` metadata (:func:`reason_not_exact`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict

import numpy as np
from qiskit.circuit import Gate, Instruction, QuantumCircuit
from qiskit.circuit.library import UnitaryGate
from qiskit.quantum_info import Kraus
from qiskit_aer.noise.errors.base_quantum_error import QuantumChannelInstruction

from qsession.execution.noise import DeviceNoise

TWIRLED_GATES = frozenset({"cx", "cz", "ecr", "iswap"})
"""The 2-qubit Clifford gates ``pauli_twirl_2q_gates`` twirls: for each, ``P' = G P G^dag``
runs over all 16 Paulis as ``P`` does, so the twirled error is the error's Pauli twirl."""

PAULI_LIKE_GATES = frozenset({"rz", "x", "id", "z", "y"})
"""1-qubit gates whose runs are diagonal or anti-diagonal: a Pauli merged into such a run
leaves it diagonal (no pulse) or anti-diagonal (one ``x``), each with probability 1/2."""

MAX_SHOTS_PER_RANDOMIZATION = 2048
"""The most shots per randomization the closed form runs with. The randomizations' spread it
does not reproduce is a share of about ``shots_per_randomization * Var_r(mu_r) / Var`` of
the values' variance (``Var`` a shot's), and ``Var_r(mu_r) / Var`` is at most 8e-6 on the
bench cases: below 2% up to here (the default 4,096 shots take 128 per randomization, and
IBM's "auto" split stays under it up to 65,536 shots). Above it, the reference path runs."""

EXACT = "twirled_channel"
"""``resilience.gate_twirling`` metadata of a PUB whose twirled average ran in closed form."""

REFERENCE = "per_randomization"
"""``resilience.gate_twirling`` metadata of a PUB run one twirled circuit per randomization."""


def reason_not_exact(
    circuit: QuantumCircuit,
    single_state: bool,
    shots_per_randomization: int = 0,
    max_shots_per_randomization: int = MAX_SHOTS_PER_RANDOMIZATION,
) -> str | None:
    """Why the twirled average of ``circuit`` cannot run as one density-matrix run (of the
    whole circuit, or of each light cone), or ``None`` when it can.

    Args:
        circuit: the PUB's circuit as the device runs it (scheduled); its folded forms have
            the same answer, as folding repeats its 2-qubit gates in place.
        single_state: whether the executor simulates its final state exactly: once for all
            bases, or as the states of its terms' light cones (:mod:`.light_cone`).
        shots_per_randomization: each randomization's shots.
        max_shots_per_randomization: the most the closed form runs with (see
            :data:`MAX_SHOTS_PER_RANDOMIZATION`).
    """
    if shots_per_randomization > max_shots_per_randomization:
        return (
            f"{shots_per_randomization} shots per randomization, above "
            f"{max_shots_per_randomization}: how the gate-twirl randomizations differ from one "
            "another would show in the values"
        )
    others = sorted(
        {
            inst.operation.name
            for inst in circuit.data
            if inst.operation.num_qubits == 2
            and not inst.operation._directive
            and inst.operation.name not in TWIRLED_GATES
        }
    )
    if others:
        return (
            f"2-qubit gates {', '.join(others)} are not twirled as Cliffords, so their "
            "twirled error has no closed form here"
        )
    if not single_state:
        return (
            "the circuit's final state is not simulated once for all bases nor as its terms' "
            "light cones (a density matrix too wide for both, or a measurement or reset "
            "before the end)"
        )
    return None


def twirl_averaged_circuit(circuit: QuantumCircuit, noise: DeviceNoise) -> QuantumCircuit:
    """``circuit`` with the 1-qubit errors the twirls' merged Paulis add, on average.

    ``pauli_twirl_2q_gates`` merges each twirling Pauli into the run of 1-qubit gates next
    to its 2-qubit gate (a run is bounded by 2-qubit gates and by anything that is not a
    gate: idle channels, barriers, measurements) and re-synthesizes the run. A run with an
    ``sx`` keeps its number of ``sx`` pulses (a Pauli maps a pi/2 rotation to a pi/2 rotation
    and a generic one to a generic one). A run of only ``rz``/``x`` (or an empty one, such
    as between a gate and its fold, or before an idle window) becomes, with the Paulis of
    its neighbours uniformly random, an ``x`` pulse with probability 1/2 and none with
    probability 1/2, whatever it was. Here such a run keeps its unitary, its ``x`` gates
    made error-free, and is followed by that average: the identity with probability 1/2
    and the Pauli twirl of the qubit's ``x`` error with probability 1/2 (the error of a
    pulse sitting inside a twirled frame is seen through a uniformly random Pauli).

    Args:
        circuit: a circuit on device qubits (qubit ``i`` is device qubit ``i``).
        noise: the device's noise, for each qubit's ``x`` error.
    """
    inserts: dict[int, list[tuple[Instruction, int]]] = defaultdict(list)  # before index
    error_free: set[int] = set()  # indices of x gates whose error the average replaces
    runs: dict[int, list[int]] = defaultdict(list)  # qubit -> the open run's indices
    after_twirled: dict[int, bool] = defaultdict(bool)  # qubit -> run opened by such a gate
    index = {qubit: i for i, qubit in enumerate(circuit.qubits)}

    def close(qubit: int, position: int, before_twirled: bool) -> None:
        run = runs.pop(qubit, [])
        twirled_site = after_twirled.pop(qubit, False) or before_twirled
        names = {circuit.data[i].operation.name for i in run}
        if twirled_site and names <= PAULI_LIKE_GATES:
            error_free.update(i for i in run if circuit.data[i].operation.name == "x")
            dressing = noise.merged_pauli_error(qubit)
            if dressing is not None:
                inserts[position].append((dressing, qubit))

    for position, inst in enumerate(circuit.data):
        qubits = [index[q] for q in inst.qubits]
        operation = inst.operation
        if isinstance(operation, Gate) and operation.num_qubits == 1:
            runs[qubits[0]].append(position)
            continue
        twirled = operation.name in TWIRLED_GATES and operation.num_qubits == 2
        for qubit in qubits:
            close(qubit, position, twirled)
            after_twirled[qubit] = twirled
    for qubit in list(after_twirled):
        close(qubit, len(circuit.data), False)

    averaged = circuit.copy_empty_like()
    for position, inst in enumerate(circuit.data):
        for dressing, qubit in inserts.get(position, []):
            averaged.append(dressing, [circuit.qubits[qubit]], copy=False)
        operation = inst.operation
        if position in error_free:
            operation = _ERROR_FREE_X
        elif isinstance(operation, QuantumChannelInstruction):
            operation = _as_kraus(operation)
        averaged.append(operation, inst.qubits, inst.clbits, copy=False)
    for dressing, qubit in inserts.get(len(circuit.data), []):
        averaged.append(dressing, [circuit.qubits[qubit]], copy=False)
    return averaged


_ERROR_FREE_X = UnitaryGate(np.array([[0, 1], [1, 0]], dtype=complex), label="x_twirl_frame")
"""An ``x`` as a plain unitary: the device model has no error for it."""


_KRAUS_CACHE_SIZE = 4096
_kraus: OrderedDict[int, tuple[QuantumChannelInstruction, Instruction]] = OrderedDict()
_kraus_lock = threading.Lock()


def _as_kraus(operation: QuantumChannelInstruction) -> Instruction:
    """An Aer error instruction (:mod:`.dd`'s idle windows are these) as the same channel in
    one plain Kraus instruction, which Aer applies as it is: Aer first moves each of its own
    error instructions into a noise model, which costs more than the density-matrix run.
    Remembered per instruction object (kept alive with its entry, so its id is not reused):
    a job's noise factors and a session's jobs share the device circuit's idle windows."""
    with _kraus_lock:
        entry = _kraus.get(id(operation))
        if entry is not None and entry[0] is operation:
            _kraus.move_to_end(id(operation))
            return entry[1]
    kraus = Kraus(operation._quantum_error).to_instruction()
    with _kraus_lock:
        _kraus[id(operation)] = (operation, kraus)
        while len(_kraus) > _KRAUS_CACHE_SIZE:
            _kraus.popitem(last=False)
    return kraus
