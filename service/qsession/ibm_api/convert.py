"""IBM's JSON documents from qsession's messages, and qsession's requests from IBM's.

What IBM's client (qiskit-ibm-runtime 0.51.0) reads and sends, and QRMI's extra needs:

- a job is ``{"id", "backend", "state": {"status", "reason", "reason_code"}, "status",
  "program": {"id"}, "created", "cost", "tags", "session_id", ...}``; ``state.status`` is one
  of Queued, Running, Completed, Failed, Cancelled (anything else is never final to the
  client); the top-level ``status`` and the integer ``cost`` are QRMI's;
- a session is ``{"id", "backend_name", "mode", "state", "accepting_jobs", "max_ttl",
  "interactive_ttl", "active_ttl", ...}`` with ``state`` one of open, active, inactive,
  closed (QRMI accepts no other);
- job parameters arrive in ``RuntimeEncoder`` JSON (circuits as QPY, or OpenQASM 3 from
  QRMI; arrays as NPY), and results go back in it: qiskit-ibm-runtime's own encoder and
  decoder read and write them, as its client does.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import zlib
from datetime import UTC, datetime
from typing import Any

import numpy as np
from google.protobuf.json_format import MessageToDict
from qiskit import QuantumCircuit, qasm3
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit_ibm_runtime import RuntimeDecoder, RuntimeEncoder
from qiskit_ibm_runtime import execution_span as ibm_spans

from qsession.client.errors import IBMInputValueError
from qsession.client.options import EstimatorOptions, SamplerOptions
from qsession.ibm_api import executor
from qsession.lifecycle.errors import InvalidArgument, NotFound
from qsession.v1 import job_pb2, session_pb2, types_pb2
from qsession.wire import encode_estimator_pub, encode_sampler_pub, times
from qsession.wire.pubs import decode_job_pubs
from qsession.wire.results import decode_result
from qsession.wire.spans import ExecutionSpans

PROGRAMS = {
    "sampler": job_pb2.PROGRAM_SAMPLER,
    "estimator": job_pb2.PROGRAM_ESTIMATOR,
    "executor": job_pb2.PROGRAM_EXECUTOR,
}
PROGRAM_IDS = {value: name for name, value in PROGRAMS.items()}
JOB_STATUS = {
    job_pb2.Job.STATE_QUEUED: "Queued",
    job_pb2.Job.STATE_RUNNING: "Running",
    job_pb2.Job.STATE_DONE: "Completed",
    job_pb2.Job.STATE_ERROR: "Failed",
    job_pb2.Job.STATE_CANCELLED: "Cancelled",
}
FINAL = {job_pb2.Job.STATE_DONE, job_pb2.Job.STATE_ERROR, job_pb2.Job.STATE_CANCELLED}
SESSION_STATE = {
    session_pb2.Session.STATE_OPEN: "open",
    session_pb2.Session.STATE_ACTIVE: "active",
    session_pb2.Session.STATE_INACTIVE: "inactive",
    session_pb2.Session.STATE_CLOSED: "closed",
}
MODES = {"dedicated": session_pb2.Session.MODE_DEDICATED, "batch": session_pb2.Session.MODE_BATCH}
MODE_NAMES = {value: name for name, value in MODES.items()}
REASON_FAILED = 1517  # IBM's code for a job that failed while running
REASON_RAN_TOO_LONG = 1305  # IBM's code for a job stopped at its max_execution_time
DEFAULT_COST = 10_800  # seconds: IBM's default max_execution_time, reported as ``cost``
CACHED_CIRCUITS = 64  # decoded circuits kept (an iterative algorithm resends its circuit)
CACHED_CIRCUIT_CHARS = 256 * 1024  # the largest circuit kept, as encoded in the body
CACHED_OPTIONS = 256  # option trees kept, read
CACHED_OPTIONS_CHARS = 16 * 1024  # the largest option tree kept, as JSON text


def iso(stamp) -> str | None:
    """A protobuf Timestamp as IBM's ISO 8601 UTC text, always with microseconds (None when
    unset)."""
    return times.iso(stamp, timespec="microseconds")


def job_json(job: job_pb2.Job) -> dict[str, Any]:
    """IBM's job document."""
    status = JOB_STATUS.get(job.state, "Queued")
    state: dict[str, Any] = {"status": status}
    if job.state == job_pb2.Job.STATE_ERROR:
        state["reason"] = job.error_message
        state["reason_code"] = (
            REASON_RAN_TOO_LONG if "max_execution_time" in job.error_message else REASON_FAILED
        )
    elif job.state == job_pb2.Job.STATE_CANCELLED and job.error_message:
        state["reason"] = job.error_message
    elif job.waiting_reason:  # queued behind its instance's usage limit
        state["reason"] = job.waiting_reason
    cost = job.options.max_execution_time if job.options.HasField("max_execution_time") else 0
    return {
        "id": job.id,
        "backend": job.backend,
        "state": state,
        "status": status,
        "program": {"id": PROGRAM_IDS.get(job.program, "sampler")},
        "created": iso(job.create_time),
        "cost": int(cost or DEFAULT_COST),
        "tags": list(job.tags),
        "session_id": job.session_id or None,
        "private": job.options.private,
        "runtime": "",
        "usage": {"seconds": job.usage_seconds},
        "estimated_running_time_seconds": job.estimated_usage_seconds or None,
    }


