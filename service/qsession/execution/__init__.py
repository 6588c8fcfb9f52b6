"""Execution: device profiles and the Aer executor that runs Sampler and Estimator PUBs."""

from qsession.execution.errors import ExecutionFailed, InvalidPub
from qsession.execution.executor import Executor
from qsession.execution.profiles import PROFILE_NAMES, DeviceProfile, load_profile

__all__ = [
    "PROFILE_NAMES",
    "DeviceProfile",
    "ExecutionFailed",
    "Executor",
    "InvalidPub",
    "load_profile",
]
