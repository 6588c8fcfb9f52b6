"""Execution: device profiles and the Aer executor that runs Sampler and Estimator PUBs."""

from qsession.execution.errors import ExecutionFailed, InvalidPub
from qsession.execution.executor import Executor
from qsession.execution.profiles import PROFILE_NAMES, DeviceProfile, load_profile
from qsession.execution.spans import ExecutionSpans, SliceSpan

__all__ = [
    "PROFILE_NAMES",
    "DeviceProfile",
    "ExecutionFailed",
    "ExecutionSpans",
    "Executor",
    "InvalidPub",
    "SliceSpan",
    "load_profile",
]
