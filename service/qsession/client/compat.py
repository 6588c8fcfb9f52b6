"""The call shapes of older qiskit-ibm-runtime releases, translated to the modern SDK.

Notebooks written for qiskit-ibm-runtime before 0.24 run with only their import line changed.
Each old shape emits a ``DeprecationWarning`` at the user's line that names the modern call:

* ``Session(backend="fake_torino")``, ``Session(service=service, backend=...)`` and the old
  positional order ``Session(service, backend)`` (likewise ``Batch``): a backend name is looked
  up on ``service``, else on the default account's ``RuntimeService()``.
* ``Sampler(session=session)`` / ``Estimator(session=session)``: ``session=`` is ``mode=``.
* ``options={"shots": n}``: the old top-level shots option is ``default_shots``.
* :class:`Options`, the V1 options (``Options(optimization_level=3)``).
* The V1 calls ``sampler.run(circuits, parameter_values)`` and
  ``estimator.run(circuits, observables, parameter_values)``. V1 primitives transpiled on the
  server, so these calls take circuits as written: they are transpiled for the backend with
  ``generate_preset_pass_manager(backend=..., optimization_level=...)`` (level 3 unless
  :class:`Options` say otherwise) and observables follow the layout. ``job.result()`` is the V1
  result: ``SamplerResult(quasi_dists, metadata)`` or ``EstimatorResult(values, metadata)``.
  A call is V1 when it passes a bare circuit, more positional arguments than ``pubs``, a
  keyword the V2 call lacks (``parameter_values=``), or the primitive has :class:`Options`; a
  list of circuits alone stays a list of V2 PUBs.
* ``session.run("sampler" | "estimator", inputs)`` with the old program inputs.

What qsession cannot honour (error mitigation, zero-noise extrapolation, custom noise models,
job logs, interim-result callbacks) raises :class:`IBMInputValueError` naming the option.

This module is an adapter on top of the V2 SDK: its :class:`Session`, :class:`Batch`,
:class:`SamplerV2` and :class:`EstimatorV2` are the classes :mod:`qsession` exports, subclasses
of the V2 ones that translate the old shapes and hand everything else to them unchanged.
"""

from __future__ import annotations

import copy
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import EstimatorResult, PrimitiveResult, SamplerResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import Operator, SparsePauliOp
from qiskit.quantum_info.operators.base_operator import BaseOperator
from qiskit.result import QuasiDistribution
from qiskit.transpiler import generate_preset_pass_manager

from qsession.client import primitives
from qsession.client import session as sessions
from qsession.client.errors import IBMInputValueError
from qsession.client.job import RuntimeJobV2
from qsession.client.options import EstimatorOptions, SamplerOptions
from qsession.client.service import RuntimeService
from qsession.wire import encode_estimator_pub, encode_sampler_pub
from qsession.wire.shots import precision_for_shots

DEFAULT_OPTIMIZATION_LEVEL = 3
"""The V1 primitives' transpilation level when :class:`Options` set none."""


def _deprecated(message: str) -> None:
    """Emit a ``DeprecationWarning`` attributed to the first caller outside qsession."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("qsession."):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, DeprecationWarning, stacklevel=level + 1)


def _name(primitive: SamplerV2 | EstimatorV2) -> str:
    """The primitive's qiskit-ibm-runtime name: ``"Sampler"`` or ``"Estimator"``."""
    return type(primitive).__name__.removesuffix("V2")


# ---------------------------------------------------------------------- sessions


