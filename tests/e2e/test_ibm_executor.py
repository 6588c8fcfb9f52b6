"""IBM's unmodified ``Executor`` (qiskit-ibm-runtime 0.51.0) against qsession's IBM REST API:
program ``executor``, schema v2.0 in, the v2.0 result IBM's client decodes out."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives import StatevectorSampler
from qiskit_ibm_runtime import Executor, QiskitRuntimeService, QuantumProgram, Session
from qiskit_ibm_runtime.results.quantum_program import QuantumProgramResult

from qsession import Executor as QSessionExecutor
from qsession import RuntimeService
from qsession.v1 import job_pb2
from tests.circuits import swept_ghz
from tests.conftest import PREMIUM_TOKEN, base_config, start_server
from tests.e2e.conftest import RawClient
from tests.e2e.test_executor import assert_same_distribution, isa, noisy_x
from tests.e2e.test_ibm_api import environment

SHOTS = 4000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = base_config(tmp_path_factory.mktemp("ibm"), ibm_api={"listen": "127.0.0.1:0"})
    with start_server(config) as handle:
        yield handle


@pytest.fixture
def ibm(server, tmp_path, monkeypatch):
    """A QiskitRuntimeService() of the lab instance, from the environment alone."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in environment(server, PREMIUM_TOKEN, "lab").items():
        monkeypatch.setenv(name, value)
    return QiskitRuntimeService()


def test_ibms_executor_runs_a_ghz_sweep_within_4_sigma_of_statevector_sampler(ibm):
    backend = ibm.backend("ideal_24")
    circuit = swept_ghz(3)
    thetas = np.linspace(0, np.pi, 4).reshape(4, 1)
    program = QuantumProgram(shots=SHOTS, passthrough_data={"note": "ghz", "x": np.arange(2)})
    program.append_circuit_item(isa(circuit, backend), circuit_arguments=thetas)

    job = Executor(backend).run(program)
    result = job.result()

    assert isinstance(result, QuantumProgramResult)
    bits = result[0]["c"]
    assert bits.dtype == np.bool_ and bits.shape == (4, SHOTS, 3)
    outcomes = bits @ (1 << np.arange(3))
    exact = StatevectorSampler(seed=3).run([(circuit, thetas)], shots=SHOTS).result()[0].data.c
    for index in range(4):
        assert_same_distribution(outcomes[index], exact[index].array[:, 0], 8)
    assert result.passthrough_data["note"] == "ghz"
    np.testing.assert_array_equal(result.passthrough_data["x"], np.arange(2))
    assert [part.size for span in result.timing for part in span.parts] == [4]


def test_an_http_executor_job_equals_the_sdks_bit_for_bit_with_the_same_seed(ibm, server):
    """A sweep item and a twirled samplex item with injected noise, through IBM's client over
    HTTP and through qsession's SDK over gRPC: the same shapes and dtypes, and with the same
    seed (IBM's client sends it in ``experimental``) the same bits."""
    from qiskit.quantum_info import PauliLindbladMap

    backend = ibm.backend("ideal_24")
    program = QuantumProgram(shots=32, noise_maps={"n": PauliLindbladMap.from_list([("X", 0.1)])})
    program.append_circuit_item(isa(swept_ghz(2), backend), circuit_arguments=np.zeros((2, 3, 1)))
    template, samplex = noisy_x(1)
    program.append_samplex_item(template, samplex, shape=(5,))
    seeded = {"experimental": {"seed_simulator": 11}}
    over_http = Executor(backend, options=seeded).run(program).result()
    ours = RuntimeService(url=server.address, token=server.token).backend("ideal_24")
    over_grpc = QSessionExecutor(ours, options={"simulator": {"seed_simulator": 11}})
    over_grpc = over_grpc.run(program).result()
    assert type(over_http) is type(over_grpc)
    for a, b in zip(over_http, over_grpc, strict=True):
        assert {k: (v.shape, v.dtype) for k, v in a.items()} == {
            k: (v.shape, v.dtype) for k, v in b.items()
        }
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    unseeded = Executor(backend).run(program).result()
    assert any(
        not np.array_equal(a[name], b[name])
        for a, b in zip(unseeded, over_http, strict=True)
        for name in a
    )


