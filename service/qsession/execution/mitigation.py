"""Runtime options of a job and the error mitigation the emulated QPU applies for them.

qiskit-ibm-runtime's names and defaults (0.43): :func:`estimator_settings` and
:func:`sampler_settings` turn a job's ``JobOptions`` into the settings the executor runs with,
filling what is unset from the resilience level as IBM's server does, and refuse what cannot be
emulated with :class:`InvalidOption` naming the option (a subclass of ``InvalidPub``, so the
worker fails the job with that message; admission can call the same functions to refuse at
submission with INVALID_ARGUMENT).

What runs on the emulated device:

* **Measurement twirling** (``twirling.enable_measure``): each randomization flips a random
  subset of the measured qubits with an X just before measurement and flips their bits back
  classically. Averaged over randomizations, the readout channel becomes symmetric (its
  ``0->1`` and ``1->0`` errors averaged), so its effect on a Z-parity is a single factor.
* **TREX** (``resilience.measure_mitigation``): calibration shots of ``|0...0>`` read
  through the same twirled readout learn that factor, the fidelity of each Pauli term;
  each term's expectation is divided by it (:func:`learn_term_fidelities`).
* **Gate twirling** (``twirling.enable_gates``): each randomization runs its own Pauli twirl
  of the 2-qubit gates (Qiskit's ``pauli_twirl_2q_gates``; ``twirling.twirl_gates``).
* **ZNE** (``resilience.zne_mitigation``): 2-qubit gates are folded (``G -> G (G^dag G)^k``)
  to amplify their noise by each ``noise_factor``, and the values are extrapolated to zero
  noise (:mod:`.zne`).
* **Dynamical decoupling** (``dynamical_decoupling.enable``): the circuit is scheduled with
  the device's durations and its idle windows filled with the DD sequence; on a noisy device
  idle windows relax and precess with or without DD (:mod:`.dd`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from qiskit.circuit import QuantumCircuit

from qsession.execution.dd import (
    SCHEDULING_METHODS,
    SEQUENCE_TYPES,
    SLACK_DISTRIBUTIONS,
    DynamicalDecoupling,
)
from qsession.execution.errors import InvalidPub
from qsession.v1 import job_pb2
from qsession.wire.options import (
    DEFAULT_EXTRAPOLATORS,
    DEFAULT_NOISE_FACTORS,
    EXTRAPOLATOR_MIN_FACTORS,
    DynamicalDecouplingOptions,
    ExecutionOptions,
    JobOptions,
    MeasureNoiseLearningOptions,
    ResilienceOptions,
    TwirlingOptions,
    decode_job_options,
)

DEFAULT_LEARNING_RANDOMIZATIONS = 32
TWIRLING_STRATEGIES = ("active", "active-accum", "active-circuit", "all")
"""IBM's twirling strategies. They differ in which idle qubits of a layer get a random Pauli;
the emulated device has no idle gate errors (idle windows relax and precess, :mod:`.dd`, which
is left to dynamical decoupling), so every strategy twirls each 2-qubit gate the same way."""


class InvalidOption(InvalidPub):
    """An option the emulated QPU cannot apply; ``field`` names it (``options.<path>``)."""


@dataclass(frozen=True)
class Twirling:
    """Resolved twirling of a job.

    Attributes:
        enable_gates, enable_measure: what is twirled.
        num_randomizations, shots_per_randomization: ``None`` for ``"auto"``.
        strategy: which qubits of a layer are twirled.
    """

    enable_gates: bool = False
    enable_measure: bool = False
    num_randomizations: int | None = None
    shots_per_randomization: int | None = None
    strategy: str = "active-accum"

    def split(self, shots: int) -> tuple[int, int]:
        """``(num_randomizations, shots_per_randomization)`` for a PUB of ``shots`` shots,
        with IBM's "auto" rules: both auto gives ``max(64, ceil(shots / 32))`` shots per
        randomization and as many randomizations as cover ``shots``."""
        count, per = self.num_randomizations, self.shots_per_randomization
        if per is None and count is None:
            per = max(64, math.ceil(shots / 32))
        if count is None:
            count = math.ceil(shots / per)
        if per is None:
            per = math.ceil(shots / count)
        return count, per

    def metadata(self) -> dict:
        return {
            "enable_gates": self.enable_gates,
            "enable_measure": self.enable_measure,
            "num_randomizations": self.num_randomizations or "auto",
            "shots_per_randomization": self.shots_per_randomization or "auto",
            "interleave_randomizations": True,
            "strategy": self.strategy,
        }


@dataclass(frozen=True)
class EstimatorSettings:
    """How an Estimator job is run (defaults: resilience level 1)."""

    resilience_level: int = 1
    measure_mitigation: bool = True
    learning_randomizations: int = DEFAULT_LEARNING_RANDOMIZATIONS
    learning_shots: int | None = None
    zne_mitigation: bool = False
    noise_factors: tuple[float, ...] = DEFAULT_NOISE_FACTORS
    extrapolators: tuple[str, ...] = DEFAULT_EXTRAPOLATORS
    extrapolated_noise_factors: tuple[float, ...] = (0.0, *DEFAULT_NOISE_FACTORS)
    amplifier: str = "gate_folding"
    twirling: Twirling = field(default_factory=lambda: Twirling(enable_measure=True))
    seed: int | None = None
    dynamical_decoupling: DynamicalDecoupling = field(default_factory=DynamicalDecoupling)

    def job_metadata(self) -> dict:
        """IBM's job metadata blocks ``dynamical_decoupling``, ``twirling``, ``resilience``."""
        return {
            "dynamical_decoupling": self.dynamical_decoupling.metadata(),
            "twirling": self.twirling.metadata(),
            "resilience": {
                "measure_mitigation": self.measure_mitigation,
                "zne_mitigation": self.zne_mitigation,
                "pec_mitigation": False,
                **(
                    {
                        "zne": {
                            "noise_factors": list(self.noise_factors),
                            "extrapolator": list(self.extrapolators),
                            "extrapolated_noise_factors": list(self.extrapolated_noise_factors),
                            "amplifier": self.amplifier,
                        }
                    }
                    if self.zne_mitigation
                    else {}
                ),
            },
        }