def metrics_json(job: job_pb2.Job) -> dict[str, Any]:
    """IBM's ``/jobs/{id}/metrics``: timestamps and usage (QPU seconds)."""
    final = job.state in FINAL
    return {
        "timestamps": {
            "created": iso(job.create_time),
            "running": iso(job.start_time),
            "finished": iso(job.end_time),
        },
        "bss": {"seconds": job.usage_seconds},
        "usage": {
            "quantum_seconds": job.usage_seconds,
            "seconds": job.usage_seconds,
            "status": "completed" if final else "pending",
            "qpu_charge_time_seconds": job.usage_seconds,
            "simulation_seconds": job.simulation_seconds,
        },
        "qiskit_version": "qsession",
        "estimated_start_time": None,
        "estimated_completion_time": None,
        "position_in_queue": None,
        "position_in_provider": None,
    }


def logs_text(job: job_pb2.Job) -> str:
    """IBM's ``/jobs/{id}/logs``: the job's lifecycle, one line per step."""
    lines = [f"{iso(job.create_time)} job {job.id} created on {job.backend}"]
    if iso(job.start_time):
        lines.append(f"{iso(job.start_time)} started running")
    if job.state in FINAL:
        ended = f"{iso(job.end_time)} ended {JOB_STATUS[job.state]}"
        lines.append(f"{ended}: {job.error_message}" if job.error_message else ended)
    return "\n".join(lines) + "\n"


def session_json(session: session_pb2.Session) -> dict[str, Any]:
    """IBM's session document."""
    return {
        "id": session.id,
        "backend_name": session.backend,
        "mode": MODE_NAMES.get(session.mode, "dedicated"),
        "state": SESSION_STATE.get(session.state, "open"),
        "accepting_jobs": session.accepting_jobs,
        "max_ttl": int(session.max_ttl_seconds),
        "interactive_ttl": int(session.interactive_ttl_seconds),
        "active_ttl": int(session.active_ttl_seconds),
        "started_at": iso(session.start_time) or iso(session.create_time),
        "activated_at": iso(session.activate_time),
        "closed_at": iso(session.close_time),
        "last_job_started": iso(session.last_job_start_time),
        "last_job_completed": iso(session.last_job_end_time),
        "elapsed_time": session.usage_seconds,
        "timestamps": [
            {"status": status, "timestamp": iso(stamp)}
            for status, stamp in (
                ("open", session.create_time),
                ("active", session.activate_time),
                ("closed", session.close_time),
            )
            if iso(stamp)
        ],
    }


WORKLOAD_STATUS = {  # ours -> IBM's five workload states
    "QUEUED": "pending",
    "RUNNING": "in_progress",
    "DONE": "completed",
    "ERROR": "failed",
    "CANCELLED": "canceled",
    "open": "pending",
    "active": "in_progress",
    "inactive": "in_progress",  # open, between jobs: the session is still running
    "closed": "completed",
}
WORKLOAD_STATES = {  # IBM's workload state -> ours
    ibm: tuple(ours for ours, name in WORKLOAD_STATUS.items() if name == ibm)
    for ibm in WORKLOAD_STATUS.values()
}


