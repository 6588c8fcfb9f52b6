"""Backends on a Ray cluster (``[execution] engine = "ray"``): one Ray actor per backend.

The server stays the one coordinator: it owns the lifecycle, the store and the contract, and
joins an existing Ray cluster as a driver (``ray.init(address=ray_address)``; it never starts
or owns the cluster). Each backend's worker is one actor, :class:`QpuActor`, created with the
backend's ``ray_resources`` (and one CPU), so Ray places it only on a node that offers them.
The actor builds the device's executor once (profile, noise model, circuit memo) and runs one
job at a time, exactly as a local worker process does (``workers.process``): the same seed
gives the same result bit for bit. Only bytes, text and integers cross the wire.

A :class:`RayWorker` is *ready* once its actor is alive on a node; until then (no node offers
the resources, or the actor is starting) the coordinator hands it no job, so jobs wait rather
than fail, and the backend reports why it is not operational. If the actor or its node dies,
a job it ran raises :class:`WorkerLost` (the runtime runs the job again) and a fresh actor
waits for a node with the resources. Cancelling a run (cancel, ``max_execution_time``,
shutdown) kills the actor (``ray.kill``) and a fresh one is created.

This module imports Ray: the runtime imports it only for the "ray" engine.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable

import ray
from ray.exceptions import RayError, RayTaskError

from qsession.lifecycle.model import Placement
from qsession.workers.process import answer, build_executor
from qsession.workers.protocol import EngineUnavailable, JobFailed, WorkerLost

log = logging.getLogger("qsession.workers")

NAMESPACE = "qsession"
"""The Ray namespace of the server's actors."""
RESTART_DELAY = 5.0
"""Seconds before creating a new actor after one failed to start (e.g. a node without
qsession installed), so that a broken node is not hammered."""


@ray.remote(concurrency_groups={"run": 1, "watch": 1}, max_restarts=0, max_task_retries=0)
class QpuActor:
    """A backend's emulated QPU on a Ray node: its executor, built once, and one job at a time.

    ``run`` has a concurrency group of its own with one thread (an exclusive QPU);
    ``watch`` has another, so that the server can wait on it to learn, without polling, that
    the actor or its node died. Ray never restarts the actor nor retries a call (the server
    does both, so that ``attempts`` counts every run).
    """

    def __init__(self, profile: str, noise: bool):
        self._executor = build_executor(profile, noise)
        self._node_id = ray.get_runtime_context().get_node_id()
        self._host = socket.gethostname()

    def where(self) -> tuple[str, str]:
        """The Ray node id and host name the actor runs on (answered once it is built)."""
        return self._node_id, self._host

    @ray.method(concurrency_group="run")
    def run(self, request: bytes, seed: int) -> tuple[str, bytes | str, str, str]:
        """Run one serialized CreateJobRequest: ``("ok", JobResult bytes, node id, host)`` or
        ``("error", message, node id, host)``."""
        kind, payload = answer(self._executor, request, seed)
        return kind, payload, self._node_id, self._host

    @ray.method(concurrency_group="watch")
    def watch(self) -> None:
        """Never returns: the call fails when the actor or its node dies."""
        threading.Event().wait()


def _shown(resources: dict[str, float]) -> dict[str, float | int]:
    """Resources as an operator wrote them: whole amounts as integers ({'qpu_torino': 1})."""
    return {name: int(v) if float(v).is_integer() else v for name, v in resources.items()}


def _actor_options(resources: dict[str, float]) -> dict:
    """Ray's actor options for a backend's ``ray_resources``: one CPU unless they say
    otherwise; CPU, GPU and memory go to their own keywords, as Ray requires."""
    custom = dict(resources)
    options = {"num_cpus": custom.pop("CPU", 1), "num_gpus": custom.pop("GPU", 0)}
    if "memory" in custom:
        options["memory"] = custom.pop("memory")
    options["resources"] = custom
    return options


