"""A session remembers its circuits: a circuit sent once is then sent by its SHA-256.

The server keeps admitted circuits per instance and session; a job may name one by the hex
SHA-256 of its Circuit message. A circuit it does not hold is FAILED_PRECONDITION naming the
field, and the SDK then sends the circuit whole. Results are bit for bit the same.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import grpc
import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.transpiler import generate_preset_pass_manager

from qsession import SamplerV2, Session
from qsession.v1 import job_pb2, session_pb2, types_pb2
from qsession.wire import encode_sampler_pub
from tests.e2e.conftest import RawClient


def rotation(ideal) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.ry(Parameter("t"), 0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return generate_preset_pass_manager(backend=ideal, optimization_level=1).run(circuit)


def pub_message(circuit: QuantumCircuit, value: float) -> types_pb2.SamplerPub:
    return encode_sampler_pub(SamplerPub.coerce((circuit, [value], 200)))


def by_digest(pub: types_pb2.SamplerPub) -> types_pb2.SamplerPub:
    named = types_pb2.SamplerPub()
    named.CopyFrom(pub)
    digest = hashlib.sha256(pub.circuit.SerializeToString()).hexdigest()
    named.circuit.CopyFrom(types_pb2.Circuit(sha256=digest))
    return named


def submit(client: RawClient, pub, session_id: str = "", seed: int = 9) -> job_pb2.Job:
    request = job_pb2.CreateJobRequest(
        backend="" if session_id else "ideal_24",
        session_id=session_id,
        program=job_pb2.PROGRAM_SAMPLER,
        sampler_pubs=[pub],
        options=job_pb2.JobOptions(seed_simulator=seed),
    )
    return client.jobs.CreateJob(request, metadata=client.metadata).job


def new_session(client: RawClient) -> str:
    request = session_pb2.CreateSessionRequest(
        backend="ideal_24",
        mode=session_pb2.Session.MODE_BATCH,  # no ITTL hold on the QPU
    )
    return client.sessions.CreateSession(request, metadata=client.metadata).session.id


def test_a_circuit_sent_once_runs_by_its_digest_with_the_same_result(server, ideal):
    client = RawClient(server)
    session = new_session(client)
    whole = pub_message(rotation(ideal), 0.7)
    first = submit(client, whole, session)
    client.wait(first.id)
    second = submit(client, by_digest(whole), session)
    assert client.wait(second.id).state == job_pb2.Job.STATE_DONE
    np.testing.assert_array_equal(
        client.result(first.id)[0].data.meas.array, client.result(second.id)[0].data.meas.array
    )
    stored = client.jobs.GetJob(
        job_pb2.GetJobRequest(id=second.id, view=job_pb2.JOB_VIEW_FULL), metadata=client.metadata
    )
    assert stored.job.inputs.sampler_pubs[0].circuit == whole.circuit  # stored whole


def test_a_circuit_sent_whole_again_is_not_parsed_again(server, ideal, monkeypatch):
    """Clients that do not send digests (grpcurl, a Go client) send the same circuit whole
    with every job: its bytes passed the sandbox once, so later jobs skip it; a circuit
    never parsed still goes there."""
    sandbox = server.running.runtime._admission.sandbox
    parsed = []
    widths = sandbox.widths
    monkeypatch.setattr(
        sandbox, "widths", lambda circuits: parsed.extend(circuits) or widths(circuits)
    )
    client = RawClient(server)
    circuit = rotation(ideal)
    first = submit(client, pub_message(circuit, 0.3))
    assert len(parsed) == 1
    again = [submit(client, pub_message(circuit, value)) for value in (0.4, 0.5)]
    assert len(parsed) == 1  # the same bytes: not parsed again
    for job in (first, *again):
        assert client.wait(job.id).state == job_pb2.Job.STATE_DONE
    other = rotation(ideal)
    other.x(1)
    submit(client, pub_message(other, 0.3))
    assert len(parsed) == 2  # new bytes: parsed in the sandbox


@pytest.mark.parametrize("where", ["never sent", "another session", "another instance"])
def test_a_digest_the_server_does_not_hold_for_this_session_is_failed_precondition(
    server, ideal, where
):
    client = RawClient(server)
    session = new_session(client)
    whole = pub_message(rotation(ideal), 1.1 + len(where))
    if where == "another session":
        client.wait(submit(client, whole, new_session(client)).id)
    elif where == "another instance":
        student = RawClient(server, server.open_token)
        student.wait(submit(student, whole).id)
    with pytest.raises(grpc.RpcError) as info:
        submit(client, by_digest(whole), session)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "sampler_pubs[0].circuit.sha256" in info.value.details()
    assert "send the circuit itself" in info.value.details()


def test_the_sdk_sends_a_repeated_circuit_by_digest_and_whole_again_when_the_server_forgot(
    server, service, ideal
):
    circuit = rotation(ideal)
    sent = []
    original = service._send_job

    def spy(request):
        sent.append(request.sampler_pubs[0].circuit.WhichOneof("format"))
        return original(request)

    service._send_job = spy
    try:
        with Session(backend=ideal) as session:
            sampler = SamplerV2(mode=session, options={"simulator": {"seed_simulator": 4}})
            results = [sampler.run([(circuit, [0.3], 100)]).result() for _ in range(3)]
            assert sent == ["qpy", "sha256", "sha256"]
            other = QuantumCircuit(2)  # a circuit the server never saw, which the SDK
            other.x(0)  # believes it sent: the server refuses the digest, the SDK sends it whole
            other.measure_all()
            message = encode_sampler_pub(SamplerPub.coerce((other, None, 100))).circuit
            digest = hashlib.sha256(message.SerializeToString()).hexdigest()
            service._sent_circuits[session.session_id] = OrderedDict({digest: None})
            sent.clear()
            assert sampler.run([(other, None, 100)]).result()[0].data.meas.get_counts() == {
                "01": 100
            }
            assert sent == ["sha256", "qpy"]
    finally:
        del service._send_job
    for result in results[1:]:
        np.testing.assert_array_equal(result[0].data.meas.array, results[0][0].data.meas.array)


def test_a_bad_pub_with_a_held_circuit_is_refused_naming_its_field(server, ideal):
    """A small job of held circuits is admitted on the server's event loop: its mistakes are
    refused exactly as a thread's admission refuses them, and nothing is created."""
    client = RawClient(server)
    session = new_session(client)
    whole = pub_message(rotation(ideal), 0.3)
    client.wait(submit(client, whole, session).id)
    bad = by_digest(whole)
    bad.parameter_values.Clear()  # the circuit has a parameter: its values are required
    with pytest.raises(grpc.RpcError) as info:
        submit(client, bad, session)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sampler_pubs[0].parameter_values" in info.value.details()
    listed = client.jobs.ListJobs(
        job_pb2.ListJobsRequest(session_id=session), metadata=client.metadata
    )
    assert len(listed.jobs) == 1
    assert client.wait(submit(client, by_digest(whole), session).id).state == (
        job_pb2.Job.STATE_DONE
    )