def session_args(kind: str, backend: Any, max_time: Any, service: Any) -> tuple[Any, Any]:
    """The ``(backend, max_time)`` a ``Session``/``Batch`` called the old way means.

    Translates ``(service, backend)`` given positionally, ``service=`` and a backend name; any
    other arguments are returned unchanged for the constructor to check.

    Args:
        kind: ``"Session"`` or ``"Batch"``, for the warning.
        backend: The constructor's first argument.
        max_time: The constructor's second argument.
        service: The ``service=`` keyword argument.

    Raises:
        ValueError: ``service`` is not a :class:`RuntimeService`.
        BackendNotFoundError: the backend name is unknown to the service.
        IBMAccountError: a backend name without a service and no default account.
    """
    if isinstance(backend, RuntimeService):
        service, backend, max_time = backend, max_time, None
        used = f"{kind}(service, backend)"
    elif service is not None:
        used = f"{kind}(service=service, backend=...)"
    elif isinstance(backend, str):
        used = f"{kind}(backend={backend!r}) with a backend name"
    else:
        return backend, max_time
    if service is not None and not isinstance(service, RuntimeService):
        raise ValueError(f"service must be a RuntimeService, got {type(service).__name__}")
    name = backend if isinstance(backend, str) else getattr(backend, "name", "...")
    _deprecated(f"{used} is deprecated; use {kind}(backend=service.backend({name!r}))")
    if isinstance(backend, str):
        backend = (service or RuntimeService()).backend(backend)
    return backend, max_time


# ---------------------------------------------------------------------- V1 options

_GROUPS: dict[str, dict[str, Any]] = {
    "transpilation": {
        "skip_transpilation": False,
        "initial_layout": None,
        "layout_method": None,
        "routing_method": None,
        "approximation_degree": None,
    },
    "resilience": {"noise_amplifier": None, "noise_factors": None, "extrapolator": None},
    "execution": {"shots": None, "init_qubits": True},
    "environment": {"log_level": None, "callback": None, "job_tags": None},
    "simulator": {
        "noise_model": None,
        "seed_simulator": None,
        "coupling_map": None,
        "basis_gates": None,
    },
}
_NO_ZNE = "qsession does no zero-noise extrapolation"
_PROFILE = "a qsession backend's device profile fixes its noise model, coupling map and gates"
_CANNOT_HONOUR: dict[tuple[str, str], str] = {
    ("resilience", "noise_amplifier"): _NO_ZNE,
    ("resilience", "noise_factors"): _NO_ZNE,
    ("resilience", "extrapolator"): _NO_ZNE,
    ("execution", "init_qubits"): "qsession always starts circuits in |0...0>",
    ("environment", "log_level"): "qsession keeps no job logs",
    ("environment", "callback"): "qsession does not stream interim results",
    ("simulator", "noise_model"): _PROFILE,
    ("simulator", "coupling_map"): _PROFILE,
    ("simulator", "basis_gates"): _PROFILE,
}


def _group(name: str, value: Any) -> dict[str, Any]:
    """The V1 option group ``name`` as a dict, defaults filled in.

    Raises:
        IBMInputValueError: a name the V1 group does not have.
    """
    given = dict(value) if isinstance(value, Mapping) else vars(value)
    unknown = sorted(set(given) - set(_GROUPS[name]))
    if unknown:
        raise IBMInputValueError(
            f"Options.{name} has no option {unknown[0]!r}; the options are {sorted(_GROUPS[name])}"
        )
    return {**_GROUPS[name], **given}


