"""The primitives' options under qiskit-ibm-runtime's module name and class names: code that
imports from ``qiskit_ibm_runtime.options`` imports from ``qsession.options``. What each
option does on qsession, and which are refused: :mod:`qsession.client.options`."""

from qsession.client.options import (
    DynamicalDecouplingOptions,
    EnvironmentOptions,
    EstimatorOptions,
    ExecutionOptions,
    LayerNoiseLearningOptions,
    MeasureNoiseLearningOptions,
    PecOptions,
    ResilienceOptions,
    SamplerExecutionOptions,
    SamplerOptions,
    SimulatorOptions,
    TwirlingOptions,
    ZneOptions,
)

ExecutionOptionsV2 = ExecutionOptions
"""qiskit-ibm-runtime's name for the Estimator's :class:`ExecutionOptions`."""

SamplerExecutionOptionsV2 = SamplerExecutionOptions
"""qiskit-ibm-runtime's name for :class:`SamplerExecutionOptions`."""

ResilienceOptionsV2 = ResilienceOptions
"""qiskit-ibm-runtime's name for :class:`ResilienceOptions`."""

__all__ = [
    "DynamicalDecouplingOptions",
    "EnvironmentOptions",
    "EstimatorOptions",
    "ExecutionOptions",
    "ExecutionOptionsV2",
    "LayerNoiseLearningOptions",
    "MeasureNoiseLearningOptions",
    "PecOptions",
    "ResilienceOptions",
    "ResilienceOptionsV2",
    "SamplerExecutionOptions",
    "SamplerExecutionOptionsV2",
    "SamplerOptions",
    "SimulatorOptions",
    "TwirlingOptions",
    "ZneOptions",
]
