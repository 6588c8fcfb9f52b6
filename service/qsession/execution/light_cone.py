"""The Estimator's backward light cones: a wide, shallow circuit's local terms from small states.

A Pauli term read at the end of a circuit depends only on the instructions in its backward
light cone: walking the circuit backwards from the term's qubits, an instruction belongs to
the cone when it acts on a qubit already in it, and then all its qubits join (a barrier
joins nothing). Everything outside the cone acts on other qubits or after the cone's qubits
stopped mattering, so it drops out of the reduced density matrix of the measured qubits. The
device's noise is local too (:class:`.DeviceNoise`: each instruction's error acts on that
instruction's qubits, each readout error on its qubit, and a job's idle windows are 1-qubit
channels in the circuit, :func:`.dd.idle_noise_channels`), so simulating the cone
subcircuit with the same noise gives that reduced state **exactly**.

:func:`light_cone_plan` splits each measurement basis's terms into groups whose union cone
fits a density matrix (``sampling.DENSITY_MATRIX_MAX_QUBITS``; ideal: a state vector of
``estimator_plan.ESTIMATOR_STATE_MAX_QUBITS``), packing terms whose cones overlap into one
simulation where that costs less than simulating them apart (:data:`RUN_COST_QUBITS`). The
executor then simulates each distinct cone once per parameter point (:func:`cone_states`)
and draws each group's shots from its cone's state as it draws a basis's shots from the
whole state, with the readout errors, measurement twirls and TREX coefficients of the
group's terms (:func:`basis_moments`).

What is exact and what is not reproduced: each term's mean and standard error have exactly
the distribution of the device's, at the same shots, randomizations and mitigation. The
terms of one basis in *different* groups are sampled independently, whereas on a QPU they
come from the same shots; so an observable summing terms of several groups gets the right
mean and the right distribution of each term, but its standard error misses the covariance
between those terms (it adds their variances). The PUB's ``simulation`` metadata says so
(``covariance``) whenever a basis was split.

Wider cones, up to :data:`WIDE_MAX_QUBITS`, run on a state vector: each group's cone with
its basis change, the group's qubits' probabilities saved. Ideal, that is one exact run.
Noisy, it is noisy trajectories (Aer's state-vector method draws one Kraus operator per
error per run; :func:`trajectories` of them, fewer the wider the cone), and the group's
shots are drawn from the mean of their distributions: an **approximation**, noted as
``light_cone_trajectories`` (``exact: false``, the fewest ``trajectories`` a cone ran) with
its ``trajectory_standard_error``, the largest over observables, points and cones of the
standard error the trajectories' spread gives a value; each value's own such variance is
added to its reported variance. A job that asks for exact results
(``options.simulator.exact``) gets no trajectories: its wide PUBs sample each basis shot by
shot instead, which is exact.

The path applies when the circuit is one unitary followed by terminal measurements (no
mid-circuit measurement, reset or control flow; with noise, no delay, whose relaxation Aer
applies only shot by shot) and every term's cone fits; otherwise the executor samples each
basis circuit on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from qiskit.circuit import ControlFlowOp, QuantumCircuit
from qiskit.quantum_info import Statevector

from qsession.execution import distribution, methods, sampling
from qsession.execution import estimator_plan as plans
from qsession.execution.measurement_plan import MeasurementBasis, MeasurementPlan
from qsession.execution.memo import Memo, derive
from qsession.execution.noise import DeviceNoise
from qsession.execution.reduction import ReducedCircuit

RUN_COST_QUBITS = {True: 6, False: 12}
"""A simulation's fixed cost (Aer's preparation and run of a circuit, about a millisecond)
as the width whose state costs as much, noisy (a density matrix, ``4**width``) and ideal (a
state vector, ``2**width``): the grouping merges two cones only when the merged state costs
less than the two apart. Measured on fake_brisbane, two brickwork layers of ``ecr`` on a
chain: a noisy 6-qubit cone takes 3.5 ms, 8 qubits 21 ms, 10 qubits 270 ms; an ideal 12-qubit
one 2.5 ms."""

WIDE_MAX_QUBITS = 24
"""Widest cone run on a state vector (2**24 amplitudes = 256 MiB), exactly when ideal and by
noisy trajectories otherwise."""

TRAJECTORIES = (64, 1024)
"""The fewest and most noisy trajectories of a wide cone per parameter point: ``2**(19 -
width)`` between the two (:func:`trajectories`), so a cone costs about the same whatever its
width up to 13 qubits: on fake_brisbane a 12-qubit cone of 150 instructions (six brick
layers) takes 4 ms a trajectory, 0.5 s for its 128. A trajectory's value spreads by about
0.2 (standard deviation, two brick layers of fake_torino): 128 of them add a standard
error of about 0.018, as much as 4,096 shots' shot noise, and 1,024 (cones up to 9 qubits)
0.006; each value's reported standard error holds it."""

