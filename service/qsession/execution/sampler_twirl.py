"""The Sampler's twirled randomizations in closed form: one exact distribution for them all.

A twirled Sampler PUB runs ``R`` randomizations of ``shots / R`` shots each. Randomization
``r`` runs its own Pauli twirl of the 2-qubit gates (``twirling.enable_gates``) and, with
``enable_measure``, an X before the terminal measurement of a random half of the qubits,
whose bits are flipped back. The reference path (``Executor._sample_randomized``) simulates
each randomization's circuit on its own: ``R`` density-matrix runs (16 for 1,000 shots).

Here, on a noisy device, when the PUB's final state fits a density matrix:

* **gate twirls**, averaged: the final state averaged over the twirls is the final state of
  :func:`.twirled_channel.twirl_averaged_circuit` under the twirl-averaged noise (each
  twirled gate's error its Pauli twirl): one density-matrix run for all randomizations.
  Exactly what :mod:`.twirled_channel` does for the Estimator, with the same reach and the
  same limit (:data:`.twirled_channel.MAX_SHOTS_PER_RANDOMIZATION` shots per randomization;
  above it, the spread between randomizations, which this does not reproduce, would show).
* **measurement twirls**, exactly: a flipped qubit's X, the X's device error and the
  readout, with the bit flipped back, are one 2x2 channel from the qubit's state to the bit
  returned (:func:`flipped_readout`), applied to the distribution per randomization.
* **sampled**, as on the reference path: each randomization's flip mask and its ``shots /
  R`` shots (drawn from its own distribution by the native kernel).

Every shot's bits therefore follow the reference path's distribution at each randomization
exactly, but for the gate twirls' spread.

When the final state is too large for a density matrix but a state vector fits, the
twirl-averaged circuit's distribution is instead the mean over noisy state-vector
trajectories, ``SHOTS_PER_TRAJECTORY`` shots drawn per trajectory
(:func:`.distribution.batched_trajectories`): every shot's marginal distribution stays
exact, the shots are correlated through the trajectories they share, and the PUB's metadata
names the approximate method ``"trajectories"`` with its estimated error. A job that asks
for exact results (``options.simulator.exact``) runs the reference path instead.

Where none of this applies (an ideal device, 2-qubit gates Qiskit does not twirl as
Cliffords, a mid-circuit measurement, too many qubits, an idle qubit measured under
measurement twirling), :func:`sample_twirled` returns ``None`` and the reference path
runs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import Kraus

from qsession import _native
from qsession.execution import methods, twirled_channel
from qsession.execution.distribution import (
    apply_readout_errors,
    batched_trajectories,
    final_distribution,
)
from qsession.execution.memo import Memo, derive
from qsession.execution.mitigation import Twirling
from qsession.execution.noise import DeviceNoise
from qsession.execution.reduction import reduce_circuit
from qsession.execution.sampling import fits_probabilities, fits_trajectories, register_positions

COHERENCE_TOLERANCE = 1e-12
"""Largest population an X error may move out of a coherence for :func:`flipped_readout`
to hold (Aer's device errors, depolarizing and thermal relaxation, move none)."""


def sample_twirled(
    circuit: QuantumCircuit,
    values: np.ndarray,
    shots: int,
    seed: np.random.SeedSequence,
    twirling: Twirling,
    noise: DeviceNoise,
    memo: Memo | None = None,
    max_shots_per_randomization: int = twirled_channel.MAX_SHOTS_PER_RANDOMIZATION,
) -> list[np.ndarray] | None:
    """The twirled Sampler's shots of every classical register of ``circuit``, or ``None``
    when the closed form does not apply (see the module docstring).

    Args:
        circuit: the PUB's circuit as the device runs it (scheduled, on device qubits).
        values: float64 ``(points, circuit.num_parameters)``.
        shots: shots per parameter point.
        seed: the randomness of this PUB.
        twirling: the job's twirling (gates, measurements or both enabled).
        noise: the device's noise.
        memo: remembers the twirl-averaged circuit and its prepared run (a worker's).
        max_shots_per_randomization: the most shots per randomization the gate-twirl
            average runs with.

    Returns:
        One uint8 array per register of ``circuit.cregs``, ``(points, shots, bytes)``,
        as ``sampling.sample_registers``.
    """
    count = min(twirling.split(shots)[0], shots)
    sizes = [len(part) for part in np.array_split(np.arange(shots), count)]
    averaged, averaged_noise = circuit, noise
    if twirling.enable_gates:
        if twirled_channel.reason_not_exact(circuit, True, max(sizes), max_shots_per_randomization):
            return None
        averaged = derive(
            memo,
            circuit,
            "twirl averaged",
            lambda: twirled_channel.twirl_averaged_circuit(circuit, noise),
        )
        averaged_noise = noise.twirl_averaged(twirled_channel.TWIRLED_GATES)
    reduced = derive(memo, averaged, "reduced", lambda: reduce_circuit(averaged))
    final = reduced.final_measures
    clbits = [[circuit.find_bit(bit).index for bit in creg] for creg in circuit.cregs]
    if final is None:
        return None
    exact = fits_probabilities(reduced, final, clbits, noisy=True)
    if not exact and (methods.exact_required() or not fits_trajectories(reduced, final, clbits)):
        return None
    if reduced.idle_measures:  # an idle qubit's reading: its readout only, or a flipped X
        return None
    measured = sorted({final[c] for bits in clbits for c in bits if c in final})
    device_qubits = [reduced.active[q] for q in measured]
    flipped = np.stack([flipped_readout(noise, qubit) for qubit in device_qubits])
    if flipped.size and np.isnan(flipped).any():
        return None
    column = {param: i for i, param in enumerate(circuit.parameters)}
    values = values[:, [column[param] for param in reduced.circuit.parameters]]
    num_points = values.shape[0]
    runs = num_points if values.shape[1] else 1
    mask_seed, draw_seed, trajectory_seed = seed.spawn(3)
    twirls = {
        "gate_twirling": twirled_channel.EXACT if twirling.enable_gates else None,
        "measure_twirling": "closed_form" if twirling.enable_measure else None,
    }
    if exact:
        methods.note("density_matrix", **twirls)
        states = final_distribution(reduced, measured, values[:runs], averaged_noise, memo, False)
    else:
        states = batched_trajectories(
            reduced, measured, values[:runs], shots, averaged_noise, trajectory_seed, memo, twirls
        )
    assignment = noise.readout_assignment(device_qubits)
    masks = np.zeros((count, len(measured)), bool)
    if twirling.enable_measure:
        masks = np.random.default_rng(mask_seed).random((count, len(measured))) < 0.5
    channels = [np.where(mask[:, None, None], flipped, assignment) for mask in masks]
    positions = register_positions(final, clbits, measured)
    out = [np.empty((num_points, shots, (len(bits) + 7) // 8), np.uint8) for bits in clbits]
    seeds = draw_seed.generate_state(num_points * count, np.uint64).reshape(num_points, count)
    for point in range(num_points):
        state = states[point if runs > 1 else 0]
        start = 0
        for r, size in enumerate(sizes):
            probabilities = apply_readout_errors(state, channels[r])
            outcomes = _native.sample_outcomes(probabilities, size, int(seeds[point, r]))
            for register, bit_positions in zip(out, positions, strict=True):
                register[point, start : start + size] = _native.pack_outcomes(
                    outcomes, bit_positions
                )
            start += size
    return out


def flipped_readout(noise: DeviceNoise, qubit: int) -> np.ndarray:
    """float64 ``(2, 2)``: the probability that device ``qubit`` in state ``s`` returns bit
    ``r`` when measured after an X (with the X's device error) and the bit flipped back.

    The X error's effect on what is measured is its map between the populations of ``|0>``
    and ``|1>`` when it moves nothing out of the coherences (checked; otherwise the entries
    are NaN and the caller runs the reference path)."""
    population = _x_population_map(noise, qubit)  # state s -> state t after X and its error
    assignment = noise.readout_assignment([qubit])[0]  # state t -> read
    return population @ assignment[:, ::-1]  # returned bit = read bit flipped back


@lru_cache(maxsize=4096)
def _x_population_map(noise: DeviceNoise, qubit: int) -> np.ndarray:
    """float64 ``(2, 2)``: entry ``[s, t]`` the probability that X then its error take
    ``|s>`` to ``|t>``; NaN where the error moves population out of a coherence."""
    error = noise.quantum_error("x", (qubit,))
    kraus = [np.eye(2)] if error is None else Kraus(error).data

    def evolve(rho: np.ndarray) -> np.ndarray:
        return sum(k @ rho @ k.conj().T for k in kraus)

    after_x = [np.diag([0.0, 1.0]), np.diag([1.0, 0.0])]  # X|s><s|X for s = 0, 1
    result = np.array([np.real(np.diagonal(evolve(rho))) for rho in after_x])
    leaked = np.diagonal(evolve(np.array([[0.0, 1.0], [0.0, 0.0]], complex)))
    if np.max(np.abs(leaked)) > COHERENCE_TOLERANCE:
        result[:] = np.nan
    return result
