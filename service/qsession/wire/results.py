"""Primitive results on the wire: PrimitiveResult <-> JobResult.

A Sampler PUB result carries one packed register per classical register; an Estimator PUB
result carries evs, stds and ensemble_standard_error as float64 buffers, and with ZNE also
IBM's evs/stds at each noise factor and extrapolated. Execution spans travel
as typed messages and come back as :class:`qsession.wire.spans.ExecutionSpans`.
"""

from __future__ import annotations

import math

from qiskit.primitives import BitArray, DataBin, PrimitiveResult, PubResult, SamplerPubResult

from qsession.v1 import job_pb2
from qsession.wire.arrays import decode_bits, decode_float64, encode_bits, encode_float64
from qsession.wire.spans import ExecutionSpans, SliceSpan
from qsession.wire.structs import dict_to_struct, struct_to_dict
from qsession.wire.times import to_datetime, to_timestamp

_ESTIMATOR_FIELDS = (
    "evs",
    "stds",
    "ensemble_standard_error",
    # with ZNE (qiskit-ibm-runtime's names and shapes)
    "evs_noise_factors",
    "stds_noise_factors",
    "ensemble_stds_noise_factors",
    "evs_extrapolated",
    "stds_extrapolated",
)


def encode_result(result: PrimitiveResult) -> job_pb2.JobResult:
    """A JobResult message for a Sampler or Estimator PrimitiveResult."""
    message = job_pb2.JobResult()
    for pub_result in result:
        data = pub_result.data
        entry = message.pub_results.add(
            shape=data.shape, metadata=dict_to_struct(pub_result.metadata)
        )
        for name, value in data.items():
            if isinstance(value, BitArray):
                entry.registers.add(name=name, samples=encode_bits(value))
            elif name in _ESTIMATOR_FIELDS:
                getattr(entry, name).CopyFrom(encode_float64(value))
    metadata = dict(result.metadata)
    execution = dict(metadata.pop("execution", {}) or {})
    spans = execution.pop("execution_spans", None)
    if execution:
        metadata["execution"] = execution
    message.metadata.CopyFrom(dict_to_struct(metadata))
    for span in spans or ():
        for pub_index, (shape, sl) in sorted(span.data_slices.items()):
            start, stop, _ = sl.indices(math.prod(shape))
            message.execution_spans.add(
                start=to_timestamp(span.start.timestamp()),
                stop=to_timestamp(span.stop.timestamp()),
                pub_index=pub_index,
                shape=shape,
                start_index=start,
                stop_index=stop,
            )
    return message


def decode_result(
    message: job_pb2.JobResult, bit_array_cls: type[BitArray] = BitArray
) -> PrimitiveResult:
    """The PrimitiveResult a JobResult holds; registers become ``bit_array_cls`` (no copy)."""
    pub_results = []
    for i, entry in enumerate(message.pub_results):
        shape = tuple(entry.shape)
        metadata = struct_to_dict(entry.metadata)
        if entry.HasField("evs"):
            fields = {
                name: decode_float64(getattr(entry, name), f"pub_results[{i}].{name}")
                for name in _ESTIMATOR_FIELDS
                if entry.HasField(name)
            }
            pub_results.append(PubResult(DataBin(**fields, shape=shape), metadata=metadata))
        else:
            registers = {
                reg.name: decode_bits(
                    reg.samples, f"pub_results[{i}].registers[{j}]", bit_array_cls
                )
                for j, reg in enumerate(entry.registers)
            }
            pub_results.append(
                SamplerPubResult(DataBin(**registers, shape=shape), metadata=metadata)
            )
    metadata = struct_to_dict(message.metadata)
    if message.execution_spans:
        execution = dict(metadata.get("execution", {}))
        execution["execution_spans"] = ExecutionSpans(
            SliceSpan(
                to_datetime(span.start),
                to_datetime(span.stop),
                {span.pub_index: (tuple(span.shape), slice(span.start_index, span.stop_index))},
            )
            for span in message.execution_spans
        )
        metadata["execution"] = execution
    return PrimitiveResult(pub_results, metadata=metadata)
