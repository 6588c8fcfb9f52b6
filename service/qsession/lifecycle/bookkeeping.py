"""What the scheduler knows: every job and session, the backends' QPUs, and running counts.

Lookups raise ``NotFound`` naming the request field; counts (queued jobs per backend and per
instance, pending jobs per session, QPU seconds per instance) are kept incrementally, so
none costs more with a longer history.
"""

from __future__ import annotations

from collections.abc import Iterable

from qsession.lifecycle.errors import NotFound
from qsession.lifecycle.model import Job, JobStatus, Session, SessionState
from qsession.lifecycle.queues import Qpu, Rank
from qsession.lifecycle.sessions import SessionJobs


class Bookkeeping:
    """The scheduler's records and counts.

    Args:
        backends: the backend names; each has one QPU.

    Attributes:
        qpus: the QPUs by backend name.
        jobs: the jobs by id (finished jobs leave when forgotten).
        sessions: every session by id, oldest first.
        session_jobs: each session's jobs, by session id.
        live: the sessions that are not closed, by id.
        sessions_by_instance: each instance's sessions by id, oldest first.
        request_ids: the job id of each (instance, request_id) seen.
        usage: QPU seconds of each instance's finished jobs.
        queued_by_instance: how many jobs of each instance are queued.
        next_seq: the submission order (``Job.seq``) of the next job.
    """

    def __init__(self, backends: Iterable[str]) -> None:
        self.qpus = {name: Qpu(name) for name in backends}
        self.jobs: dict[str, Job] = {}
        self.sessions: dict[str, Session] = {}
        self.session_jobs: dict[str, SessionJobs] = {}
        self.live: dict[str, Session] = {}
        self.sessions_by_instance: dict[str, dict[str, Session]] = {}
        self.request_ids: dict[tuple[str, str], str] = {}
        self.usage: dict[str, float] = {}
        self.queued_by_instance: dict[str, int] = {}
        self.next_seq = 1

    # ------------------------------------------------------------------ lookups

    def qpu(self, backend: str) -> Qpu:
        """A backend's QPU. Raises NotFound (backend, BACKEND_NOT_FOUND)."""
        qpu = self.qpus.get(backend)
        if qpu is None:
            raise NotFound(
                f"backend {backend!r} is not one of this server's backends "
                f"({', '.join(sorted(self.qpus))}); list them with ListBackends.",
                field="backend",
                reason="BACKEND_NOT_FOUND",
            )
        return qpu

    def job(self, job_id: str) -> Job:
        """A job. Raises NotFound (job_id, JOB_NOT_FOUND)."""
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(
                f"job_id {job_id!r} names no job.", field="job_id", reason="JOB_NOT_FOUND"
            )
        return job

    def session(self, session_id: str) -> Session:
        """A session. Raises NotFound (session_id, SESSION_NOT_FOUND)."""
        session = self.sessions.get(session_id)
        if session is None:
            raise NotFound(
                f"session_id {session_id!r} names no session.",
                field="session_id",
                reason="SESSION_NOT_FOUND",
            )
        return session

    def session_of(self, instance: str, session_id: str) -> Session:
        """A session of ``instance``. Raises NotFound (session_id, SESSION_NOT_FOUND): no
        such session, or another instance's."""
        session = self.sessions.get(session_id)
        if session is None or session.instance != instance:
            raise NotFound(
                f"session_id {session_id!r} does not name one of your sessions; "
                "create a session first, or omit session_id for job mode.",
                field="session_id",
                reason="SESSION_NOT_FOUND",
            )
        return session

    def queued(self, job_id: str) -> Job | None:
        """The job if it is still QUEUED (queues drop finished and forgotten ids lazily)."""
        job = self.jobs.get(job_id)
        return job if job is not None and job.status is JobStatus.QUEUED else None

    def queued_jobs_of(self, session: Session) -> list[Job]:
        """A session's queued jobs, in submission order."""
        queued = (self.queued(job_id) for job_id in self.session_jobs[session.id].queue)
        return [job for job in queued if job is not None]

    def next_in_line(self, qpu: Qpu, rank: Rank) -> Job | None:
        """The queued job that runs next on an idle QPU (instances ranked by ``rank``); None
        keeps the QPU idle."""
        held = None if qpu.holder is None else self.session_jobs[qpu.holder].queue
        return qpu.next_in_line(held, self.queued, rank)

    def first_request(self, instance: str, request_id: str) -> Job | None:
        """The job ``instance`` submitted with ``request_id``, or None (also when forgotten)."""
        job_id = self.request_ids.get((instance, request_id))
        return None if job_id is None else self.jobs[job_id]

    # ----------------------------------------------------------------- changes

    def add_session(self, session: Session, idle_since: float) -> None:
        """Keep a session (a live one unless it is closed)."""
        self.sessions[session.id] = session
        self.sessions_by_instance.setdefault(session.instance, {})[session.id] = session
        self.session_jobs[session.id] = SessionJobs(idle_since=idle_since)
        if session.state is not SessionState.CLOSED:
            self.live[session.id] = session

    def forget_session(self, session: Session) -> None:
        """Drop a closed session that holds no job any more."""
        del self.sessions[session.id]
        del self.session_jobs[session.id]
        own = self.sessions_by_instance[session.instance]
        del own[session.id]
        if not own:
            del self.sessions_by_instance[session.instance]

    def add_job(self, job: Job) -> None:
        """Keep a job and its ``request_id``."""
        self.jobs[job.id] = job
        if job.request_id is not None:
            self.request_ids[(job.instance, job.request_id)] = job.id

    def take_seq(self) -> int:
        """The submission order of a new job."""
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def enqueue(self, job: Job) -> None:
        """A QUEUED job joins its QPU's normal queue and, in a session, its session's queue."""
        self.qpus[job.backend].enqueue(job)
        self.count_queued(job, 1)
        if job.session_id is not None:
            jobs_of = self.session_jobs[job.session_id]
            jobs_of.queue.append(job.id)
            jobs_of.pending += 1

    def requeue_first(self, job: Job) -> None:
        """A running job whose execution was lost is QUEUED again, to run first on its QPU."""
        job.status = JobStatus.QUEUED
        job.started = None
        job.progress, job.remaining = 0.0, None
        self.qpus[job.backend].requeue_first(job)
        self.count_queued(job, 1)

    def count_queued(self, job: Job, delta: int) -> None:
        """Add ``delta`` to the queued jobs of ``job``'s instance."""
        self.queued_by_instance[job.instance] = self.queued_by_instance.get(job.instance, 0) + delta

    def charge(self, job: Job) -> None:
        """Add a finished job's usage to its instance's."""
        self.usage[job.instance] = self.usage.get(job.instance, 0.0) + job.usage

    def forget(self, job_id: str) -> Job | None:
        """Drop a job and its ``request_id``; the job, or None if unknown."""
        job = self.jobs.pop(job_id, None)
        if job is not None and job.request_id is not None:
            self.request_ids.pop((job.instance, job.request_id), None)
        return job
