"""The SDK's internals: account lookup, the channel, backends, sessions, primitives and jobs.

Users import the public names from :mod:`qsession`. Imports run one way:
``connection`` -> ``operations`` -> ``watch``/``job``/``backend``/``session`` ->
``primitives`` -> ``service`` -> ``compat``, whose ``Session``, ``Batch``, ``SamplerV2`` and
``EstimatorV2`` (the V2 classes, also taking older call shapes) are the ones exported here.
"""

from qsession.client.backend import BackendStatus, QSessionBackend
from qsession.client.compat import Batch, EstimatorV2, SamplerV2, Session
from qsession.client.job import RuntimeJobV2
from qsession.client.options import (
    EnvironmentOptions,
    EstimatorOptions,
    SamplerOptions,
    SimulatorOptions,
)
from qsession.client.service import RuntimeService
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