@dataclass
class Options:
    """The V1 primitives' options (deprecated): what qsession honours of them.

    Honoured: ``optimization_level`` (0-3, the V1 calls' transpilation; default 3),
    ``resilience_level`` 0 (no mitigation, as every qsession job), ``max_execution_time``,
    ``transpilation`` (``skip_transpilation``, ``initial_layout``, ``layout_method``,
    ``routing_method``, ``approximation_degree``), ``execution.shots`` (``default_shots``),
    ``environment.job_tags`` and ``simulator.seed_simulator``. Any other value than the default
    raises :class:`IBMInputValueError` when a primitive is built with these options.

    A primitive built with ``Options`` takes the V1 calls only (``run(circuits, ...)``).
    Groups may be given as dicts and changed as attributes: ``options.execution.shots = 1000``.

    Raises:
        IBMInputValueError: a name a group does not have.
    """

    optimization_level: int | None = None
    resilience_level: int | None = None
    max_execution_time: int | None = None
    transpilation: Any = field(default_factory=dict)
    resilience: Any = field(default_factory=dict)
    execution: Any = field(default_factory=dict)
    environment: Any = field(default_factory=dict)
    simulator: Any = field(default_factory=dict)

    def __post_init__(self) -> None:
        _deprecated(
            "Options is the deprecated V1 options class; use SamplerOptions/EstimatorOptions "
            "(options={'default_shots': ...}) and transpile with "
            "generate_preset_pass_manager(backend=backend, optimization_level=...)"
        )
        for name in _GROUPS:
            setattr(self, name, SimpleNamespace(**_group(name, getattr(self, name))))

    def modern(self) -> dict[str, Any]:
        """The equivalent ``SamplerOptions``/``EstimatorOptions`` dict.

        Raises:
            IBMInputValueError: an option qsession cannot honour, or a bad level.
        """
        groups = {name: _group(name, getattr(self, name)) for name in _GROUPS}
        for (group, name), reason in _CANNOT_HONOUR.items():
            if groups[group][name] != _GROUPS[group][name]:
                raise IBMInputValueError(
                    f"Options.{group}.{name}={groups[group][name]!r} cannot be honoured: {reason}"
                )
        if self.resilience_level not in (None, 0):
            raise IBMInputValueError(
                f"Options.resilience_level={self.resilience_level!r} cannot be honoured: "
                "qsession applies no error mitigation; leave it unset or 0"
            )
        if self.optimization_level not in (None, 0, 1, 2, 3):
            raise IBMInputValueError(
                f"optimization_level can only take the values [0, 1, 2, 3], "
                f"got {self.optimization_level!r}"
            )
        return {
            "default_shots": groups["execution"]["shots"],
            "max_execution_time": self.max_execution_time,
            "environment": {"job_tags": groups["environment"]["job_tags"]},
            "simulator": {"seed_simulator": groups["simulator"]["seed_simulator"]},
        }


# ---------------------------------------------------------------------- primitives

_V1_ONLY_KEYS = frozenset({"optimization_level", "transpilation"})


def primitive_args(
    primitive: SamplerV2 | EstimatorV2, mode: Any, options: Any, session: Any
) -> tuple[Any, Any, Options | None]:
    """The ``(mode, options, v1_options)`` a primitive built the old way means.

    ``session=`` becomes ``mode``; ``{"shots": n}`` becomes ``{"default_shots": n}``;
    :class:`Options` become the modern options dict and are returned as ``v1_options`` (they
    drive the V1 calls' transpilation). Other arguments are returned unchanged.

    Raises:
        ValueError: both ``mode`` and ``session``.
        IBMInputValueError: both ``shots`` and ``default_shots``, a V1 option in a dict, or
            :class:`Options` that cannot be honoured.
    """
    name = _name(primitive)
    if session is not None:
        if mode is not None:
            raise ValueError(f"give {name}(mode=...) only; session= is its deprecated name")
        _deprecated(f"{name}(session=session) is deprecated; use {name}(mode=session)")
        mode = session
    if isinstance(options, Options):
        return mode, options.modern(), copy.deepcopy(options)
    if isinstance(options, Mapping):
        v1_only = sorted(_V1_ONLY_KEYS & set(options))
        if v1_only:
            raise IBMInputValueError(
                f"{v1_only[0]!r} is a V1 option: give options=Options({v1_only[0]}=...) for the "
                "V1 calls, or transpile with generate_preset_pass_manager(backend=backend)"
            )
        if "shots" in options:
            if "default_shots" in options:
                raise IBMInputValueError("give default_shots only; shots is its deprecated name")
            options = dict(options)
            shots = options["default_shots"] = options.pop("shots")
            _deprecated(
                f"options={{'shots': {shots!r}}} is deprecated; "
                f"use options={{'default_shots': {shots!r}}}"
            )
    return mode, options, None


