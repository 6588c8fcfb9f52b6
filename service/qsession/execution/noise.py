"""A device's noise, restricted to the qubits a reduced circuit uses."""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Collection, Iterable
from functools import lru_cache
from typing import NoReturn

import numpy as np
from qiskit.circuit import Instruction
from qiskit.circuit.library import IGate
from qiskit.providers import BackendV2, Options
from qiskit.quantum_info import Chi, Kraus, SuperOp, pauli_basis
from qiskit.transpiler import Target
from qiskit_aer.noise import NoiseModel, QuantumError, pauli_error
from qiskit_aer.noise.device import basic_device_gate_errors, basic_device_readout_errors


class DeviceNoise:
    """A target's noise, as Aer builds it (``NoiseModel.from_backend``): gate errors are
    depolarizing errors composed with T1/T2 thermal relaxation over the gate's duration, delays
    relax, and each measurement reads wrong with the target's readout error.

    Three views of the same noise:

    * :meth:`model_for`: Aer's whole noise model of some device qubits, renumbered
      ``0..len(qubits)-1`` (device qubit ``qubits[j]`` is ``j``), for sampling shot by shot.
    * :meth:`gate_error`: one instruction's gate error as a Kraus instruction, to follow the
      instruction in a circuit for one exact density-matrix run.
    * :meth:`readout_assignment`: the readout errors as per-qubit assignment matrices.

    :meth:`twirl_averaged` gives the same noise as the average over Pauli twirls of some
    gates sees it: their errors replaced by their Pauli twirls (:func:`pauli_twirl`).
    """

    def __init__(self, target: Target) -> None:
        self._target = target
        self._assignment = np.tile(np.eye(2), (target.num_qubits, 1, 1))
        for (qubit,), error in basic_device_readout_errors(target=target):
            self._assignment[qubit] = error.probabilities
        self.model_for = lru_cache(maxsize=64)(self._model_for)
        self.twirled_gates: frozenset[str] = frozenset()
        self._error = lru_cache(maxsize=4096)(self._gate_error)
        self._twirled_error = lru_cache(maxsize=4096)(self._twirled_gate_error)
        self._superop = lru_cache(maxsize=4096)(self._gate_superop)
        self._quantum_error = lru_cache(maxsize=4096)(self._device_quantum_error)
        self._errors: dict[tuple[str, tuple[int, ...]], QuantumError | None] = {}
        self._errors_lock = threading.Lock()
        self.merged_pauli_error = lru_cache(maxsize=4096)(self._merged_pauli_error)

    def twirl_averaged(self, gates: frozenset[str]) -> DeviceNoise:
        """This noise with the error after each 2-qubit gate named in ``gates`` replaced by
        its Pauli twirl (:func:`pauli_twirl`): what a Pauli-twirled Clifford gate's error is
        on average over its twirls. Shares this noise's caches."""
        averaged = copy.copy(self)
        averaged.twirled_gates = frozenset(gates)
        return averaged

    def gate_error(self, name: str, qubits: tuple[int, ...]) -> Instruction | None:
        """Aer's error of instruction ``name`` on device qubits ``qubits`` (depolarizing
        composed with thermal relaxation, as :meth:`model_for` has it) as one Kraus
        instruction, or ``None`` if it has none (cached per instruction); its Pauli twirl for
        a 2-qubit gate of :attr:`twirled_gates`."""
        if len(qubits) == 2 and name in self.twirled_gates:
            return self._twirled_error(name, qubits)
        return self._error(name, qubits)

    def gate_superop(self, name: str, qubits: tuple[int, ...]) -> np.ndarray | None:
        """:meth:`gate_error` as a superoperator matrix (column-stacking, Qiskit's
        ``SuperOp``), or ``None``; cached."""
        twirled = len(qubits) == 2 and name in self.twirled_gates
        return self._superop(name, qubits, twirled)

    @property
    def target(self) -> Target:
        """The device whose noise this is (its qubits' T1/T2, ``dt``)."""
        return self._target

    def quantum_error(self, name: str, qubits: tuple[int, ...]) -> QuantumError | None:
        """Aer's error of instruction ``name`` on device qubits ``qubits`` as Aer's
        ``QuantumError`` (the channel :meth:`gate_error` gives without twirling), or ``None``;
        cached, so the same object each call."""
        return self._quantum_error(name, qubits)

    def readout_assignment(self, qubits: Iterable[int]) -> np.ndarray:
        """float64 ``(len(qubits), 2, 2)``: entry ``[j, s, r]`` is the probability that a
        measurement of device qubit ``qubits[j]`` in state ``s`` reads ``r``."""
        return self._assignment[list(qubits)]

    def _model_for(self, qubits: tuple[int, ...]) -> NoiseModel:
        """The noise model of device qubits ``qubits``, renumbered ``0..len(qubits)-1``
        (cached per qubit tuple); ideal when the target has no calibration."""
        backend = _TargetBackend(restrict_target(self._target, qubits))
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=".*has no QubitProperties", category=UserWarning
            )
            return NoiseModel.from_backend(backend)

    def _gate_error(self, name: str, qubits: tuple[int, ...]) -> Instruction | None:
        error = self._quantum_error(name, qubits)
        return None if error is None else Kraus(error).to_instruction()

    def _gate_superop(self, name: str, qubits: tuple[int, ...], twirled: bool) -> np.ndarray | None:
        error = (self._twirled_error if twirled else self._error)(name, qubits)
        return None if error is None else SuperOp(Kraus(list(error.params))).data

    def _twirled_gate_error(self, name: str, qubits: tuple[int, ...]) -> Instruction | None:
        error = self._quantum_error(name, qubits)
        return None if error is None else Kraus(pauli_twirl(error)).to_instruction()

    def _merged_pauli_error(self, qubit: int) -> Instruction | None:
        """The average error a uniformly random Pauli merged into a run of ``rz``/``x`` gates
        on device ``qubit`` adds: an ``x`` pulse half of the time, so the identity with
        probability 1/2 and the Pauli twirl of the ``x`` error with probability 1/2 (one
        Kraus instruction), or ``None`` if ``x`` has no error."""
        error = self._quantum_error("x", (qubit,))
        if error is None:
            return None
        mixture = QuantumError([(IGate(), 0.5), (pauli_twirl(error), 0.5)])
        return Kraus(mixture).to_instruction()

    def _device_quantum_error(self, name: str, qubits: tuple[int, ...]) -> QuantumError | None:
        """Aer's error of instruction ``name`` on device ``qubits``, or ``None``."""
        return self.quantum_errors({(name, qubits)})[name, qubits]

    def quantum_errors(
        self, instructions: Collection[tuple[str, tuple[int, ...]]]
    ) -> dict[tuple[str, tuple[int, ...]], QuantumError | None]:
        """Aer's device error of each ``(name, device qubits)`` of ``instructions`` (as
        :meth:`quantum_error`), those not yet known computed by one call of Aer's
        ``basic_device_gate_errors`` on a target holding just them: each call costs several
        milliseconds whatever it computes, and a 127-qubit circuit's first run asks for
        ~1,000 errors. Remembered for the life of this noise."""
        with self._errors_lock:
            missing = [key for key in instructions if key not in self._errors]
        if missing:
            computed: dict[tuple[str, tuple[int, ...]], QuantumError | None] = dict.fromkeys(
                missing
            )
            qubits = tuple(sorted({q for _, on in missing for q in on}))
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message=".*has no QubitProperties", category=UserWarning
                )
                errors = basic_device_gate_errors(
                    target=restrict_target(self._target, qubits, only=missing)
                )
            for name, local, error in errors:
                key = (name, tuple(qubits[j] for j in local))
                if key in computed:
                    computed[key] = error
            with self._errors_lock:
                self._errors.update(computed)
        with self._errors_lock:
            return {key: self._errors[key] for key in instructions}


