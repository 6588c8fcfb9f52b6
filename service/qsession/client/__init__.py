"""The SDK's internals: account lookup, the channel, backends, sessions, primitives and jobs.

Users import the public names from :mod:`qsession`.
"""

from qsession.client.backend import BackendStatus, QSessionBackend
from qsession.client.job import RuntimeJobV2
from qsession.client.options import (
    EnvironmentOptions,
    EstimatorOptions,
    SamplerOptions,
    SimulatorOptions,
)
from qsession.client.primitives import EstimatorV2, SamplerV2
from qsession.client.service import RuntimeService
from qsession.client.session import Batch, Session
from qsession.client.watch import JobEvent, JobWatch

__all__ = [
    "BackendStatus",
    "Batch",
    "EnvironmentOptions",
    "EstimatorOptions",
    "EstimatorV2",
    "JobEvent",
    "JobWatch",
    "QSessionBackend",
    "RuntimeJobV2",
    "RuntimeService",
    "SamplerOptions",
    "SamplerV2",
    "Session",
    "SimulatorOptions",
]
