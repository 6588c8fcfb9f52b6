"""Zero-noise extrapolation: noise amplification by 2-qubit gate folding, and the fits that
extrapolate expectation values measured at several noise factors back to zero noise.

Folding (qiskit-ibm-runtime's ``amplifier="gate_folding"`` and its ``_front``/``_back``
variants): each 2-qubit gate ``G`` becomes ``G (G^dag G)^k``, which is the same unitary but
applies ``G``'s noise ``2k + 1`` times. A noise factor ``lambda`` folds every 2-qubit gate
``k = floor((lambda - 1) / 2)`` times and, when ``lambda`` is not an odd integer, once more a
share of them (chosen at random, from the front or from the back of the circuit) so that the
circuit's 2-qubit gate count is ``lambda`` times the original's, rounded to whole gates.

Extrapolators, with IBM's names (``ZneOptions.extrapolator``):

* ``"linear"``, ``"polynomial_degree_k"``: weighted least squares with ``numpy.polyfit``
  (weights ``1 / std``); the evaluated values' errors come from the fit's covariance.
* ``"exponential"``: ``A exp(-x / tau)`` with ``tau > 0``; ``"double_exponential"``: the sum
  of two such terms (Cai, npj Quantum Inf 7, 80 (2021)). Both are non-linear weighted least
  squares with ``scipy.optimize.curve_fit``, errors by propagating its covariance.
* ``"fallback"``: the value at the lowest noise factor, unextrapolated.

A fit *succeeds* (IBM: "determined heuristically") when it converges to finite values and
errors, its zero-noise error is no wider than the observable's range (the sum of its
coefficients' magnitudes), and its zero-noise value lies within that range plus one error;
exponentials must decay. The PUB's ``evs``/``stds`` are the first successful extrapolator's
zero-noise values; when none succeeds, the fallback's.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from qiskit.circuit import QuantumCircuit
from scipy.optimize import OptimizeWarning, curve_fit

FOLDING_AMPLIFIERS = ("gate_folding", "gate_folding_front", "gate_folding_back")


def fold_two_qubit_gates(
    circuit: QuantumCircuit,
    noise_factor: float,
    amplifier: str = "gate_folding",
    rng: np.random.Generator | None = None,
) -> QuantumCircuit:
    """``circuit`` with its 2-qubit gates folded to amplify their noise by ``noise_factor``.

    Args:
        circuit: an ISA circuit; its 2-qubit gates' inverses must be device instructions too
            (true of ``cz``, ``ecr``, ``cx`` and the parametric ``rzz``).
        noise_factor: >= 1; 1 returns ``circuit`` itself.
        amplifier: one of :data:`FOLDING_AMPLIFIERS`: which gates take the extra fold when
            ``noise_factor`` is not an odd integer.
        rng: chooses those gates for ``"gate_folding"``.
    """
    if noise_factor == 1:
        return circuit
    positions = [
        i
        for i, inst in enumerate(circuit.data)
        if inst.operation.num_qubits == 2 and not inst.operation._directive
    ]
    base = int((noise_factor - 1) // 2)
    extra_count = round(len(positions) * (noise_factor - 1 - 2 * base) / 2)
    if amplifier == "gate_folding_front":
        extra = set(positions[:extra_count])
    elif amplifier == "gate_folding_back":
        extra = set(positions[len(positions) - extra_count :])
    else:
        rng = rng or np.random.default_rng()
        extra = set(rng.choice(positions, size=extra_count, replace=False).tolist())
    folded = circuit.copy_empty_like()
    for i, inst in enumerate(circuit.data):
        folded.append(inst)
        if i in extra or (base and i in positions):
            inverse = inst.operation.inverse()
            for _ in range(base + (i in extra)):
                folded.append(inverse, inst.qubits, inst.clbits)
                folded.append(inst.operation, inst.qubits, inst.clbits)
    return folded


@dataclass(frozen=True)
class Fit:
    """One extrapolator's fit of one expectation value.

    Attributes:
        values, stds: the fit evaluated at the requested noise factors, and its errors.
        succeeded: whether the fit passes the success heuristic (see the module docstring).
    """

    values: np.ndarray
    stds: np.ndarray
    succeeded: bool


def extrapolate(
    extrapolator: str,
    noise_factors: np.ndarray,
    values: np.ndarray,
    stds: np.ndarray,
    evaluate_at: np.ndarray,
    bound: float = math.inf,
) -> Fit:
    """Fit ``values`` (with errors ``stds``) measured at ``noise_factors`` with
    ``extrapolator`` and evaluate the fit at ``evaluate_at``.

    Args:
        extrapolator: an IBM extrapolator name (see the module docstring).
        noise_factors, values, stds: float64 ``(n,)``; a zero ``std`` counts as the smallest
            non-zero one (all zero: an unweighted fit).
        evaluate_at: float64 ``(m,)`` noise factors, 0 for the zero-noise limit.
        bound: the observable's largest magnitude, for the success heuristic.
    """
    x = np.asarray(noise_factors, np.float64)
    y = np.asarray(values, np.float64)
    sigma = _weights_sigma(np.asarray(stds, np.float64))
    requested = np.asarray(evaluate_at, np.float64)
    at = np.concatenate([[0.0], requested])  # the zero-noise limit first, for the heuristic
    try:
        if extrapolator == "fallback":
            lowest = int(np.argmin(x))
            fitted = np.full(requested.shape, y[lowest])
            errors = np.full(requested.shape, np.asarray(stds, np.float64)[lowest])
            return Fit(fitted, errors, True)
        if extrapolator == "linear" or extrapolator.startswith("polynomial_degree_"):
            degree = 1 if extrapolator == "linear" else int(extrapolator.rsplit("_", 1)[1])
            fitted, errors = _polynomial(x, y, sigma, degree, at)
            decays = True
        elif extrapolator == "exponential":
            fitted, errors, decays = _exponential(x, y, sigma, at, terms=1)
        elif extrapolator == "double_exponential":
            fitted, errors, decays = _exponential(x, y, sigma, at, terms=2)
        else:
            raise ValueError(f"unknown extrapolator {extrapolator!r}")
    except (RuntimeError, ValueError, TypeError, np.linalg.LinAlgError, FloatingPointError):
        nan = np.full(requested.shape, np.nan)
        return Fit(nan, nan, False)
    zero_value, zero_std = float(fitted[0]), float(errors[0])
    succeeded = (
        decays
        and bool(np.all(np.isfinite(fitted)) and np.all(np.isfinite(errors)))
        and zero_std <= bound
        and abs(zero_value) <= bound + zero_std
    )
    return Fit(fitted[1:], errors[1:], succeeded)


def _weights_sigma(stds: np.ndarray) -> np.ndarray | None:
    """Per-point sigmas for a weighted fit: zeros lifted to the smallest non-zero one; ``None``
    (unweighted) when all are zero."""
    positive = stds[stds > 0]
    if positive.size == 0:
        return None
    return np.where(stds > 0, stds, positive.min())


def _polynomial(
    x: np.ndarray, y: np.ndarray, sigma: np.ndarray | None, degree: int, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares polynomial of ``degree``; errors from the unscaled covariance
    (the stds taken as the true errors, as for an exactly determined fit)."""
    weights = None if sigma is None else 1.0 / sigma
    if sigma is None:
        coeffs = np.polyfit(x, y, degree)
        covariance = np.zeros((degree + 1, degree + 1))
    else:
        coeffs, covariance = np.polyfit(x, y, degree, w=weights, cov="unscaled")
    powers = np.vander(at, degree + 1)  # (m, degree + 1), highest power first as polyfit
    fitted = powers @ coeffs
    errors = np.sqrt(np.clip(np.einsum("mi,ij,mj->m", powers, covariance, powers), 0, None))
    return fitted, errors