def workload_json(row: dict[str, Any], instance: str) -> dict[str, Any]:
    """IBM's workload document of a Workloads row (``qsession.runtime.job_row`` or
    ``session_row``); ``instance``: the instance's name (IBM gives hub/group/project)."""

    def when(seconds: float | None) -> str | None:
        if seconds is None:
            return None
        moment = datetime.fromtimestamp(seconds, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    final = row["ended"] is not None
    return {
        "id": row["id"],
        "created": when(row["created"]),
        "ended": when(row["ended"]),
        "backend": row["backend"],
        "instance": instance,
        "user_id": instance,  # a self-hosted instance has no separate users
        "accepting_jobs": row.get("accepting_jobs") if row["kind"] == "session" else None,
        "mode": row["mode"],
        "status": WORKLOAD_STATUS[row["status"]],
        "status_reason": row.get("error") or "",
        "tags": row["tags"],
        "usage_seconds": row["usage"],
        "usage": {
            "qpu_charge_time_seconds": row["usage"],
            "status": "complete" if final else "pending",
        },
    }


def params_json(job: job_pb2.Job) -> dict[str, Any]:
    """A job's ``params`` as IBM's client submitted them (``job.inputs``): its PUBs as
    ``RuntimeEncoder`` lists, its options as the option tree, ``version`` 2 (an Executor
    job's: ``executor.params_json``)."""
    if job.program == job_pb2.PROGRAM_EXECUTOR:
        return executor.params_json(job)
    pubs = decode_job_pubs(job.program, job.inputs, job.options)
    options = MessageToDict(job.options, preserving_proto_field_name=True)
    options.pop("log_level", None)
    options.pop("max_execution_time", None)
    params = {"pubs": pubs, "options": options, "version": 2, "support_qiskit": True}
    if "resilience_level" in options:
        params["resilience_level"] = options.pop("resilience_level")
    return json.loads(json.dumps(params, cls=RuntimeEncoder))


def results_text(program: int, result: bytes) -> str:
    """A DONE job's result as IBM's client reads it: ``RuntimeEncoder`` JSON of its
    ``PrimitiveResult`` (an Executor job's: ``executor.result_text``)."""
    if program == job_pb2.PROGRAM_EXECUTOR:
        return executor.result_text(result)
    message = job_pb2.JobResult.FromString(result)
    primitive = decode_result(message)
    execution = primitive.metadata.get("execution")
    spans = execution.get("execution_spans") if isinstance(execution, dict) else None
    if isinstance(spans, ExecutionSpans):  # ours mirror IBM's classes; its encoder knows its own
        execution["execution_spans"] = ibm_spans.ExecutionSpans(
            ibm_spans.SliceSpan(span.start, span.stop, span.data_slices) for span in spans
        )
    return json.dumps(primitive, cls=RuntimeEncoder)


def parse_job_body(raw: bytes, instance: str) -> tuple[Any, dict[int, types_pb2.Circuit]]:
    """The body of ``POST /jobs``, its ``RuntimeEncoder`` values (circuits, arrays) decoded,
    and the circuits already encoded for our wire (by ``id`` of the decoded circuit).

    A circuit sent before by the same instance is not decoded again (``_cached_circuit``).

    Raises:
        InvalidArgument: (body) not JSON; (params) a value that cannot be decoded.
    """
    decoder = _BodyDecoder(instance)
    try:
        return decoder.decode(raw.decode()), decoder.circuits
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"body: not JSON: {exc}", field="body") from None
    except Exception as exc:  # noqa: BLE001 - any decoding failure is the client's input
        raise InvalidArgument(f"params: cannot be decoded: {exc}", field="params") from None


class _BodyDecoder(RuntimeDecoder):
    """IBM's decoder, with repeated circuits taken from the instance's cache."""

    def __init__(self, instance: str) -> None:
        super().__init__()
        self.instance = instance
        self.circuits: dict[int, types_pb2.Circuit] = {}

    def object_hook(self, obj: Any) -> Any:
        value = obj.get("__value__")
        if (
            obj.get("__type__") == "QuantumCircuit"
            and isinstance(value, str)
            and len(value) <= CACHED_CIRCUIT_CHARS
        ):
            circuit, message = _cached_circuit(self.instance, value)
            self.circuits[id(circuit)] = message
            return circuit
        return super().object_hook(obj)


_IBM_DECODER = RuntimeDecoder()  # its object_hook keeps no state: shared by all threads


