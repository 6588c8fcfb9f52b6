"""Executor jobs on the wire: qiskit-ibm-runtime's QuantumProgram <-> QuantumProgram message,
and a JobResult <-> its QuantumProgramResult.

A circuit item travels as its circuit and its arguments, a float64 array of shape
``(*item.shape, num_parameters)`` in the order of ``circuit.parameters``; a samplex item as its
template circuit, its samplex and arguments (executor v2.0 JSON, ``wire.samplex``) and its
shape. The server runs each item as a Sampler PUB of ``program.shots`` shots
(:func:`decode_program_pubs`; a samplex item's parameter values drawn by
:func:`sample_program`), so its result is a Sampler result: one packed register per classical
register, and a samplex item's other outputs as tensors. The client unpacks them into
IBM's bool arrays of shape ``(*item.shape, shots, creg_size)``, bit ``j`` of the register at
index ``j`` (little-endian order, as IBM's executor returns them).

Passthrough data travels as the JSON ibm_quantum_schemas' executor v2.0 models write (arrays
as compressed tensors): the same text the IBM REST API carries, which the server echoes
without reading.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import numpy as np
import numpy.typing as npt
from qiskit import QuantumCircuit
from qiskit.primitives import BitArray
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession import _native
from qsession.v1 import job_pb2, quantum_program_pb2, types_pb2
from qsession.wire import samplex
from qsession.wire.arrays import decode_bits, decode_tensor, encode_float64
from qsession.wire.circuits import CircuitDecoder, decode_circuit, encode_circuit
from qsession.wire.errors import WireError
from qsession.wire.structs import struct_to_dict
from qsession.wire.times import to_datetime

MEAS_LEVELS = ("classified", "kerneled", "avg_kerneled", "both")
"""The measurement levels of IBM's QuantumProgram; an emulator returns only ``classified``."""
ITEMS_FIELD = "quantum_program.items"
SAMPLEX_STREAM = 2**31
"""The spawn key of the random stream samplex items draw from (see :func:`sample_program`)."""


def meas_level_problem(meas_level: str) -> str | None:
    """Why ``meas_level`` cannot be run (only ``"classified"``, or empty, can), or ``None``."""
    if meas_level in ("", "classified"):
        return None
    if meas_level in MEAS_LEVELS:
        return (
            f"{meas_level!r} is not supported: the emulator has no IQ data, so only "
            "'classified' (bits) is returned"
        )
    return f"must be one of {list(MEAS_LEVELS)}, got {meas_level!r}"


def encode_program(program: Any) -> quantum_program_pb2.QuantumProgram:
    """The message for a QuantumProgram (qiskit-ibm-runtime's or samplomatic's) of circuit
    and samplex items. The passthrough data, a samplex and its arguments become executor
    v2.0 JSON.

    Raises:
        ValueError: an item of another kind, naming it.
    """
    from samplomatic.quantum_program import CircuitItem, SamplexItem

    message = quantum_program_pb2.QuantumProgram(
        shots=program.shots,
        meas_level=program.meas_level,
        semantic_role=getattr(program, "_semantic_role", None) or "",
    )
    if program.passthrough_data is not None:
        message.passthrough_data_json = encode_passthrough(program.passthrough_data)
    for i, item in enumerate(program.items):
        entry = message.items.add(circuit=encode_circuit(item.circuit))
        if isinstance(item, CircuitItem):
            entry.circuit_arguments.CopyFrom(encode_float64(item.circuit_arguments))
        elif isinstance(item, SamplexItem):
            entry.samplex_json = samplex.encode_samplex(item.samplex)
            entry.samplex_arguments_json = samplex.encode_arguments(item.samplex_arguments)
            entry.shape.extend(item.shape)
        else:
            raise ValueError(  # noqa: TRY004 - IBM's converters raise ValueError for items
                f"items[{i}]: {type(item).__name__} is not a CircuitItem or a SamplexItem"
            )
        if item.chunk_size is not None:
            entry.chunk_size = item.chunk_size
    return message


def decode_program_pubs(
    message: quantum_program_pb2.QuantumProgram, circuits: CircuitDecoder = decode_circuit
) -> list[SamplerPub]:
    """Each item of the program as the Sampler PUB that runs it: its circuit, its arguments
    bound to ``circuit.parameters`` and the program's shots. A samplex item's PUB has its
    shape, with zeros where :func:`sample_program` puts the values its samplex draws (what
    admission checks: the circuit, the shape, the samplex and its arguments).

    Raises:
        WireError: a malformed circuit, or arguments whose last axis is not the circuit's
            number of parameters, whose bytes do not match their shape, or that are not
            finite; a samplex item as :func:`qsession.wire.samplex.load` and
            ``item_shape`` (naming ``quantum_program.items[i]...``).
    """
    return [pub for pub, _ in _items(message, circuits, None)]


