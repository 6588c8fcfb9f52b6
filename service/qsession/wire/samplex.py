"""Samplex items on the wire: a samplomatic ``Samplex`` and its arguments as executor v2.0
JSON (``ibm_quantum_schemas``), loaded, bound and sampled over an item's shape.

A samplex item's shape broadcasts with its arguments' shape. Axes where the arguments have
more than one entry are a sweep; the other axes enumerate randomizations. For each point of
the sweep the samplex is sampled once, drawing every randomization of that point
(:func:`sample`). A samplex loaded from JSON is finalized before it samples.
"""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from qsession.wire.errors import WireError


def samplex_version() -> int:
    """The newest samplex serialization version (SSV) this samplomatic reads."""
    from samplomatic.ssv import SSV

    return int(SSV)


def load(samplex_json: str, arguments_json: str, field: str) -> tuple[Any, Any]:
    """The finalized samplex of ``samplex_json`` and its inputs bound to ``arguments_json``.

    Raises:
        WireError: (``field.samplex_json``) JSON that does not load as a samplex, or of a
            serialization version newer than this server reads (naming both);
            (``field.samplex_arguments_json``) arguments that do not load, are unknown to
            the samplex, or leave one of its inputs unbound.
    """
    samplex = _samplex(samplex_json, f"{field}.samplex_json")
    where = f"{field}.samplex_arguments_json"
    inputs = samplex.inputs().make_broadcastable()
    try:
        for name, value in decode_arguments(arguments_json).items():
            inputs[name] = value
    except Exception as exc:  # noqa: BLE001 - samplomatic's and pydantic's checks
        raise WireError(where, f"does not fit the samplex: {exc}") from exc
    if not inputs.fully_bound:
        missing = inputs.describe(include_bound=False)
        raise WireError(where, f"leaves the samplex's inputs unbound: {missing}")
    return samplex, inputs


def item_shape(shape: tuple[int, ...], inputs: Any, field: str) -> tuple[int, ...]:
    """The item's shape: ``shape`` broadcast with its arguments' shape.

    Raises:
        WireError: (``field.shape``) shapes that do not broadcast.
    """
    try:
        return tuple(np.broadcast_shapes(shape, tuple(inputs.shape)))
    except ValueError as exc:
        raise WireError(
            f"{field}.shape",
            f"{list(shape)} does not broadcast with the arguments' shape {list(inputs.shape)}",
        ) from exc


def sample(
    samplex: Any, inputs: Any, shape: tuple[int, ...], rng: np.random.Generator
) -> dict[str, npt.NDArray[Any]]:
    """Every output of the samplex over ``shape`` (:func:`item_shape`): each of shape
    ``(*shape, *intrinsic)``, e.g. ``parameter_values`` ``(*shape, num_parameters)``."""
    padded = (1,) * (len(shape) - inputs.ndim) + tuple(inputs.shape)
    offset = len(shape) - inputs.ndim
    sweep = [axis for axis, size in enumerate(padded) if size > 1]
    randomizations = tuple(shape[axis] for axis, size in enumerate(padded) if size <= 1)
    outputs: dict[str, npt.NDArray[Any]] = {}
    for point in np.ndindex(*(shape[axis] for axis in sweep)):
        at = dict(zip(sweep, point, strict=True))
        argument_index = tuple(at.get(axis + offset, 0) for axis in range(inputs.ndim))
        drawn = samplex.sample(
            inputs[argument_index],
            num_randomizations=math.prod(randomizations),
            rng=rng,
        )
        target = tuple(at.get(axis, slice(None)) for axis in range(len(shape)))
        for name, value in dict(drawn).items():
            array = np.asarray(value)
            if name not in outputs:
                outputs[name] = np.empty(shape + array.shape[1:], dtype=array.dtype)
            outputs[name][target] = array.reshape(randomizations + array.shape[1:])
    return outputs


def encode_arguments(arguments: Any) -> str:
    """A samplex item's bound arguments (name -> array, Pauli-Lindblad map, bool or int) as
    executor v2.0 JSON."""
    from ibm_quantum_schemas.common import CompressedTensorModel, PauliLindbladMapModel
    from qiskit.quantum_info import PauliLindbladMap

    encoded: dict[str, Any] = {}
    for name, value in arguments.items():
        if isinstance(value, PauliLindbladMap):
            encoded[name] = PauliLindbladMapModel.from_pauli_lindblad_map(value).model_dump(
                mode="json"
            )
        elif isinstance(value, np.ndarray | np.generic) and not isinstance(value, np.bool_):
            encoded[name] = CompressedTensorModel.from_numpy(np.asarray(value)).model_dump(
                mode="json"
            )
        else:
            encoded[name] = value.item() if isinstance(value, np.generic) else value
    return json.dumps(encoded)


def encode_samplex(samplex: Any) -> str:
    """A samplex as executor v2.0's SamplexModel JSON, at this samplomatic's version."""
    from ibm_quantum_schemas.common import SamplexModel

    return str(SamplexModel.from_samplex(samplex, ssv=samplex_version()).model_dump_json())


@cache
def _arguments_adapter() -> Any:
    from ibm_quantum_schemas.executor.version_2_0 import SamplexItemModel
    from pydantic import TypeAdapter

    annotation: Any = SamplexItemModel.model_fields["samplex_arguments"].annotation
    return TypeAdapter(annotation)


def decode_arguments(text: str) -> dict[str, Any]:
    """Executor v2.0 samplex arguments JSON as a samplex takes them: arrays, Pauli-Lindblad
    maps, scalars (raises pydantic's ValidationError)."""
    from ibm_quantum_schemas.common import CompressedTensorModel, PauliLindbladMapModel

    values = _arguments_adapter().validate_json(text or "{}")
    decoded: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, CompressedTensorModel):
            decoded[name] = value.to_numpy()
        elif isinstance(value, PauliLindbladMapModel):
            decoded[name] = value.to_pauli_lindblad_map()
        else:
            decoded[name] = value
    return decoded


def _samplex(text: str, field: str) -> Any:
    from ibm_quantum_schemas.common import SamplexModel

    try:
        version = json.loads(text).get("ssv")
    except (ValueError, AttributeError) as exc:
        raise WireError(field, f"is not a SamplexModel JSON object: {exc}") from exc
    newest = samplex_version()
    if isinstance(version, int) and version > newest:
        raise WireError(
            field,
            f"is samplex serialization version {version}, newer than this server reads "
            f"(versions up to {newest}, samplomatic's SSV)",
        )
    try:
        samplex = SamplexModel.model_validate_json(text).to_samplex()
        samplex.finalize()  # a samplex loaded from JSON samples only once finalized
    except Exception as exc:  # noqa: BLE001 - samplomatic raises many types for bad input
        raise WireError(field, f"does not load as a samplex: {exc}") from exc
    return samplex