def test_an_experimental_option_other_than_the_seed_is_refused_by_name(ibm):
    backend = ibm.backend("ideal_24")
    program = QuantumProgram(shots=10)
    program.append_circuit_item(isa(swept_ghz(2), backend), circuit_arguments=[[np.pi]])
    with pytest.raises(Exception, match=r"params.options.experimental: .*turbo.* not supported"):
        Executor(backend, options={"experimental": {"turbo": 1}}).run(program)
    with pytest.raises(Exception, match="experimental.seed_simulator"):
        Executor(backend, options={"experimental": {"seed_simulator": -1}}).run(program)


def test_ibms_executor_runs_in_a_session_and_the_job_is_seen_over_grpc(ibm, server):
    backend = ibm.backend("ideal_24")
    program = QuantumProgram(shots=10)
    program.append_circuit_item(isa(swept_ghz(2), backend), circuit_arguments=[[np.pi]])
    with Session(backend=backend) as session:
        job = Executor(session).run(program)
        assert job.result()[0]["c"].all()
    lab = RawClient(server)
    seen = lab.jobs.GetJob(job_pb2.GetJobRequest(id=job.job_id()), metadata=lab.metadata).job
    assert seen.program == job_pb2.PROGRAM_EXECUTOR
    assert seen.session_id == session.session_id
    assert seen.state == job_pb2.Job.STATE_DONE
    retrieved = ibm.job(job.job_id())
    assert retrieved.primitive_id == "executor"
    inputs = retrieved.inputs
    assert inputs["quantum_program"].shots == 10


def test_kerneled_meas_level_over_http_is_refused_by_name(ibm):
    backend = ibm.backend("ideal_24")
    program = QuantumProgram(shots=10, meas_level="kerneled")
    program.append_circuit_item(isa(swept_ghz(2), backend), circuit_arguments=[[0.0]])
    with pytest.raises(Exception, match="meas_level") as caught:
        Executor(backend).run(program)
    assert "kerneled" in str(caught.value)


def test_ibms_client_side_sampler_runs_over_http_within_4_sigma(ibm):
    """qiskit-ibm-runtime's ``executor_sampler.Sampler`` (Sampler built on Executor, no
    twirling: circuit items) on a parameterized GHZ sweep."""
    from qiskit_ibm_runtime.executor_sampler import Sampler

    backend = ibm.backend("ideal_24")
    circuit = swept_ghz(3)
    thetas = np.linspace(0, np.pi, 3).reshape(3, 1)
    result = Sampler(mode=backend).run([(isa(circuit, backend), thetas)], shots=SHOTS).result()

    counts = result[0].data.c
    assert counts.shape == (3,) and counts.num_shots == SHOTS
    exact = StatevectorSampler(seed=5).run([(circuit, thetas)], shots=SHOTS).result()[0].data.c
    for index in range(3):
        assert_same_distribution(counts[index].array[:, 0], exact[index].array[:, 0], 8)


def test_ibms_client_side_sampler_runs_the_seed_vqe_ansatz_within_4_sigma(ibm):
    """The session guide's VQE ansatz, measured, at one parameter point."""
    from qiskit_ibm_runtime.executor_sampler import Sampler

    backend = ibm.backend("ideal_24")
    circuit, _, values = _seed_vqe_pub()
    circuit = circuit.measure_all(inplace=False)
    result = Sampler(mode=backend).run([(isa(circuit, backend), values)], shots=SHOTS).result()

    bits = result[0].data.meas
    assert bits.num_shots == SHOTS
    exact = StatevectorSampler(seed=6).run([(circuit, values)], shots=SHOTS).result()[0]
    assert_same_distribution(bits.array, exact.data.meas.array, 4)


def test_ibms_client_side_sampler_with_twirling_runs_samplex_items_over_http(ibm):
    """Twirled: the client sends samplex items; the server samples them and returns the
    measurement flips the client undoes."""
    from qiskit_ibm_runtime.executor_sampler import Sampler

    backend = ibm.backend("ideal_24")
    circuit = swept_ghz(3)
    thetas = np.array([[np.pi / 2]])
    sampler = Sampler(mode=backend)
    sampler.options.twirling.enable_gates = True
    sampler.options.twirling.enable_measure = True
    sampler.options.twirling.num_randomizations = 20
    result = sampler.run([(isa(circuit, backend), thetas)], shots=SHOTS).result()

    bits = result[0].data.c
    assert bits.num_shots == SHOTS
    exact = StatevectorSampler(seed=9).run([(circuit, thetas)], shots=SHOTS).result()[0].data.c
    assert_same_distribution(bits.array, exact.array, 8)