def _exponential(
    x: np.ndarray, y: np.ndarray, sigma: np.ndarray | None, at: np.ndarray, terms: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    """``sum_j A_j exp(-x * r_j)`` (``r_j = 1 / tau_j``) by ``curve_fit``, started from the
    log-linear fit of ``|y|``; returns the fit at ``at``, its errors, and whether every rate is
    positive (the noise damps the value)."""

    def model(points, *params):
        points = np.asarray(points, np.float64)
        return sum(
            params[2 * j] * np.exp(-points * params[2 * j + 1]) for j in range(len(params) // 2)
        )

    magnitude = np.maximum(np.abs(y), 1e-12)
    slope, intercept = np.polyfit(x, np.log(magnitude), 1)
    amplitude = math.copysign(math.exp(intercept), y[int(np.argmin(x))])
    rate = max(-slope, 1e-3)
    if terms == 1:
        start = [amplitude, rate]
    else:
        start = [amplitude / 2, rate * 2, amplitude / 2, rate / 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimizeWarning)
        try:
            params, covariance = curve_fit(
                model,
                x,
                y,
                p0=start,
                sigma=sigma,
                absolute_sigma=sigma is not None,
                maxfev=10_000,
            )
        except OptimizeWarning as warning:  # the covariance could not be estimated
            raise RuntimeError(str(warning)) from None
    fitted = model(at, *params)
    # Gradient of the model in its parameters at each evaluation point, for error propagation.
    gradient = np.empty((at.size, params.size))
    for j in range(terms):
        decay = np.exp(-at * params[2 * j + 1])
        gradient[:, 2 * j] = decay
        gradient[:, 2 * j + 1] = -at * params[2 * j] * decay
    errors = np.sqrt(np.clip(np.einsum("mi,ij,mj->m", gradient, covariance, gradient), 0, None))
    decays = all(params[2 * j + 1] > 0 for j in range(terms))
    return fitted, errors, decays
