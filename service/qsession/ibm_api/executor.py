"""Program ``executor`` on IBM's REST API: executor schema v2.0 (``ibm_quantum_schemas``)
params in, our CreateJobRequest out; our JobResult in, the v2.0 result JSON IBM's client
decodes out.

The params are read with IBM's own pydantic models, so what they refuse is refused by name.
Circuits arrive in one QPY blob (or OpenQASM 3 texts) and leave one per item; arrays are
compressed tensors; a samplex item's samplex and arguments keep their v2.0 JSON. What the
emulator cannot honour is refused by name: a circuit item's ``shape`` beyond its arguments',
``init_qubits = false``, experimental options other than ``seed_simulator``. That one is
ours: IBM's client keeps ``options.simulator.seed_simulator`` for its local mode and sends
``options.experimental`` as it is, so ``Executor(backend, options={"experimental":
{"seed_simulator": 7}})`` gives the bits qsession's SDK gives with ``simulator.seed_simulator
= 7``. ``rep_delay`` changes nothing on an emulator
and is ignored; ``scheduler_timing`` and ``stretch_values`` are answered with the item
metadata IBM's client reads as "not available".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ibm_quantum_schemas.common import (
    CompressedQpyDataModel,
    CompressedTensorModel,
    F64CompressedTensorModel,
    SamplexModel,
)
from ibm_quantum_schemas.executor.version_2_0 import (
    CircuitItemModel,
    ParamsModel,
    QuantumProgramModel,
    QuantumProgramResultModel,
    SamplexItemModel,
)
from ibm_quantum_schemas.executor.version_2_0.models import DataTree
from pydantic import TypeAdapter, ValidationError
from qiskit import qpy
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qsession.lifecycle.errors import InvalidArgument
from qsession.v1 import job_pb2, quantum_program_pb2, types_pb2
from qsession.wire.arrays import encode_float64
from qsession.wire.circuits import encode_circuit
from qsession.wire.quantum_program import decode_program_pubs, decode_program_result
from qsession.wire.structs import struct_to_dict

SCHEMA_VERSION = "v2.0"
_DATA_TREE = TypeAdapter(DataTree)
_SAMPLEX_ARGUMENTS = TypeAdapter(SamplexItemModel.model_fields["samplex_arguments"].annotation)


def quantum_program(
    params: dict[str, Any],
) -> tuple[quantum_program_pb2.QuantumProgram, int | None]:
    """The QuantumProgram message of executor v2.0 ``params``, and the seed its
    ``options.experimental`` asks for (``None``: a fresh one).

    Raises:
        InvalidArgument: naming the field under ``params``: another schema version, what
            IBM's models refuse, a QPY version newer than this server reads (naming both),
            or what the emulator cannot honour (see the module docstring).
    """
    version = params.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InvalidArgument(
            f"params.schema_version: {version!r} is not one this server reads; send "
            f"{SCHEMA_VERSION!r} (qiskit-ibm-runtime 0.51's Executor)",
            field="params.schema_version",
            reason="FIELD_INVALID",
        )
    circuits = params.get("quantum_program", {}).get("circuits", {})
    sent = circuits.get("qpy_version") if isinstance(circuits, dict) else None
    if isinstance(sent, int) and sent > qpy.QPY_VERSION:
        raise InvalidArgument(
            f"params.quantum_program.circuits.qpy_version: QPY version {sent} is newer than "
            f"this server reads (QPY versions up to {qpy.QPY_VERSION})",
            field="params.quantum_program.circuits.qpy_version",
            reason="FIELD_INVALID",
        )
    try:
        model = ParamsModel.model_validate(params)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(["params", *(str(part) for part in error["loc"])])
        raise InvalidArgument(f"{where}: {error['msg']}", field=where) from None
    seed = _checked_seed(model)
    program = model.quantum_program
    message = quantum_program_pb2.QuantumProgram(
        shots=program.shots,
        meas_level=program.meas_level,
        semantic_role=program.semantic_role or "",
    )
    if program.passthrough_data is not None:
        message.passthrough_data_json = _DATA_TREE.dump_json(program.passthrough_data).decode()
    for i, (circuit, item) in enumerate(zip(_circuits(program), program.items, strict=True)):
        where = f"params.quantum_program.items[{i}]"
        if isinstance(item, SamplexItemModel):
            entry = message.items.add(
                circuit=circuit,
                samplex_json=item.samplex.model_dump_json(),
                samplex_arguments_json=_SAMPLEX_ARGUMENTS.dump_json(
                    item.samplex_arguments
                ).decode(),
                shape=item.shape,
            )
            if item.chunk_size != "auto":
                entry.chunk_size = item.chunk_size
            continue
        arguments = item.circuit_arguments.to_numpy()
        if item.shape and tuple(item.shape) != arguments.shape[:-1]:
            raise InvalidArgument(
                f"{where}.shape: {item.shape} must be empty or the arguments' leading shape "
                f"{list(arguments.shape[:-1])} (replications are not supported)",
                field=f"{where}.shape",
                reason="FIELD_INVALID",
            )
        entry = message.items.add(circuit=circuit, circuit_arguments=encode_float64(arguments))
        if item.chunk_size != "auto":
            entry.chunk_size = item.chunk_size
    return message, seed


def _checked_seed(model: ParamsModel) -> int | None:
    """The options' ``experimental.seed_simulator``, once the options are ones we honour."""
    options = model.options
    if not options.init_qubits:
        raise InvalidArgument(
            "params.options.init_qubits: false is not emulated; every shot starts in |0>",
            field="params.options.init_qubits",
            reason="OPTION_INVALID",
        )
    unknown = sorted(set(options.experimental) - {"seed_simulator"})
    if unknown:
        raise InvalidArgument(
            f"params.options.experimental: {unknown} not supported; the one experimental "
            "option is seed_simulator",
            field="params.options.experimental",
            reason="OPTION_INVALID",
        )
    seed = options.experimental.get("seed_simulator")
    if seed is not None and (type(seed) is not int or not 0 <= seed < 2**64):
        raise InvalidArgument(
            f"params.options.experimental.seed_simulator: {seed!r} must be an integer in "
            "[0, 2**64)",
            field="params.options.experimental.seed_simulator",
            reason="OPTION_INVALID",
        )
    return seed


