"""A backend's worker process: runs one job at a time for one emulated QPU.

Started as a fresh interpreter, ``python -m qsession.workers.process PROFILE NOISE FD``, that
talks over the inherited socket ``FD`` (so it never re-imports the program that embeds the
server). It builds the device's executor once (profile, noise model) and then answers each
request::

    server -> worker   ("run", request: bytes, seed: int)     a serialized CreateJobRequest
    worker -> server   ("ok", result: bytes, host: str)      a serialized JobResult
                       ("error", message: str, host: str)    the job fails with this message

``host`` is the host name of the machine the worker runs on (where the job ran). Everything
that crosses is plain bytes, text and integers, so the same contract can run on another
machine. The worker holds no state a job needs: killing it loses only the running job's work,
and a fresh worker runs the job again.

:func:`build_executor` and :func:`answer` are the whole execution, shared with the Ray engine's
actor (``qsession.workers.ray``), so that a seed gives the same result bit for bit on either
engine.
"""

from __future__ import annotations

import socket
import sys
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qsession.execution import Executor

READY = "ready"


def build_executor(profile_name: str, noise: bool) -> Executor:
    """The backend's executor, built once per worker: its device profile, noise model (when
    ``noise``) and a memo of the circuits it parsed. Also imports what :func:`answer` needs,
    so that the first job does not pay for it."""
    import qsession.execution.request  # noqa: F401 - warm: see the docstring
    import qsession.wire  # noqa: F401
    from qsession.execution import Executor, load_profile
    from qsession.execution.memo import Memo

    return Executor(load_profile(profile_name), noise=noise, memo=Memo())


def answer(executor: Executor, request: bytes, seed: int) -> tuple[str, bytes | str]:
    """Run one serialized CreateJobRequest with ``seed``: ``("ok", JobResult bytes)``, or
    ``("error", message)`` when the job fails (the worker goes on either way)."""
    from qsession.execution import ExecutionFailed, InvalidPub
    from qsession.execution.request import execute_request
    from qsession.wire import WireError

    try:
        return "ok", execute_request(executor, request, seed)
    except (ExecutionFailed, InvalidPub, WireError) as exc:
        return "error", str(exc)
    except Exception as exc:  # noqa: BLE001 - e.g. Aer's own errors: the job fails, we go on
        return "error", f"the emulator failed: {type(exc).__name__}: {exc}"


def serve(connection: Connection, profile_name: str, noise: bool) -> None:
    """Build the executor, say READY, then run requests until the server goes away."""
    executor = build_executor(profile_name, noise)
    host = socket.gethostname()
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
            connection.send((*answer(executor, request, seed), host))
        except OSError:
            return


if __name__ == "__main__":
    serve(Connection(int(sys.argv[3])), sys.argv[1], sys.argv[2] == "noise")