@functools.lru_cache(maxsize=CACHED_CIRCUITS)
def _cached_circuit(instance: str, encoded: str) -> tuple[QuantumCircuit, types_pb2.Circuit]:
    """A circuit in IBM's encoding (base64 of zlib of QPY): decoded, and as our message holding
    the client's QPY bytes as they are. Cached per instance (no instance's circuits are found
    or evicted faster by another's); the decoded circuit is shared, and never modified."""
    circuit = _IBM_DECODER.object_hook({"__type__": "QuantumCircuit", "__value__": encoded})
    if not isinstance(circuit, QuantumCircuit):
        raise ValueError("a QuantumCircuit value does not hold a circuit")
    return circuit, types_pb2.Circuit(qpy=zlib.decompress(base64.b64decode(encoded)))


def create_job_request(
    body: Any, circuits: dict[int, types_pb2.Circuit] | None = None
) -> job_pb2.CreateJobRequest:
    """Our CreateJobRequest from the decoded body of IBM's ``POST /jobs``
    (:func:`parse_job_body`) and the circuits it gives already encoded.

    Raises:
        NotFound: (program_id) a program this server does not run.
        InvalidArgument: naming the field at fault.
    """
    if not isinstance(body, dict):
        raise InvalidArgument("the body must be a JSON object", field="body")
    encoded = circuits or {}
    program_id = body.get("program_id")
    if program_id not in PROGRAMS:
        raise NotFound(
            f"program_id: program {program_id!r} is not one this server runs; use 'sampler', "
            "'estimator' or 'executor'",
            field="program_id",
            reason="FIELD_INVALID",
        )
    backend = body.get("backend") or ""
    session_id = body.get("session_id") or ""
    if not isinstance(backend, str) or not isinstance(session_id, str):
        raise InvalidArgument("backend and session_id: must be strings", field="backend")
    tags = body.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidArgument("tags: a list of strings", field="tags")
    params = body.get("params")
    if not isinstance(params, dict):
        raise InvalidArgument("params: a JSON object with 'pubs'", field="params")
    if program_id == "executor":
        program, seed = executor.quantum_program(params)
        options = _executor_options(body)
        if seed is not None:
            options.seed_simulator = seed
        return job_pb2.CreateJobRequest(
            program=job_pb2.PROGRAM_EXECUTOR,
            backend=backend,
            session_id=session_id,
            tags=tags,
            options=options,
            quantum_program=program,
        )
    options = _options(program_id, params, body)
    request = job_pb2.CreateJobRequest(
        program=PROGRAMS[program_id],
        backend=backend,
        session_id=session_id,
        tags=tags,
        options=options,
    )
    pubs = params.get("pubs")
    if not isinstance(pubs, list) or not pubs:
        raise InvalidArgument("params.pubs: a non-empty list of PUBs", field="params.pubs")
    for index, pub in enumerate(pubs):
        where = f"params.pubs[{index}]"
        if program_id == "sampler":
            sampler_pub = _sampler_pub(pub, params, where)
            message = encode_sampler_pub(sampler_pub, encoded.get(id(sampler_pub.circuit)))
            request.sampler_pubs.append(message)
        else:
            estimator_pub = _estimator_pub(pub, where)
            request.estimator_pubs.append(
                encode_estimator_pub(estimator_pub, encoded.get(id(estimator_pub.circuit)))
            )
    return request


def _executor_options(body: dict) -> job_pb2.JobOptions:
    """An Executor job's options: the body's ``cost`` (its max_execution_time) and
    ``private``; the schema's own options (and the seed) are read with its params
    (``executor``)."""
    options = job_pb2.JobOptions()
    cost = body.get("cost")
    if cost:
        if not isinstance(cost, int | float) or not cost > 0:
            raise InvalidArgument("cost: a positive number of seconds", field="cost")
        options.max_execution_time = cost
    if body.get("private") is True:
        options.private = True
    return options


