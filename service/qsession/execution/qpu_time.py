"""Modelled QPU time: what a job would lock the device for on IBM's hardware.

On IBM, usage is QPU time, not the time an emulator takes. qsession models it from the
device, so that ``usage()``, allocations, limits, fair share and ``/metrics`` count what the
same workload would cost on a real QPU (the emulator's own time stays visible beside it as
the job's simulation time):

    job seconds = JOB_OVERHEAD + sum over executed circuits of shots x (duration + rep_delay)

- **duration**: the circuit's schedule on the device, ``QuantumCircuit.estimate_duration``
  over the target's gate and measurement durations (the calibration snapshot's). A target
  without durations (``ideal_24``) is timed like ``fake_torino``: the median duration of its
  1-qubit gates, 2-qubit gates and measurements. A noise factor ``lambda`` of ZNE scales the
  duration by ``lambda`` (folding multiplies the 2-qubit layers, which dominate it).
- **rep_delay**: the job's ``execution.rep_delay``, else the device's default, 250 us (the
  ``default_rep_delay`` of IBM's Heron and Eagle configurations).
- **shots**: a Sampler PUB's shots at each parameter point; an Estimator PUB's at each point,
  in each measurement basis (qubit-wise commuting groups of its observables), at each noise
  factor; with twirling, randomizations x shots per randomization; TREX adds its calibration
  (randomizations x shots of a measurement alone, per basis). An Executor job's items count
  as Sampler PUBs: their shots at each point of their sweeps.
- **JOB_OVERHEAD**: 3 s a job, from IBM's published ``usage_estimation`` example (a Bell
  circuit at 4,096 shots: 4.1 quantum seconds, of which 4,096 x ~252 us is 1.03 s).

It is an estimate of the procedure, known before the job runs (``usage_estimation``), and
what a job that ends DONE is charged.
"""

from __future__ import annotations

import copy
import logging
import math
import statistics
from collections.abc import Sequence
from functools import cache

from qiskit.circuit import QuantumCircuit
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.transpiler import InstructionProperties, Target

from qsession.execution.measurement_plan import plan_measurements
from qsession.execution.mitigation import EstimatorSettings, Twirling

log = logging.getLogger(__name__)

JOB_OVERHEAD = 3.0
"""Seconds of QPU time every job takes beyond its shots (see the module docstring)."""
DEFAULT_REP_DELAY = 250e-6
"""Seconds between shots when the job sets no ``execution.rep_delay``."""
TIMING_REFERENCE = "fake_torino"
"""The profile whose durations time a target that has none."""


def job_seconds(
    pubs: Sequence[SamplerPub | EstimatorPub],
    settings: Twirling | EstimatorSettings,
    target: Target,
    profile: str,
    rep_delay: float | None = None,
) -> float:
    """The modelled QPU seconds of a Sampler or Estimator job (see the module docstring).

    Args:
        pubs: the job's decoded PUBs.
        settings: its mitigation settings (``Twirling`` for a Sampler job).
        target: the device's target.
        profile: the device profile's name (caches its timing).
        rep_delay: the job's ``execution.rep_delay`` in seconds; None: the default.
    """
    delay = DEFAULT_REP_DELAY if rep_delay is None else rep_delay
    timed = timing_target(profile, target)
    total = JOB_OVERHEAD
    for pub in pubs:
        points = math.prod(pub.shape)
        if isinstance(pub, SamplerPub):
            shots = _twirled_shots(settings if isinstance(settings, Twirling) else None, pub.shots)
            total += points * shots * (circuit_seconds(pub.circuit, timed) + delay)
            continue
        assert isinstance(settings, EstimatorSettings)
        shots = _twirled_shots(settings.twirling, math.ceil(1 / pub.precision**2))
        bases = max(1, len(plan_measurements(pub.observables).bases))
        factors = settings.noise_factors if settings.zne_mitigation else (1.0,)
        duration = circuit_seconds(pub.circuit, timed)
        per_point = sum(shots * (duration * factor + delay) for factor in factors)
        total += points * bases * per_point
        if settings.measure_mitigation:
            per = settings.learning_shots or settings.twirling.split(shots)[1]
            calibration = settings.learning_randomizations * per
            total += bases * calibration * (measurement_seconds(timed) + delay)
    return total


def circuit_seconds(circuit: QuantumCircuit, target: Target) -> float:
    """One shot of ``circuit``'s schedule on ``target`` (a target with durations)."""
    try:
        return float(circuit.estimate_duration(target, unit="s"))
    except Exception:  # noqa: BLE001 - control flow or an unknown duration: a depth estimate
        layer = statistics.fmean(_medians(target).values())
        return circuit.depth() * layer


def measurement_seconds(target: Target) -> float:
    """One measurement's duration on ``target``."""
    return _medians(target)["measure"]


def _twirled_shots(twirling: Twirling | None, shots: int) -> int:
    if twirling is not None and (twirling.enable_gates or twirling.enable_measure):
        count, per = twirling.split(shots)
        return count * per
    return shots


def timing_target(profile: str, target: Target) -> Target:
    """``target`` if its instructions have durations, else a copy timed like
    ``TIMING_REFERENCE`` (cached per profile)."""
    if _has_durations(target):
        return target
    return _timed_copy(profile, target)


@cache
def _timed_copy(profile: str, target: Target) -> Target:
    from qsession.execution.profiles import load_profile  # (profiles import this package)

    reference = _medians(load_profile(TIMING_REFERENCE).target)
    timed = copy.deepcopy(target)
    for name in timed.operation_names:
        for qargs, props in list(timed[name].items()):
            if qargs is None or name == "delay":
                continue
            key = "measure" if name in ("measure", "reset") else f"{min(len(qargs), 2)}q"
            error = None if props is None else props.error
            timed.update_instruction_properties(
                name, qargs, InstructionProperties(duration=reference[key], error=error)
            )
    log.info("profile %s has no durations: timed like %s", profile, TIMING_REFERENCE)
    return timed


def _has_durations(target: Target) -> bool:
    props = target["measure"] if "measure" in target.operation_names else {}
    return any(p is not None and p.duration for p in props.values())


@cache
def _medians(target: Target) -> dict[str, float]:
    """The median duration of ``target``'s 1-qubit gates, 2-qubit gates and measurements."""
    found: dict[str, list[float]] = {"1q": [], "2q": [], "measure": []}
    for name in target.operation_names:
        for qargs, props in target[name].items():
            if qargs is None or props is None or not props.duration or name == "delay":
                continue
            key = "measure" if name == "measure" else f"{min(len(qargs), 2)}q"
            if key in found:
                found[key].append(props.duration)
    defaults = {"1q": 32e-9, "2q": 68e-9, "measure": 1.56e-6}  # a target with none at all
    return {key: statistics.median(v) if v else defaults[key] for key, v in found.items()}
