"""IBM's own client, qiskit-ibm-runtime (the pinned version, unmodified), against qsession's
IBM REST API ([ibm_api] listen), configured only by the environment variables of the
README's recipe; and the same jobs seen over gRPC, and the other way round.

One server for the module (IBM's client caches its backends per service). Each test makes
its own QiskitRuntimeService, as a user's program would.
"""

from __future__ import annotations

import http.client
import json
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession.config import crn_of
from qsession.v1 import job_pb2
from tests.circuits import bell as bell_pair
from tests.conftest import OPEN_TOKEN, PREMIUM_TOKEN, base_config, start_server
from tests.e2e.conftest import RawClient

runtime = pytest.importorskip("qiskit_ibm_runtime")
from qiskit_ibm_runtime import (  # noqa: E402 - after the skip above
    Batch,
    EstimatorV2,
    QiskitRuntimeService,
    SamplerV2,
    Session,
)
from qiskit_ibm_runtime.exceptions import RuntimeJobNotFound  # noqa: E402

ENV = ("QISKIT_IBM_URL", "IAM_URL", "QISKIT_IBM_TOKEN", "QISKIT_IBM_INSTANCE")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = base_config(tmp_path_factory.mktemp("ibm"), ibm_api={"listen": "127.0.0.1:0"})
    with start_server(config) as handle:
        yield handle


def environment(server, token: str, instance: str) -> dict[str, str]:
    base = f"http://127.0.0.1:{server.running.ibm_api.port}"
    return {
        "QISKIT_IBM_URL": f"{base}/experimental/api/v1",
        "IAM_URL": base,
        "QISKIT_IBM_TOKEN": token,
        "QISKIT_IBM_INSTANCE": crn_of(instance),
        "QISKIT_FUNCTIONS_EXPERIMENTAL": "1",
    }