WIDE_MAX_MEASURED = 12
"""Most qubits one wide group reads: each trajectory's distribution over them is kept (1,024
trajectories of 2**12 float64 = 32 MiB) for the spread of the values."""

MEMO_MAX_CONES = 32
"""The most cones of one PUB whose prepared runs the worker's memo keeps between jobs (more
would push out the circuits of other sessions)."""

COVARIANCE = "terms in different cones sampled independently"
"""The ``covariance`` note of a PUB whose basis was split over several cones."""

_TRAJECTORY_SEED_KEY = 2**32 - 1
"""Spawn key of the trajectories' seed under the run's seed (never one of its children)."""


@dataclass(frozen=True)
class ConeGroup:
    """Terms of one basis read from one cone simulation.

    Attributes:
        terms: indices into the basis's ``terms`` (and columns of its ``coeffs``).
        columns: indices into the basis's ``qubits`` that the group's terms read.
        basis: the basis restricted to those qubits and terms.
        cones: per circuit of the plan, the index of the group's cone in its ``cones``
            (a density matrix, or an ideal state vector); empty for a wide group.
        wide: per circuit, the group's cone followed by its basis change, run on a state
            vector (a wide group), or empty.
    """

    terms: np.ndarray
    columns: np.ndarray
    basis: MeasurementBasis
    cones: tuple[int, ...]
    wide: tuple[plans.StatePlan, ...] = ()


@dataclass(frozen=True)
class LightConePlan:
    """How an Estimator PUB's bases are read from its terms' light cones.

    Attributes:
        cones: per circuit (randomization instance), its distinct cone subcircuits, each a
            :class:`~.estimator_plan.StatePlan` (``position``: device qubit -> index in the
            cone's state).
        groups: per basis of the measurement plan, its groups of terms.
        max_cone_qubits: the widest cone.
        trajectories: the fewest noisy trajectories a wide cone runs (:func:`trajectories`);
            0 without noisy wide groups.
    """

    cones: list[list[plans.StatePlan]]
    groups: list[list[ConeGroup]]
    max_cone_qubits: int
    trajectories: int = 0

    @property
    def split(self) -> bool:
        """Whether some basis's terms are read from more than one cone."""
        return any(len(groups) > 1 for groups in self.groups)


@dataclass(frozen=True)
class ConeStates:
    """What the cones of a plan gave at each parameter point (:func:`cone_states`).

    Attributes:
        states: ``[circuit][cone][point]``: each cone's final state.
        wide: ``(basis, group)`` -> per circuit, float64 ``(points, runs, 2**m)``: each run's
            distribution of the group's ``m`` qubits in its basis (one run when ideal).
    """

    states: list[list[list]]
    wide: dict[tuple[int, int], list[np.ndarray]]


