"""The application layer: one façade (``Runtime``) of commands and queries over the lifecycle.

Front ends (``server`` for gRPC, ``dashboard`` for the Workloads page, ``ibm_api`` for IBM's
REST API) import only the names below and call only the façade's methods; the rooms behind it
(``admission``, ``dispatch``, ``ledger``, ``queries``, ``watch``, ``workloads``) are the
runtime's own. See docs/architecture.md.
"""

from qsession.runtime.dispatch import job_seed
from qsession.runtime.facade import Result, Runtime
from qsession.runtime.ledger import EVENTS_RETAINED
from qsession.runtime.watch import PROGRESS_INTERVAL, JobUpdate, Progress
from qsession.runtime.workloads import (
    WorkloadFilter,
    job_row,
    list_workloads,
    session_row,
    stamp_seconds,
)

__all__ = [
    "EVENTS_RETAINED",
    "PROGRESS_INTERVAL",
    "JobUpdate",
    "Progress",
    "Result",
    "Runtime",
    "WorkloadFilter",
    "job_row",
    "job_seed",
    "session_row",
    "stamp_seconds",
    "list_workloads",
]
