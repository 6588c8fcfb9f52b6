"""Lifecycle records <-> the rows the store keeps (plain JSON-able dicts)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from google.protobuf.json_format import MessageToDict, ParseDict

from qsession.lifecycle.events import Event, EventKeys
from qsession.lifecycle.model import (
    Job,
    JobStatus,
    Placement,
    Program,
    Session,
    SessionMode,
    SessionState,
    Transition,
)
from qsession.store.sqlite import StoredEvent
from qsession.v1 import job_pb2, session_pb2

_JOB_FIELDS = tuple(f.name for f in dataclasses.fields(Job))
_SESSION_FIELDS = tuple(f.name for f in dataclasses.fields(Session) if f.name != "transitions")


def job_record(job: Job, inputs: JobInputs) -> dict[str, Any]:
    """A job's row: its lifecycle fields plus its submission options and PUB count."""
    record = {name: getattr(job, name) for name in _JOB_FIELDS}  # flat: no deep copy needed
    record["tags"] = list(job.tags)
    record["placement"] = None if job.placement is None else dataclasses.asdict(job.placement)
    record["options"] = inputs.options_dict
    record["num_pubs"] = inputs.num_pubs
    return record


def job_from_record(record: dict[str, Any]) -> Job:
    """The lifecycle Job a row holds (rows stored before ``placement`` existed have none)."""
    fields = {f.name for f in dataclasses.fields(Job)}
    values = {k: v for k, v in record.items() if k in fields}
    values["status"] = JobStatus(values["status"])
    values["program"] = Program(values["program"])
    placement = values.get("placement")
    values["placement"] = None if placement is None else Placement(**placement)
    return Job(**values)


@dataclass(frozen=True)
class JobInputs:
    """What a job was submitted with, beyond its lifecycle record."""

    options: job_pb2.JobOptions
    num_pubs: int

    @functools.cached_property
    def options_dict(self) -> dict[str, Any]:
        """``options`` as the JSON-able dict a row holds (built once per job)."""
        options: dict[str, Any] = MessageToDict(self.options)
        return options


def inputs_from_record(record: dict[str, Any]) -> JobInputs:
    """The JobInputs (options, num_pubs) a job row holds."""
    return JobInputs(
        options=ParseDict(record.get("options", {}), job_pb2.JobOptions()),
        num_pubs=record["num_pubs"],
    )


def session_record(session: Session) -> dict[str, Any]:
    """A session's row (what ``dataclasses.asdict`` gives, built without its deep copies)."""
    record = {name: getattr(session, name) for name in _SESSION_FIELDS}
    record["transitions"] = [
        {"state": t.state, "accepting_jobs": t.accepting_jobs, "time": t.time}
        for t in session.transitions
    ]
    return record


def session_from_record(record: dict[str, Any]) -> Session:
    """The lifecycle Session a row holds."""
    fields = {f.name for f in dataclasses.fields(Session)}
    values = {k: v for k, v in record.items() if k in fields}
    values["mode"] = SessionMode(values["mode"])
    values["state"] = SessionState(values["state"])
    values["transitions"] = [
        Transition(
            state=SessionState(t["state"]), accepting_jobs=t["accepting_jobs"], time=t["time"]
        )
        for t in values.get("transitions", [])
    ]
    return Session(**values)


def event_from_stored(event: StoredEvent, keys: EventKeys) -> Event:
    """The in-memory event of a persisted one."""
    return Event(
        revision=event.revision, kind=event.kind, payload=event.payload, time=event.time, keys=keys
    )


def event_keys_of(event: StoredEvent) -> EventKeys:
    """The watch keys of a persisted event, read from its payload."""
    if event.kind == "job":
        job = job_pb2.Job.FromString(event.payload)
        return EventKeys(
            instance=event.instance,
            job_id=job.id,
            session_id=job.session_id or None,
            tags=tuple(job.tags),
        )
    session = session_pb2.Session.FromString(event.payload)
    return EventKeys(instance=event.instance, job_id=None, session_id=session.id, tags=())
