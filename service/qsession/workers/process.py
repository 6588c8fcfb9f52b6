"""A backend's worker process: runs one job at a time for one emulated QPU.

Started as a fresh interpreter, ``python -m qsession.workers.process PROFILE NOISE FD``, that
talks over the inherited socket ``FD`` (so it never re-imports the program that embeds the
server). It builds the device's executor once (profile, noise model), says READY, and then
answers each request::

    server -> worker   ("run", request: bytes, seed: int)     a serialized CreateJobRequest
    worker -> server   ("progress", fraction: float)          while it runs (0 or more)
                       ("ok", result: bytes, host: str)      a serialized JobResult
                       ("error", message: str, host: str)    the job fails with this message

Progress is the fraction of the job's PUBs done, sent at a bounded rate: at most every
``PROGRESS_INTERVAL`` seconds and only when it advanced by ``PROGRESS_STEP`` or more, so a job
reports at most ~100 times however long it runs.

``host`` is the host name of the machine the worker runs on (where the job ran). Everything
that crosses is plain bytes, text and integers, so the same contract can run on another
machine. Each message is one frame: its length (8 bytes, big-endian) and its pickle
(:func:`frame`); the server reads frames with asyncio, the worker with a blocking socket.

The worker holds no state a job needs: killing it loses only the running job's work, and a
fresh worker runs the job again.

:func:`build_executor` and :func:`answer` are the whole execution, shared with the Ray engine's
actor (``qsession.workers.ray``), so that a seed gives the same result bit for bit on either
engine.
"""

from __future__ import annotations

import pickle
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qsession.execution import Executor

READY = "ready"
PROGRESS_INTERVAL = 0.25
PROGRESS_STEP = 0.01
HEADER = struct.Struct("!Q")
"""A frame's header: the length of the pickle that follows."""


def frame(message: Any) -> bytes:
    """``message`` as one frame: header, then its pickle."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def _send(channel: socket.socket, message: Any) -> None:
    channel.sendall(frame(message))


def _receive(channel: socket.socket) -> Any:
    """The next message; EOFError when the server closed the channel."""
    (size,) = HEADER.unpack(_receive_exactly(channel, HEADER.size))
    return pickle.loads(_receive_exactly(channel, size))


def _receive_exactly(channel: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view, received = memoryview(buffer), 0
    while received < size:
        count = channel.recv_into(view[received:])
        if count == 0:
            raise EOFError
        received += count
    return buffer


def build_executor(profile_name: str, noise: bool) -> Executor:
    """The backend's executor, built once per worker: its device profile, noise model (when
    ``noise``) and a memo of the circuits it parsed. Also imports what :func:`answer` needs,
    so that the first job does not pay for it."""
    import qsession.execution.request  # noqa: F401 - warm: see the docstring
    import qsession.wire  # noqa: F401
    from qsession.execution import Executor, load_profile
    from qsession.execution.memo import Memo

    return Executor(load_profile(profile_name), noise=noise, memo=Memo())


class ProgressReporter:
    """Sends a running job's progress to the server at a bounded rate (see the module
    docstring); the executor calls it with (PUBs done, PUBs in all), PUBs done fractional
    while a PUB's inner loops advance."""

    def __init__(self, channel: socket.socket) -> None:
        self._channel = channel
        self._sent, self._at = 0.0, 0.0

    def __call__(self, done: float, total: int) -> None:
        fraction, now = done / total, time.monotonic()
        if done >= total:
            return  # the answer itself says it is done
        if fraction - self._sent >= PROGRESS_STEP and now - self._at >= PROGRESS_INTERVAL:
            self._sent, self._at = fraction, now
            _send(self._channel, ("progress", fraction))


def answer(
    executor: Executor,
    request: bytes,
    seed: int,
    progress: Callable[[float, int], None] | None = None,
) -> tuple[str, bytes | str]:
    """Run one serialized CreateJobRequest with ``seed``: ``("ok", JobResult bytes)``, or
    ``("error", message)`` when the job fails (the worker goes on either way). ``progress``
    is called with (PUBs done, PUBs in all) as the job advances."""
    from qsession.execution import ExecutionFailed, InvalidPub
    from qsession.execution.request import execute_request
    from qsession.wire import WireError

    executor.progress = progress
    try:
        return "ok", execute_request(executor, request, seed)
    except (ExecutionFailed, InvalidPub, WireError) as exc:
        return "error", str(exc)
    except Exception as exc:  # noqa: BLE001 - e.g. Aer's own errors: the job fails, we go on
        return "error", f"the emulator failed: {type(exc).__name__}: {exc}"
    finally:
        executor.progress = None


def serve(channel: socket.socket, profile_name: str, noise: bool) -> None:
    """Build the executor, say READY, then run requests until the server goes away."""
    executor = build_executor(profile_name, noise)
    host = socket.gethostname()
    try:
        _send(channel, READY)
    except OSError:  # the server went away while this worker started
        return
    while True:
        try:
            _, request, seed = _receive(channel)
        except (EOFError, OSError):  # the server stopped, or replaced this worker
            return
        try:
            _send(channel, (*answer(executor, request, seed, ProgressReporter(channel)), host))
        except OSError:
            return


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[3])), sys.argv[1], sys.argv[2] == "noise")
