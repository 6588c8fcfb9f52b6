"""`make bench`'s "Runtime" table: the runtime core under load, one module per scenario; where
a figure has a reference (the same call on an idle server, with a short history, or a cheaper
call), both are measured in the same run.

Each scenario is a function returning :class:`harness.Row`\\ s; each starts its own
``qsession serve`` subprocesses (:func:`harness.server_process`) and talks to them over gRPC
from this process, with the SDK or the raw stubs:

- ``vqe`` (:mod:`scenarios.vqe`): the session guide's VQE per iteration against Aer's
  EstimatorV2 and qiskit-ibm-runtime's local testing mode.
- ``history`` (:mod:`scenarios.history`): per-request cost with 1,000 and with 20,000 finished
  jobs of history.
- ``heavy`` (:mod:`scenarios.heavy_job`): API latency and other backends' jobs while one
  backend simulates a 24-qubit circuit shot by shot; how fast a cancel frees that backend.
- ``throughput`` (:mod:`scenarios.createjob_rate`): CreateJob/s against GetBackend/s at 1, 8
  and 32 clients.
- ``watch`` (:mod:`scenarios.watch_delivery`): WatchJobs delivery latency to 1,000 concurrent
  subscribers.
- ``ray`` (:mod:`scenarios.ray_engine`): per-job overhead of ``[execution] engine = "ray"``
  against the local engine, and the throughput of 2 backends on 2 Ray nodes against 1 (on a
  local Ray cluster that the scenario starts and stops itself).
- ``ibm`` (:mod:`scenarios.ibm_client`): the session guide's VQE iteration through IBM's own
  client over the IBM REST API against the same through qsession's SDK.
- ``local`` (:mod:`scenarios.local_mode`): the session guide's VQE iteration in qsession's
  local testing mode against qiskit-ibm-runtime's, on the same code (no server).
- ``executor`` (:mod:`scenarios.executor_sweep`): a 20-qubit sweep item of 1M shots through
  qsession's Executor against Aer's SamplerV2 in-process.
- ``tenants`` (:mod:`scenarios.tenants`): another tenant's throughput and p99 under five
  loads of one instance (watchers, unread page streams, huge options, Transpile, big
  refused circuits).
- ``idle`` (:mod:`scenarios.idle_connections`): 30,000 idle connections to the page while
  jobs run, are cancelled and are queued.
- ``fairshare`` (:mod:`scenarios.fair_share`): the cost of picking a QPU's next job in
  fair-share order with 20,000 finished jobs of window usage against 1,000 (in process).
- ``flood`` (:mod:`scenarios.request_flood`): another tenant's latency and the server's memory
  while a client floods it with 60 MB requests, with made-up tokens and with a valid one.

Server CPU and memory are the server process's own; its backend workers and circuit
sandboxes are separate processes and not counted. Client and server share the machine's
cores, so the throughput and delivery figures include the client's own cost; the notes give
both processes' CPU use where that matters.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Iterable

from harness import Row

from scenarios import (
    createjob_rate,
    executor_sweep,
    fair_share,
    heavy_job,
    history,
    ibm_client,
    idle_connections,
    local_mode,
    ray_engine,
    request_flood,
    tenants,
    vqe,
    watch_delivery,
)

SCENARIOS: dict[str, Callable[[], list[Row]]] = {
    "vqe": vqe.vqe_iterations,
    "history": history.history_growth,
    "heavy": heavy_job.heavy_job_isolation,
    "throughput": createjob_rate.create_job_throughput,
    "watch": watch_delivery.watch_delivery,
    "ray": ray_engine.ray_engine,
    "flood": request_flood.request_flood,
    "ibm": ibm_client.ibm_client_iteration,
    "local": local_mode.local_mode_iterations,
    "executor": executor_sweep.executor_sweep,
    "tenants": tenants.tenant_isolation,
    "idle": idle_connections.idle_connections,
    "fairshare": fair_share.fair_share_pick,
}


def run(names: Iterable[str] = SCENARIOS) -> list[Row]:
    """Run the named scenarios (all by default), in order; their rows. A scenario that fails
    (e.g. a local Ray cluster that does not start) is reported and the others still run."""
    rows = []
    for name in names:
        start = time.monotonic()
        try:
            rows += SCENARIOS[name]()
        except Exception:  # noqa: BLE001 - reported; the rest of the table still counts
            traceback.print_exc()
            print(f"runtime bench: {name} FAILED (above); no rows from it", file=sys.stderr)
            continue
        print(f"runtime bench: {name} took {time.monotonic() - start:.0f} s", file=sys.stderr)
    return rows
