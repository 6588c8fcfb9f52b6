"""qsession: a self-hosted Qiskit Runtime.

The SDK mirrors qiskit-ibm-runtime, so a notebook written for IBM Quantum runs against a
qsession server by changing its import line::

    from qsession import QiskitRuntimeService, Session
    from qsession import SamplerV2 as Sampler, EstimatorV2 as Estimator
"""

from qsession.bitarray import BitArray
from qsession.client import (
    Batch,
    EnvironmentOptions,
    EstimatorOptions,
    EstimatorV2,
    JobEvent,
    QSessionBackend,
    RuntimeJobV2,
    RuntimeService,
    SamplerOptions,
    SamplerV2,
    Session,
    SimulatorOptions,
)
from qsession.client.compat import Options
from qsession.client.errors import (
    IBMAccountError,
    IBMApiError,
    IBMInputValueError,
    IBMNotAuthorizedError,
    IBMRuntimeError,
    QSessionError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobNotFound,
    RuntimeJobTimeoutError,
    SessionClosedError,
)

QiskitRuntimeService = RuntimeService
"""qiskit-ibm-runtime's name for :class:`RuntimeService`, so notebooks keep their code."""

Sampler = SamplerV2
"""qiskit-ibm-runtime's name for :class:`SamplerV2` (it also takes the deprecated V1 calls)."""

Estimator = EstimatorV2
"""qiskit-ibm-runtime's name for :class:`EstimatorV2` (it also takes the deprecated V1 calls)."""


__all__ = [
    "Batch",
    "BitArray",
    "EnvironmentOptions",
    "Estimator",
    "EstimatorOptions",
    "EstimatorV2",
    "IBMAccountError",
    "IBMApiError",
    "IBMInputValueError",
    "IBMNotAuthorizedError",
    "IBMRuntimeError",
    "JobEvent",
    "Options",
    "QSessionBackend",
    "QSessionError",
    "QiskitRuntimeService",
    "RuntimeInvalidStateError",
    "RuntimeJobFailureError",
    "RuntimeJobNotFound",
    "RuntimeJobTimeoutError",
    "RuntimeJobV2",
    "RuntimeService",
    "Sampler",
    "SamplerOptions",
    "SamplerV2",
    "Session",
    "SessionClosedError",
    "SimulatorOptions",
]