def is_v1_call(
    primitive: SamplerV2 | EstimatorV2, pubs: Any, args: tuple, kwargs: dict[str, Any]
) -> bool:
    """Whether a ``run`` call has a V1 shape.

    It does when it passes a bare circuit, more positional arguments than ``pubs`` or keywords
    the V2 call does not have (``parameter_values=``), or the primitive has V1 :class:`Options`.
    A list of circuits alone is a list of V2 PUBs.
    """
    return (
        bool(args or kwargs)
        or isinstance(pubs, QuantumCircuit)
        or primitive._v1_options is not None
    )


class V1Job(RuntimeJobV2):
    """A job submitted by a V1 call: :meth:`result` returns the V1 result."""

    def __init__(self, job: RuntimeJobV2, convert: Callable[[PrimitiveResult], Any]):
        super().__init__(job._message, job._service, job._operations)
        self._convert = convert

    def result(self, timeout: float | None = None) -> Any:  # type: ignore[override]
        """Wait for the job and return its V1 result.

        Returns:
            ``SamplerResult(quasi_dists, metadata)``: one ``QuasiDistribution`` (integer
            outcomes over all classical bits, bit ``i`` = clbit ``i``) and one
            ``{"shots", "circuit_metadata"}`` per circuit; or ``EstimatorResult(values,
            metadata)``: a float64 array with one expectation value per (circuit, observable)
            pair and one ``{"variance", "shots"}`` per pair (``variance`` per shot).

        Raises:
            As :meth:`RuntimeJobV2.result`.
        """
        return self._convert(super().result(timeout))


def _circuits(circuits: Any) -> list[QuantumCircuit]:
    """The V1 ``circuits`` argument as a list.

    Raises:
        IBMInputValueError: an item that is not a ``QuantumCircuit``.
    """
    listed = [circuits] if isinstance(circuits, QuantumCircuit) else list(circuits)
    for i, circuit in enumerate(listed):
        if not isinstance(circuit, QuantumCircuit):
            raise IBMInputValueError(
                f"the V1 call takes QuantumCircuits; item {i} is {type(circuit).__name__} "
                "(a primitive built with Options takes V1 calls only)"
            )
    return listed


def _parameter_values(values: Any, circuits: list[QuantumCircuit]) -> list[np.ndarray]:
    """One float64 vector per circuit, in the order of ``circuit.parameters``, as V1 read them.

    ``None`` is allowed for circuits without parameters; a flat sequence (or a number) is one
    set of values.

    Raises:
        IBMInputValueError: a count that differs from the circuits or their parameters.
    """
    if values is None:
        rows: list[Any] = [()] * len(circuits)
    elif isinstance(values, int | float | np.number):
        rows = [[values]]
    else:
        rows = values.tolist() if isinstance(values, np.ndarray) else list(values)
        if not any(isinstance(row, Sequence | np.ndarray) for row in rows):
            rows = [rows]
    if len(rows) != len(circuits):
        raise IBMInputValueError(
            f"{len(circuits)} circuits but {len(rows)} sets of parameter values were given"
        )
    vectors = [np.asarray(row, dtype=float).reshape(-1) for row in rows]
    for i, (circuit, vector) in enumerate(zip(circuits, vectors, strict=True)):
        if vector.size != circuit.num_parameters:
            raise IBMInputValueError(
                f"circuit {i} has {circuit.num_parameters} parameters but "
                f"{vector.size} values were given"
            )
    return vectors


