"""Sampler and Estimator PUBs on the wire.

Encoding takes PUBs already coerced by Qiskit (``SamplerPub.coerce`` / ``EstimatorPub.coerce``);
decoding rebuilds them with the same functions, so broadcasting rules are Qiskit's own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from qiskit import QuantumCircuit
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession import _native
from qsession.v1 import job_pb2, types_pb2
from qsession.wire.arrays import encode_float64
from qsession.wire.circuits import CircuitDecoder, decode_circuit, encode_circuit
from qsession.wire.errors import WireError
from qsession.wire.quantum_program import decode_program_pubs
from qsession.wire.shots import precision_problem, shots_problem

ObservablesDecoder = Callable[[types_pb2.ObservableArray, QuantumCircuit, str], ObservablesArray]
"""Turns an observables message (for a circuit, with its field name) into observables."""

DEFAULT_SHOTS = 4096
"""Shots of a Sampler PUB when neither the PUB nor ``JobOptions.default_shots`` sets them."""
DEFAULT_PRECISION = 1 / 64
"""Precision of an Estimator PUB when neither the PUB nor the options set it (= 1/sqrt(4096),
as Qiskit Runtime)."""


def encode_parameter_values(
    circuit: QuantumCircuit, bindings: BindingsArray
) -> types_pb2.ParameterValues | None:
    """Values of shape ``(*bindings.shape, num_parameters)`` in the circuit's parameter order."""
    if circuit.num_parameters == 0:
        return None
    values = bindings.as_array(circuit.parameters)
    return types_pb2.ParameterValues(
        parameters=[p.name for p in circuit.parameters], values=encode_float64(values)
    )


def decode_parameter_values(
    message: types_pb2.ParameterValues, circuit: QuantumCircuit, field: str
) -> BindingsArray:
    """A BindingsArray for ``circuit`` from the message.

    Raises:
        WireError: names that are not the circuit's parameters (each exactly once), bytes that
            do not match the shape, a last axis that is not the number of names, or a value that
            is not finite.
    """
    names = list(message.parameters)
    given = set(names)
    if (
        len(given) != len(names)
        or len(names) != circuit.num_parameters
        or any(not circuit.has_parameter(name) for name in names)
    ):
        expected = {p.name for p in circuit.parameters}
        raise WireError(
            f"{field}.parameters",
            f"must name each circuit parameter exactly once: expected {sorted(expected)}, "
            f"got {names}",
        )
    if not names:
        return BindingsArray()
    return BindingsArray(data={tuple(names): check_parameter_values(message, field)})


def check_parameter_values(
    message: types_pb2.ParameterValues, field: str
) -> npt.NDArray[np.float64]:
    """The message's values, float64 of their shape: decoded and checked (size against the
    shape and the number of names, every value finite), without a BindingsArray.

    Raises:
        WireError: (``field.values``) what does not hold.
    """
    try:
        return _native.decode_parameter_values(
            message.values.data, list(message.values.shape), len(message.parameters)
        )
    except ValueError as exc:
        raise WireError(f"{field}.values", str(exc)) from exc


def encode_sampler_pub(
    pub: SamplerPub, circuit: types_pb2.Circuit | None = None
) -> types_pb2.SamplerPub:
    """A coerced SamplerPub as a message (shots unset when the PUB leaves them to defaults).
    ``circuit``: the PUB's circuit already encoded (else it is encoded here)."""
    message = types_pb2.SamplerPub(circuit=circuit or encode_circuit(pub.circuit))
    values = encode_parameter_values(pub.circuit, pub.parameter_values)
    if values is not None:
        message.parameter_values.CopyFrom(values)
    if pub.shots is not None:
        message.shots = pub.shots
    return message


def decode_sampler_pub(
    message: types_pb2.SamplerPub,
    index: int,
    default_shots: int,
    circuits: CircuitDecoder = decode_circuit,
) -> SamplerPub:
    """The SamplerPub of ``sampler_pubs[index]``, with ``default_shots`` where shots are unset.

    Raises:
        WireError: a malformed circuit, parameter values or shots (shots must be > 0).
    """
    field = f"sampler_pubs[{index}]"
    circuit = circuits(message.circuit, f"{field}.circuit")
    bindings = _decode_bindings(message, circuit, field)
    shots = message.shots if message.HasField("shots") else default_shots
    problem = shots_problem(shots)
    if problem is not None:
        raise WireError(f"{field}.shots", problem)
    try:
        return SamplerPub.coerce((circuit, bindings, shots))
    except (ValueError, TypeError) as exc:
        raise WireError(field, str(exc)) from exc


def encode_estimator_pub(
    pub: EstimatorPub, circuit: types_pb2.Circuit | None = None
) -> types_pb2.EstimatorPub:
    """A coerced EstimatorPub as a message (precision unset when left to defaults).
    ``circuit``: the PUB's circuit already encoded (else it is encoded here)."""
    observables = pub.observables
    flat = [observables[idx] for idx in np.ndindex(observables.shape)]
    message = types_pb2.EstimatorPub(
        circuit=circuit or encode_circuit(pub.circuit),
        observables=types_pb2.ObservableArray(
            observables=[
                types_pb2.Observable(
                    terms=[
                        types_pb2.PauliTerm(label=label, coefficient=c) for label, c in obs.items()
                    ]
                )
                for obs in flat
            ],
            shape=observables.shape,
        ),
    )
    values = encode_parameter_values(pub.circuit, pub.parameter_values)
    if values is not None:
        message.parameter_values.CopyFrom(values)
    if pub.precision is not None:
        message.precision = pub.precision
    return message


