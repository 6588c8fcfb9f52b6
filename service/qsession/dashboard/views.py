"""What each page of the dashboard shows, as JSON-ready dicts, for one instance.

Everything is read through the runtime façade's per-instance queries (``list_sessions``,
``get_session``, ``list_jobs``, ``get_job``, ``job_result``, ``backends``), the same calls
the gRPC services make, so a browser sees exactly what its instance sees through gRPC. The
one cross-instance view, other work on a session's QPU, comes from ``Runtime.qpu_busy`` and
is anonymous (start and end times only). Times are unix seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
from google.protobuf.json_format import MessageToDict

from qsession.lifecycle.model import Session, SessionMode, SessionState
from qsession.runtime import (
    Runtime,
    WorkloadFilter,
    job_row,
    list_workloads,
    session_row,
    stamp_seconds,
)
from qsession.store.sqlite import JobFilter
from qsession.v1 import job_pb2
from qsession.wire import decode_result
from qsession.wire.states import JOB_STATUSES, PROGRAM_NAMES

__all__ = [  # the listing lives in the runtime layer, shared with IBM's GET /workloads
    "WorkloadFilter",
    "job_row",
    "session_row",
    "list_workloads",
]
BusyTimes = Callable[[str, float, float, str], list[tuple[float, float]]]
"""(backend, start, end, except_session) -> the QPU's anonymous busy intervals."""
MAX_SESSION_JOBS = 1000  # jobs shown on a session's page
TOP_OUTCOMES = 16  # bars of a counts histogram
MAX_EXPECTATION_VALUES = 64  # rows of an Estimator PUB's table


# ------------------------------------------------------------------------- session page


async def session_page(runtime: Runtime, instance: str, session_id: str) -> dict[str, Any]:
    """A session's details(), its jobs (oldest first) and its timeline."""
    session = await runtime.get_session(instance, session_id)  # NotFound for others'
    now = runtime.now()
    page, _ = await runtime.list_jobs(
        instance, JobFilter(session_id=session_id), None, MAX_SESSION_JOBS
    )
    jobs = sorted((job_row(message) for _, message in page), key=lambda j: j["created"])
    return {
        "row": session_row(session, now),
        "details": session.details(now),
        "jobs": jobs,
        "timeline": timeline(session, jobs, runtime.qpu_busy, now),
    }


def timeline(
    session: Session, jobs: list[dict[str, Any]], busy_times: BusyTimes, now: float
) -> dict[str, Any]:
    """The intervals a session's timeline draws, from its creation to its close (or now).

    ``periods``: the session's states in turn (open, active, inactive, closed);
    ``holds``: the interactive-TTL holds, when the session was active (so held its QPU) but
    ran none of its jobs; ``jobs``: each job's queued and running spans; ``busy``: other work
    on the same QPU, anonymous; ``max_ttl``: the window from the first job's start, whose end
    may lie beyond the drawing.
    """
    end = session.closed_at if session.closed_at is not None else now
    end = max([end, *(j["ended"] or now for j in jobs)])
    periods = []
    for index, transition in enumerate(session.transitions):
        stop = session.transitions[index + 1].time if index + 1 < len(session.transitions) else end
        if periods and periods[-1]["state"] == transition.state.value:
            periods[-1]["end"] = stop  # a change of accepting_jobs only
            continue
        periods.append({"state": transition.state.value, "start": transition.time, "end": stop})
    running = [(j["started"], j["ended"] or now) for j in jobs if j["started"] is not None]
    holds = []
    if session.mode is SessionMode.DEDICATED:
        for period in periods:
            if period["state"] == SessionState.ACTIVE.value:
                holds.extend(_minus(period["start"], period["end"], running))
    bars = [
        {
            "id": j["id"],
            "status": j["status"],
            "queued": [j["created"], j["started"] or j["ended"] or now],
            "running": None if j["started"] is None else [j["started"], j["ended"] or now],
        }
        for j in jobs
    ]
    max_ttl = None
    if session.started_at is not None:
        max_ttl = [session.started_at, session.started_at + session.max_ttl]
    busy = busy_times(session.backend, session.created, end, session.id)
    return {
        "start": session.created,
        "end": end,
        "now": now,
        "interactive_ttl": session.interactive_ttl,
        "max_ttl": max_ttl,
        "periods": periods,
        "holds": [{"start": a, "end": b} for a, b in holds],
        "jobs": bars,
        "busy": [{"start": a, "end": b} for a, b in busy],
    }


