"""The call shapes of qiskit-ibm-runtime before 0.24 still run, each with a DeprecationWarning
that names the modern call; what qsession cannot honour is refused with a clear error.

The V1 calls take circuits as written (the V1 primitives transpiled on the server): on
fake_torino (heavy-hex, noiseless here) they must be transpiled and their observables laid out,
and the results must be physically right within 5 standard errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.transpiler import generate_preset_pass_manager

from qsession import (
    Batch,
    Estimator,
    EstimatorV2,
    IBMInputValueError,
    Options,
    Sampler,
    SamplerV2,
    Session,
)
from qsession.client import compat
from tests.circuits import bell

SHOTS = 4096


def far_apart() -> QuantumCircuit:
    """Qubits 0 and 2 entangled directly (no such edge on heavy-hex), with a parameter."""
    circuit = QuantumCircuit(3)
    circuit.ry(Parameter("theta"), 0)
    circuit.cx(0, 2)
    circuit.h(1)
    return circuit


def exact(circuit: QuantumCircuit, observable: str, values: list[float]) -> float:
    state = Statevector(circuit.assign_parameters(values))
    return float(state.expectation_value(SparsePauliOp(observable)).real)


def tolerance(shots: int) -> float:
    """5 standard errors of a Pauli expectation value (variance at most 1)."""
    return 5 / np.sqrt(shots)


# ---------------------------------------------------------------------- sessions


def test_session_with_a_backend_name_and_service_opens_on_that_backend(service):
    with pytest.warns(
        DeprecationWarning, match=r"use Session\(backend=service\.backend\('fake_torino'\)\)"
    ):
        session = Session(service=service, backend="fake_torino")
    assert session.backend() == "fake_torino"
    assert session.details()["mode"] == "dedicated"
    session.close()


def test_session_with_a_backend_name_alone_uses_the_default_account(server, monkeypatch, tmp_path):
    monkeypatch.setenv("QSESSION_URL", server.address)
    monkeypatch.setenv("QSESSION_TOKEN", server.token)
    monkeypatch.setenv("QSESSION_HOME", str(tmp_path))
    with pytest.warns(DeprecationWarning, match="with a backend name is deprecated"):
        session = Session(backend="fake_torino")
    assert session.service.active_account()["url"] == server.address
    assert session.backend() == "fake_torino"
    session.close()


def test_session_takes_the_old_positional_order_service_then_backend(service):
    with pytest.warns(DeprecationWarning, match=r"Session\(service, backend\) is deprecated"):
        session = Session(service, "ideal_24")
    assert session.backend() == "ideal_24"
    session.close()


def test_batch_with_a_backend_name_is_a_batch(service):
    with pytest.warns(
        DeprecationWarning, match=r"use Batch\(backend=service\.backend\('ideal_24'\)\)"
    ):
        batch = Batch(service=service, backend="ideal_24")
    assert batch.details()["mode"] == "batch"
    batch.close()


def test_the_warning_points_at_the_callers_line(service):
    with pytest.warns(DeprecationWarning) as record:
        session = Session(service=service, backend="ideal_24")
    assert record[0].filename == __file__
    session.close()


# ---------------------------------------------------------------------- primitives


def test_the_session_keyword_is_mode(service):
    with Session(backend=service.backend("ideal_24")) as session:
        with pytest.warns(DeprecationWarning, match=r"use Sampler\(mode=session\)"):
            sampler = Sampler(session=session)
        assert sampler.mode is session


def test_mode_and_session_together_are_refused(service):
    with Session(backend=service.backend("ideal_24")) as session:
        with pytest.raises(ValueError, match="session= is its deprecated name"):
            Estimator(mode=session, session=session)


def test_sampler_and_estimator_are_the_v2_classes():
    assert (Sampler, Estimator) == (SamplerV2, EstimatorV2)


def test_top_level_shots_option_becomes_default_shots(service):
    with pytest.warns(DeprecationWarning, match=r"use options=\{'default_shots': 10000\}"):
        estimator = Estimator(mode=service.backend("ideal_24"), options={"shots": int(1e4)})
    assert estimator.options.default_shots == 10_000


def test_a_v1_option_in_a_dict_is_refused_with_the_way_out(service):
    with pytest.raises(IBMInputValueError, match=r"Options\(optimization_level=\.\.\.\)"):
        Sampler(mode=service.backend("ideal_24"), options={"optimization_level": 3})


# ---------------------------------------------------------------------- V1 calls


def test_v1_estimator_call_transpiles_lays_out_and_returns_values(torino):
    estimator = Estimator(mode=torino)
    with pytest.warns(DeprecationWarning, match=r"is the deprecated V1 call; use Estimator"):
        job = estimator.run(far_apart(), SparsePauliOp("ZIZ"), parameter_values=[0.7])
    result = job.result()
    assert isinstance(result.values, np.ndarray) and result.values.shape == (1,)
    assert abs(result.values[0] - exact(far_apart(), "ZIZ", [0.7])) <= tolerance(SHOTS)
    assert result.metadata[0]["shots"] == SHOTS
    assert 0 <= result.metadata[0]["variance"] <= 1


def test_v1_estimator_pairs_circuit_i_with_observable_i(torino):
    circuit = far_apart()
    observables = ["ZIZ", "IXI", "XIX"]
    with pytest.warns(DeprecationWarning):
        job = Estimator(mode=torino).run(
            [circuit] * 3, observables, [[0.3], [0.3], [1.2]], shots=SHOTS
        )
    values = job.result().values
    assert values.shape == (3,)
    for value, observable, theta in zip(values, observables, [0.3, 0.3, 1.2], strict=True):
        assert abs(value - exact(circuit, observable, [theta])) <= tolerance(SHOTS)


def test_v1_estimator_without_observables_is_refused(torino):
    with pytest.warns(DeprecationWarning), pytest.raises(IBMInputValueError, match="observables"):
        Estimator(mode=torino).run(far_apart(), parameter_values=[0.1])


def test_v1_sampler_call_on_a_bare_circuit_returns_quasi_dists(torino):
    with pytest.warns(DeprecationWarning, match=r"Sampler\.run\(circuits, parameter_values\)"):
        job = Sampler(mode=torino).run(bell())
    result = job.result()
    (dist,) = result.quasi_dists
    assert set(dist) <= {0, 3} and sum(dist.values()) == pytest.approx(1.0)
    assert abs(dist.get(0, 0.0) - 0.5) <= 5 * np.sqrt(0.25 / SHOTS)
    assert result.metadata == [{"shots": SHOTS, "circuit_metadata": {}}]


def test_v1_sampler_binds_one_set_of_parameter_values_per_circuit(torino):
    theta = Parameter("theta")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    circuit.measure_all()
    with pytest.warns(DeprecationWarning):
        job = Sampler(mode=torino).run([circuit, circuit], parameter_values=[[np.pi], [0.0]])
    assert [dict(d) for d in job.result().quasi_dists] == [{1: 1.0}, {0: 1.0}]


def test_v1_sampler_shots_run_option_sets_the_shots(torino):
    with pytest.warns(DeprecationWarning):
        job = Sampler(mode=torino).run(bell(), shots=100)
    assert job.result().metadata[0]["shots"] == 100


def test_v1_call_with_an_unknown_run_option_is_refused(torino):
    with pytest.warns(DeprecationWarning), pytest.raises(IBMInputValueError, match="'seed'"):
        Sampler(mode=torino).run(bell(), seed=3)


# ---------------------------------------------------------------------- V1 Options


def test_v1_options_class_warns_naming_the_modern_options():
    with pytest.warns(DeprecationWarning, match="use SamplerOptions/EstimatorOptions"):
        Options(optimization_level=3)


def test_v1_options_optimization_level_drives_the_transpilation(torino, monkeypatch):
    levels = []

    def spy(**kwargs):
        levels.append(kwargs["optimization_level"])
        return generate_preset_pass_manager(**kwargs)

    monkeypatch.setattr(compat, "generate_preset_pass_manager", spy)
    with pytest.warns(DeprecationWarning):
        sampler = Sampler(mode=torino, options=Options(optimization_level=1))
        sampler.run(bell()).result()
        Sampler(mode=torino).run(bell()).result()
    assert levels == [1, compat.DEFAULT_OPTIMIZATION_LEVEL]


def test_v1_options_execution_shots_become_default_shots(torino):
    with pytest.warns(DeprecationWarning):
        sampler = Sampler(mode=torino, options=Options(execution={"shots": 200}))
        result = sampler.run(bell()).result()
    assert sampler.options.default_shots == 200
    assert result.metadata[0]["shots"] == 200


def test_primitive_with_v1_options_takes_a_list_of_circuits_as_a_v1_call(torino):
    with pytest.warns(DeprecationWarning):
        sampler = Sampler(mode=torino, options=Options())
        result = sampler.run([bell(), bell()]).result()
    assert len(result.quasi_dists) == 2


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"resilience_level": 1}, "resilience_level=1"),
        ({"resilience": {"noise_factors": (1, 3, 5)}}, "resilience.noise_factors"),
        ({"simulator": {"noise_model": "custom"}}, "simulator.noise_model"),
        ({"environment": {"callback": print}}, "environment.callback"),
        ({"execution": {"init_qubits": False}}, "execution.init_qubits"),
    ],
)
def test_v1_option_that_cannot_be_honoured_is_refused(torino, options, named):
    with pytest.warns(DeprecationWarning):
        legacy = Options(**options)
    with pytest.raises(IBMInputValueError, match=rf"{named}.*cannot be honoured"):
        Sampler(mode=torino, options=legacy)


def test_v1_options_skip_transpilation_submits_the_circuit_as_written(torino):
    with pytest.warns(DeprecationWarning):
        sampler = Sampler(mode=torino, options=Options(transpilation={"skip_transpilation": True}))
        with pytest.raises(IBMInputValueError, match="sampler_pubs"):
            sampler.run(bell())


def test_v1_options_refuse_an_unknown_name():
    with pytest.warns(DeprecationWarning), pytest.raises(IBMInputValueError, match="'shotz'"):
        Options(execution={"shotz": 10})


# ---------------------------------------------------------------------- Session.run


def test_session_run_sampler_with_v2_pubs(torino):
    isa = generate_preset_pass_manager(backend=torino, optimization_level=1).run(bell())
    with Session(backend=torino) as session:
        with pytest.warns(DeprecationWarning, match=r"use Sampler\(mode=session\)\.run\(pubs\)"):
            job = session.run("sampler", {"pubs": [(isa,)], "options": {"default_shots": 64}})
        counts = job.result()[0].data.meas.get_counts()
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 64
    assert job.session_id == session.session_id


def test_session_run_estimator_with_v1_inputs(torino):
    circuit = far_apart()
    inputs = {"circuits": [circuit], "observables": ["ZIZ"], "parameter_values": [[0.4]]}
    with Session(backend=torino) as session:
        with pytest.warns(DeprecationWarning):
            job = session.run("estimator", inputs, options={"job_tags": ["v1"]})
        values = job.result().values
    assert abs(values[0] - exact(circuit, "ZIZ", [0.4])) <= tolerance(SHOTS)
    assert job.tags == ["v1"]


def test_session_run_refuses_an_unknown_program_id(torino):
    with Session(backend=torino) as session:
        with pytest.raises(IBMInputValueError, match="'sampler' and 'estimator'"):
            session.run("circuit-runner", {"circuits": [bell()]})


def test_session_run_refuses_a_callback(torino):
    with Session(backend=torino) as session:
        with pytest.raises(IBMInputValueError, match="no callback"):
            session.run("sampler", {"circuits": [bell()]}, callback=print)


# ---------------------------------------------------------------------- the modern API


def test_modern_calls_raise_no_deprecation_warning(torino):
    isa = generate_preset_pass_manager(backend=torino, optimization_level=1).run(far_apart())
    observable = SparsePauliOp("ZIZ").apply_layout(isa.layout)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        with Session(backend=torino) as session:
            estimator = Estimator(mode=session, options={"default_shots": 1000})
            evs = estimator.run([(isa, observable, [0.5])]).result()[0].data.evs
            sampler = Sampler(mode=session)
            sampler.options.default_shots = 100
            sampler.run([generate_preset_pass_manager(backend=torino).run(bell())]).result()
    assert abs(float(evs) - exact(far_apart(), "ZIZ", [0.5])) <= tolerance(1000)
