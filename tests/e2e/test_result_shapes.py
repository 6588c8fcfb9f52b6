"""Every array in a result has exactly the shape Qiskit's reference primitives give.

For PUBs of every broadcast form (scalar, ``(n,)``, ``(n, m)``, parameters against observables
with size-1 axes), a qsession job's result is compared with ``StatevectorEstimator`` /
``StatevectorSampler`` run on the same PUB: the DataBin's shape, and the shape of ``evs``,
``stds`` and ``ensemble_standard_error`` (0-d included, so ``float(evs)`` and
``f"{evs:.3f}"`` work), and of every
register's BitArray. Values are checked too: the backend is noiseless, so each estimate lies
within 6 standard errors of the exact value.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives import StatevectorEstimator, StatevectorSampler
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession import EstimatorV2, SamplerV2

SHAPES = st.sampled_from([(), (1,), (3,), (2, 3), (2, 1), (1, 3)])
LABELS = ["ZZ", "XI", "IY", "XX"]


@pytest.fixture(scope="module")
def backend(service):
    return service.backend("ideal_24")


def parametric_circuit(num_parameters: int, measure: bool) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    for k in range(num_parameters):
        circuit.ry(Parameter(f"t{k}"), k % 2)
    if measure:
        circuit.measure_all()
    return circuit


def values_of(shape: tuple[int, ...], num_parameters: int, rng: np.random.Generator):
    """Parameter values of broadcast shape ``shape``, or ``None`` without parameters."""
    if num_parameters == 0:
        return None
    return rng.uniform(-np.pi, np.pi, size=(*shape, num_parameters))


def observables_of(shape: tuple[int, ...], rng: np.random.Generator):
    """A SparsePauliOp (``shape == ()``) or a nested list of them of ``shape``."""
    if shape == ():
        return SparsePauliOp(LABELS[rng.integers(len(LABELS))])
    flat = np.empty(int(np.prod(shape)), dtype=object)
    for k, label in enumerate(rng.integers(len(LABELS), size=flat.size)):
        flat[k] = SparsePauliOp(LABELS[label])
    return flat.reshape(shape).tolist()


def isa_observables(observables, layout):
    if isinstance(observables, SparsePauliOp):
        return observables.apply_layout(layout)
    return [isa_observables(o, layout) for o in observables]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    param_shape=SHAPES,
    obs_shape=SHAPES,
    num_parameters=st.integers(0, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_estimator_arrays_have_the_reference_shapes(
    backend, param_shape, obs_shape, num_parameters, seed
):
    rng = np.random.default_rng(seed)
    circuit = parametric_circuit(num_parameters, measure=False)
    values = values_of(param_shape if num_parameters else (), num_parameters, rng)
    observables = observables_of(obs_shape, rng)
    reference_pub = (circuit, observables) if values is None else (circuit, observables, values)
    try:
        reference = StatevectorEstimator().run([reference_pub]).result()[0].data
    except ValueError:  # shapes that do not broadcast: the server must refuse them too
        return
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)
    mapped = isa_observables(observables, isa.layout)
    pub = (isa, mapped) if values is None else (isa, mapped, values)
    data = EstimatorV2(mode=backend).run([pub], precision=0.05).result()[0].data

    assert data.shape == reference.shape
    for name in ("evs", "stds", "ensemble_standard_error"):
        assert np.shape(getattr(data, name)) == reference.evs.shape, name
    # 6 standard errors; the target precision bounds the error where a sample shows none
    assert np.all(np.abs(data.evs - reference.evs) <= 6 * np.maximum(data.stds, 0.05))
    if reference.evs.shape == ():
        assert isinstance(data.evs, np.ndarray)  # 0-d, as the reference's
        assert f"{data.evs:.3f}" == f"{float(data.evs):.3f}"


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(param_shape=SHAPES, num_parameters=st.integers(0, 2), seed=st.integers(0, 2**32 - 1))
def test_sampler_registers_have_the_reference_shapes(backend, param_shape, num_parameters, seed):
    rng = np.random.default_rng(seed)
    circuit = parametric_circuit(num_parameters, measure=True)
    values = values_of(param_shape if num_parameters else (), num_parameters, rng)
    reference = StatevectorSampler().run([(circuit, values)], shots=16).result()[0].data
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)
    data = SamplerV2(mode=backend).run([(isa, values)], shots=16).result()[0].data

    assert data.shape == reference.shape
    assert data.meas.shape == reference.meas.shape
    assert (data.meas.num_shots, data.meas.num_bits) == (16, 2)
    assert data.meas.array.shape == reference.meas.array.shape
