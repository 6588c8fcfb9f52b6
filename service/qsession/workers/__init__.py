"""Where executions run: a worker per backend, out of the server process.

The worker contract is plain bytes (a serialized CreateJobRequest and a seed in, a serialized
JobResult out, with where it ran), so a worker can be a local process or run on another
machine. The server's ``[execution] engine`` chooses:

- ``local`` (the default, ``workers.local``): one worker process per backend on the server's
  machine.
- ``ray`` (``workers.ray``): one Ray actor per backend, placed on a node of an existing Ray
  cluster that offers the backend's ``ray_resources``. Ray is an optional extra
  (``pip install 'qsession[ray]'``), imported only by this engine.

Both give the runtime the same :class:`Worker` and :class:`Engine` interfaces
(``workers.protocol``, with the errors and the engine names; re-exported here).
``process`` is the local worker's own program; this package imports only typing helpers at
module level (the engines are imported when chosen), so starting it with
``python -m qsession.workers.process`` loads only what the worker needs.
"""

from __future__ import annotations

from qsession.workers.protocol import (
    ENGINES,
    Engine,
    EngineUnavailable,
    JobFailed,
    Worker,
    WorkerLost,
)

__all__ = [
    "ENGINES",
    "Engine",
    "EngineUnavailable",
    "JobFailed",
    "Worker",
    "WorkerLost",
    "engine_for",
]


def engine_for(
    name: str, ray_address: str = "auto", heartbeat_timeout: float | None = None
) -> Engine:
    """The engine named by ``[execution] engine``: ``"local"`` or ``"ray"`` (which joins
    the Ray cluster at ``ray_address`` when started). Imports Ray only for ``"ray"``.
    ``heartbeat_timeout``: the local engine's (None: its default); Ray watches its own
    actors.

    Raises:
        EngineUnavailable: ``"ray"`` without Ray installed.
        ValueError: an unknown engine name.
    """
    if name == "local":
        from qsession.workers.local import LocalEngine

        return LocalEngine() if heartbeat_timeout is None else LocalEngine(heartbeat_timeout)
    if name == "ray":
        try:
            from qsession.workers.ray import RayEngine
        except ImportError as exc:
            raise EngineUnavailable(
                f'[execution] engine = "ray" needs Ray, which is not installed ({exc}): '
                "pip install 'qsession[ray]'"
            ) from None
        return RayEngine(ray_address)
    raise ValueError(f"unknown engine {name!r}: use one of {ENGINES}")
