"""qsession: a self-hosted Qiskit Runtime.

The SDK mirrors qiskit-ibm-runtime, so a notebook written for IBM Quantum runs against a
qsession server by changing its import line::

    from qsession import QiskitRuntimeService, Session
    from qsession import SamplerV2 as Sampler, EstimatorV2 as Estimator
    from qsession import Executor, QuantumProgram
"""

from qiskit_ibm_runtime.options_models.executor import ExecutorOptions
from qiskit_ibm_runtime.quantum_program import QuantumProgram
from qiskit_ibm_runtime.results.quantum_program import QuantumProgramResult

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
from qsession.client.executor import Executor

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
    "Executor",
    "ExecutorOptions",
    "IBMAccountError",
    "IBMApiError",
    "IBMInputValueError",
    "IBMNotAuthorizedError",
    "IBMRuntimeError",
    "JobEvent",
    "Options",
    "QSessionBackend",
    "QSessionError",
    "QuantumProgram",
    "QuantumProgramResult",
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