def _circuits(program: Any) -> list[types_pb2.Circuit]:
    """One circuit message per item: the QPY blob split (each circuit dumped again), or each
    OpenQASM 3 text as it came."""
    texts = getattr(program.circuits, "programs", None)
    if isinstance(texts, list) and all(isinstance(text, str) for text in texts):
        return [types_pb2.Circuit(qasm3=text) for text in texts]
    try:
        circuits = program.circuits.to_python()
    except Exception as exc:  # noqa: BLE001 - QPY raises many types for corrupt input
        raise InvalidArgument(
            f"params.quantum_program.circuits: cannot be read: {exc}",
            field="params.quantum_program.circuits",
        ) from None
    return [encode_circuit(circuit) for circuit in circuits]


def result_text(result: bytes) -> str:
    """A DONE Executor job's result as IBM's client reads it: executor v2.0 result JSON, each
    register a bool tensor of shape ``(*item.shape, shots, creg_size)``."""
    message = job_pb2.JobResult.FromString(result)
    decoded = decode_program_result(message)
    chunks = []
    for span in decoded.metadata.chunk_timing:
        parts = []
        for part in span.parts:
            ndim = len(message.pub_results[part.idx_item].shape)
            parts.append(
                {
                    "idx_item": part.idx_item,
                    "size": part.size,
                    "permutation": list(range(ndim)),
                    "element_range": (0, part.size, 1),
                }
            )
        chunks.append({"start": span.start, "stop": span.stop, "parts": parts})
    model = QuantumProgramResultModel(
        data=[
            {
                "results": {
                    name: CompressedTensorModel.from_numpy(np.asarray(value))
                    for name, value in item.items()
                },
                "metadata": {},
            }
            for item in decoded
        ],
        metadata={"chunk_timing": chunks},
        passthrough_data=(
            _DATA_TREE.validate_json(message.passthrough_data_json)
            if message.passthrough_data_json
            else None
        ),
        semantic_role=struct_to_dict(message.metadata).get("semantic_role"),
    )
    return model.model_dump_json()


def params_json(job: job_pb2.Job) -> dict[str, Any]:
    """An Executor job's ``params`` as IBM's client sent them (``job.inputs``): executor
    v2.0 JSON of its program, the circuits in one QPY blob, default options."""
    program = job.inputs.quantum_program
    pubs = decode_program_pubs(program)
    items = [_item_model(item, pub) for pub, item in zip(pubs, program.items, strict=True)]
    model = ParamsModel(
        quantum_program=QuantumProgramModel(
            shots=program.shots,
            circuits=CompressedQpyDataModel.from_python([pub.circuit for pub in pubs]),
            items=items,
            meas_level=program.meas_level or "classified",
            semantic_role=program.semantic_role or None,
            passthrough_data=(
                _DATA_TREE.validate_json(program.passthrough_data_json)
                if program.passthrough_data_json
                else None
            ),
        ),
        options={},
    )
    return model.model_dump(mode="json")


def _item_model(
    item: quantum_program_pb2.QuantumProgramItem, pub: SamplerPub
) -> CircuitItemModel | SamplexItemModel:
    chunk_size = item.chunk_size if item.HasField("chunk_size") else "auto"
    if item.samplex_json:
        return SamplexItemModel(
            samplex=SamplexModel.model_validate_json(item.samplex_json),
            samplex_arguments=_SAMPLEX_ARGUMENTS.validate_json(item.samplex_arguments_json or "{}"),
            shape=list(item.shape),
            chunk_size=chunk_size,
        )
    return CircuitItemModel(
        circuit_arguments=F64CompressedTensorModel.from_numpy(
            np.asarray(pub.parameter_values.as_array(pub.circuit.parameters), dtype=float)
        ),
        shape=[],
        chunk_size=chunk_size,
    )