def sample_program(
    message: quantum_program_pb2.QuantumProgram, circuits: CircuitDecoder, seed: int
) -> tuple[list[SamplerPub], list[dict[str, npt.NDArray[Any]]]]:
    """The program's PUBs, each samplex item's with the parameter values its samplex draws
    (from ``seed``), and each item's other samplex outputs (empty for a circuit item).

    Raises:
        WireError: as :func:`decode_program_pubs`.
    """
    # Its own stream of the job's seed: the executor spawns the items' shot streams from
    # SeedSequence(seed) (spawn keys 0, 1, ...), never with this key.
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SAMPLEX_STREAM,)))
    pairs = _items(message, circuits, rng)
    return [pub for pub, _ in pairs], [outputs for _, outputs in pairs]


def _items(
    message: quantum_program_pb2.QuantumProgram,
    circuits: CircuitDecoder,
    rng: np.random.Generator | None,
) -> list[tuple[SamplerPub, dict[str, npt.NDArray[Any]]]]:
    """Each item's PUB and samplex outputs; a samplex is sampled only with ``rng``."""
    pairs = []
    for i, item in enumerate(message.items):
        field = f"{ITEMS_FIELD}[{i}]"
        circuit = circuits(item.circuit, f"{field}.circuit")
        outputs: dict[str, npt.NDArray[Any]] = {}
        if item.samplex_json:
            bindings, outputs = _drawn(item, circuit, field, rng)
        else:
            bindings = _bindings(item, circuit, f"{field}.circuit_arguments")
        try:
            pairs.append((SamplerPub.coerce((circuit, bindings, message.shots)), outputs))
        except (ValueError, TypeError) as exc:
            raise WireError(field, str(exc)) from exc
    return pairs


def _drawn(
    item: quantum_program_pb2.QuantumProgramItem,
    circuit: QuantumCircuit,
    field: str,
    rng: np.random.Generator | None,
) -> tuple[BindingsArray, dict[str, npt.NDArray[Any]]]:
    """A samplex item's parameter values and other outputs: drawn with ``rng``, else zeros
    of their shape and no outputs."""
    if item.HasField("circuit_arguments"):
        raise WireError(
            f"{field}.circuit_arguments",
            "must be unset for a samplex item (its samplex draws them)",
        )
    drawer, inputs = samplex.load(item.samplex_json, item.samplex_arguments_json, field)
    shape = samplex.item_shape(tuple(item.shape), inputs, field)
    outputs = {} if rng is None else samplex.sample(drawer, inputs, shape, rng)
    drawn = outputs.pop("parameter_values", None)
    values = np.zeros((*shape, circuit.num_parameters)) if drawn is None else drawn
    if values.shape != (*shape, circuit.num_parameters):
        raise WireError(
            f"{field}.samplex_json",
            f"draws parameter values of shape {values.shape}, but the circuit has "
            f"{circuit.num_parameters} parameters over the item's shape {shape}",
        )
    if not circuit.num_parameters:
        return BindingsArray(shape=shape), outputs
    return BindingsArray(data={tuple(circuit.parameters): values.astype(float)}), outputs


def decode_program(message: quantum_program_pb2.QuantumProgram) -> Any:
    """qiskit-ibm-runtime's ``QuantumProgram`` a message holds (a job's inputs).

    Raises:
        WireError: as :func:`decode_program_pubs`.
    """
    from qiskit_ibm_runtime.quantum_program import QuantumProgram, SamplexItem

    program = QuantumProgram(
        shots=message.shots,
        meas_level=message.meas_level or "classified",
        passthrough_data=decode_passthrough(message.passthrough_data_json),
    )
    program._semantic_role = message.semantic_role or None
    pubs = decode_program_pubs(message)
    for i, (item, pub) in enumerate(zip(message.items, pubs, strict=True)):
        chunk_size = item.chunk_size if item.HasField("chunk_size") else None
        if item.samplex_json:
            drawer, _ = samplex.load(
                item.samplex_json, item.samplex_arguments_json, f"{ITEMS_FIELD}[{i}]"
            )
            arguments = samplex.decode_arguments(item.samplex_arguments_json)
            program.items.append(
                SamplexItem(
                    pub.circuit,
                    drawer,
                    samplex_arguments=arguments,
                    shape=tuple(item.shape),
                    chunk_size=chunk_size,
                )
            )
        else:
            program.append_circuit_item(
                pub.circuit,
                pub.parameter_values.as_array(pub.circuit.parameters),
                chunk_size=chunk_size,
            )
    return program


def check_circuit_arguments(item: quantum_program_pb2.QuantumProgramItem, field: str) -> None:
    """The arguments' bytes match their shape and every value is finite (what the decode
    checks of the values alone; the number of parameters needs the circuit).

    Raises:
        WireError: naming ``field``.
    """
    if item.HasField("circuit_arguments"):
        _values(item.circuit_arguments, field)