_PAULI_LETTERS = frozenset("IXYZ")


def decode_observables(
    message: types_pb2.ObservableArray, circuit: QuantumCircuit, field: str
) -> ObservablesArray:
    """The observables array of ``message`` for ``circuit`` (one Pauli letter per circuit
    qubit in each label).

    Raises:
        WireError: a shape that does not match, an empty observable, a malformed label or a
            coefficient that is not finite.
    """
    shape = tuple(message.shape)
    count = int(np.prod(shape, dtype=np.int64))
    if len(message.observables) != count:
        raise WireError(
            field, f"holds {len(message.observables)} observables but shape {shape} needs {count}"
        )
    flat = np.empty(count, dtype=object)
    for i, observable in enumerate(message.observables):
        if not observable.terms:
            raise WireError(f"{field}.observables[{i}]", "needs at least one Pauli term")
        terms: dict[str, float] = {}
        for j, term in enumerate(observable.terms):
            label = term.label
            if len(label) != circuit.num_qubits or not _PAULI_LETTERS.issuperset(label):
                raise WireError(
                    f"{field}.observables[{i}].terms[{j}].label",
                    f"must be {circuit.num_qubits} letters from I, X, Y, Z (one per circuit qubit, "
                    f"qubit 0 rightmost), got {label!r}; map observables with apply_layout",
                )
            if not np.isfinite(term.coefficient):
                raise WireError(
                    f"{field}.observables[{i}].terms[{j}].coefficient", "must be finite"
                )
            terms[label] = terms.get(label, 0.0) + term.coefficient
        flat[i] = terms
    return ObservablesArray(flat.reshape(shape))


def decode_estimator_pub(
    message: types_pb2.EstimatorPub,
    index: int,
    default_precision: float,
    circuits: CircuitDecoder = decode_circuit,
    observables: ObservablesDecoder = decode_observables,
) -> EstimatorPub:
    """The EstimatorPub of ``estimator_pubs[index]``, with ``default_precision`` where unset.
    ``circuits`` and ``observables`` decode its circuit and observables.

    Raises:
        WireError: a malformed circuit, observables, parameter values or precision (> 0), or
            shapes that do not broadcast.
    """
    field = f"estimator_pubs[{index}]"
    circuit = circuits(message.circuit, f"{field}.circuit")
    observables = observables(message.observables, circuit, f"{field}.observables")
    bindings = _decode_bindings(message, circuit, field)
    precision = message.precision if message.HasField("precision") else default_precision
    problem = precision_problem(precision)
    if problem is not None:
        raise WireError(f"{field}.precision", problem)
    try:
        return EstimatorPub.coerce((circuit, observables, bindings, precision))
    except (ValueError, TypeError) as exc:
        raise WireError(field, str(exc)) from exc


def decode_job_pubs(
    program: job_pb2.Program,
    pubs: job_pb2.CreateJobRequest | job_pb2.JobInputs,
    options: job_pb2.JobOptions,
    circuits: CircuitDecoder = decode_circuit,
    observables: ObservablesDecoder = decode_observables,
) -> list[SamplerPub] | list[EstimatorPub]:
    """The PUBs of a job (its request, or the inputs GetJob returns), with the options'
    ``default_shots`` / ``default_precision`` (else the defaults above) where a PUB sets none;
    an Executor job's are its program's items as Sampler PUBs (``decode_program_pubs``).
    ``circuits`` and ``observables`` decode each circuit and observables message (the server
    and its workers pass a :class:`~qsession.execution.memo.Memo`'s, which remember them).

    Raises:
        WireError: as :func:`decode_sampler_pub` / :func:`decode_estimator_pub`.
    """
    if program == job_pb2.PROGRAM_EXECUTOR:
        return decode_program_pubs(pubs.quantum_program, circuits)
    if program == job_pb2.PROGRAM_SAMPLER:
        shots = options.default_shots if options.HasField("default_shots") else DEFAULT_SHOTS
        return [decode_sampler_pub(m, i, shots, circuits) for i, m in enumerate(pubs.sampler_pubs)]
    precision = (
        options.default_precision if options.HasField("default_precision") else DEFAULT_PRECISION
    )
    return [
        decode_estimator_pub(m, i, precision, circuits, observables)
        for i, m in enumerate(pubs.estimator_pubs)
    ]


def _decode_bindings(
    message: types_pb2.SamplerPub | types_pb2.EstimatorPub, circuit: QuantumCircuit, field: str
) -> BindingsArray:
    if message.HasField("parameter_values"):
        return decode_parameter_values(
            message.parameter_values, circuit, f"{field}.parameter_values"
        )
    if circuit.num_parameters:
        names = sorted(p.name for p in circuit.parameters)
        raise WireError(
            f"{field}.parameter_values", f"required: the circuit has parameters {names}"
        )
    return BindingsArray()