def light_cone_plan(
    circuits: Sequence[QuantumCircuit],
    plan: MeasurementPlan,
    noise: DeviceNoise | None,
    memo: Memo | None = None,
    observables: Hashable = None,
) -> LightConePlan | None:
    """The light-cone plan of an Estimator PUB run as ``circuits`` (its randomizations'
    circuits, on device qubits), or ``None`` when it does not apply: a circuit is not one
    unitary with terminal measurements, or with noise a delay is in a cone, or some term's
    cone (its union over the circuits) is wider than :data:`WIDE_MAX_QUBITS` (with noise and
    exact results asked for, than the density-matrix limit; see the module docstring), or,
    ideal, one state vector of the whole circuit per basis costs less than the cones.

    The circuits are forms of one circuit with the same multi-qubit gates on the same qubits
    (its gate twirls, its folds): a group is the same terms in every circuit, each circuit
    with its own cone subcircuit. With a ``memo``, ``circuits`` is the PUB's own circuit
    alone and the plan is remembered for it and its ``observables`` (their key)."""
    noisy = noise is not None
    wide_limit = 0 if noisy and methods.exact_required() else WIDE_MAX_QUBITS
    if memo is not None:
        return derive(
            memo,
            circuits[0],
            "light cones",
            lambda: light_cone_plan(circuits, plan, noise),
            observables,
            wide_limit,
        )
    limit = sampling.DENSITY_MATRIX_MAX_QUBITS if noisy else plans.ESTIMATOR_STATE_MAX_QUBITS
    walks = [_walk(circuit) for circuit in circuits]
    if not plan.bases or limit < 1 or any(walk is None for walk in walks):
        return None
    cone_of = _cones_of_measured(walks, plan)
    grouped = []
    for basis in plan.bases:
        groups = _group_terms(basis, cone_of, limit, wide_limit, noisy)
        if groups is None:
            return None
        grouped.append(groups)
    if not noisy and _whole_state_cheaper(walks[0], plan, grouped, cone_of):
        return None
    cones: list[list[plans.StatePlan]] = [[] for _ in circuits]
    index: list[dict[int, int]] = [{} for _ in circuits]  # per circuit: end mask -> cone
    groups_by_basis = []
    widest, any_wide = 0, False
    for basis, groups in zip(plan.bases, grouped, strict=True):
        basis_groups = []
        for terms, columns, is_wide in groups:
            sub = _sub_basis(basis, terms, columns)
            ends = 0
            for qubit in sub.qubits:
                ends |= 1 << qubit
            chosen, wide = [], []
            for walk, circuit_cones, circuit_index in zip(walks, cones, index, strict=True):
                if is_wide:
                    cone = _cone(walk, ends, noisy, sub)
                    if cone is None:
                        return None
                    wide.append(cone)
                    widest = max(widest, len(cone.position))
                    continue
                if ends not in circuit_index:
                    cone = _cone(walk, ends, noisy)
                    if cone is None:
                        return None
                    circuit_index[ends] = len(circuit_cones)
                    circuit_cones.append(cone)
                    widest = max(widest, len(cone.position))
                chosen.append(circuit_index[ends])
            any_wide = any_wide or is_wide
            basis_groups.append(ConeGroup(terms, columns, sub, tuple(chosen), tuple(wide)))
        groups_by_basis.append(basis_groups)
    fewest = 0
    if noisy and any_wide:
        fewest = min(
            trajectories(max(len(cone.position) for cone in group.wide))
            for groups in groups_by_basis
            for group in groups
            if group.wide
        )
    return LightConePlan(cones, groups_by_basis, widest, fewest)


def trajectories(width: int) -> int:
    """Noisy trajectories of a wide cone of ``width`` qubits (:data:`TRAJECTORIES`)."""
    fewest, most = TRAJECTORIES
    return int(np.clip(2 ** max(19 - width, 0), fewest, most))


