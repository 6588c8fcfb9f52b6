"""Thread safety: one service, one session, many threads submitting and waiting at once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession import EstimatorV2, RuntimeService, SamplerV2, Session

THREADS = 6
JOBS_PER_THREAD = 4


@pytest.fixture(scope="module")
def service(server) -> RuntimeService:
    return RuntimeService(url=server.address, token=server.token)


def test_threads_in_one_session_each_get_their_own_correct_results(service):
    backend = service.backend("ideal_24")
    circuit = QuantumCircuit(1)
    circuit.ry(Parameter("t"), 0)
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)
    observable = SparsePauliOp("Z").apply_layout(isa.layout)
    run_id = uuid.uuid4()

    def work(index: int) -> list[tuple[float, float, float]]:
        estimator = EstimatorV2(mode=session)
        estimator.options.environment.job_tags = [f"thread-{run_id}-{index}"]
        out = []
        for step in range(JOBS_PER_THREAD):
            angle = 0.1 * (index * JOBS_PER_THREAD + step)
            data = estimator.run([(isa, observable, [angle])], precision=0.02).result()[0].data
            out.append((angle, data.evs.item(), data.stds.item()))
        return out

    with Session(backend=backend) as session, ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, range(THREADS)))
    for index, rows in enumerate(results):
        for angle, ev, std in rows:
            assert abs(ev - np.cos(angle)) <= 5 * max(std, 1e-3), (index, angle)
        tagged = service.jobs(job_tags=[f"thread-{run_id}-{index}"], limit=None)
        assert len(tagged) == JOBS_PER_THREAD
        assert {job.session_id for job in tagged} == {session.session_id}


def test_threads_waiting_on_one_job_each_get_the_same_result_in_an_object_of_their_own(service):
    """Every thread gets the same bits, each in an object of its own (IBM's rule: changing
    one result changes no other)."""
    backend = service.backend("ideal_24")
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    job = SamplerV2(mode=backend).run([circuit], shots=100)
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: job.result(), range(THREADS)))
    assert len({id(result) for result in results}) == THREADS
    first = results[0][0].data.meas
    assert all((result[0].data.meas.array == first.array).all() for result in results)
    assert sum(first.get_counts().values()) == 100


def test_concurrent_backend_lookups_return_one_object_per_name(service):
    fresh = RuntimeService(
        url=service.active_account()["url"], token=service.active_account()["token"]
    )
    with ThreadPoolExecutor(THREADS) as pool:
        backends = list(pool.map(lambda _: fresh.backend("fake_torino"), range(THREADS)))
    assert all(backend is backends[0] for backend in backends)