def _isa(
    primitive: SamplerV2 | EstimatorV2, circuits: list[QuantumCircuit]
) -> list[tuple[QuantumCircuit, np.ndarray]]:
    """Each circuit transpiled for the primitive's backend, with the order of its parameters.

    Each distinct circuit object is transpiled once. The index array maps the ISA circuit's
    parameters to positions in ``circuit.parameters`` (transpilation may drop a parameter).
    """
    v1 = primitive._v1_options
    settings = _group("transpilation", v1.transpilation) if v1 is not None else {}
    if settings.pop("skip_transpilation", False):
        return [(c, np.arange(c.num_parameters)) for c in circuits]
    level = v1.optimization_level if v1 is not None else None
    pass_manager = generate_preset_pass_manager(
        optimization_level=DEFAULT_OPTIMIZATION_LEVEL if level is None else level,
        backend=primitive.backend(),
        **{key: value for key, value in settings.items() if value is not None},
    )
    done: dict[int, tuple[QuantumCircuit, np.ndarray]] = {}
    for circuit in circuits:
        if id(circuit) not in done:
            isa = pass_manager.run(circuit)
            position = {p: i for i, p in enumerate(circuit.parameters)}
            done[id(circuit)] = isa, np.array([position[p] for p in isa.parameters], dtype=int)
    return [done[id(c)] for c in circuits]


def _refuse_run_options(run_options: dict[str, Any]) -> None:
    """Raise for run options of a V1 call other than ``shots``.

    Raises:
        IBMInputValueError: naming the first such option.
    """
    if run_options:
        raise IBMInputValueError(
            f"unknown run option {sorted(run_options)[0]!r}; the V1 calls take shots= only"
        )


def sampler_run(
    primitive: SamplerV2,
    circuits: Any,
    parameter_values: Any = None,
    *,
    shots: int | None = None,
    **run_options: Any,
) -> V1Job:
    """The V1 call ``sampler.run(circuits, parameter_values, shots=...)`` (deprecated).

    Returns:
        A :class:`V1Job`; its result is a ``SamplerResult``.

    Raises:
        IBMInputValueError: a non-circuit, a circuit without measurements, mismatched parameter
            values, or an unknown run option.
    """
    name = _name(primitive)
    _deprecated(
        f"{name}.run(circuits, parameter_values) is the deprecated V1 call; use "
        f"{name}(mode=...).run([(isa_circuit, parameter_values)]) with circuits transpiled by "
        "generate_preset_pass_manager(backend=backend); result()[i].data.<register> holds "
        "the samples"
    )
    _refuse_run_options(run_options)
    return _sampler_job(primitive, circuits, parameter_values, shots)


def _sampler_job(
    primitive: SamplerV2, circuits: Any, parameter_values: Any, shots: int | None
) -> V1Job:
    listed = _circuits(circuits)
    for i, circuit in enumerate(listed):
        if circuit.num_clbits == 0:
            raise IBMInputValueError(
                f"circuit {i} has no measurements; the Sampler samples measured circuits "
                "(add circuit.measure_all())"
            )
    rows = _parameter_values(parameter_values, listed)
    pubs = [
        SamplerPub.coerce((isa, row[order]) if len(order) else isa, shots)
        for (isa, order), row in zip(_isa(primitive, listed), rows, strict=True)
    ]
    job = primitive._submit(sampler_pubs=[encode_sampler_pub(pub) for pub in pubs])
    metadata = [{"circuit_metadata": circuit.metadata or {}} for circuit in listed]
    return V1Job(job, lambda result: _sampler_result(result, metadata))


def _sampler_result(result: PrimitiveResult, metadata: list[dict[str, Any]]) -> SamplerResult:
    dists, entries = [], []
    for pub_result, entry in zip(result, metadata, strict=True):
        bits = pub_result.join_data()
        counts = bits.get_int_counts()
        dists.append(
            QuasiDistribution(
                {k: v / bits.num_shots for k, v in counts.items()}, shots=bits.num_shots
            )
        )
        entries.append({"shots": bits.num_shots, **entry})
    return SamplerResult(quasi_dists=dists, metadata=entries)


