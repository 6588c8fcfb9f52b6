"""Request floods: another tenant's latency and the server's memory while clients send large
requests, with made-up tokens (nothing may be read) and with a valid token of another
instance (read in that instance's turn, at its byte rate)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import TOKEN, Client, Row, percentiles_ms, server_process

FLOOD_TOKEN = "bench-flood-token"
FLOOD_CLIENT = Path(__file__).resolve().parent.parent / "flood_client.py"


def request_flood(seconds: float = 20.0, interval: float = 0.01) -> list[Row]:
    """GetBackend p50/p99 (one call every ``interval`` s) and the server's peak RSS, idle and
    while ``bench/flood_client.py`` floods for ``seconds``: once with made-up tokens, once
    with another instance's valid token."""
    instances = [
        {"name": "bench", "plan": "premium", "tokens": [TOKEN]},
        {"name": "flood", "plan": "premium", "tokens": [FLOOD_TOKEN]},
    ]
    rows = []
    for label, token in (("made-up tokens", None), ("another instance's valid token", FLOOD_TOKEN)):
        # a server each: the first flood gets 127.0.0.1 throttled, which the second would meet
        with server_process(instances=instances) as server:
            client = Client(server.address)
            calls = int(seconds * 0.6 / interval)
            idle = percentiles_ms(client.get_backend, calls, interval)
            idle_rss = server.rss_bytes()
            busy, peak, codes, cpu = _under_flood(server, client, token, seconds, calls, interval)
            client.close()
        note = (
            f"ref = idle, ours = while a niced client process (as if on another machine) sends "
            f"24 connections x 3 calls of 60 MB CreateJob requests with {label} for "
            f"{seconds:.0f} s (answers: {codes}; server CPU {cpu:.1f} s). "
            f"GetBackend: {calls} sequential calls of the bench instance, one every "
            f"{interval * 1e3:.0f} ms. RSS: the server process's, peak sampled every 0.1 s."
        )
        scenario = "flood, " + ("bad tokens" if token is None else "valid token")
        # read nothing of a refused call: bounded whatever the flood; a valid token's requests
        # are read, two at a time, so its bound is two requests and their copies
        rss_target = ("<500", peak < 500 * 2**20) if token is None else ("", None)
        rows += [
            Row(scenario, "GetBackend p50", "ms", idle[0], busy[0], note=note),
            Row(
                scenario,
                "GetBackend p99",
                "ms",
                idle[1],
                busy[1],
                "<=2x",
                busy[1] <= 2 * idle[1],
                note,
            ),
            Row(
                scenario,
                "server RSS peak",
                "MB",
                idle_rss / 2**20,
                peak / 2**20,
                *rss_target,
                note,
            ),
        ]
    return rows


def _under_flood(server, client, token, seconds, calls, interval):
    command = ["nice", "-n", "19", sys.executable, str(FLOOD_CLIENT), server.address, str(seconds)]
    cpu_before = server.cpu_seconds()
    flood = subprocess.Popen(
        command + ([token] if token else []), stdout=subprocess.PIPE, text=True
    )
    peak = [server.rss_bytes()]

    def sample() -> None:
        while flood.poll() is None:
            peak[0] = max(peak[0], server.rss_bytes())
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    time.sleep(seconds * 0.2)  # the flood under way
    busy = percentiles_ms(client.get_backend, calls, interval)
    out, _ = flood.communicate()
    sampler.join()
    return busy, peak[0], json.loads(out), server.cpu_seconds() - cpu_before