def cone_states(
    plan: LightConePlan,
    values: np.ndarray,
    parameters: Sequence,
    noise: DeviceNoise | None,
    memo: Memo | None = None,
    seed: np.random.SeedSequence | None = None,
) -> ConeStates:
    """Each cone's final state at each parameter point, per circuit
    (:func:`.distribution.final_states`: density matrices with noise), and each wide
    group's distributions, and the notes of what ran (:mod:`.methods`).

    Args:
        plan: the PUB's light-cone plan.
        values: float64 ``(points, len(parameters))``.
        parameters: the PUB circuit's parameters, in the order of ``values``' columns.
        noise: the device's noise, or ``None``.
        memo: keeps the cones' prepared runs (only for a plan the memo keeps, and at most
            :data:`MEMO_MAX_CONES` cones).
        seed: the trajectories' randomness (only a plan with noisy wide groups uses it; not
            spawned from, so the seeds the caller spawns stay as they were).
    """
    detail: dict[str, object] = {
        "max_cone_qubits": plan.max_cone_qubits,
        "groups": sum(len(groups) for groups in plan.groups),
    }
    if plan.split:
        detail["covariance"] = COVARIANCE
    methods.note("light_cone", **detail)
    wide_groups = [
        (b, g, group)
        for b, groups in enumerate(plan.groups)
        for g, group in enumerate(groups)
        if group.wide
    ]
    if sum(len(cones) for cones in plan.cones) + len(wide_groups) > MEMO_MAX_CONES:
        memo = None
    column = {parameter: i for i, parameter in enumerate(parameters)}

    def columns_of(cone: plans.StatePlan) -> np.ndarray:
        return values[:, [column[p] for p in cone.reduced.circuit.parameters]]

    states = [
        [
            distribution.final_states(cone.reduced, columns_of(cone), noise, 0, memo)
            for cone in circuit_cones
        ]
        for circuit_cones in plan.cones
    ]
    wide: dict[tuple[int, int], list[np.ndarray]] = {}
    if not wide_groups:
        return ConeStates(states, wide)
    if seed is None:
        seed = np.random.SeedSequence(0)
    root = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, _TRAJECTORY_SEED_KEY))
    aer_seeds = root.generate_state(len(wide_groups) * len(plan.cones), np.uint32)
    error = 0.0
    for k, (b, g, group) in enumerate(wide_groups):
        per_circuit = []
        runs = trajectories(max(len(c.position) for c in group.wide)) if plan.trajectories else 1
        for c, cone in enumerate(group.wide):
            aer_seed = int(aer_seeds[k * len(plan.cones) + c])
            distributions = _wide_distributions(
                cone, group.basis.qubits, columns_of(cone), noise, runs, aer_seed, memo
            )
            per_circuit.append(distributions)
            if runs > 1:
                outcome_values = plans.outcome_values(group.basis)  # (observables, outcomes)
                run_values = distributions @ outcome_values.T  # (points, runs, observables)
                spread = np.std(run_values, axis=1, ddof=1) / np.sqrt(runs)
                error = max(error, float(spread.max(initial=0.0)))
        wide[b, g] = per_circuit
    if plan.trajectories:
        methods.note(
            "light_cone_trajectories",
            exact=False,
            trajectories=plan.trajectories,
            trajectory_standard_error=float(f"{error:.3g}"),
        )
    return ConeStates(states, wide)


Sample = Callable[..., list[tuple[np.ndarray, np.ndarray]]]
"""The executor's basis sampler (``Executor._sample_basis`` with its shots and
randomizations bound): ``(instance_states, state_plans, basis, seed=, coeffs=, masks=)``
-> per point, the basis's observables' means and standard errors."""


