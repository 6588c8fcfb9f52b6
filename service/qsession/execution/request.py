"""What a worker runs: one job's stored request bytes in, its encoded result bytes out."""

from __future__ import annotations

from qsession.execution.executor import Executor
from qsession.v1 import job_pb2
from qsession.wire import decode_circuit, decode_job_pubs, decode_observables, encode_result


def execute_request(executor: Executor, request: bytes, seed: int) -> bytes:
    """Run a serialized ``CreateJobRequest`` on ``executor`` with ``seed``.

    The request was validated at admission; it is decoded and validated again here, because
    a worker trusts nothing it did not parse itself (it may run on another machine). With the
    executor's memo, a circuit parsed before is not parsed again (see ``memo``).

    Returns:
        The serialized ``JobResult``.

    Raises:
        WireError, InvalidPub: the request does not decode or fit the device.
        ExecutionFailed: the emulator cannot run a circuit.
    """
    message = job_pb2.CreateJobRequest.FromString(request)
    memo = executor.memo
    pubs = decode_job_pubs(
        message.program,
        message,
        message.options,
        decode_circuit if memo is None else memo.circuit,
        decode_observables if memo is None else memo.observables,
    )
    if message.program == job_pb2.PROGRAM_SAMPLER:
        result = executor.run_sampler(pubs, seed, message.options)
    else:
        result = executor.run_estimator(pubs, seed, message.options)
    return encode_result(result).SerializeToString()