@pytest.fixture
def ibm(server, tmp_path, monkeypatch):
    """A QiskitRuntimeService() of the lab instance, from the environment alone."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no saved IBM account is read
    for name, value in environment(server, PREMIUM_TOKEN, "lab").items():
        monkeypatch.setenv(name, value)
    return QiskitRuntimeService()


def bell(target) -> QuantumCircuit:
    """The measured Bell pair, ISA for ``target``."""
    return generate_preset_pass_manager(optimization_level=1, target=target).run(bell_pair())


def test_the_backends_are_ibms_with_their_targets(ibm, server):
    names = {backend.name for backend in ibm.backends()}
    assert {"fake_torino", "ideal_24"} <= names
    torino = ibm.backend("fake_torino")
    assert torino.num_qubits == 133
    assert "cz" in torino.target.operation_names
    assert torino.configuration().simulator is False
    assert torino.status().operational


def test_a_session_of_sampler_jobs_runs_and_closes(ibm, server):
    backend = ibm.backend("ideal_24")
    circuit = bell(backend.target)
    with Session(backend=backend) as session:
        sampler = SamplerV2(mode=session)
        jobs = [sampler.run([circuit], shots=200) for _ in range(2)]
        for job in jobs:
            counts = job.result()[0].data.meas.get_counts()
            assert set(counts) <= {"00", "11"} and sum(counts.values()) == 200
        details = session.details()
        assert details["state"] in ("active", "open") and details["mode"] == "dedicated"
        assert jobs[0].session_id == session.session_id
    assert session.details()["accepting_jobs"] is False


def test_an_estimator_batch_gives_expectation_values(ibm):
    backend = ibm.backend("ideal_24")
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    isa = generate_preset_pass_manager(optimization_level=1, target=backend.target).run(circuit)
    observable = SparsePauliOp.from_list([("ZZ", 1.0), ("XX", 0.5)]).apply_layout(isa.layout)
    with Batch(backend=backend) as batch:
        estimator = EstimatorV2(mode=batch)
        estimator.options.default_precision = 0.01
        result = estimator.run([(isa, observable)]).result()
    assert np.isclose(result[0].data.evs, 1.5, atol=0.1)


def test_a_job_made_over_http_is_the_same_job_over_grpc_and_back(ibm, server):
    backend = ibm.backend("ideal_24")
    job = SamplerV2(mode=backend).run([bell(backend.target)], shots=50)
    job.result()
    lab = RawClient(server)
    seen = lab.jobs.GetJob(job_pb2.GetJobRequest(id=job.job_id()), metadata=lab.metadata).job
    assert seen.state == job_pb2.Job.STATE_DONE and seen.backend == "ideal_24"

    made = lab.create_job([(bell_pair(), None, 30)], backend="ideal_24")
    lab.wait(made.id)
    again = ibm.job(made.id)
    assert again.status() == "DONE"
    assert sum(again.result()[0].data.meas.get_counts().values()) == 30


def test_jobs_are_listed_newest_or_oldest_first_with_offsets(ibm):
    backend = ibm.backend("ideal_24")
    sampler = SamplerV2(mode=backend)
    sampler.options.environment.job_tags = [f"order-{time.time_ns()}"]
    jobs = [sampler.run([bell(backend.target)], shots=5) for _ in range(3)]
    for job in jobs:
        job.result()
    tag, made = sampler.options.environment.job_tags, [job.job_id() for job in jobs]
    assert [j.job_id() for j in ibm.jobs(job_tags=tag)] == made[::-1]
    assert [j.job_id() for j in ibm.jobs(job_tags=tag, descending=False)] == made
    oldest_second = ibm.jobs(job_tags=tag, descending=False, skip=1, limit=1)
    assert [j.job_id() for j in oldest_second] == made[1:2]


def test_tags_usage_and_cancel(ibm, server):
    backend = ibm.backend("ideal_24")
    sampler = SamplerV2(mode=backend)
    sampler.options.environment.job_tags = ["first"]
    job = sampler.run([bell(backend.target)], shots=20)
    job.result()
    job.update_tags(["second"])
    assert job.tags == ["second"]
    assert [j.job_id() for j in ibm.jobs(job_tags=["second"])] == [job.job_id()]
    assert ibm.usage()["usage_consumed_seconds"] >= 0
    assert job.metrics()["timestamps"]["finished"]


def test_another_instance_sees_none_of_the_jobs_and_a_forged_token_is_refused(
    ibm, server, tmp_path, monkeypatch
):
    backend = ibm.backend("ideal_24")
    job = SamplerV2(mode=backend).run([bell(backend.target)], shots=10)
    job.result()
    for name, value in environment(server, OPEN_TOKEN, "student").items():
        monkeypatch.setenv(name, value)
    student = QiskitRuntimeService()
    with pytest.raises(RuntimeJobNotFound):
        student.job(job.job_id())
    port = server.running.ibm_api.port
    forged = (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsYWIiLCJjcm4iOiJ4IiwiaWF0IjoxLCJleHAiOjk5OTk5OTk5OTl9.x"
    )
    status, body = call(port, "GET", f"/api/v1/jobs/{job.job_id()}", token=forged)
    assert status == 401 and body["errors"][0]["message"]


def call(port: int, method: str, path: str, body: bytes | None = None, token: str | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    text = response.read()
    connection.close()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


def access_token(port: int, apikey: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        "POST",
        "/identity/token",
        body=f"grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey={apikey}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    assert response.status == 200 and answer["expires_in"] > 0
    return answer["access_token"]


@pytest.mark.parametrize(
    "body, status, field",
    [
        (b"{not json", 400, "body"),
        (b"[]", 400, "body"),
        (json.dumps({"program_id": "circuit-runner", "params": {}}).encode(), 404, "program_id"),
        (
            json.dumps({"program_id": "sampler", "params": {"pubs": []}}).encode(),
            400,
            "params.pubs",
        ),
        (
            json.dumps({"program_id": "sampler", "params": {"pubs": [[1, 2, 3]]}}).encode(),
            400,
            "params.pubs[0][0]",
        ),
        (
            json.dumps(
                {
                    "program_id": "sampler",
                    "backend": "ideal_24",
                    "params": {"pubs": [], "options": 3},
                }
            ).encode(),
            400,
            "params.options",
        ),
    ],
)
def test_bad_job_requests_get_ibms_4xx_naming_the_field_and_create_nothing(
    server, body, status, field
):
    port = server.running.ibm_api.port
    token = access_token(port, PREMIUM_TOKEN)
    lab = RawClient(server)
    before = len(
        lab.jobs.ListJobs(job_pb2.ListJobsRequest(page_size=100), metadata=lab.metadata).jobs
    )
    answer, error = call(port, "POST", "/api/v1/jobs", body=body, token=token)
    assert answer == status, error
    assert error["errors"][0]["more_info"] == field
    after = len(
        lab.jobs.ListJobs(job_pb2.ListJobsRequest(page_size=100), metadata=lab.metadata).jobs
    )
    assert after == before


def test_unknown_paths_and_methods_answer_ibms_error_json(server):
    port = server.running.ibm_api.port
    token = access_token(port, PREMIUM_TOKEN)
    for method, path, status in (
        ("GET", "/api/v1/nothing-here", 404),
        ("POST", "/api/v1/backends", 405),
        ("GET", "/api/v1/jobs/00000000-0000-0000-0000-000000000000", 404),
    ):
        answer, body = call(port, method, path, token=token)
        assert answer == status and body["status_code"] == status


def test_the_session_guides_vqe_runs_in_a_session_through_ibms_client(ibm):
    """The seed guide's loop: an Estimator in a Session, a classical optimizer, each cost
    evaluation one job; the energy it reaches is below where it started."""
    from qiskit.circuit.library import real_amplitudes
    from scipy.optimize import minimize

    backend = ibm.backend("ideal_24")
    hamiltonian = SparsePauliOp.from_list([("ZZ", 1.0), ("XI", 0.4), ("IX", 0.4)])
    ansatz = real_amplitudes(2, reps=1)
    isa = generate_preset_pass_manager(optimization_level=1, target=backend.target).run(ansatz)
    observable = hamiltonian.apply_layout(isa.layout)
    energies = []
    session = Session(backend=backend)  # the class, closed explicitly
    estimator = EstimatorV2(mode=session)
    estimator.options.default_shots = 2000

    def cost(parameters):
        energy = float(estimator.run([(isa, observable, parameters)]).result()[0].data.evs)
        energies.append(energy)
        return energy

    minimize(cost, np.full(ansatz.num_parameters, 0.3), method="COBYLA", options={"maxiter": 12})
    assert session.details()["state"] == "active"
    session.close()
    assert min(energies) < energies[0] - 0.1
    assert session.details()["accepting_jobs"] is False


def test_cancelling_a_session_cancels_its_queued_jobs(ibm):
    backend = ibm.backend("ideal_24")
    circuit = bell(backend.target)
    session = Session(backend=backend)
    sampler = SamplerV2(mode=session)
    jobs = [sampler.run([circuit], shots=10) for _ in range(3)]
    session.cancel()
    deadline = time.monotonic() + 60
    while not all(job.in_final_state() for job in jobs) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {job.status() for job in jobs} <= {"DONE", "CANCELLED"}
    assert session.details()["state"] == "closed"


def test_qrmi_acquires_a_session_runs_a_sampler_task_and_releases_it(server, monkeypatch):
    """QRMI's ``ibm-quantum-compute-service`` resource (the HPC centres' interface under
    Slurm) pointed at qsession: acquire opens a session, a Sampler task of OpenQASM 3 runs
    to Completed with a PrimitiveResult, and release closes the session, as gRPC sees it."""
    qrmi = pytest.importorskip("qrmi")
    from qiskit import qasm3

    from qsession.v1 import session_pb2

    port = server.running.ibm_api.port
    for key, value in (
        ("ENDPOINT", f"http://127.0.0.1:{port}/api/v1"),
        ("IAM_ENDPOINT", f"http://127.0.0.1:{port}"),
        ("IAM_APIKEY", PREMIUM_TOKEN),
        ("SERVICE_CRN", crn_of("lab")),
    ):
        monkeypatch.setenv(f"ideal_24_QRMI_IBM_QCS_{key}", value)
    resource = qrmi.QuantumResource("ideal_24", qrmi.ResourceType.IBMQuantumComputeService)
    session_id = resource.acquire()
    lab = RawClient(server)
    get = session_pb2.GetSessionRequest(id=session_id)
    assert lab.sessions.GetSession(get, metadata=lab.metadata).session.accepting_jobs
    task = {
        "pubs": [[qasm3.dumps(bell_pair()), [], 100]],
        "shots": 100,
        "options": {},
        "version": 2,
        "support_qiskit": True,
    }
    task_id = resource.task_start(
        qrmi.Payload.QiskitPrimitive(input=json.dumps(task), program_id="sampler")
    )
    deadline = time.monotonic() + 60
    while resource.task_status(task_id) not in (
        qrmi.TaskStatus.Completed,
        qrmi.TaskStatus.Failed,
        qrmi.TaskStatus.Cancelled,
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert resource.task_status(task_id) == qrmi.TaskStatus.Completed
    result = json.loads(resource.task_result(task_id).value, cls=runtime.RuntimeDecoder)
    counts = result[0].data.meas.get_counts()
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 100
    resource.release(session_id)
    closed = lab.sessions.GetSession(get, metadata=lab.metadata).session
    assert not closed.accepting_jobs


ITTL = 1.0  # seconds: the timed server's interactive TTL


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    """A server whose sessions time out within a test: ITTL 1 s, jobs of at least 0.4 s."""
    config = base_config(
        tmp_path_factory.mktemp("ibm_timed"),
        plans={"premium": {"interactive_ttl": f"{ITTL}s", "min_max_ttl": "1s"}},
        backends=[{"name": "ideal_24", "profile": "ideal_24", "min_job_duration": "0.4s"}],
        ibm_api={"listen": "127.0.0.1:0"},
    )
    with start_server(config) as handle:
        yield handle


def session_trace(session_class, sampler_class, backend, circuit) -> list[tuple]:
    """One walk through a session's rules, observed with the session object's own
    ``details()`` and ``status()``: open; two jobs then close (the queued one still runs and
    the session closes once both are done); the interactive TTL; the max TTL."""

    def seen(session) -> tuple:
        details = session.details()
        return details["state"], details["accepting_jobs"], session.status()

    def wait_until(predicate, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline
            time.sleep(0.05)

    trace = []
    draining = session_class(backend=backend)
    trace.append(seen(draining))
    sampler = sampler_class(mode=draining)
    jobs = [sampler.run([circuit], shots=10) for _ in range(2)]
    wait_until(lambda: jobs[0].status() in ("RUNNING", "DONE"))
    draining.close()
    trace.append(seen(draining))
    trace.append(tuple(job.result() is not None and job.status() for job in jobs))
    wait_until(lambda: draining.details()["state"] == "closed")
    trace.append(seen(draining))

    idle = session_class(backend=backend)
    sampler_class(mode=idle).run([circuit], shots=10).result()
    trace.append(seen(idle))
    time.sleep(ITTL + 0.5)
    trace.append(seen(idle))
    idle.close()

    short = session_class(backend=backend, max_time=2)
    sampler_class(mode=short).run([circuit], shots=10).result()
    wait_until(lambda: short.details()["state"] == "closed", timeout=10)
    trace.append(seen(short))
    return trace


def test_session_rules_are_the_same_through_ibms_client_and_the_sdk(timed, tmp_path, monkeypatch):
    from qsession import RuntimeService
    from qsession import SamplerV2 as OurSampler
    from qsession import Session as OurSession

    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in environment(timed, PREMIUM_TOKEN, "lab").items():
        monkeypatch.setenv(name, value)
    ibm_backend = QiskitRuntimeService().backend("ideal_24")
    circuit = bell(ibm_backend.target)
    through_ibm = session_trace(Session, SamplerV2, ibm_backend, circuit)
    service = RuntimeService(url=timed.address, token=PREMIUM_TOKEN)
    through_sdk = session_trace(OurSession, OurSampler, service.backend("ideal_24"), circuit)
    service.close()
    assert (
        through_ibm
        == through_sdk
        == [
            ("open", True, "Pending"),
            ("active", False, "In progress, not accepting new jobs"),
            ("DONE", "DONE"),
            ("closed", False, "Closed"),
            ("active", True, "In progress, accepting new jobs"),
            ("inactive", True, "Pending"),
            ("closed", False, "Closed"),
        ]
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
PROGRAM_BODIES = st.fixed_dictionaries(
    {"program_id": st.sampled_from(["sampler", "estimator", "noise-learner"])},
    optional={
        "backend": st.sampled_from(["ideal_24", "nope"]) | JSON_VALUES,
        "session_id": JSON_VALUES,
        "tags": JSON_VALUES,
        "cost": JSON_VALUES,
        "log_level": JSON_VALUES,
        "params": st.fixed_dictionaries(
            {},
            optional={"pubs": JSON_VALUES, "options": JSON_VALUES, "resilience_level": JSON_VALUES},
        )
        | JSON_VALUES,
    },
)
ROUTES = [
    ("POST", "/api/v1/jobs"),
    ("POST", "/api/v1/sessions"),
    ("PATCH", "/api/v1/sessions/00000000-0000-0000-0000-000000000000"),
    ("PUT", "/api/v1/jobs/00000000-0000-0000-0000-000000000000/tags"),
]


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(ROUTES),
    body=PROGRAM_BODIES | JSON_VALUES,
    raw=st.booleans(),
    garbage=st.binary(max_size=64),
)
def test_fuzzed_bodies_get_a_4xx_in_ibms_shape_never_a_5xx(server, route, body, raw, garbage):
    """Any body to the routes that take one, JSON of any shape or bytes that are not JSON:
    the answer is a 4xx (or a success) with IBM's error document, never a 5xx."""
    port = server.running.ibm_api.port
    token = fuzz_token(port)
    data = garbage if raw else json.dumps(body).encode()
    status, answer = call(port, route[0], route[1], body=data, token=token)
    assert status < 500, answer
    if status >= 400:
        assert answer["status_code"] == status and answer["errors"][0]["message"]