def _refuse(path: str, why: str) -> InvalidOption:
    return InvalidOption(f"options.{path}", why)


def _common_checks(options: JobOptions) -> None:
    """Refusals both primitives share: init_qubits=False, DD values, gate-twirl strategies."""
    execution = options.execution or ExecutionOptions()
    if execution.init_qubits is False:
        raise _refuse(
            "execution.init_qubits",
            "False cannot be emulated: every emulated shot starts from |0...0>",
        )
    if execution.rep_delay is not None and not execution.rep_delay > 0:
        raise _refuse("execution.rep_delay", "must be > 0 seconds")
    _dynamical_decoupling(options)
    if options.log_level is not None and options.log_level not in {
        "DEBUG",
        "INFO",
        "WARNING",
        "ERROR",
        "CRITICAL",
    }:
        raise _refuse("log_level", f"unknown log level {options.log_level!r}")
    twirling = options.twirling or TwirlingOptions()
    for name in ("num_randomizations", "shots_per_randomization"):
        count = getattr(twirling, name)
        if count is not None and count < 1:
            raise _refuse(f"twirling.{name}", "must be >= 1")
    if twirling.strategy is not None and twirling.strategy not in TWIRLING_STRATEGIES:
        raise _refuse("twirling.strategy", f"unknown strategy {twirling.strategy!r}")


def _twirling(options: TwirlingOptions | None, gates: bool, measure: bool) -> Twirling:
    options = options or TwirlingOptions()
    return Twirling(
        enable_gates=gates if options.enable_gates is None else options.enable_gates,
        enable_measure=measure if options.enable_measure is None else options.enable_measure,
        num_randomizations=options.num_randomizations,
        shots_per_randomization=options.shots_per_randomization,
        strategy="active-accum" if options.strategy is None else options.strategy,
    )


def dynamical_decoupling_settings(options: job_pb2.JobOptions) -> DynamicalDecoupling:
    """The job's ``dynamical_decoupling`` options, IBM's defaults where unset.

    Raises:
        InvalidOption: an unknown ``sequence_type``, ``extra_slack_distribution`` or
            ``scheduling_method``.
    """
    return _dynamical_decoupling(decode_job_options(options))


def _dynamical_decoupling(options: JobOptions) -> DynamicalDecoupling:
    dd = options.dynamical_decoupling or DynamicalDecouplingOptions()
    allowed = {
        "sequence_type": SEQUENCE_TYPES,
        "extra_slack_distribution": SLACK_DISTRIBUTIONS,
        "scheduling_method": SCHEDULING_METHODS,
    }
    for name, values in allowed.items():
        value = getattr(dd, name)
        if value is not None and value not in values:
            raise _refuse(
                f"dynamical_decoupling.{name}", f"{value!r} is not one of {', '.join(values)}"
            )
    default = DynamicalDecoupling()
    return DynamicalDecoupling(
        **{
            name: getattr(default, name) if getattr(dd, name) is None else getattr(dd, name)
            for name in (
                "enable",
                "sequence_type",
                "extra_slack_distribution",
                "scheduling_method",
                "skip_reset_qubits",
            )
        }
    )