def _last_line(error: Exception) -> str:
    """An error in a few words: the last line of its message, where Ray puts the exception
    that ended a remote call (e.g. "ModuleNotFoundError: No module named 'qsession'")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


REACH_TIMEOUT = 10.0
"""Seconds to wait for a TCP connection to ``ray_address`` before giving up on it."""


def _check_reachable(address: str) -> None:
    """Fail fast when nothing listens at an explicit ``host:port`` (or ``ray://host:port``)
    address: ``ray.init`` itself retries such an address for minutes. "auto" is left to Ray.

    Raises:
        EngineUnavailable: naming the address and why it cannot be reached.
    """
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT).close()
    except OSError as exc:
        raise EngineUnavailable(
            f"[execution] ray_address = {address!r}: nothing answers at {target} ({exc}); "
            "start the cluster's head there (`ray start --head`) or point ray_address at it"
        ) from None


def _drop_sigterm_notice(record: logging.LogRecord) -> bool:
    """A logging filter: False for ray.init's "SIGTERM handler is not set" warning."""
    return "SIGTERM handler is not set" not in record.getMessage()


def _kill(actor) -> None:
    """Kill an actor now (its running call fails); an actor already gone is fine."""
    try:
        ray.kill(actor, no_restart=True)
    except Exception as exc:  # noqa: BLE001 - dead already, or Ray is shutting down
        log.debug("ray.kill: %s", exc)


class RayWorker:
    """One backend's worker as a Ray actor (see the module docstring).

    Args:
        backend: the backend's name (for logs and messages).
        profile: the device profile the actor loads.
        noise: whether the actor applies the profile's noise model.
        resources: the backend's ``ray_resources``: only a node offering them hosts it.
        address: the cluster's address (for the message shown until the server joined it).
    """

    def __init__(
        self,
        backend: str,
        profile: str,
        noise: bool,
        resources: dict[str, float],
        address: str = "auto",
    ):
        self.backend = backend
        self._profile = profile
        self._noise = noise
        self._options = _actor_options(resources)
        offering = _shown(resources)
        self._no_node = (
            f"waiting for a Ray node offering {offering}"
            if offering
            else "waiting for a Ray node with a free CPU"
        )
        self._waiting_for = f"connecting to the Ray cluster at {address}"
        self._start_failure = ""  # why the last actor failed to start, until one is ready
        self._on_ready: Callable[[], None] = lambda: None
        self._actor = None  # the current actor's handle, once created
        self._placement: Placement | None = None  # where it runs, once it is alive
        self._generation = 0  # bumped by every replacement: older actors' news is stale
        self._keeper: asyncio.Task | None = None
        self._kills: set[asyncio.Task] = set()
        self._stopped = False

    @property
    def ready(self) -> bool:
        """Whether the actor is alive on a node, so that a job handed over starts at once."""
        return self._placement is not None

    @property
    def waiting_for(self) -> str:
        """Why the worker is not ready (empty when it is), e.g. "waiting for a Ray node
        offering {'qpu_torino': 1}"."""
        if self.ready:
            return ""
        if self._start_failure:
            return f"{self._waiting_for}; the last actor failed to start: {self._start_failure}"
        return self._waiting_for

    @property
    def placement(self) -> Placement | None:
        """The node and host the actor runs on; None while it is not ready."""
        return self._placement

    @property
    def pid(self) -> None:
        """No local process: the actor's process is on a Ray node."""
        return None

    def start(self, on_ready: Callable[[], None]) -> None:
        """Create the actor (on the event loop, once Ray is connected); ``on_ready`` is called
        each time an actor becomes ready."""
        self._on_ready = on_ready
        self._spawn()

    def _spawn(self) -> None:
        """Start a fresh actor generation: create the actor and follow it until it dies."""
        self._generation += 1
        self._actor = None
        self._placement = None
        self._waiting_for = self._no_node
        self._keeper = asyncio.create_task(
            self._keep(self._generation), name=f"ray-actor-{self.backend}"
        )

    async def _keep(self, generation: int) -> None:
        """Create this generation's actor, mark the worker ready once the actor answers
        where it runs, then wait on ``watch`` until it dies and start a fresh one.

        An actor whose own start failed (its ``__init__`` raised, e.g. a node without
        qsession installed) is retried after RESTART_DELAY, and the backend's status names
        the error; one lost to its node (even before it started) is replaced at once.
        """
        try:
            actor = await asyncio.to_thread(
                QpuActor.options(**self._options).remote, self._profile, self._noise
            )
            if generation != self._generation:  # replaced or stopped while it was created
                self._kill_soon(actor)
                return
            self._actor = actor
            node_id, host = await (await asyncio.to_thread(actor.where.remote))
            if generation != self._generation:
                return
            self._placement = Placement("ray", node_id, host)
            self._start_failure = ""
            log.info("the Ray actor of %s runs on node %s (%s)", self.backend, node_id, host)
            self._on_ready()
            await (await asyncio.to_thread(actor.watch.remote))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - RayError, or Ray failing otherwise
            if generation != self._generation:
                return
            if self._placement is not None:
                where = self._placement
                log.warning(
                    "the Ray actor of %s on node %s (%s) died; a fresh one is %s",
                    self.backend,
                    where.node_id,
                    where.host,
                    self._no_node,
                )
            elif getattr(exc, "actor_init_failed", False) or not isinstance(exc, RayError):
                log.warning("the Ray actor of %s failed to start: %s", self.backend, exc)
                self._start_failure = _last_line(exc)
                await asyncio.sleep(RESTART_DELAY)
            else:
                log.warning("the Ray actor of %s was lost before it started: %s", self.backend, exc)
        self._retire(generation)

    def _retire(self, generation: int) -> None:
        """Kill this generation's actor (if still current) and start a fresh one."""
        if generation != self._generation or self._stopped:
            return
        if self._actor is not None:
            self._kill_soon(self._actor)
        self._spawn()

    def _kill_soon(self, actor) -> None:
        """Kill ``actor`` off the event loop; ``stop`` waits for the kills still under way."""
        task = asyncio.create_task(asyncio.to_thread(_kill, actor))
        self._kills.add(task)
        task.add_done_callback(self._kills.discard)

    async def started(self) -> None:
        """At once: a Ray worker is handed jobs only once its actor is alive (``ready``)."""

    async def run(
        self, request: bytes, seed: int, on_progress: Callable[[float], None] | None = None
    ) -> tuple[bytes, Placement]:
        """Run one job on the actor: JobResult bytes and where it ran. (A Ray actor reports
        no progress: ``on_progress`` is not called.)

        Cancelling the call kills the actor (a fresh one is created for the next job).

        Raises:
            JobFailed: the job cannot run (the message says why).
            WorkerLost: the actor or its node died, or the worker was not ready.
        """
        actor, generation, where = self._actor, self._generation, self._placement
        if actor is None or where is None:
            raise WorkerLost(f"the Ray actor of {self.backend} is not ready ({self.waiting_for})")
        try:
            call = await asyncio.to_thread(actor.run.remote, request, seed)
            kind, payload, node_id, host = await call
        except asyncio.CancelledError:
            self._retire(generation)
            raise
        except RayTaskError as exc:  # the actor's code raised: a bug, not a lost actor
            raise JobFailed(f"the Ray actor of {self.backend} failed: {exc}") from None
        except RayError as exc:
            log.warning("the Ray actor of %s was lost: %s", self.backend, exc)
            self._retire(generation)
            raise WorkerLost(
                f"the Ray actor of {self.backend} on node {where.node_id} ({where.host}) was "
                f"lost while it ran the job ({type(exc).__name__})"
            ) from None
        if kind == "error":
            raise JobFailed(payload)
        return payload, Placement("ray", node_id, host)

    def replace(self) -> None:
        """Kill the actor (and any job it runs) and create a fresh one."""
        self._retire(self._generation)

    async def stop(self) -> None:
        """Kill the actor for good and wait until the kills are sent."""
        self._stopped = True
        self._generation += 1
        self._placement = None
        self._waiting_for = "the server is stopping"
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        if self._actor is not None:
            actor, self._actor = self._actor, None
            await asyncio.to_thread(_kill, actor)
        await asyncio.gather(*self._kills, return_exceptions=True)


class RayEngine:
    """The "ray" engine: joins the Ray cluster at ``address`` and runs each backend as a
    :class:`RayWorker`.

    Args:
        address: ``[execution] ray_address``: "auto" (the cluster this machine belongs to),
            "host:port" of the head's GCS, or "ray://host:10001" (Ray Client).
    """

    name = "ray"

    def __init__(self, address: str):
        self.address = address
        self._workers: list[RayWorker] = []

    def worker(
        self, backend: str, profile: str, noise: bool, resources: dict[str, float]
    ) -> RayWorker:
        """The backend's worker; its actor is created by :meth:`start`."""
        worker = RayWorker(backend, profile, noise, resources, self.address)
        self._workers.append(worker)
        return worker

    async def start(self, on_ready: Callable[[], None]) -> None:
        """Join the cluster (off the event loop), then create every backend's actor.

        Raises:
            EngineUnavailable: no Ray cluster answers at the address.
        """
        await asyncio.to_thread(self._connect)
        for worker in self._workers:
            worker.start(on_ready)

    def _connect(self) -> None:
        """``ray.init`` as a driver of the existing cluster, in namespace "qsession".

        The actors' output is not forwarded to the server's log (it stays in Ray's own logs
        on each node); run failures reach the server as the job's error.
        """
        if ray.is_initialized():
            return
        _check_reachable(self.address)
        # ray.init warns that, called off the main thread, it sets no SIGTERM handler: as it
        # should not (the server handles SIGTERM itself), so the warning is dropped.
        logging.getLogger("ray._private.worker").addFilter(_drop_sigterm_notice)
        try:
            ray.init(
                address=self.address,
                namespace=NAMESPACE,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EngineUnavailable(
                f"[execution] ray_address = {self.address!r}: cannot join a Ray cluster there "
                f"({exc}); start one (`ray start --head`) or point ray_address at it"
            ) from None
        resources = ray.cluster_resources()
        log.info("joined the Ray cluster at %s: %s", self.address, resources)

    async def stop(self) -> None:
        """Leave the cluster (the actors the server created die with its connection)."""
        if ray.is_initialized():
            await asyncio.to_thread(ray.shutdown)