def _bindings(
    item: quantum_program_pb2.QuantumProgramItem, circuit: QuantumCircuit, field: str
) -> BindingsArray:
    """The item's arguments bound to ``circuit.parameters``, of the item's shape."""
    if not item.HasField("circuit_arguments"):
        if circuit.num_parameters:
            raise WireError(
                field,
                f"required: the circuit has {circuit.num_parameters} parameters "
                f"{[p.name for p in circuit.parameters]}; send shape (*sweep, "
                f"{circuit.num_parameters})",
            )
        return BindingsArray()
    values = _values(item.circuit_arguments, field)
    if values.shape[-1] != circuit.num_parameters:
        raise WireError(
            field,
            f"has shape {values.shape}, but its last axis must be the circuit's "
            f"{circuit.num_parameters} parameters: shape (*sweep, {circuit.num_parameters})",
        )
    if not circuit.num_parameters:
        return BindingsArray(shape=values.shape[:-1])
    return BindingsArray(data={tuple(circuit.parameters): values})


def _values(array: types_pb2.Float64Array, field: str) -> npt.NDArray[np.float64]:
    """The array's values, checked (bytes against the shape, every value finite)."""
    shape = list(array.shape)
    if not shape:
        raise WireError(field, "must have at least one axis, the circuit's parameters")
    try:
        return _native.decode_parameter_values(array.data, shape, shape[-1])
    except ValueError as exc:
        raise WireError(field, str(exc)) from exc


def encode_passthrough(data: Any) -> str:
    """Passthrough data (nested dicts, lists, scalars and arrays) as executor v2.0 JSON."""
    from ibm_quantum_schemas.common import CompressedTensorModel
    from ibm_quantum_schemas.executor.version_2_0.models import DataTree
    from pydantic import TypeAdapter

    def to_model(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: to_model(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [to_model(v) for v in value]
        if isinstance(value, np.ndarray):
            return CompressedTensorModel.from_numpy(value)
        return value

    return TypeAdapter(DataTree).dump_json(to_model(data)).decode()


def decode_passthrough(text: str) -> Any:
    """The passthrough data of executor v2.0 JSON (``None`` for empty text)."""
    if not text:
        return None
    from ibm_quantum_schemas.common import CompressedTensorModel
    from ibm_quantum_schemas.executor.version_2_0.models import DataTree
    from pydantic import TypeAdapter

    def from_model(value: Any) -> Any:
        if isinstance(value, CompressedTensorModel):
            return value.to_numpy()
        if isinstance(value, dict):
            return {k: from_model(v) for k, v in value.items()}
        if isinstance(value, list):
            return [from_model(v) for v in value]
        return value

    return from_model(TypeAdapter(DataTree).validate_json(text))


def decode_program_result(message: job_pb2.JobResult) -> Any:
    """IBM's ``QuantumProgramResult`` for an Executor job's result: per item, each register
    as a bool array of shape ``(*item.shape, shots, creg_size)`` (bit ``j`` at index ``j``);
    ``metadata.chunk_timing`` one ``ChunkSpan`` per execution span; the passthrough data and
    semantic role echoed."""
    from qiskit_ibm_runtime.results.quantum_program import (
        ChunkPart,
        ChunkSpan,
        ItemMetadata,
        Metadata,
        QuantumProgramItemResult,
        QuantumProgramResult,
    )

    items = []
    for i, entry in enumerate(message.pub_results):
        registers = {
            reg.name: decode_bits(
                reg.samples, f"pub_results[{i}].registers[{j}]", BitArray
            ).to_bool_array(order="little")
            for j, reg in enumerate(entry.registers)
        }
        outputs = {
            name: decode_tensor(tensor, f"pub_results[{i}].outputs[{name!r}]")
            for name, tensor in entry.outputs.items()
        }
        items.append(QuantumProgramItemResult({**outputs, **registers}, ItemMetadata()))
    chunks = [
        ChunkSpan(
            to_datetime(span.start).astimezone(UTC),
            to_datetime(span.stop).astimezone(UTC),
            [ChunkPart(span.pub_index, _elements(span))],
        )
        for span in message.execution_spans
    ]
    result = QuantumProgramResult(
        items,
        metadata=Metadata(chunk_timing=chunks),
        passthrough_data=decode_passthrough(message.passthrough_data_json),
    )
    result._semantic_role = struct_to_dict(message.metadata).get("semantic_role")
    return result


def _elements(span: job_pb2.ExecutionSpan) -> int:
    """How many elements of its item a span executed (its slice is over ``(*shape, shots)``)."""
    shots = span.shape[-1] if span.shape else 1
    return (span.stop_index - span.start_index) // max(shots, 1)


__all__ = [
    "ITEMS_FIELD",
    "MEAS_LEVELS",
    "check_circuit_arguments",
    "decode_passthrough",
    "decode_program",
    "decode_program_pubs",
    "decode_program_result",
    "encode_passthrough",
    "encode_program",
    "meas_level_problem",
]