def sampler_settings(options: job_pb2.JobOptions) -> Twirling:
    """The Sampler's twirling (everything off by default, as IBM's Sampler).

    Raises:
        InvalidOption: an Estimator-only option, ``execution.meas_type`` other than
            ``"classified"``, or a common refusal (see :func:`_common_checks`).
    """
    decoded = decode_job_options(options)
    _common_checks(decoded)
    for name in ("resilience_level", "seed_estimator", "resilience"):
        if getattr(decoded, name) is not None:
            raise _refuse(name, "is an Estimator option")
    meas_type = (decoded.execution or ExecutionOptions()).meas_type
    if meas_type is not None and meas_type != "classified":
        raise _refuse(
            "execution.meas_type",
            f"{meas_type!r} cannot be emulated: the emulator has no IQ (kerneled) data, only "
            "classified bits; use 'classified'",
        )
    return _twirling(decoded.twirling, gates=False, measure=False)


def estimator_settings(options: job_pb2.JobOptions) -> EstimatorSettings:
    """The Estimator's settings: unset options follow ``resilience_level`` as on IBM's
    server (0: nothing; 1: measurement twirling and TREX; 2: level 1 plus gate twirling and
    ZNE).

    Raises:
        InvalidOption: a value out of range, PEC, the PEA amplifier, an extrapolator that
            needs more noise factors, ``execution.meas_type`` (Sampler only), or a common
            refusal.
    """
    decoded = decode_job_options(options)
    _common_checks(decoded)
    level = 1 if decoded.resilience_level is None else decoded.resilience_level
    if level not in (0, 1, 2):
        raise _refuse("resilience_level", f"must be 0, 1 or 2, got {level}")
    if (decoded.execution or ExecutionOptions()).meas_type is not None:
        raise _refuse("execution.meas_type", "is a Sampler option")
    resilience = decoded.resilience or ResilienceOptions()
    if resilience.pec_mitigation:
        raise _refuse(
            "resilience.pec_mitigation",
            "PEC cannot be emulated: qsession learns no layer noise model; use "
            "zne_mitigation or measure_mitigation",
        )

    def flag(value: bool | None, default: bool) -> bool:
        return default if value is None else value

    measure = flag(resilience.measure_mitigation, level >= 1)
    zne = flag(resilience.zne_mitigation, level >= 2)
    learning: MeasureNoiseLearningOptions = resilience.measure_noise_learning
    for name in ("num_randomizations", "shots_per_randomization"):
        count = getattr(learning, name)
        if count is not None and count < 1:
            raise _refuse(f"resilience.measure_noise_learning.{name}", "must be >= 1")
    zne_options = resilience.zne
    amplifier = "gate_folding" if zne_options.amplifier is None else zne_options.amplifier
    if amplifier == "pea":
        raise _refuse(
            "resilience.zne.amplifier",
            "'pea' cannot be emulated (it needs layer noise learning); use 'gate_folding'",
        )
    if amplifier not in {"gate_folding", "gate_folding_front", "gate_folding_back"}:
        raise _refuse("resilience.zne.amplifier", f"unknown amplifier {amplifier!r}")
    factors = zne_options.noise_factors or DEFAULT_NOISE_FACTORS
    if any(not (math.isfinite(f) and f >= 1) for f in factors):
        raise _refuse("resilience.zne.noise_factors", "each must be >= 1")
    extrapolators = zne_options.extrapolator or DEFAULT_EXTRAPOLATORS
    for name in extrapolators:
        needed = EXTRAPOLATOR_MIN_FACTORS.get(name)
        if needed is None:
            raise _refuse("resilience.zne.extrapolator", f"unknown extrapolator {name!r}")
        if len(factors) < needed:
            raise _refuse(
                "resilience.zne.extrapolator", f"{name} requires at least {needed} noise_factors"
            )
    evaluated = zne_options.extrapolated_noise_factors or (0.0, *factors)
    seed = decoded.seed_simulator if decoded.seed_estimator is None else decoded.seed_estimator
    return EstimatorSettings(
        resilience_level=level,
        measure_mitigation=measure,
        learning_randomizations=DEFAULT_LEARNING_RANDOMIZATIONS
        if learning.num_randomizations is None
        else learning.num_randomizations,
        learning_shots=learning.shots_per_randomization,
        zne_mitigation=zne,
        noise_factors=factors,
        extrapolators=extrapolators,
        extrapolated_noise_factors=evaluated,
        amplifier=amplifier,
        twirling=_twirling(decoded.twirling, gates=level >= 2, measure=level >= 1),
        seed=seed,
        dynamical_decoupling=_dynamical_decoupling(decoded),
    )


