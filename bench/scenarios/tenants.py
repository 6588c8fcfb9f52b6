"""One tenant must never hurt another: a tenant's GetBackend throughput and p99, idle and while
another instance runs each of ``bench/tenant_load.py``'s loads (2,000 watchers and 5 jobs/s,
2,000 unread page event streams, a 500,000-entry options array, a level-3 Transpile flood,
twelve refused 22 MB circuits), and the server's memory after the last; and a floor: the same
figures while a process merely spins at SCHED_IDLE, as a busy sandbox does (on 2 cores, the
p99 no load that keeps a sandbox busy can go below)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from harness import TOKEN, Client, Row, server_process

from qsession.testing import free_port

LOAD_TOKEN = "bench-load-token"
LOAD = Path(__file__).resolve().parent.parent / "tenant_load.py"
MODES = ("watchers", "sse", "options", "transpile", "circuits", "floor")


def _closed_loop(client: Client, seconds: float) -> tuple[float, float]:
    """GetBackend calls back to back for ``seconds``: calls per second and p99 (ms)."""
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        client.get_backend()
        times.append(time.perf_counter() - start)
    return len(times) / seconds, float(np.percentile(times, 99) * 1e3)


def tenant_isolation(seconds: float = 8.0, modes: tuple[str, ...] = MODES) -> list[Row]:
    page = free_port()
    instances = [
        {"name": "bench", "plan": "premium", "tokens": [TOKEN]},
        {"name": "load", "plan": "premium", "tokens": [LOAD_TOKEN]},
    ]
    rows = []
    with server_process(
        backends=("ideal_24", "fake_torino"),
        instances=instances,
        dashboard={"listen": f"127.0.0.1:{page}"},
        limits={"max_http_connections": 4096},
    ) as server:
        client = Client(server.address)
        for mode in modes:
            idle_rate, idle_p99 = _closed_loop(client, seconds)
            rss_before = server.rss_bytes()
            load = subprocess.Popen(
                [
                    "nice",
                    "-n",
                    "19",
                    sys.executable,
                    str(LOAD),
                    mode,
                    server.address,
                    str(page),
                    LOAD_TOKEN,
                    str(seconds * 2),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(seconds / 2)  # the load under way
            rate, p99 = _closed_loop(client, seconds)
            out, _ = load.communicate(timeout=600)
            rss_after = server.rss_bytes()
            note = (
                f"ref = idle, ours = while another instance's process (niced, as if on another "
                f"machine) runs tenant_load.py {mode} (answers: {json.loads(out or '{}')}); "
                f"GetBackend back to back for {seconds:.0f} s from one client of the bench "
                f"instance. RSS of the server before/after the load: "
                f"{rss_before / 2**20:.0f}/{rss_after / 2**20:.0f} MB."
            )
            scenario = f"tenants, {mode}"
            if mode == "floor":  # a figure to read the others by, with no target of its own
                rows += [
                    Row(scenario, "GetBackend/s", "/s", idle_rate, rate, note=note),
                    Row(scenario, "GetBackend p99", "ms", idle_p99, p99, note=note),
                ]
                continue
            rows += [
                Row(
                    scenario,
                    "GetBackend/s",
                    "/s",
                    idle_rate,
                    rate,
                    ">=0.8x",
                    rate >= 0.8 * idle_rate,
                    note,
                ),
                Row(
                    scenario,
                    "GetBackend p99",
                    "ms",
                    idle_p99,
                    p99,
                    "<=2x",
                    p99 <= 2 * idle_p99,
                    note,
                ),
            ]
            if mode == "circuits":
                grew = (rss_after - rss_before) / 2**20
                rows.append(
                    Row(scenario, "server RSS growth", "MB", None, grew, "<50", grew < 50, note)
                )
        client.close()
    return rows