def test_a_waited_result_equals_the_stored_one(server, ideal):
    """GetJobResult(wait) answers from the result just stored (kept in memory): the same
    bytes and digest as a later read from the store."""
    client = RawClient(server)
    job = submit(client, pub_message(rotation(ideal), 0.9))

    def download(wait: bool) -> tuple[bytes, str, job_pb2.Job]:
        chunks = list(
            client.jobs.GetJobResult(
                job_pb2.GetJobResultRequest(id=job.id, wait=wait), metadata=client.metadata
            )
        )
        data = b"".join(chunk.chunk for chunk in chunks)
        assert hashlib.sha256(data).hexdigest() == chunks[0].sha256
        return data, chunks[0].sha256, chunks[0].job

    waited, waited_digest, final = download(wait=True)
    assert final.state == job_pb2.Job.STATE_DONE and final.id == job.id
    stored, stored_digest, _ = download(wait=False)
    assert (waited, waited_digest) == (stored, stored_digest)


@pytest.mark.parametrize(
    ("values", "message"),
    [(np.array([np.nan]), "finite"), (np.array([0.1, 0.2]), "bytes")],
)
def test_a_pub_admitted_before_but_for_its_values_still_has_its_values_checked(
    server, ideal, values, message
):
    """The second job of an iterative algorithm is not decoded again (same circuit, names,
    shapes, shots), but its parameter values are checked as the first job's were."""
    client = RawClient(server)
    circuit = rotation(ideal)
    client.wait(submit(client, pub_message(circuit, 0.25)).id)
    bad = pub_message(circuit, 0.5)
    bad.parameter_values.values.data = values.astype("<f8").tobytes()
    with pytest.raises(grpc.RpcError) as info:
        submit(client, bad)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sampler_pubs[0].parameter_values.values" in info.value.details()
    assert message in info.value.details()