def basis_moments(
    plan: LightConePlan,
    basis_index: int,
    states: ConeStates,
    sample: Sample,
    seed: np.random.SeedSequence,
    coeffs: np.ndarray,
    masks: np.ndarray | None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per parameter point: the means and standard errors of the observables' terms in
    basis ``basis_index``, each group sampled from its cone's states (``states`` as
    :func:`cone_states` gives them) with its terms' ``coeffs`` (the basis's, TREX-scaled
    if so) and its qubits' measurement twirls ``masks``. The groups are independent: their
    means add, and so do their variances.

    A wide group's shots are drawn from its distribution (the mean over its runs, handed
    to ``sample`` as a state whose amplitudes are its square roots, read in Z), and with
    several noisy runs each value's variance over the runs, divided by their number, is
    added (its circuits equally weighted: each runs its own trajectories)."""
    total: list[tuple[np.ndarray, np.ndarray]] | None = None
    groups = plan.groups[basis_index]
    for g, (group, group_seed) in enumerate(zip(groups, seed.spawn(len(groups)), strict=True)):
        group_coeffs = coeffs[:, group.terms]
        group_masks = None if masks is None else masks[:, group.columns]
        extra = None
        if group.wide:
            per_circuit = states.wide[basis_index, g]
            position = {qubit: j for j, qubit in enumerate(group.basis.qubits)}
            instance_plans = [replace(cone, extra=0, position=position) for cone in group.wide]
            instance_states = [
                [Statevector(np.sqrt(np.clip(d.mean(axis=0), 0.0, None))) for d in runs]
                for runs in per_circuit
            ]
            basis = replace(group.basis, paulis="Z" * len(group.basis.qubits))
            if per_circuit[0].shape[1] > 1:
                values = group_coeffs @ plans.term_signs(group.basis)  # (observables, outcomes)
                extra = (
                    sum(
                        np.var(runs @ values.T, axis=1, ddof=1) / runs.shape[1]
                        for runs in per_circuit
                    )
                    / len(per_circuit) ** 2
                )  # (points, observables)
        else:
            instance_states = [
                circuit_states[cone]
                for circuit_states, cone in zip(states.states, group.cones, strict=True)
            ]
            instance_plans = [
                circuit_cones[cone]
                for circuit_cones, cone in zip(plan.cones, group.cones, strict=True)
            ]
            basis = group.basis
        moments = sample(
            instance_states,
            instance_plans,
            basis,
            seed=group_seed,
            coeffs=group_coeffs,
            masks=group_masks,
        )
        squared = [(means, np.square(errors)) for means, errors in moments]
        if extra is not None:
            squared = [(means, var + extra[p]) for p, (means, var) in enumerate(squared)]
        if total is None:
            total = squared
        else:
            total = [(m + gm, v + gv) for (m, v), (gm, gv) in zip(total, squared, strict=True)]
    assert total is not None
    return [(means, np.sqrt(variances)) for means, variances in total]


Walk = tuple[list[tuple[object, tuple[int, ...]]], list[int], list[int]]
"""A circuit's instructions ``(operation, device qubits)``, the mask of measured qubits
whose cone holds each instruction, and per qubit the mask of measured qubits whose cone
holds it (:func:`_walk`)."""


def _walk(circuit: QuantumCircuit) -> Walk | None:
    """One backward pass over ``circuit`` (final measurements dropped) that finds every
    qubit's cone at once: ``reach[q]`` is the set (a bit mask) of end qubits whose cone
    holds qubit ``q`` so far; an instruction joins the cones of all its qubits' ``reach``
    and leaves each of its qubits in all of them. ``None`` if the circuit is not one unitary
    followed by its measurements."""
    if any(inst.operation.name == "measure" for inst in circuit.data):
        circuit = circuit.remove_final_measurements(inplace=False)
    index = {bit: i for i, bit in enumerate(circuit.qubits)}
    instructions = []
    for inst in circuit.data:
        operation = inst.operation
        if (
            operation.name in ("measure", "reset")
            or isinstance(operation, ControlFlowOp)
            or inst.clbits
        ):
            return None
        instructions.append((operation, tuple(index[q] for q in inst.qubits)))
    reach = [1 << qubit for qubit in range(circuit.num_qubits)]
    marks = [0] * len(instructions)
    for position in range(len(instructions) - 1, -1, -1):
        operation, qubits = instructions[position]
        if operation.name == "barrier":
            continue
        joined = 0
        for qubit in qubits:
            joined |= reach[qubit]
        for qubit in qubits:
            reach[qubit] = joined
        marks[position] = joined
    return instructions, marks, reach


def _cones_of_measured(walks: list[Walk], plan: MeasurementPlan) -> dict[int, int]:
    """Each measured qubit's cone (a qubit mask), its union over the circuits."""
    measured = 0
    for basis in plan.bases:
        for qubit in basis.qubits:
            measured |= 1 << qubit
    cone_of: dict[int, int] = {}
    for _, _, reach in walks:
        for qubit, sources in enumerate(reach):
            sources &= measured
            while sources:
                low = sources & -sources
                source = low.bit_length() - 1
                cone_of[source] = cone_of.get(source, 0) | (1 << qubit)
                sources ^= low
    return cone_of


