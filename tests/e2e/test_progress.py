"""Issue 29, progress while running: a running job's worker reports the fraction of its PUBs
done; each report is a change on WatchJobs (bounded in rate), with an estimate of the time
still needed, and the job ends at 100% with DONE. The SDK's watch and ``metrics()`` carry it.
"""

from __future__ import annotations

import threading

import numpy as np
from qiskit.circuit.library import efficient_su2
from qiskit.transpiler import generate_preset_pass_manager

from qsession import QiskitRuntimeService, SamplerV2
from qsession.execution.profiles import load_profile
from qsession.v1 import job_pb2
from tests.conftest import base_config, start_server
from tests.e2e.conftest import RawClient

PUBS = 12


def pubs() -> list[tuple]:
    """12 PUBs of an 18-qubit layered circuit: a few seconds of simulation in all."""
    target = load_profile("ideal_24").target
    manager = generate_preset_pass_manager(1, target=target, seed_transpiler=1)
    circuit = efficient_su2(18, reps=8)
    circuit.measure_all()
    isa = manager.run(circuit)
    rng = np.random.default_rng(1)
    return [(isa, rng.uniform(0, np.pi, isa.num_parameters), 1000) for _ in range(PUBS)]


def test_a_running_job_reports_progress_until_it_is_done(tmp_path) -> None:
    config = base_config(tmp_path, backends=[{"name": "ideal_24", "profile": "ideal_24"}])
    with start_server(config) as handle:
        client = RawClient(handle)
        service = QiskitRuntimeService(url=handle.address, token=handle.token)
        seen = []
        with service.watch_jobs() as watch:
            ready = threading.Event()

            def follow() -> None:
                ready.set()
                for event in watch:
                    seen.append(event)
                    if event.status == "DONE":
                        return

            follower = threading.Thread(target=follow, daemon=True)
            follower.start()
            ready.wait(10)
            job = client.create_job(pubs(), backend="ideal_24")
            stream = client.jobs.WatchJobs(
                job_pb2.WatchJobsRequest(job_ids=[job.id], after_revision=0, until_final=True),
                metadata=client.metadata,
                timeout=300,
            )
            events = [response.job for response in stream]
            follower.join(60)
        running = [e for e in events if e.state == job_pb2.Job.STATE_RUNNING]
        reports = [e for e in running if e.progress > 0]
        assert len(reports) >= 3, [e.progress for e in running]
        fractions = [e.progress for e in reports]
        assert fractions == sorted(fractions) and len(set(fractions)) == len(fractions)
        assert all(0 < f < 1 for f in fractions)
        assert all(e.HasField("remaining_seconds") and e.remaining_seconds >= 0 for e in reports)
        assert events[-1].state == job_pb2.Job.STATE_DONE
        assert events[-1].progress == 1.0
        # The SDK's watch yields the same reports; metrics() has the final figure.
        sdk = [e.progress for e in seen if e.job_id == job.id and e.status == "RUNNING"]
        assert [f for f in sdk if f > 0] == fractions
        assert service.job(job.id).metrics()["progress"]["fraction"] == 1.0


def test_result_can_draw_a_progress_bar(tmp_path, capsys) -> None:
    config = base_config(tmp_path, backends=[{"name": "ideal_24", "profile": "ideal_24"}])
    with start_server(config) as handle:
        service = QiskitRuntimeService(url=handle.address, token=handle.token)
        job = SamplerV2(mode=service.backend("ideal_24")).run(pubs()[:4])
        result = job.result(progress=True)
    assert len(result) == 4
    bar = capsys.readouterr().err  # tqdm writes to stderr outside a notebook
    assert f"job {job.job_id()[:8]}" in bar
    assert "100/100" in bar and "DONE" in bar