_TOKENS: dict[int, str] = {}


def fuzz_token(port: int) -> str:
    if port not in _TOKENS:
        _TOKENS[port] = access_token(port, PREMIUM_TOKEN)
    return _TOKENS[port]


def test_a_jobs_inputs_read_back_and_a_deleted_job_is_gone_everywhere(ibm, server):
    import grpc

    backend = ibm.backend("ideal_24")
    circuit = bell(backend.target)
    job = SamplerV2(mode=backend).run([circuit], shots=25)
    job.result()
    again = ibm.job(job.job_id())
    pub = again.inputs["pubs"][0]
    assert pub[0] == circuit and pub[2] == 25
    ibm.delete_job(job.job_id())
    with pytest.raises(RuntimeJobNotFound):
        ibm.job(job.job_id())
    lab = RawClient(server)
    with pytest.raises(grpc.RpcError) as gone:
        lab.jobs.GetJob(job_pb2.GetJobRequest(id=job.job_id()), metadata=lab.metadata)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_calibration_id_other_than_the_profiles_finds_no_backend(ibm):
    from qiskit.providers.exceptions import QiskitBackendNotFoundError

    with pytest.raises(QiskitBackendNotFoundError):
        ibm.backend("ideal_24", calibration_id="no-such-calibration")


def test_a_private_jobs_inputs_never_leave_and_its_result_is_read_once(ibm, server):
    import grpc

    backend = ibm.backend("ideal_24")
    sampler = SamplerV2(mode=backend)
    sampler.options.environment.private = True
    job = sampler.run([bell(backend.target)], shots=10)
    assert job.result() is not None
    again = ibm.job(job.job_id())
    assert again.private and not again.inputs
    assert not again.result()  # read once
    lab = RawClient(server)
    full = job_pb2.GetJobRequest(id=job.job_id(), view=job_pb2.JOB_VIEW_FULL)
    seen = lab.jobs.GetJob(full, metadata=lab.metadata).job
    assert seen.options.private and not seen.inputs.sampler_pubs
    with pytest.raises(grpc.RpcError) as gone:
        lab.result(job.job_id())
    assert gone.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_workloads_list_sessions_and_job_mode_jobs_newest_first_with_ibms_filters(ibm, server):
    from datetime import UTC, datetime

    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    backend = ibm.backend("ideal_24")
    circuit = bell(backend.target)
    with Batch(backend=backend) as batch:
        SamplerV2(mode=batch).run([circuit], shots=10).result()
    alone = SamplerV2(mode=backend).run([circuit], shots=10)
    alone.result()
    port = server.running.ibm_api.port
    token = access_token(port, PREMIUM_TOKEN)

    def workloads(query: str) -> dict:
        path = f"/api/v1/workloads?created_after={since}&{query}"
        status, page = call(port, "GET", path, token=token)
        assert status == 200, page
        return page

    newest = workloads("limit=10")
    assert [(w["id"], w["mode"]) for w in newest["workloads"]] == [
        (alone.job_id(), "job"),
        (batch.session_id, "batch"),
    ]
    assert newest["total_count"] == 2 and "next" not in newest
    job_row = newest["workloads"][0]
    assert job_row["status"] == "completed" and job_row["backend"] == "ideal_24"
    assert job_row["accepting_jobs"] is None and job_row["usage"]["status"] == "complete"
    oldest = workloads("sort=createdAt")
    assert [w["id"] for w in oldest["workloads"]] == [batch.session_id, alone.job_id()]
    first = workloads("limit=1")
    assert [w["id"] for w in first["workloads"]] == [alone.job_id()]
    assert first["next"]["href"].endswith("next=1")
    second = workloads("limit=1&next=1")
    assert [w["id"] for w in second["workloads"]] == [batch.session_id]
    assert [w["id"] for w in workloads("mode=job")["workloads"]] == [alone.job_id()]
    assert workloads("status=pending&status=in_progress")["workloads"] == []

    student = access_token(port, OPEN_TOKEN)
    status, theirs = call(port, "GET", f"/api/v1/workloads?created_after={since}", token=student)
    assert status == 200 and theirs["workloads"] == [] and theirs["total_count"] == 0
    status, bad = call(port, "GET", "/api/v1/workloads?status=running", token=token)
    assert status == 400 and bad["errors"][0]["more_info"] == "status"


def test_a_backends_defaults_hold_its_calibrations_qubit_frequencies(server):
    port = server.running.ibm_api.port
    token = access_token(port, PREMIUM_TOKEN)
    status, defaults = call(port, "GET", "/api/v1/backends/fake_torino/defaults", token=token)
    assert status == 200, defaults
    _, properties = call(port, "GET", "/api/v1/backends/fake_torino/properties", token=token)
    calibrated = [
        next((v["value"] for v in qubit if v["name"] == "frequency"), None) or 0.0
        for qubit in properties["qubits"]
    ]
    assert defaults["qubit_freq_est"] == calibrated and len(calibrated) == 133
    assert defaults["cmd_def"] == [] and defaults["pulse_library"] == []
    status, missing = call(port, "GET", "/api/v1/backends/nowhere/defaults", token=token)
    assert status == 404 and missing["errors"][0]["more_info"]