# --- measurement twirling and TREX ------------------------------------------------------


def flip_masks(rng: np.random.Generator, count: int, num_qubits: int) -> np.ndarray:
    """bool ``(count, num_qubits)``: which measured qubits each randomization flips."""
    return rng.random((count, num_qubits)) < 0.5


def twirled_assignment(assignment: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The readout of qubits measured after an X where ``mask`` is set, their bit flipped
    back: ``P(read r | state s) = A[1 - s, 1 - r]`` for a flipped qubit."""
    return np.where(mask[:, None, None], assignment[:, ::-1, ::-1], assignment)


def term_masks(terms: list[str]) -> np.ndarray:
    """bool ``(terms, qubits)``: the qubits each diagonal term (``"Z"``/``"I"`` labels, qubit 0
    rightmost) reads."""
    return np.array([[letter == "Z" for letter in reversed(term)] for term in terms], dtype=bool)


def learn_term_fidelities(
    assignment: np.ndarray,
    terms: list[str],
    num_randomizations: int,
    shots_per_randomization: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """TREX's calibration: the fidelity of each Z-parity term under twirled readout.

    Calibration circuits prepare ``|0...0>`` on the measured qubits, flip a random subset with
    X before measuring (one mask per randomization) and flip the bits back; a shot's bits are
    then exactly its readout errors. A term's fidelity is the mean of ``(-1)**(its parity)``
    over all shots. The readout of each shot is drawn from the device's per-qubit readout
    channel (``assignment``, float64 ``(qubits, 2, 2)``), the channel Aer's noise model puts on
    a measurement; the X gates' own (far smaller) errors are not modelled.

    Returns:
        float64 ``(len(terms),)``, each in ``[-1, 1]``.
    """
    masks = flip_masks(rng, num_randomizations, assignment.shape[0])
    error_probability = np.where(masks, assignment[:, 1, 0], assignment[:, 0, 1])  # (R, n)
    errors = rng.random((num_randomizations, shots_per_randomization, assignment.shape[0]))
    errors = (errors < error_probability[:, None, :]).reshape(-1, assignment.shape[0])
    parities = (errors.astype(np.uint8) @ term_masks(terms).T.astype(np.uint8)) & 1
    return 1.0 - 2.0 * parities.mean(axis=0)


def fidelity_scale(fidelities: np.ndarray, floor: float = 0.05) -> np.ndarray:
    """``1 / fidelity`` per term, with fidelities below ``floor`` held at it: a term read
    almost at random cannot be rescaled without amplifying its shot noise without bound."""
    return 1.0 / np.maximum(fidelities, floor)


def twirled_measurements(
    circuit: QuantumCircuit, qubits: tuple[int, ...], mask: np.ndarray
) -> QuantumCircuit:
    """``circuit`` (ending in the measurements of ``qubits``) with an X inserted before the
    measurement of each ``qubits[j]`` where ``mask[j]``."""
    flipped = {qubits[j] for j in np.flatnonzero(mask)}
    twirled = circuit.copy_empty_like()
    for instruction in circuit.data:
        if instruction.operation.name == "measure":
            qubit = circuit.find_bit(instruction.qubits[0]).index
            if qubit in flipped:
                twirled.x(qubit)
        twirled.append(instruction)
    return twirled


def packed_mask(mask: np.ndarray) -> np.ndarray:
    """``mask`` (bit ``j`` per measured qubit ``j``) packed as a BitArray row: bit ``j`` in
    bit ``j % 8`` of byte ``-1 - j // 8``."""
    num_bytes = (mask.size + 7) // 8
    padded = np.zeros(num_bytes * 8, dtype=bool)
    padded[: mask.size] = mask
    little = np.packbits(padded.reshape(num_bytes, 8), axis=1, bitorder="little")[:, 0]
    return little[::-1].copy()