def _options(program_id: str, params: dict, body: dict) -> job_pb2.JobOptions:
    """The job's options: IBM's option tree from ``params``, plus the top-level settings."""
    tree = params.get("options") or {}
    if not isinstance(tree, dict):
        raise InvalidArgument("params.options: a JSON object", field="params.options")
    tree = dict(tree)
    if program_id == "estimator" and params.get("resilience_level") is not None:
        tree["resilience_level"] = params["resilience_level"]
    if body.get("cost"):
        tree["max_execution_time"] = body["cost"]
    if isinstance(body.get("log_level"), str):
        tree["environment"] = {
            **tree.get("environment", {}),
            "log_level": body["log_level"].upper(),
        }
    try:  # the same options again (an iterative algorithm's): read before
        canonical = json.dumps([program_id, tree], sort_keys=True)
    except (TypeError, ValueError):  # decoded values (arrays): read them afresh
        canonical = None
    if canonical is not None and len(canonical) <= CACHED_OPTIONS_CHARS:
        options = job_pb2.JobOptions.FromString(_cached_options(canonical))
    else:
        options = _job_options(program_id, tree)
    if body.get("private") is True:  # inputs never returned, result read once
        options.private = True
    return options


@functools.lru_cache(maxsize=CACHED_OPTIONS)
def _cached_options(canonical: str) -> bytes:
    """The JobOptions of ``[program_id, tree]`` as JSON text, serialized."""
    program_id, tree = json.loads(canonical)
    return _job_options(program_id, tree).SerializeToString()


def _job_options(program_id: str, tree: dict[str, Any]) -> job_pb2.JobOptions:
    """IBM's option tree read by the SDK's options classes (which check every value)."""
    kind = SamplerOptions if program_id == "sampler" else EstimatorOptions
    try:
        return kind.from_dict(tree, "params.options").job_options()
    except IBMInputValueError as exc:
        raise InvalidArgument(f"params.options: {exc}", field="params.options") from None


def _circuit(value: Any, where: str) -> QuantumCircuit:
    if isinstance(value, QuantumCircuit):
        return value
    if isinstance(value, str):  # QRMI sends OpenQASM 3
        try:
            return qasm3.loads(value)
        except Exception as exc:  # noqa: BLE001 - the client's circuit
            raise InvalidArgument(f"{where}: not OpenQASM 3: {exc}", field=where) from None
    raise InvalidArgument(f"{where}: a QuantumCircuit (QPY) or OpenQASM 3", field=where)


def _values(circuit: QuantumCircuit, values: Any) -> Any:
    """Parameter values as a PUB takes them (None for a circuit without parameters)."""
    if values is None:
        return None
    array = np.asarray(values, dtype=float)
    if circuit.num_parameters == 0 and array.size == 0:
        return None
    return array


def _sampler_pub(pub: Any, params: dict, where: str) -> SamplerPub:
    if not isinstance(pub, list | tuple) or not 1 <= len(pub) <= 3:
        raise InvalidArgument(f"{where}: [circuit, parameter values, shots]", field=where)
    circuit = _circuit(pub[0], f"{where}[0]")
    values = _values(circuit, pub[1] if len(pub) > 1 else None)
    shots = pub[2] if len(pub) > 2 else None
    if shots is None:
        shots = params.get("shots")  # QRMI may give the shots once, for every PUB
    try:
        return SamplerPub.coerce((circuit, values, shots))
    except Exception as exc:  # noqa: BLE001 - Qiskit's checks of the client's PUB
        raise InvalidArgument(f"{where}: {exc}", field=where) from None


def _estimator_pub(pub: Any, where: str) -> EstimatorPub:
    if not isinstance(pub, list | tuple) or not 2 <= len(pub) <= 4:
        raise InvalidArgument(
            f"{where}: [circuit, observables, parameter values, precision]", field=where
        )
    circuit = _circuit(pub[0], f"{where}[0]")
    values = _values(circuit, pub[2] if len(pub) > 2 else None)
    precision = pub[3] if len(pub) > 3 else None
    if precision is not None and not (
        isinstance(precision, float | int) and math.isfinite(precision)
    ):
        raise InvalidArgument(f"{where}[3]: precision, a positive number", field=f"{where}[3]")
    try:
        return EstimatorPub.coerce((circuit, pub[1], values, precision))
    except Exception as exc:  # noqa: BLE001 - Qiskit's checks of the client's PUB
        raise InvalidArgument(f"{where}: {exc}", field=where) from None


def primitive_result(text: str) -> PrimitiveResult:
    """A results text read back as IBM's client reads it (for tests and tools)."""
    return json.loads(text, cls=RuntimeDecoder)
