"""A backend's worker process: runs one job at a time for one emulated QPU.

Started as a fresh interpreter, ``python -m qsession.workers.process PROFILE NOISE FD``, that
talks over the inherited socket ``FD`` (so it never re-imports the program that embeds the
server). It builds the device's executor once (profile, noise model) and then answers each
request::

    server -> worker   ("run", request: bytes, seed: int)     a serialized CreateJobRequest
    worker -> server   ("ok", result: bytes)                 a serialized JobResult
                       ("error", message: str)               the job fails with this message

Everything that crosses is plain bytes, text and integers, so the same contract can run on
another machine. The worker holds no state a job needs: killing it loses only the running
job's work, and a fresh worker runs the job again.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

READY = "ready"


def serve(connection: Connection, profile_name: str, noise: bool) -> None:
    """Build the executor, say READY, then run requests until the server goes away."""
    from qsession.execution import ExecutionFailed, Executor, InvalidPub, load_profile
    from qsession.execution.memo import Memo
    from qsession.execution.request import execute_request
    from qsession.wire import WireError

    executor = Executor(load_profile(profile_name), noise=noise, memo=Memo())
    try:
        connection.send(READY)
    except OSError:  # the server went away while this worker started
        return
    while True:
        try:
            _, request, seed = connection.recv()
        except (EOFError, OSError):  # the server stopped, or replaced this worker
            return
        try:
            answer = ("ok", execute_request(executor, request, seed))
        except (ExecutionFailed, InvalidPub, WireError) as exc:
            answer = ("error", str(exc))
        except Exception as exc:  # noqa: BLE001 - e.g. Aer's own errors: the job fails, we go on
            answer = ("error", f"the emulator failed: {type(exc).__name__}: {exc}")
        try:
            connection.send(answer)
        except OSError:
            return


if __name__ == "__main__":
    serve(Connection(int(sys.argv[3])), sys.argv[1], sys.argv[2] == "noise")