def _observables(observables: Any) -> list[SparsePauliOp]:
    """The V1 ``observables`` argument: one, or a sequence of, Pauli strings and operators."""
    listed = [observables] if isinstance(observables, str | BaseOperator) else list(observables)
    return [
        SparsePauliOp.from_operator(o) if isinstance(o, Operator) else SparsePauliOp(o)
        for o in listed
    ]


def estimator_run(
    primitive: EstimatorV2,
    circuits: Any,
    observables: Any = None,
    parameter_values: Any = None,
    *,
    precision: float | None = None,
    shots: int | None = None,
    **run_options: Any,
) -> V1Job:
    """The V1 call ``estimator.run(circuits, observables, parameter_values)`` (deprecated).

    Circuit ``i`` is paired with observable ``i`` and parameter values ``i``.

    Returns:
        A :class:`V1Job`; its result is an ``EstimatorResult``.

    Raises:
        IBMInputValueError: no observables, counts that do not pair up, an observable of another
            width than its circuit, both ``shots`` and ``precision``, or an unknown run option.
    """
    name = _name(primitive)
    _deprecated(
        f"{name}.run(circuits, observables, parameter_values) is the deprecated V1 call; use "
        f"{name}(mode=...).run([(isa_circuit, observable.apply_layout(isa_circuit.layout), "
        "parameter_values)]) with circuits transpiled by "
        "generate_preset_pass_manager(backend=backend); result()[i].data.evs holds the values"
    )
    _refuse_run_options(run_options)
    if shots is not None and precision is not None:
        raise IBMInputValueError("give shots= or precision=, not both")
    if shots is not None:
        precision = precision_for_shots(shots)
    return _estimator_job(primitive, circuits, observables, parameter_values, precision)


def _estimator_job(
    primitive: EstimatorV2,
    circuits: Any,
    observables: Any,
    parameter_values: Any,
    precision: float | None,
) -> V1Job:
    if observables is None:
        raise IBMInputValueError(
            f"{_name(primitive)}.run(circuits, observables, ...) needs observables"
        )
    listed, operators = _circuits(circuits), _observables(observables)
    if len(listed) != len(operators):
        raise IBMInputValueError(
            f"The number of circuits ({len(listed)}) does not match the number of "
            f"observables ({len(operators)})."
        )
    for i, (circuit, operator) in enumerate(zip(listed, operators, strict=True)):
        if circuit.num_qubits != operator.num_qubits:
            raise IBMInputValueError(
                f"circuit {i} has {circuit.num_qubits} qubits but observable {i} acts on "
                f"{operator.num_qubits}"
            )
    rows = _parameter_values(parameter_values, listed)
    pubs = []
    for (isa, order), operator, row in zip(_isa(primitive, listed), operators, rows, strict=True):
        laid = operator.apply_layout(isa.layout)
        pub = (isa, laid, row[order]) if len(order) else (isa, laid)
        pubs.append(EstimatorPub.coerce(pub, precision))
    job = primitive._submit(estimator_pubs=[encode_estimator_pub(pub) for pub in pubs])
    return V1Job(job, _estimator_result)


def _estimator_result(result: PrimitiveResult) -> EstimatorResult:
    values, metadata = [], []
    for pub_result in result:
        shots = int(pub_result.metadata["shots"])
        values.append(float(pub_result.data.evs))
        metadata.append({"variance": float(pub_result.data.stds) ** 2 * shots, "shots": shots})
    return EstimatorResult(values=np.array(values, dtype=np.float64), metadata=metadata)


# ---------------------------------------------------------------------- Session.run

_RUNTIME_OPTIONS = frozenset({"job_tags", "max_execution_time"})