def pauli_twirl(error: QuantumError) -> QuantumError:
    """The Pauli twirl of ``error``: the average of ``P E(P rho P) P`` over all Paulis ``P``
    on its qubits, a Pauli channel whose probabilities are the diagonal of ``error``'s chi
    matrix in the Pauli basis (Qiskit's :class:`~qiskit.quantum_info.Chi`, whose trace is
    ``2**n``: ``p_P = chi_PP / 2**n``; its rows follow :func:`~qiskit.quantum_info.pauli_basis`).

    Twirling a Clifford gate ``G`` (``P' G P`` with ``P' = G P G^dag``, the gate unchanged)
    conjugates the error after it by ``P'``, which runs over all Paulis as ``P`` does: so the
    average over a gate's twirls is the gate followed by this channel.
    """
    num_qubits = error.num_qubits
    probabilities = np.clip(np.diag(Chi(error).data).real / 2**num_qubits, 0.0, None)
    probabilities /= probabilities.sum()
    labels = pauli_basis(num_qubits).to_labels()
    return pauli_error(
        [(label, float(p)) for label, p in zip(labels, probabilities, strict=True) if p > 0]
    )


def restrict_target(
    target: Target,
    qubits: tuple[int, ...],
    only: Collection[tuple[str, tuple[int, ...]]] | None = None,
) -> Target:
    """The sub-device on ``qubits``: qubit ``qubits[j]`` becomes ``j``; instructions on other
    qubits are dropped; properties, qubit properties and ``dt`` are kept. With ``only``,
    just those ``(name, device qubits)`` instructions are kept (and instructions without
    properties are dropped)."""
    index = {q: j for j, q in enumerate(qubits)}
    keep = None if only is None else set(only)
    all_props = target.qubit_properties
    sub = Target(
        description=target.description,
        num_qubits=len(qubits),
        dt=target.dt,
        qubit_properties=[all_props[q] for q in qubits] if all_props else None,
    )
    for name in target.operation_names:
        operation = target.operation_from_name(name)
        props = target[name]
        if isinstance(operation, type) or props is None or None in props:
            if keep is None:
                sub.add_instruction(operation, name=name)
            continue
        kept = {
            tuple(index[q] for q in qargs): value
            for qargs, value in props.items()
            if all(q in index for q in qargs) and (keep is None or (name, qargs) in keep)
        }
        if kept or keep is None:
            sub.add_instruction(operation, kept, name=name)
    return sub


class _TargetBackend(BackendV2):
    """The minimal BackendV2 ``NoiseModel.from_backend`` reads a target from."""

    def __init__(self, target: Target) -> None:
        super().__init__(name="qsession-device")
        self._target = target

    def gate_superop(self, name: str, qubits: tuple[int, ...]) -> np.ndarray | None:
        """:meth:`gate_error` as a superoperator matrix (column-stacking, Qiskit's
        ``SuperOp``), or ``None``; cached."""
        twirled = len(qubits) == 2 and name in self.twirled_gates
        return self._superop(name, qubits, twirled)

    @property
    def target(self) -> Target:
        return self._target

    @property
    def max_circuits(self) -> None:
        return None

    @classmethod
    def _default_options(cls) -> Options:
        return Options()

    def run(self, run_input: object, **options: object) -> NoReturn:
        raise NotImplementedError("a calibration holder, not an executable backend")