def _minus(start: float, end: float, taken: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of [start, end] that no interval of ``taken`` covers."""
    free, cursor = [], start
    for a, b in sorted(taken):
        if b <= cursor or a >= end:
            continue
        if a > cursor:
            free.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < end:
        free.append((cursor, end))
    return [(a, b) for a, b in free if b - a > 1e-6]


# ----------------------------------------------------------------------------- job page


async def job_page(runtime: Runtime, instance: str, job_id: str) -> dict[str, Any]:
    """A job's fields, logs, metrics, options and, when DONE, a summary of its result."""
    message, _ = await runtime.get_job(instance, job_id)  # NotFound for others'
    row = job_row(message)
    result = None
    if row["status"] == "DONE":
        data, _, _ = await runtime.job_result(instance, job_id)
        result = await asyncio.to_thread(summarize_result, data, row["program"])
    return {
        "job": row,
        "attempts": message.attempts,
        "num_pubs": message.num_pubs,
        "logs": job_logs(message),
        "metrics": {
            "timestamps": {
                "created": row["created"],
                "running": row["started"],
                "finished": row["ended"],
            },
            "usage": {
                "quantum_seconds": message.usage_seconds,
                "estimated_quantum_seconds": message.estimated_usage_seconds,
                "simulation_seconds": message.simulation_seconds,
            },
            "waiting_reason": message.waiting_reason or None,
            "progress": message.progress,
            "remaining_seconds": message.remaining_seconds
            if message.HasField("remaining_seconds")
            else None,
            "queue_wait_seconds": None
            if row["started"] is None
            else row["started"] - row["created"],
            "executor": MessageToDict(message.executor) if message.HasField("executor") else None,
        },
        "options": MessageToDict(message.options, preserving_proto_field_name=True),
        "result": result,
    }


def job_logs(message: job_pb2.Job) -> list[dict[str, Any]]:
    """The job's log lines, as ``RuntimeJobV2.logs()`` writes them: time, level, text."""
    mode = f"session {message.session_id}" if message.session_id else "job mode"
    program = PROGRAM_NAMES[message.program].value
    lines = [
        {
            "time": stamp_seconds(message.create_time),
            "level": "INFO",
            "text": f"queued: {program} job with {message.num_pubs} PUB(s) on backend "
            f"{message.backend} ({mode})",
        }
    ]
    if message.start_time.ByteSize():
        attempt = f" (attempt {message.attempts})" if message.attempts > 1 else ""
        lines.append(
            {
                "time": stamp_seconds(message.start_time),
                "level": "INFO",
                "text": f"started{attempt}",
            }
        )
    ended = stamp_seconds(message.end_time)
    state = JOB_STATUSES[message.state].value
    if state == "DONE":
        text = f"DONE after {message.usage_seconds:.3f} s of QPU time"
        lines.append({"time": ended, "level": "INFO", "text": text})
    elif state == "CANCELLED":
        lines.append(
            {"time": ended, "level": "WARNING", "text": f"CANCELLED: {message.error_message}"}
        )
    elif state == "ERROR":
        lines.append({"time": ended, "level": "ERROR", "text": f"failed: {message.error_message}"})
    return lines


def summarize_result(data: bytes, program: str) -> dict[str, Any]:
    """What the job page draws of a result: per PUB, each register's top outcomes (Sampler)
    or the expectation values with their standard deviations (Estimator)."""
    result = decode_result(job_pb2.JobResult.FromString(data))
    pubs = []
    for pub_result in result:
        if program == "estimator":
            evs = np.asarray(pub_result.data.evs, dtype=float).ravel()
            stds = np.asarray(getattr(pub_result.data, "stds", np.zeros_like(evs)), dtype=float)
            stds = np.broadcast_to(stds.ravel(), evs.shape) if stds.size else np.zeros_like(evs)
            shown = min(len(evs), MAX_EXPECTATION_VALUES)
            pubs.append(
                {
                    "shape": list(np.shape(pub_result.data.evs)),
                    "values": [
                        {"index": i, "ev": float(evs[i]), "std": float(stds[i])}
                        for i in range(shown)
                    ],
                    "omitted": len(evs) - shown,
                }
            )
            continue
        registers = []
        for name, bits in pub_result.data.items():
            counts = bits.get_counts()
            top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            registers.append(
                {
                    "name": name,
                    "shots": int(sum(counts.values())),
                    "outcomes": len(counts),
                    "top": [{"bits": k, "count": int(v)} for k, v in top[:TOP_OUTCOMES]],
                }
            )
        pubs.append({"registers": registers})
    return {"program": program, "pubs": pubs}


# ----------------------------------------------------------------------------- backends


def backends(runtime: Runtime, instance: str) -> list[dict[str, Any]]:
    """Every backend: status, queue length, the job it runs and the session holding it,
    named only when they are the instance's own."""
    shown = []
    for message in runtime.backends():
        name = message.name
        running = None
        job = runtime.running_job(name)
        if job is not None:
            mine = job.instance == instance
            running = {
                "yours": mine,
                "id": job.id if mine else None,
                "session_id": job.session_id if mine else None,
                "since": job.started,
            }
        holder = runtime.qpu_holder(name)
        held = None
        if holder is not None:
            mine = holder[1] == instance
            held = {"yours": mine, "session_id": holder[0] if mine else None}
        shown.append(
            {
                "name": name,
                "operational": message.operational,
                "status_message": message.status_message,
                "queue_length": message.pending_jobs,
                "num_qubits": message.num_qubits,
                "noisy": message.noisy,
                "running": running,
                "held_by": held,
            }
        )
    return shown
