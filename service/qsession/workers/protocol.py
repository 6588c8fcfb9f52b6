"""The worker contract: the :class:`Worker` and :class:`Engine` interfaces every engine gives
the runtime, the errors a run raises, and the engine names.

It imports no engine and nothing heavy (``workers.engine_for`` chooses an engine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from qsession.lifecycle.model import Placement

ENGINES = ("local", "ray")
"""Where jobs run (``[execution] engine``)."""


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

    async def started(self) -> None:
        """Return once a job handed over now starts at once (a local worker's fresh process
        has loaded its device). A job's time is counted from then, not from its worker's
        start-up.

        Raises:
            WorkerLost: the worker could not start.
        """
        ...

    async def run(
        self, request: bytes, seed: int, on_progress: Callable[[float], None] | None = None
    ) -> tuple[bytes, Placement]:
        """Run one job; its JobResult bytes and where it ran. Cancelling the call stops the
        job (the worker is replaced). ``on_progress`` is called with the fraction of the job's
        work done as the worker reports it (the local engine; a Ray actor reports none).

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
