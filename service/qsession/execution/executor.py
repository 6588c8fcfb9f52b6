"""The emulated QPU: runs Sampler and Estimator PUBs on Qiskit Aer with Qiskit's semantics."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers import BitArray, DataBin, PubResult, SamplerPubResult
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession import _native
from qsession.execution import (
    dd,
    methods,
    mitigation,
    progress,
    sampler_twirl,
    twirled_channel,
    zne,
)
from qsession.execution import estimator_plan as plans
from qsession.execution.distribution import (
    apply_readout_errors,
    basis_probabilities,
    final_states,
)
from qsession.execution.light_cone import basis_moments, cone_states, light_cone_plan
from qsession.execution.measurement_plan import MeasurementBasis
from qsession.execution.memo import Memo, derive
from qsession.execution.noise import DeviceNoise
from qsession.execution.profiles import DeviceProfile
from qsession.execution.sampling import sample_registers
from qsession.execution.twirling import flip_before_measurements, terminal_measurements, twirl_gates
from qsession.execution.validation import (
    validate_estimator_pub,
    validate_sampler_pub,
)
from qsession.v1 import job_pb2
from qsession.wire.shots import shots_for_precision
from qsession.wire.spans import ExecutionSpans, SliceSpan

UNMITIGATED = mitigation.EstimatorSettings(
    resilience_level=0, measure_mitigation=False, twirling=mitigation.Twirling()
)
"""What the Estimator runs when given no options: no twirling, no mitigation."""


class Executor:
    """Runs PUBs on one device profile, ideal or with the profile's noise model.

    Results follow Qiskit's SamplerV2 / EstimatorV2 semantics; the Estimator is shot-based
    like a QPU. Equal seeds give equal results. With a ``memo`` (a worker's), what is derived
    from a circuit is remembered between jobs: the PUBs' circuits must then never be modified.
    """

    twirl_in_closed_form = True
    """Whether gate twirling's average over randomizations runs in closed form where it can
    (:mod:`.twirled_channel`); ``False`` runs the per-randomization reference path always
    (what tests and ``bench/mitigation.py --reference`` compare against)."""

    closed_form_max_shots_per_randomization = twirled_channel.MAX_SHOTS_PER_RANDOMIZATION
    """Above this many shots per randomization gate twirling runs the reference path."""

    def __init__(self, profile: DeviceProfile, noise: bool, memo: Memo | None = None) -> None:
        self.profile = profile
        self.memo = memo
        self.progress: Callable[[float, int], None] | None = None
        """Called with (PUBs done, PUBs in all) as a job advances (the worker's report);
        PUBs done is fractional while a PUB's inner loops advance (:mod:`.progress`)."""
        self._noise = DeviceNoise(profile.target) if noise else None

    def validate_sampler_pub(self, pub: SamplerPub, index: int) -> None:
        """Check that ``pub`` (shots resolved) runs on this device as given.

        Raises:
            InvalidPub: field ``sampler_pubs[index].circuit`` (wider than the device, an
                instruction the device lacks on those qubits, no classical register or no
                measurement), ``.shots`` or ``.parameter_values``.
        """
        validate_sampler_pub(
            pub, f"sampler_pubs[{index}]", self.profile.target, self.profile.name, self.memo
        )

    def validate_estimator_pub(self, pub: EstimatorPub, index: int) -> None:
        """Check that ``pub`` (precision resolved) runs on this device as given.

        Raises:
            InvalidPub: field ``estimator_pubs[index].circuit``, ``.observables`` (width
                differs from the circuit's), ``.precision`` or ``.parameter_values``.
        """
        validate_estimator_pub(
            pub, f"estimator_pubs[{index}]", self.profile.target, self.profile.name, self.memo
        )

    def run_sampler(
        self,
        pubs: list[SamplerPub],
        seed: int | None,
        options: job_pb2.JobOptions | None = None,
    ) -> PrimitiveResult:
        """Sample each PUB (``pub.shots`` per parameter point).

        Returns:
            One ``SamplerPubResult`` per PUB whose ``DataBin`` (shape ``pub.shape``) has one
            ``BitArray`` per classical register, named after it, of shape ``pub.shape`` and
            ``pub.shots`` shots; metadata ``{"circuit_metadata": ...}``. Result metadata
            ``{"execution": {"execution_spans": ExecutionSpans}, "version": 2}``.

        With ``options`` (a job's) the circuit runs as the emulated QPU runs it: scheduled,
        its idle windows noisy on a noisy device and filled with DD if asked
        (:meth:`_device_circuit`). Without, it runs as given on Aer's device noise model.

        Raises:
            InvalidPub: as :meth:`validate_sampler_pub`.
            ExecutionFailed: the emulator cannot run a circuit.
            InvalidOption: ``options`` (the job's) hold one that cannot be emulated.
        """
        twirling = mitigation.sampler_settings(options or job_pb2.JobOptions())
        decoupling = mitigation.dynamical_decoupling_settings(options or job_pb2.JobOptions())
        seeds = np.random.SeedSequence(seed).spawn(len(pubs))
        results, spans = [], []
        for index, (pub, pub_seed) in self._pubs_reporting(pubs, seeds):
            self.validate_sampler_pub(pub, index)
            start = datetime.now(UTC)
            circuit, shots = pub.circuit, pub.shots
            if options is not None:
                circuit = self._device_circuit(circuit, decoupling)
            values = _points(pub.parameter_values, circuit)
            with methods.recording(exact_required(options)) as record:
                if twirling.enable_gates or twirling.enable_measure:
                    arrays = self._sample_randomized(circuit, values, shots, pub_seed, twirling)
                else:
                    arrays = sample_registers(
                        circuit,
                        circuit.cregs,
                        values,
                        shots,
                        pub_seed,
                        self._noise,
                        self.memo,
                        batch_trajectories=True,
                    )
            data = {
                creg.name: BitArray(array.reshape(pub.shape + array.shape[1:]), creg.size)
                for creg, array in zip(circuit.cregs, arrays, strict=True)
            }
            results.append(
                SamplerPubResult(
                    DataBin(**data, shape=pub.shape),
                    metadata={
                        "circuit_metadata": circuit.metadata,
                        "simulation": record.metadata(),
                    },
                )
            )
            spans.append(_whole_span(index, start, pub.shape + (shots,)))
        return _primitive_result(results, spans)

    def _pubs_reporting(self, pubs: list, seeds: list) -> Iterator[tuple[int, tuple]]:
        """``enumerate(zip(pubs, seeds))``, reporting the job's progress to :attr:`progress`
        as the PUBs and the loops inside them advance (:mod:`.progress`)."""
        count = len(pubs)
        report = None if self.progress is None else partial(_report, self.progress, count)
        with progress.reporting(report):
            yield from progress.iterate(enumerate(zip(pubs, seeds, strict=True)), count)

    def _device_circuit(
        self, circuit: QuantumCircuit, decoupling: dd.DynamicalDecoupling
    ) -> QuantumCircuit:
        """What the emulated QPU runs for a job's ``circuit`` (remembered per circuit):
        scheduled with the device's durations, idle windows filled with delays or the DD
        sequence, and on a noisy device each idle window made its relaxation and detuning
        channel (:mod:`.dd`). Twirling and ZNE folding then act on this circuit; folding does
        not reschedule it.

        A circuit that cannot be scheduled (control flow, a device without durations) runs
        as given, without idle noise, unless DD was asked for.

        Raises:
            InvalidOption: ``dynamical_decoupling.enable`` for a circuit that cannot be
                scheduled.
        """

        def build() -> QuantumCircuit:
            if self._noise is None and not decoupling.enable:
                return circuit
            try:
                scheduled = dd.schedule_idle(circuit, self.profile.target, decoupling)
            except dd.SchedulingError as exc:
                if decoupling.enable:
                    raise mitigation.InvalidOption(
                        "options.dynamical_decoupling.enable",
                        f"the circuit cannot be scheduled on {self.profile.name}: {exc}",
                    ) from exc
                return circuit
            if self._noise is None:
                return scheduled
            return dd.idle_noise_channels(scheduled, self.profile.target)

        return derive(self.memo, circuit, "device circuit", build, decoupling)

    def _sample_randomized(
        self,
        circuit: QuantumCircuit,
        values: np.ndarray,
        shots: int,
        seed: np.random.SeedSequence,
        twirling: mitigation.Twirling,
    ) -> list[np.ndarray]:
        """The Sampler's twirled shots: ``shots`` split as evenly as possible over the
        randomizations (IBM's "auto" count by default), each running its own Pauli twirl of
        the 2-qubit gates (``enable_gates``) and, with ``enable_measure``, an X before each
        terminal measurement of a random half of the qubits, whose bits are flipped back with
        one XOR of a packed mask over all of the randomization's shots. Mid-circuit
        measurements are not twirled (their bits may steer the circuit).

        On a noisy device the randomizations run in closed form where they can
        (:mod:`.sampler_twirl`: one density-matrix run for all of them)."""
        if self._noise is not None and self.twirl_in_closed_form:
            arrays = sampler_twirl.sample_twirled(
                circuit,
                values,
                shots,
                seed,
                twirling,
                self._noise,
                self.memo,
                self.closed_form_max_shots_per_randomization,
            )
            if arrays is not None:
                return arrays
        count, _ = twirling.split(shots)
        count = min(count, shots)
        twirl_seed, mask_seed, *run_seeds = seed.spawn(count + 2)
        instances = [circuit]
        if twirling.enable_gates:
            instances = twirl_gates(circuit, count, self.profile.target, twirl_seed)
        terminal = terminal_measurements(circuit)
        rng = np.random.default_rng(mask_seed)
        masks = rng.random((count, len(terminal))) < 0.5 if twirling.enable_measure else None
        parts: list[list[np.ndarray]] = [[] for _ in circuit.cregs]
        sizes = [len(part) for part in np.array_split(np.arange(shots), count)]
        twirled = twirled_channel.TWIRLED_GATES if twirling.enable_gates else frozenset()
        randomizations = enumerate(zip(sizes, run_seeds, strict=True))
        for r, (size, run_seed) in progress.iterate(randomizations, count):
            instance = instances[r % len(instances)]
            flipped = []
            if masks is not None:
                flipped = [terminal[j] for j in np.flatnonzero(masks[r])]
                instance = flip_before_measurements(instance, {q for q, _ in flipped})
            arrays = sample_registers(
                instance,
                instance.cregs,
                values,
                size,
                run_seed,
                self._noise,
                None,
                twirled,
                batch_trajectories=True,
            )
            flipped_clbits = {clbit for _, clbit in flipped}
            for creg, array, bucket in zip(circuit.cregs, arrays, parts, strict=True):
                bits = np.array([circuit.find_bit(b).index in flipped_clbits for b in creg])
                if bits.any():
                    array = array ^ mitigation.packed_mask(bits)
                bucket.append(array)
        return [np.concatenate(bucket, axis=1) for bucket in parts]

    def run_estimator(
        self,
        pubs: list[EstimatorPub],
        seed: int | None,
        options: job_pb2.JobOptions | None = None,
    ) -> PrimitiveResult:
        """Estimate each PUB from shots: its final measurements are removed, its observables'
        Pauli terms grouped into qubit-wise commuting bases, each basis measured with
        ``ceil(1 / pub.precision**2)`` shots per parameter point.

        Returns:
            One ``PubResult`` per PUB with ``evs``, ``stds`` (standard errors) and
            ``ensemble_standard_error`` (= ``stds``), float64 arrays of shape ``pub.shape``
            (parameter values broadcast against observables); metadata ``{"shots",
            "target_precision", "num_randomizations", "resilience", "circuit_metadata"}``.
            Result metadata as for the Sampler, plus IBM's ``dynamical_decoupling``,
            ``twirling`` and ``resilience`` blocks.

        ``options`` (the job's) choose the error mitigation, as qiskit-ibm-runtime's
        (:mod:`.mitigation`; unset fields default to resilience level 1: measurement twirling
        and TREX). Without ``options`` nothing is mitigated (the executor's plain behaviour);
        with them the circuit is first scheduled as on the QPU (:meth:`_device_circuit`).

        Raises:
            InvalidPub: as :meth:`validate_estimator_pub`; ``InvalidOption`` (a subclass) for
                an option that cannot be emulated.
            ExecutionFailed: the emulator cannot run a circuit.
        """
        settings = UNMITIGATED if options is None else self._estimator_settings(options)
        if settings.seed is not None:
            seed = settings.seed
        seeds = np.random.SeedSequence(seed).spawn(len(pubs))
        results, spans = [], []
        for index, (pub, pub_seed) in self._pubs_reporting(pubs, seeds):
            self.validate_estimator_pub(pub, index)
            start = datetime.now(UTC)
            if options is not None:
                device_circuit = self._device_circuit(pub.circuit, settings.dynamical_decoupling)
                pub = EstimatorPub(
                    device_circuit,
                    pub.observables,
                    pub.parameter_values,
                    pub.precision,
                    validate=False,
                )
            shots = shots_for_precision(pub.precision)
            randomizations = 1
            twirling = settings.twirling
            if twirling.enable_measure or twirling.enable_gates:
                randomizations, per = twirling.split(shots)
                shots = randomizations * per
            with methods.recording(exact_required(options)) as record:
                fields, resilience = self._estimate_mitigated(
                    pub, shots, randomizations, pub_seed, settings
                )
            results.append(
                PubResult(
                    DataBin(**fields, shape=pub.shape),
                    metadata={
                        "shots": shots,
                        "target_precision": pub.precision,
                        "num_randomizations": randomizations,
                        "resilience": resilience,
                        "circuit_metadata": pub.circuit.metadata,
                        "simulation": record.metadata(),
                    },
                )
            )
            spans.append(_whole_span(index, start, pub.shape))
        result = _primitive_result(results, spans)
        if options is not None:
            result.metadata.update(settings.job_metadata())
        return result

    def _estimator_settings(self, options: job_pb2.JobOptions) -> mitigation.EstimatorSettings:
        """``mitigation.estimator_settings``, once per distinct options (an iterative
        algorithm's jobs all send the same)."""
        if self.memo is None:
            return mitigation.estimator_settings(options)
        return self.memo.get(
            ("estimator settings", options.SerializeToString()),
            lambda: mitigation.estimator_settings(options),
        )

    def _estimate_mitigated(
        self,
        pub: EstimatorPub,
        shots: int,
        randomizations: int,
        seed: np.random.SeedSequence,
        settings: mitigation.EstimatorSettings,
    ) -> tuple[dict[str, np.ndarray], dict]:
        """The PUB's data fields and its ``resilience`` metadata.

        Without ZNE: ``evs``, ``stds``, ``ensemble_standard_error``. With ZNE the circuit is
        run at each noise factor (its 2-qubit gates folded, :mod:`.zne`), each extrapolator
        fitted to every expectation value, and the fields are IBM's: ``evs``/``stds`` from
        the first extrapolator that succeeds, plus ``evs_noise_factors``,
        ``stds_noise_factors``, ``ensemble_stds_noise_factors``, ``evs_extrapolated`` and
        ``stds_extrapolated``."""
        if settings.twirling.enable_gates and self.memo is None:
            # The noise factors share what they derive from the PUB (a worker's memo keeps it
            # across jobs; without one, a memo for this PUB).
            executor = copy.copy(self)
            executor.memo = Memo()
            return executor._estimate_mitigated(pub, shots, randomizations, seed, settings)
        if not settings.zne_mitigation:
            evs, stds, twirl_path = self._estimate_randomized(
                pub, pub.circuit, shots, randomizations, seed, settings
            )
            fields = {"evs": evs, "stds": stds, "ensemble_standard_error": stds}
            return fields, twirl_path
        factor_seeds = seed.spawn(len(settings.noise_factors) + 1)
        fold_rng = np.random.default_rng(factor_seeds[-1])
        per_factor, paths = [], []
        factors = zip(settings.noise_factors, factor_seeds, strict=False)
        for factor, factor_seed in progress.iterate(factors, len(settings.noise_factors)):
            folded = zne.fold_two_qubit_gates(pub.circuit, factor, settings.amplifier, fold_rng)
            evs, stds, path = self._estimate_randomized(
                pub, folded, shots, randomizations, factor_seed, settings
            )
            per_factor.append((evs, stds))
            paths.append(path)
        # A factor that ran the reference path (and why) is what the metadata reports.
        twirl_path = next((p for p in paths if "reason" in p), paths[0])
        evs_nf = np.stack([evs for evs, _ in per_factor], axis=-1)
        stds_nf = np.stack([stds for _, stds in per_factor], axis=-1)
        factors = np.asarray(settings.noise_factors, np.float64)
        evaluate_at = np.asarray(settings.extrapolated_noise_factors, np.float64)
        bounds = np.broadcast_to(plans.observable_bounds(pub), pub.shape)
        names = settings.extrapolators
        evs_x = np.empty((*pub.shape, len(names), evaluate_at.size))
        stds_x = np.empty_like(evs_x)
        evs, stds = np.empty(pub.shape), np.empty(pub.shape)
        chosen = np.empty(pub.shape, dtype=object)
        for position in np.ndindex(pub.shape):
            fits = [
                zne.extrapolate(
                    name,
                    factors,
                    evs_nf[position],
                    stds_nf[position],
                    evaluate_at,
                    float(bounds[position]),
                )
                for name in names
            ]
            for j, fit in enumerate(fits):
                evs_x[position][j], stds_x[position][j] = fit.values, fit.stds
            winner = next((j for j, fit in enumerate(fits) if fit.succeeded), None)
            if winner is None:  # IBM's "fallback": the lowest noise factor, unextrapolated
                fallback = zne.extrapolate(
                    "fallback", factors, evs_nf[position], stds_nf[position], np.zeros(1)
                )
                evs[position], stds[position] = fallback.values[0], fallback.stds[0]
                chosen[position] = "fallback"
                continue
            zero = zne.extrapolate(
                names[winner], factors, evs_nf[position], stds_nf[position], np.zeros(1)
            )
            evs[position], stds[position] = zero.values[0], zero.stds[0]
            chosen[position] = names[winner]
        fields = {
            "evs": evs,
            "stds": stds,
            "ensemble_standard_error": stds,
            "evs_noise_factors": evs_nf,
            "stds_noise_factors": stds_nf,
            "ensemble_stds_noise_factors": stds_nf,
            "evs_extrapolated": evs_x,
            "stds_extrapolated": stds_x,
        }
        return fields, {**twirl_path, "zne": {"extrapolator": chosen.tolist()}}

    def _estimate_randomized(
        self,
        pub: EstimatorPub,
        circuit: QuantumCircuit,
        shots: int,
        randomizations: int,
        seed: np.random.SeedSequence,
        settings: mitigation.EstimatorSettings,
    ) -> tuple[np.ndarray, np.ndarray, dict]:
        """``_estimate`` of ``circuit`` (the PUB's, or a folded form of it) over the
        randomizations, and the ``resilience`` metadata of how gate twirling ran.

        Without gate twirling, every randomization runs ``circuit``. With it, the average
        over the twirls runs in closed form when it can (:mod:`.twirled_channel`: one
        density-matrix run of the twirl-averaged circuit or of each of its light cones,
        ``gate_twirling: "twirled_channel"``); otherwise, or without
        :attr:`twirl_in_closed_form`, each randomization runs its own Pauli twirl of
        ``circuit`` (Qiskit's ``pauli_twirl_2q_gates``, the twirls merged into the device's
        1-qubit gates; ``gate_twirling: "per_randomization"`` and the ``reason``)."""
        if not settings.twirling.enable_gates:
            return (*self._estimate(pub, shots, seed, settings, [circuit]), {})
        reason = None if self.twirl_in_closed_form else "the executor runs the reference path"
        if reason is None and self._noise is not None:
            # Folding repeats 2-qubit gates in place: what decides is the PUB's own circuit.
            observables = derive(
                self.memo, pub.observables, "key", lambda: plans.observables_key(pub)
            )
            plan, _ = derive(
                self.memo, pub.circuit, "bases", lambda: plans.measured_bases(pub), observables
            )
            state_plan = derive(
                self.memo,
                pub.circuit,
                "state plan",
                lambda: plans.state_plan(pub.circuit, plan, self._noise),
            )
            # Its final state simulated once, or its terms' light cones.
            simulated = state_plan is not None or (
                light_cone_plan([pub.circuit], plan, self._noise, self.memo, observables)
                is not None
            )
            reason = twirled_channel.reason_not_exact(
                pub.circuit,
                simulated,
                shots // randomizations,
                self.closed_form_max_shots_per_randomization,
            )
        if reason is None:
            if self._noise is None:  # every twirl of an ideal circuit is the circuit
                evs, stds = self._estimate(pub, shots, seed, settings, [circuit])
            else:
                averaged = twirled_channel.twirl_averaged_circuit(circuit, self._noise)
                executor = self._twirl_averaged()
                evs, stds = executor._estimate(pub, shots, seed, settings, [averaged])
            return evs, stds, {"gate_twirling": twirled_channel.EXACT}
        circuits = twirl_gates(circuit, randomizations, self.profile.target, seed)
        evs, stds = self._estimate(pub, shots, seed, settings, circuits)
        return evs, stds, {"gate_twirling": twirled_channel.REFERENCE, "reason": reason}

    def _twirl_averaged(self) -> Executor:
        """This executor with its device's noise as the average over gate twirls sees it
        (each twirled gate's error its Pauli twirl). It shares the memo: what its runs
        prepare holds that noise, but the memo keeps runs of a PUB's own circuit only, and
        the twirl-averaged circuit it runs is always a new one."""
        assert self._noise is not None
        averaged = copy.copy(self)
        averaged._noise = self._noise.twirl_averaged(twirled_channel.TWIRLED_GATES)
        return averaged

    def _estimate(
        self,
        pub: EstimatorPub,
        shots: int,
        seed: np.random.SeedSequence,
        settings: mitigation.EstimatorSettings | None = None,
        circuits: list[QuantumCircuit] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Expectation values and standard errors, float64 arrays of shape ``pub.shape``.

        ``circuits`` (default: the PUB's own) are the randomizations' circuits: gate-twirled
        or noise-amplified forms of ``pub.circuit``; randomization ``r`` runs
        ``circuits[r % len(circuits)]`` with ``shots / randomizations`` shots, and the shots
        of all randomizations are pooled.

        When the circuits' final states are small (see :func:`.estimator_plan.state_plan`)
        each is simulated once per parameter point and each basis's distribution taken from
        it; otherwise, when every term's backward light cone is small, each cone's state is
        (:mod:`.light_cone`); otherwise each basis circuit is sampled on its own. With
        ``settings`` the measurements are twirled and, with TREX, each term rescaled by its
        learned readout fidelity (:mod:`.mitigation`)."""
        settings = settings or UNMITIGATED
        values = _points(pub.parameter_values, pub.circuit)
        own = circuits is None or (len(circuits) == 1 and circuits[0] is pub.circuit)
        circuits = [pub.circuit] if circuits is None else circuits
        observables = derive(self.memo, pub.observables, "key", lambda: plans.observables_key(pub))
        plan, measured_bases = derive(
            self.memo, pub.circuit, "bases", lambda: plans.measured_bases(pub), observables
        )
        if own:
            instance_bases = [measured_bases]
            state_plans = [
                derive(
                    self.memo,
                    pub.circuit,
                    "state plan",
                    lambda: plans.state_plan(pub.circuit, plan, self._noise),
                )
            ]
        else:
            state_plans = [plans.state_plan(circuit, plan, self._noise) for circuit in circuits]
        cones = None
        if any(state_plan is None for state_plan in state_plans):
            state_plans = None
            memo = self.memo if own else None
            cones = light_cone_plan(circuits, plan, self._noise, memo, observables)
            if cones is None and not own:  # each basis circuit sampled on its own
                instance_bases = [plans.basis_circuits(circuit, plan) for circuit in circuits]
        num_points = values.shape[0]
        means = np.tile(plan.constant, (num_points, 1))  # (points, observables)
        variances = np.zeros_like(means)
        randomizations = len(circuits)
        if settings.twirling.enable_measure or settings.twirling.enable_gates:
            randomizations = settings.twirling.split(shots)[0]
        # With gate twirling, the circuits sampled here are its randomizations.
        twirled = twirled_channel.TWIRLED_GATES if settings.twirling.enable_gates else frozenset()
        if state_plans is not None:
            column = {param: i for i, param in enumerate(pub.circuit.parameters)}
            instance_states = []
            for state_plan in state_plans:
                reduced_values = values[
                    :, [column[p] for p in state_plan.reduced.circuit.parameters]
                ]
                instance_states.append(
                    final_states(
                        state_plan.reduced,
                        reduced_values,
                        self._noise,
                        state_plan.extra,
                        self.memo if own else None,
                    )
                )
        elif cones is not None:
            states = cone_states(cones, values, pub.circuit.parameters, self._noise, memo, seed)
            sample = partial(self._sample_basis, shots=shots, randomizations=randomizations)
        for basis_index, (basis, basis_seed) in enumerate(
            zip(plan.bases, seed.spawn(len(plan.bases)), strict=True)
        ):
            basis_seed, twirl_seed = basis_seed.spawn(2)
            twirl_rng = np.random.default_rng(twirl_seed)
            masks, coeffs = self._readout_mitigation(basis, shots, settings, twirl_rng)
            if cones is not None:
                moments = basis_moments(
                    cones, basis_index, states, sample, basis_seed, coeffs, masks
                )
            elif state_plans is None:
                measured = [bases[basis_index] for bases in instance_bases]
                packed = self._sample_twirled(
                    measured, basis, values, shots, randomizations, masks, basis_seed, own, twirled
                )
                moments = [
                    _native.diagonal_expectations(
                        packed[point], len(basis.qubits), basis.terms, coeffs
                    )
                    for point in range(num_points)
                ]
            else:
                moments = self._sample_basis(
                    instance_states,
                    state_plans,
                    basis,
                    shots,
                    basis_seed,
                    coeffs,
                    masks,
                    randomizations,
                )
            for point, (basis_means, basis_errors) in enumerate(moments):
                means[point] += basis_means
                variances[point] += np.square(basis_errors)
        shape, param_index, obs_index = _native.broadcast_indices(
            pub.parameter_values.shape, pub.observables.shape
        )
        evs = means[param_index, obs_index].reshape(shape)
        stds = np.sqrt(variances[param_index, obs_index]).reshape(shape)
        return evs, stds

    def _readout_mitigation(
        self,
        basis: MeasurementBasis,
        shots: int,
        settings: mitigation.EstimatorSettings,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """The measurement twirls of ``basis`` (bool ``(randomizations, qubits)``, or ``None``
        untwirled) and its coefficients, divided by each term's learned readout fidelity under
        TREX (learned only on a noisy device: an ideal readout has fidelity 1)."""
        masks = None
        if settings.twirling.enable_measure:
            count, _ = settings.twirling.split(shots)
            masks = mitigation.flip_masks(rng, count, len(basis.qubits))
        coeffs = basis.coeffs
        if settings.measure_mitigation and self._noise is not None:
            per = settings.learning_shots or settings.twirling.split(shots)[1]
            fidelities = mitigation.learn_term_fidelities(
                self._noise.readout_assignment(basis.qubits),
                basis.terms,
                settings.learning_randomizations,
                per,
                rng,
            )
            coeffs = coeffs * mitigation.fidelity_scale(fidelities)[None, :]
        return masks, coeffs

    def _sample_twirled(
        self,
        measured: list[tuple[QuantumCircuit, object]],
        basis: MeasurementBasis,
        values: np.ndarray,
        shots: int,
        randomizations: int,
        masks: np.ndarray | None,
        seed: np.random.SeedSequence,
        own: bool = True,
        twirled_gates: frozenset[str] = frozenset(),
    ) -> np.ndarray:
        """Shots of the basis circuits ``measured`` (one ``(circuit, register)`` per instance;
        packed, ``(points, shots, bytes)``). A single untwirled instance runs all shots at
        once; otherwise randomization ``r`` runs instance ``r % len(measured)`` with
        ``shots / randomizations`` shots and, with ``masks``, its measurement twirl: X gates
        before the flipped measurements and the bits flipped back. ``twirled_gates``: the
        2-qubit gates the instances run Pauli-twirled (``sample_registers``)."""
        if masks is None and len(measured) == 1:
            circuit, register = measured[0]
            memo = self.memo if own else None
            (packed,) = sample_registers(
                circuit, [register], values, shots, seed, self._noise, memo, twirled_gates
            )
            return packed
        per = shots // randomizations
        parts = []
        for r, r_seed in enumerate(seed.spawn(randomizations)):
            circuit, register = measured[r % len(measured)]
            if masks is not None:
                circuit = mitigation.twirled_measurements(circuit, basis.qubits, masks[r])
            (packed,) = sample_registers(
                circuit, [register], values, per, r_seed, self._noise, None, twirled_gates
            )
            if masks is not None:
                packed = packed ^ mitigation.packed_mask(masks[r])
            parts.append(packed)
        return np.concatenate(parts, axis=1)

    def _sample_basis(
        self,
        instance_states: list[list],
        state_plans: list[plans.StatePlan],
        basis: MeasurementBasis,
        shots: int,
        seed: np.random.SeedSequence,
        coeffs: np.ndarray | None = None,
        masks: np.ndarray | None = None,
        randomizations: int = 1,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per parameter point: the means and standard errors of the basis's observables over
        ``shots`` measurements of ``basis`` (read through the device's readout errors if it has
        noise), randomization ``r`` drawing ``shots / randomizations`` of them from instance
        ``r % len(instance_states)`` through its measurement twirl ``masks[r]``.

        The shots' outcome counts are multinomial draws from the exact distributions, which
        is what counting independent shots gives; each observable's mean and standard error
        (``sqrt(var / shots)``) follow from the counts as from the shots themselves.
        Randomizations with the same instance and readout channel (the same mask, or any
        mask without readout errors) draw their shots together: multinomial draws from the
        same probabilities add up to one draw of all their shots."""
        if coeffs is None or coeffs is basis.coeffs:
            values = derive(self.memo, basis, "outcome values", lambda: plans.outcome_values(basis))
        else:
            values = coeffs @ plans.term_signs(basis)
        num_points = len(instance_states[0])
        rngs = [np.random.default_rng(s) for s in seed.spawn(num_points)]
        assignment = None
        if self._noise is not None:
            assignment = self._noise.readout_assignment(basis.qubits)
        single = masks is None and len(instance_states) == 1
        per = shots if single else shots // randomizations
        groups = plans.draw_groups(
            len(instance_states),
            1 if single else randomizations,
            None if assignment is None else masks,  # ideal: every mask reads the same
        )
        channels = [
            None
            if assignment is None
            else assignment
            if mask is None
            else mitigation.twirled_assignment(assignment, mask)
            for _, mask, _ in groups
        ]
        moments = []
        for point, rng in enumerate(rngs):
            ideal = [
                basis_probabilities(
                    states[point], [plan.position[q] for q in basis.qubits], basis.paulis
                )
                for states, plan in zip(instance_states, state_plans, strict=True)
            ]
            counts = 0
            for (instance, _, times), channel in zip(groups, channels, strict=True):
                probabilities = ideal[instance]
                if channel is not None:
                    probabilities = apply_readout_errors(probabilities, channel)
                counts = counts + plans.draw_counts(probabilities, per * times, rng)
            means = values @ counts / shots
            variances = np.clip(np.square(values) @ counts / shots - np.square(means), 0.0, None)
            moments.append((means, np.sqrt(variances / shots)))
        return moments


def _report(callback: Callable[[float, int], None], pubs: int, fraction: float) -> None:
    """Pass a job's progress to the executor's callback in PUBs done (a float)."""
    callback(fraction * pubs, pubs)


def exact_required(options: job_pb2.JobOptions | None) -> bool:
    """Whether a job's options refuse approximate methods (``options.simulator.exact``)."""
    return options is not None and options.exact


def _points(values: BindingsArray, circuit: QuantumCircuit) -> np.ndarray:
    """Parameter values as float64 ``(points, circuit.num_parameters)``, points in row-major
    order of ``values.shape``, columns in the order of ``circuit.parameters``."""
    return values.as_array(circuit.parameters).reshape(values.size, circuit.num_parameters)


def _whole_span(index: int, start: datetime, shape: tuple[int, ...]) -> SliceSpan:
    """The span from ``start`` to now of all data (``shape``) of PUB ``index``."""
    return SliceSpan(start, datetime.now(UTC), {index: (shape, slice(0, math.prod(shape)))})


def _primitive_result(results: list, spans: list[SliceSpan]) -> PrimitiveResult:
    return PrimitiveResult(
        results, metadata={"execution": {"execution_spans": ExecutionSpans(spans)}, "version": 2}
    )