def _group_terms(
    basis: MeasurementBasis, cone_of: dict[int, int], limit: int, wide_limit: int, noisy: bool
) -> list[tuple[np.ndarray, np.ndarray, bool]] | None:
    """The basis's terms grouped (term indices, basis columns read, whether wide): terms
    whose cone has at most ``limit`` qubits into groups whose union cone has at most that
    many, the others into wide groups of at most ``wide_limit`` (and
    :data:`WIDE_MAX_MEASURED` qubits read); ``None`` if a term's own cone is wider than both.

    Greedy: terms in order of their lowest qubit, each joining the group where it adds the
    least cost, or a new group when that costs less (:data:`RUN_COST_QUBITS`; a wide
    group's state is a state vector, whatever the noise)."""
    supports = []
    for term in basis.terms:
        columns = [j for j, letter in enumerate(reversed(term)) if letter == "Z"]
        cone = 0
        for column in columns:
            cone |= cone_of[basis.qubits[column]]
        supports.append((columns, cone))
    narrow = [t for t, (_, cone) in enumerate(supports) if cone.bit_count() <= limit]
    wide = [t for t, (_, cone) in enumerate(supports) if cone.bit_count() > limit]
    if any(supports[t][1].bit_count() > wide_limit for t in wide):
        return None
    grouped = [(*group, False) for group in _pack(supports, narrow, limit, 0, noisy)]
    grouped += [(*group, True) for group in _pack(supports, wide, wide_limit, 1, False)]
    return grouped


def _whole_state_cheaper(
    walk: Walk,
    plan: MeasurementPlan,
    grouped: list[list[tuple[np.ndarray, np.ndarray, bool]]],
    cone_of: dict[int, int],
) -> bool:
    """Ideal: whether sampling each basis from one state vector of the whole circuit (when
    it has at most ``sampling.STATEVECTOR_MAX_QUBITS`` active qubits) costs no more than
    the cones' state vectors (each run costing at least :data:`RUN_COST_QUBITS`' width)."""
    instructions, _, _ = walk
    active = {
        q for operation, qubits in instructions if operation.name != "barrier" for q in qubits
    }
    if len(active) > sampling.STATEVECTOR_MAX_QUBITS:
        return False
    floor = RUN_COST_QUBITS[False]
    cones = 0
    for basis, groups in zip(plan.bases, grouped, strict=True):
        for _, columns, _ in groups:
            cone = 0
            for column in columns.tolist():
                cone |= cone_of[basis.qubits[column]]
            cones += 2 ** max(cone.bit_count(), floor)
    return cones >= len(plan.bases) * 2 ** max(len(active), floor)


