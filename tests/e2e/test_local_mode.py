"""Local testing mode (:mod:`qsession.local`): a fake backend as the mode runs jobs in this
process on the server's executor, with the device's noise and IBM's options applied.

The workload is the session guide's VQE (its 2-qubit ``efficient_su2`` ansatz and 4-term
Hamiltonian) on ``FakeTorino``, the snapshot a server's ``fake_torino`` is built from.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import efficient_su2
from qiskit.primitives import PrimitiveResult
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.transpiler import generate_preset_pass_manager

from qsession import Batch, EstimatorV2, RuntimeService, SamplerV2, Session
from qsession.client.errors import SessionClosedError
from qsession.fake_provider import FakeManilaV2, FakeTorino
from tests.circuits import bell
from tests.conftest import noisy_backend

HAMILTONIAN = SparsePauliOp.from_list(
    [("YZ", 0.3980), ("ZI", -0.3980), ("ZZ", -0.0113), ("XX", 0.1810)]
)
"""The session guide's VQE Hamiltonian (``bench/scenarios/vqe.py`` runs the same)."""
ANSATZ = efficient_su2(HAMILTONIAN.num_qubits)
SEED = 1234


def seed_vqe_pub(backend, values: np.ndarray) -> tuple:
    """The guide's cost-function PUB for ``backend``: ISA ansatz, laid-out Hamiltonian terms
    and the parameter values."""
    pass_manager = generate_preset_pass_manager(
        backend=backend, optimization_level=3, seed_transpiler=SEED
    )
    isa = pass_manager.run(ANSATZ)
    return isa, [term.apply_layout(isa.layout) for term in HAMILTONIAN], values


def parameter_values(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.uniform(0, 2 * np.pi, ANSATZ.num_parameters) for _ in range(count)]


def isa_bell(backend) -> QuantumCircuit:
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())


@pytest.fixture(scope="module")
def noisy_torino(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A live server's fake_torino with its noise model."""
    with noisy_backend(tmp_path_factory.mktemp("local_mode"), "fake_torino") as backend:
        yield backend


@pytest.fixture
def no_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a gRPC channel fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("local testing mode opened a gRPC channel")

    monkeypatch.setattr(grpc, "insecure_channel", refuse)
    monkeypatch.setattr(grpc, "secure_channel", refuse)


def test_the_seed_vqe_at_level_1_gives_the_servers_fake_torino_values_bit_for_bit(
    noisy_torino,
) -> None:
    # Same ISA circuit, options and seed_simulator: the local job is the request the server's
    # worker runs, on the same executor and calibration snapshot, so nothing may differ.
    options = {
        "default_shots": 10_000,
        "resilience_level": 1,
        "simulator": {"seed_simulator": SEED},
    }
    local = EstimatorV2(mode=FakeTorino(), options=options)
    served = EstimatorV2(mode=noisy_torino, options=options)
    for values in parameter_values(3):
        pub = seed_vqe_pub(FakeTorino(), values)
        ours = local.run([pub]).result()[0]
        theirs = served.run([pub]).result()[0]
        np.testing.assert_array_equal(ours.data.evs, theirs.data.evs)
        np.testing.assert_array_equal(ours.data.stds, theirs.data.stds)
        assert ours.metadata["shots"] == theirs.metadata["shots"]
        assert ours.metadata["num_randomizations"] == theirs.metadata["num_randomizations"] == 32


def test_level_1_mitigation_is_applied_locally() -> None:
    # TREX removes the readout error that dominates level 0's error; 100,000 shots make the
    # gap 11 to 14 standard errors (errors 0.031-0.034 against 0.004-0.008 over
    # seed_simulator 0-3 and 1234).
    backend = FakeTorino()
    values = parameter_values(1)[0]
    ideal = Statevector(ANSATZ.assign_parameters(values)).expectation_value(HAMILTONIAN).real
    errors, stds = {}, {}
    for level in (0, 1):
        estimator = EstimatorV2(
            mode=backend,
            options={
                "default_shots": 100_000,
                "resilience_level": level,
                "simulator": {"seed_simulator": SEED},
            },
        )
        data = estimator.run([seed_vqe_pub(backend, values)]).result()[0].data
        errors[level] = abs(float(data.evs.sum()) - ideal)
        stds[level] = float(np.sqrt(np.sum(data.stds**2)))
    assert errors[1] < errors[0] / 2
    assert errors[0] - errors[1] > 5 * np.hypot(stds[0], stds[1])


def test_a_fake_backend_runs_the_job_in_this_process_with_its_noise(no_channels) -> None:
    backend = FakeManilaV2()
    sampler = SamplerV2(mode=backend)
    sampler.options.simulator.seed_simulator = 11
    job = sampler.run([isa_bell(backend)], shots=2000)
    result = job.result()
    assert isinstance(result, PrimitiveResult)
    assert job.primitive_id == "sampler" and job.backend() is backend
    counts = result[0].data.meas.get_counts()
    assert sum(counts.values()) == 2000
    assert counts.get("01", 0) + counts.get("10", 0) > 0  # the device's noise
    again = sampler.run([isa_bell(backend)], shots=2000).result()
    assert again[0].data.meas.get_counts() == counts  # the server's seed rule


def test_the_local_channel_needs_no_server(no_channels) -> None:
    backend = RuntimeService(channel="local").backend("fake_manila")
    result = SamplerV2(mode=backend).run([isa_bell(backend)], shots=100).result()
    assert result[0].data.meas.num_shots == 100


def test_a_session_on_a_fake_backend_runs_its_jobs_locally(no_channels) -> None:
    backend = FakeManilaV2()
    options = {"simulator": {"seed_simulator": SEED}}
    with Session(backend=backend) as session:
        sampler = SamplerV2(options=options)  # the block's session
        assert sampler.mode is session
        in_session = sampler.run([isa_bell(backend)], shots=500).result()
    job_mode = SamplerV2(mode=backend, options=options).run([isa_bell(backend)], shots=500).result()
    assert in_session[0].data.meas.get_counts() == job_mode[0].data.meas.get_counts()
    assert session.session_id is None
    assert session.service.is_local and session.backend() == "fake_manila"


def test_a_local_session_has_no_server_state() -> None:
    session = Session(backend=FakeManilaV2(), max_time="1h")
    assert session.details() is None
    assert session.status() is None
    assert session.usage() is None


def test_a_closed_local_session_or_batch_accepts_no_jobs(no_channels) -> None:
    backend = FakeManilaV2()
    for mode in (Session(backend=backend), Batch(backend=backend)):
        sampler = SamplerV2(mode=mode)
        job = sampler.run([isa_bell(backend)], shots=100)
        mode.close()
        assert job.result()[0].data.meas.num_shots == 100  # a submitted job still runs
        with pytest.raises(
            SessionClosedError, match=f"The {type(mode).__name__.lower()} is closed"
        ):
            sampler.run([isa_bell(backend)], shots=100)


def test_a_fake_backend_as_the_mode_inside_a_session_block_is_job_mode() -> None:
    backend = FakeManilaV2()
    with Session(backend=backend):
        assert SamplerV2(mode=backend).mode is None
