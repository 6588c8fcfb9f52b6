"""Where executions run: a worker per backend, out of the server process.

The worker contract is plain bytes (a serialized CreateJobRequest and a seed in, a serialized
JobResult out, with where it ran), so a worker can be a local process or run on another
machine. The server's ``[execution] engine`` chooses:

- ``local`` (the default, ``workers.local``): one worker process per backend on the server's
  machine.
- ``ray`` (``workers.ray``): one Ray actor per backend, placed on a node of an existing Ray
  cluster that offers the backend's ``ray_resources``. Ray is an optional extra
  (``pip install 'qsession[ray]'``), imported only by this engine.

Both give the runtime the same :class:`Worker` and :class:`Engine` interfaces.
``process`` is the local worker's own program; this package imports only typing helpers at
module level (the engines are imported when chosen), so starting it with
``python -m qsession.workers.process`` loads only what the worker needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from qsession.lifecycle.model import Placement

ENGINES = ("local", "ray")


class WorkerLost(Exception):
    """The worker (process, Ray actor or its node) died before it answered; the job runs
    again on a fresh worker."""


class JobFailed(Exception):
    """The worker ran the job and it failed; the message says why, for the user."""


class EngineUnavailable(Exception):
    """The configured engine cannot be used (Ray not installed, or its cluster unreachable);
    the message says what to do."""


class Worker(Protocol):
    """One backend's exclusive QPU: runs one job at a time.

    ``ready`` says whether a job handed to it now would start at once (a local worker always
    is; a Ray worker is once its actor is alive on a node); while it is not, ``waiting_for``
    says why, in words for a user. ``placement`` is where its jobs run now (None while it is
    not ready).
    """

    backend: str

    @property
    def ready(self) -> bool: ...

    @property
    def waiting_for(self) -> str: ...

    @property
    def placement(self) -> Placement | None: ...

    async def run(self, request: bytes, seed: int) -> tuple[bytes, Placement]:
        """Run one job; its JobResult bytes and where it ran. Cancelling the call stops the
        job (the worker is replaced).

        Raises:
            JobFailed: the job cannot run (the message says why).
            WorkerLost: the worker died while it ran the job.
        """
        ...

    def replace(self) -> None:
        """Stop the worker (and any job it runs) and start a fresh one."""
        ...

    async def stop(self) -> None:
        """Stop the worker for good."""
        ...


class Engine(Protocol):
    """Builds the backends' workers and owns what they share (for Ray, the connection)."""

    name: str

    def worker(
        self, backend: str, profile: str, noise: bool, resources: dict[str, float]
    ) -> Worker:
        """The worker of one backend (``resources``: its ``ray_resources``)."""
        ...

    async def start(self, on_ready: Callable[[], None]) -> None:
        """Connect (off the event loop) and start the workers; ``on_ready`` is called on the
        loop whenever a worker becomes ready, so that queued jobs start.

        Raises:
            EngineUnavailable: the engine cannot run jobs here.
        """
        ...

    async def stop(self) -> None:
        """Disconnect, after the workers stopped."""
        ...


def engine_for(name: str, ray_address: str = "auto") -> Engine:
    """The engine named by ``[execution] engine``: ``"local"`` or ``"ray"`` (which joins
    the Ray cluster at ``ray_address`` when started). Imports Ray only for ``"ray"``.

    Raises:
        EngineUnavailable: ``"ray"`` without Ray installed.
        ValueError: an unknown engine name.
    """
    if name == "local":
        from qsession.workers.local import LocalEngine

        return LocalEngine()
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