def _ghz_pub() -> tuple:
    """A GHZ state (its first rotation a parameter, bound to pi/2), three terms."""
    from qiskit.quantum_info import SparsePauliOp

    theta = Parameter("theta")
    circuit = QuantumCircuit(3)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    observables = [SparsePauliOp(label) for label in ("ZZI", "IZZ", "XXX")]
    return circuit, observables, np.array([np.pi / 2])


def _seed_vqe_pub() -> tuple:
    """The session guide's VQE ansatz and Hamiltonian terms at one parameter point."""
    from tests.e2e.test_local_mode import ANSATZ, HAMILTONIAN, parameter_values

    (values,) = parameter_values(1)
    return ANSATZ, list(HAMILTONIAN), values


WORKLOADS = {"ghz": _ghz_pub, "seed vqe": _seed_vqe_pub}


@pytest.mark.parametrize("workload", ["ghz", "seed vqe"])
@pytest.mark.parametrize("level", [0, 1])
def test_ibms_client_side_estimator_runs_over_http_within_4_sigma(ibm, level, workload):
    from qiskit.primitives import StatevectorEstimator
    from qiskit_ibm_runtime.executor_estimator import Estimator

    backend = ibm.backend("ideal_24")
    circuit, observables, values = WORKLOADS[workload]()
    mapped = isa(circuit, backend)
    estimator = Estimator(mode=backend, options={"resilience_level": level})
    estimator.options.default_precision = 0.02
    pub = (mapped, [o.apply_layout(mapped.layout) for o in observables], values)
    result = estimator.run([pub]).result()

    exact = StatevectorEstimator().run([(circuit, observables, values)]).result()[0].data.evs
    data = result[0].data
    assert data.evs.shape == exact.shape
    assert np.all(np.abs(data.evs - exact) <= 4 * np.maximum(data.stds, 0.005)), (
        data.evs,
        exact,
        data.stds,
    )


@pytest.fixture(scope="module")
def noisy_ibm(tmp_path_factory):
    """A QiskitRuntimeService() (from the environment alone) of a server whose one backend is
    fake_torino with its noise model."""
    data_dir = tmp_path_factory.mktemp("noisy")
    config = base_config(
        data_dir,
        ibm_api={"listen": "127.0.0.1:0"},
        backends=[{"name": "fake_torino", "profile": "fake_torino", "noise": True}],
    )
    with start_server(config) as handle, pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(data_dir))
        for name, value in environment(handle, PREMIUM_TOKEN, "lab").items():
            patch.setenv(name, value)
        yield QiskitRuntimeService()


@pytest.mark.parametrize("workload", ["ghz", "seed vqe"])
def test_ibms_client_side_estimator_mitigates_fake_torinos_noise_with_trex_and_zne(
    noisy_ibm, workload
):
    """IBM's ``executor_estimator`` at level 0, 1 (TREX: measurement twirling and its
    calibration items, measuring all 133 qubits) and 2 (ZNE by gate folding, with TREX) on
    noisy fake_torino: each mitigated level ends closer to the exact values than level 0.

    The circuit sits on fake_torino's first qubits: qubit 0 reads wrong one time in six, so
    readout error dominates what mitigation has to undo."""
    from qiskit.primitives import StatevectorEstimator
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime.executor_estimator import Estimator

    backend = noisy_ibm.backend("fake_torino")
    circuit, observables, values = WORKLOADS[workload]()
    exact = StatevectorEstimator().run([(circuit, observables, values)]).result()[0].data.evs
    isa_circuit = generate_preset_pass_manager(
        backend=backend,
        optimization_level=1,
        initial_layout=list(range(circuit.num_qubits)),
        seed_transpiler=0,
    ).run(circuit)
    pub = (isa_circuit, [o.apply_layout(isa_circuit.layout) for o in observables], values)
    errors = {}
    for level in (0, 1, 2):
        estimator = Estimator(mode=backend, options={"resilience_level": level})
        estimator.options.default_precision = 0.01
        evs = estimator.run([pub]).result()[0].data.evs
        errors[level] = float(np.abs(evs - exact).sum())
    assert errors[1] < errors[0] and errors[2] < errors[0], errors
