"""What a worker runs: one job's stored request bytes in, its encoded result bytes out."""

from __future__ import annotations

from qsession.execution.executor import Executor
from qsession.v1 import job_pb2
from qsession.wire import decode_circuit, decode_job_pubs, decode_observables, encode_result
from qsession.wire.arrays import encode_tensor
from qsession.wire.circuits import CircuitDecoder
from qsession.wire.quantum_program import sample_program


def execute_request(executor: Executor, request: bytes, seed: int) -> bytes:
    """Run a serialized ``CreateJobRequest`` on ``executor`` with ``seed``.

    The request was validated at admission; it is decoded and validated again here, because
    a worker trusts nothing it did not parse itself (it may run on another machine). With the
    executor's memo, a circuit parsed before is not parsed again (see ``memo``).

    An Executor job's items run as Sampler PUBs (``wire.quantum_program``): a samplex item's
    parameter values drawn from its samplex with ``seed``, its samplex's other outputs
    returned beside its registers. The result echoes the program's passthrough data and
    semantic role.

    Returns:
        The serialized ``JobResult``.

    Raises:
        WireError, InvalidPub: the request does not decode or fit the device.
        ExecutionFailed: the emulator cannot run a circuit.
    """
    message = job_pb2.CreateJobRequest.FromString(request)
    memo = executor.memo
    circuits = decode_circuit if memo is None else memo.circuit
    if message.program == job_pb2.PROGRAM_EXECUTOR:
        return _execute_program(executor, message, circuits, seed).SerializeToString()
    pubs = decode_job_pubs(
        message.program,
        message,
        message.options,
        circuits,
        decode_observables if memo is None else memo.observables,
    )
    if message.program == job_pb2.PROGRAM_SAMPLER:
        result = executor.run_sampler(pubs, seed, message.options)
    else:
        result = executor.run_estimator(pubs, seed, message.options)
    return encode_result(result).SerializeToString()


def _execute_program(
    executor: Executor, message: job_pb2.CreateJobRequest, circuits: CircuitDecoder, seed: int
) -> job_pb2.JobResult:
    program = message.quantum_program
    pubs, outputs = sample_program(program, circuits, seed)
    result = encode_result(executor.run_sampler(pubs, seed, message.options))
    for entry, drawn in zip(result.pub_results, outputs, strict=True):
        for name, value in drawn.items():
            entry.outputs[name].CopyFrom(encode_tensor(value))
    result.passthrough_data_json = program.passthrough_data_json
    if program.semantic_role:
        result.metadata["semantic_role"] = program.semantic_role
    return result