def session_run(
    session: Session,
    program_id: str,
    inputs: Mapping[str, Any],
    options: Mapping[str, Any] | None,
    callback: Any,
    result_decoder: Any,
) -> RuntimeJobV2:
    """``session.run(program_id, inputs, options)`` of qiskit-ibm-runtime < 0.24 (deprecated).

    Args:
        session: The session or batch to run in.
        program_id: ``"sampler"`` or ``"estimator"``.
        inputs: The program inputs: V2 ``{"pubs": [...], "options": {...}, "version": 2}``
            (``options`` as ``SamplerOptions``/``EstimatorOptions``), or V1
            ``{"circuits", "observables" (estimator), "parameter_values", "parameters"}``
            (``parameters``, if given, must be the circuits' own).
        options: Runtime options: ``job_tags``, ``max_execution_time``.
        callback: Must be ``None`` (no interim results).
        result_decoder: Must be ``None`` (results are decoded by the SDK).

    Returns:
        A :class:`RuntimeJobV2` for V2 inputs; a :class:`V1Job` for V1 inputs.

    Raises:
        IBMInputValueError: an unknown program id, input key or runtime option, a callback or
            result decoder, or what the primitive's ``run`` raises.
    """
    classes: dict[str, type[SamplerV2 | EstimatorV2]] = {
        "sampler": SamplerV2,
        "estimator": EstimatorV2,
    }
    kind = type(session).__name__.lower()
    if program_id not in classes:
        raise IBMInputValueError(
            f"unknown program id {program_id!r}; the programs are 'sampler' and 'estimator'"
        )
    if callback is not None or result_decoder is not None:
        raise IBMInputValueError(
            "session.run() takes no callback or result_decoder: qsession streams no interim "
            "results and decodes results itself"
        )
    name = program_id.capitalize()
    _deprecated(
        f"{type(session).__name__}.run({program_id!r}, inputs) is deprecated; use "
        f"{name}(mode={kind}).run(pubs)"
    )
    if not isinstance(inputs, Mapping):
        raise IBMInputValueError(f"inputs must be a dict, got {type(inputs).__name__}")
    unknown = sorted(set(options or {}) - _RUNTIME_OPTIONS)
    if unknown:
        raise IBMInputValueError(
            f"unknown runtime option {unknown[0]!r}; session.run() takes {sorted(_RUNTIME_OPTIONS)}"
        )
    v2 = "pubs" in inputs
    allowed = (
        {"pubs", "options", "version"} if v2 else {"circuits", "parameter_values", "parameters"}
    )
    if not v2 and program_id == "estimator":
        allowed.add("observables")
    unknown = sorted(set(inputs) - allowed)
    if unknown:
        raise IBMInputValueError(
            f"unknown {program_id} input {unknown[0]!r}; the inputs are {sorted(allowed)}"
        )
    if inputs.get("version", 2) != 2:
        raise IBMInputValueError(f"inputs with 'pubs' are version 2, got {inputs['version']!r}")
    primitive = classes[program_id](mode=session, options=inputs.get("options") if v2 else None)
    runtime = dict(options or {})
    if "job_tags" in runtime:
        runtime["environment"] = {"job_tags": runtime.pop("job_tags")}
    primitive.options.update(**runtime)
    if v2:
        return primitive.run(inputs["pubs"])
    circuits = _circuits(inputs.get("circuits", []))
    parameters = inputs.get("parameters")
    if parameters is not None and [list(p) for p in parameters] != [
        list(c.parameters) for c in circuits
    ]:
        raise IBMInputValueError("inputs['parameters'] must be the circuits' own parameters")
    if program_id == "sampler":
        return _sampler_job(primitive, circuits, inputs.get("parameter_values"), None)
    return _estimator_job(
        primitive, circuits, inputs.get("observables"), inputs.get("parameter_values"), None
    )


# ---------------------------------------------------------------------- the exported classes