def _pack(
    supports: list[tuple[list[int], int]],
    terms: list[int],
    limit: int,
    max_read: int,
    noisy: bool,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`_group_terms`'s greedy packing of ``terms`` (each fits ``limit`` alone) into
    groups of at most ``limit`` cone qubits and, with ``max_read``, at most
    :data:`WIDE_MAX_MEASURED` qubits read."""
    base, floor = (4 if noisy else 2), RUN_COST_QUBITS[noisy]

    def cost(width: int) -> float:
        return float(base) ** max(width, floor)

    groups: list[tuple[int, list[int], set[int]]] = []  # (cone, terms, columns)
    for t in sorted(terms, key=lambda t: supports[t][0][0]):
        columns, cone = supports[t]
        best, best_increase = None, cost(cone.bit_count())
        for g, (group_cone, _, group_columns) in enumerate(groups):
            union = (group_cone | cone).bit_count()
            if union > limit or (
                max_read and len(group_columns.union(columns)) > WIDE_MAX_MEASURED
            ):
                continue
            increase = cost(union) - cost(group_cone.bit_count())
            if increase < best_increase:
                best, best_increase = g, increase
        if best is None:
            groups.append((cone, [t], set(columns)))
        else:
            group_cone, group_terms, group_columns = groups[best]
            group_terms.append(t)
            group_columns.update(columns)
            groups[best] = (group_cone | cone, group_terms, group_columns)
    return [
        (np.array(sorted(group_terms), np.intp), np.array(sorted(columns), np.intp))
        for _, group_terms, columns in groups
    ]


def _cone(
    walk: Walk, ends: int, noisy: bool, measured: MeasurementBasis | None = None
) -> plans.StatePlan | None:
    """The cone subcircuit of end qubits ``ends`` (a mask) in one circuit: its instructions
    in order on the cone's qubits (ascending device order), or ``None`` with noise if a delay
    is in it. With a ``measured`` basis (a wide group's), followed by its basis change
    (error-free: the device has no ``h`` or ``sdg``, as :func:`.distribution.basis_probabilities`
    applies it exactly)."""
    instructions, marks, _ = walk
    chosen = [position for position, mark in enumerate(marks) if mark & ends]
    qubits = {q for position in chosen for q in instructions[position][1]}
    remaining = ends
    while remaining:
        low = remaining & -remaining
        qubits.add(low.bit_length() - 1)
        remaining ^= low
    active = tuple(sorted(qubits))
    position = {qubit: j for j, qubit in enumerate(active)}
    circuit = QuantumCircuit(len(active))
    for chosen_position in chosen:
        operation, operation_qubits = instructions[chosen_position]
        if noisy and operation.name == "delay":
            return None
        circuit.append(
            operation, [circuit.qubits[position[q]] for q in operation_qubits], copy=False
        )
    if measured is not None:
        for qubit, pauli in zip(measured.qubits, measured.paulis, strict=True):
            if pauli == "Y":
                circuit.sdg(position[qubit])
            if pauli in "XY":
                circuit.h(position[qubit])
    return plans.StatePlan(ReducedCircuit(circuit, active, {}, {}), 0, position)


def _wide_distributions(
    cone: plans.StatePlan,
    qubits: tuple[int, ...],
    values: np.ndarray,
    noise: DeviceNoise | None,
    runs: int,
    seed: int,
    memo: Memo | None,
) -> np.ndarray:
    """float64 ``(points, runs, 2**m)``: the distribution of a wide group's ``m`` device
    ``qubits`` (bit ``j`` = ``qubits[j]``) at the end of its cone circuit (basis change included)
    in each of ``runs`` state-vector runs per point: noisy trajectories, or one ideal run."""
    measured = [cone.position[qubit] for qubit in qubits]
    return np.stack(
        distribution.run_probabilities(cone.reduced, measured, values, noise, runs, seed, memo)
    )


def _sub_basis(basis: MeasurementBasis, terms: np.ndarray, columns: np.ndarray) -> MeasurementBasis:
    """``basis`` restricted to its ``terms`` and the qubits ``columns`` they read."""
    labels = [
        "".join(basis.terms[t][-1 - j] for j in reversed(columns.tolist())) for t in terms.tolist()
    ]
    return MeasurementBasis(
        qubits=tuple(basis.qubits[j] for j in columns.tolist()),
        paulis="".join(basis.paulis[j] for j in columns.tolist()),
        terms=labels,
        coeffs=np.ascontiguousarray(basis.coeffs[:, terms]),
    )