class Session(sessions.Session):
    """A Qiskit Runtime session (see :class:`qsession.client.session.Session`), that also takes
    the old call shapes: a backend name, ``service=`` or ``Session(service, backend)``
    (:func:`session_args`), and ``session.run(program_id, inputs)`` (:func:`session_run`).

    Args:
        backend: A backend from :class:`RuntimeService` (deprecated: its name).
        max_time: The max TTL: seconds (int) or a duration such as ``"25m"``; ``None`` takes
            the instance plan's maximum.
        create_new: Create the session on the server (``False`` is used by :meth:`from_id`).
        service: Deprecated: the service to look a backend name up on.

    Raises:
        As :class:`qsession.client.session.Session`, and as :func:`session_args`.
    """

    def __init__(
        self,
        backend: Any,
        max_time: int | str | None = None,
        *,
        create_new: bool | None = True,
        service: RuntimeService | None = None,
    ):
        backend, max_time = session_args(type(self).__name__, backend, max_time, service)
        super().__init__(backend, max_time, create_new=create_new)

    def run(
        self,
        program_id: str,
        inputs: dict[str, Any],
        options: dict[str, Any] | None = None,
        callback: Any = None,
        result_decoder: Any = None,
    ) -> RuntimeJobV2:
        """Deprecated: run the ``"sampler"`` or ``"estimator"`` program with old-style inputs.

        Use ``SamplerV2(mode=session).run(pubs)`` instead; see :func:`session_run` for the
        inputs, result and errors.
        """
        return session_run(self, program_id, inputs, options, callback, result_decoder)


class Batch(Session, sessions.Batch):
    """A Qiskit Runtime batch (see :class:`qsession.client.session.Batch`), that also takes the
    old call shapes, as :class:`Session` does."""


class _OldConstruction:
    """The old constructor shapes of both primitives, before the V2 class sees them.

    Args:
        mode: A :class:`Session` or :class:`Batch`, a backend (job mode), or ``None`` for the
            session of the enclosing ``with Session(...)`` block.
        options: A dict or the primitive's options; deprecated: ``{"shots": n}`` or V1
            :class:`Options`.
        session: Deprecated name of ``mode``.

    Raises:
        As the V2 primitive, and as :func:`primitive_args`.
    """

    def __init__(
        self,
        mode: Any = None,
        options: dict | SamplerOptions | EstimatorOptions | Options | None = None,
        *,
        session: sessions.Session | None = None,
    ):
        mode, options, self._v1_options = primitive_args(self, mode, options, session)
        super().__init__(mode, options)


class SamplerV2(_OldConstruction, primitives.SamplerV2):
    """The Sampler primitive (see :class:`qsession.client.primitives.SamplerV2`), that also
    takes the old call shapes (see :class:`_OldConstruction`)."""

    def run(
        self,
        pubs: Any,
        *legacy_args: Any,
        shots: int | None = None,
        **legacy_kwargs: Any,
    ) -> RuntimeJobV2:
        """Submit a Sampler job: see :meth:`qsession.client.primitives.SamplerV2.run`.

        The V1 call ``run(circuits, parameter_values, shots=...)`` is deprecated; see
        :func:`sampler_run`.
        """
        if is_v1_call(self, pubs, legacy_args, legacy_kwargs):
            return sampler_run(self, pubs, *legacy_args, shots=shots, **legacy_kwargs)
        return super().run(pubs, shots=shots)


class EstimatorV2(_OldConstruction, primitives.EstimatorV2):
    """The Estimator primitive (see :class:`qsession.client.primitives.EstimatorV2`), that also
    takes the old call shapes (see :class:`_OldConstruction`)."""

    def run(
        self,
        pubs: Any,
        *legacy_args: Any,
        precision: float | None = None,
        **legacy_kwargs: Any,
    ) -> RuntimeJobV2:
        """Submit an Estimator job: see :meth:`qsession.client.primitives.EstimatorV2.run`.

        The V1 call ``run(circuits, observables, parameter_values)`` is deprecated; see
        :func:`estimator_run`.
        """
        if is_v1_call(self, pubs, legacy_args, legacy_kwargs):
            return estimator_run(self, pubs, *legacy_args, precision=precision, **legacy_kwargs)
        return super().run(pubs, precision=precision)
