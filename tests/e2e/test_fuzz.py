"""Issue 6, bad input: no request that parses as its message gets INTERNAL or UNKNOWN, hangs,
crashes the server or stops it serving.

Requests are built by hypothesis from the proto descriptors (every field random: NaNs, huge
numbers, unknown enum values, random bytes and shapes), with domain-aware values mixed in so
that deep paths are reached (real QPY and OpenQASM 3 circuits, mutated QPY, ids that exist,
the real backend), and sent with a valid token, a wrong one or none. Raw bytes (empty,
truncated, random) go through a generic channel: only bytes that do not parse as the message
may get gRPC's own INTERNAL, and only with a valid token (a call without one is refused
UNAUTHENTICATED before its bytes are parsed). The examples are derandomized, so every run
sends the same ones; ``QSESSION_FUZZ_EXAMPLES`` scales their number for a longer hunt.
"""

from __future__ import annotations

import io
import os
import struct

import grpc
import numpy as np
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit, qpy
from qiskit.circuit import Parameter

from qsession.v1 import backend_pb2, instance_pb2, job_pb2, session_pb2, types_pb2
from tests.conftest import OPEN_TOKEN, PREMIUM_TOKEN, base_config
from tests.e2e.conftest import RawClient
from tests.e2e.server_process import ServerProcess

SCALE = float(os.environ.get("QSESSION_FUZZ_EXAMPLES", "1"))
EXAMPLES = {
    "CreateJob": int(300 * SCALE),
    "WatchJobs": int(40 * SCALE),
    "WatchSessions": int(40 * SCALE),
}
DEFAULT_EXAMPLES = int(150 * SCALE)
RAW_EXAMPLES = int(60 * SCALE)
METHODS = [
    method
    for module, name in (
        (backend_pb2, "BackendService"),
        (session_pb2, "SessionService"),
        (job_pb2, "JobService"),
        (instance_pb2, "InstanceService"),
    )
    for method in module.DESCRIPTOR.services_by_name[name].methods
]
WATCHES = {"WatchJobs", "WatchSessions"}
CLEAN_ERRORS_WITH_DETAILS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
}
TOKENS = [PREMIUM_TOKEN, OPEN_TOKEN, "tok-wrong", None]


def _qpy(circuit: QuantumCircuit) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


def _corpus() -> list[bytes]:
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    rotated = QuantumCircuit(2)
    rotated.rx(Parameter("a"), 0)
    rotated.ry(Parameter("b"), 1)
    rotated.measure_all()
    unmeasured = QuantumCircuit(1)
    unmeasured.h(0)
    wide = QuantumCircuit(25)
    wide.measure_all()
    empty = QuantumCircuit()
    branching = QuantumCircuit(1, 1)
    branching.measure(0, 0)
    with branching.if_test((branching.clbits[0], 1)):
        branching.x(0)
    branching.measure(0, 0)
    return [_qpy(c) for c in (bell, rotated, unmeasured, wide, empty, branching)]


QPY_CORPUS = _corpus()
QASM3_CORPUS = [
    'OPENQASM 3.0; include "stdgates.inc"; qubit[2] q; bit[2] c; h q[0]; cx q[0], q[1]; '
    "c = measure q;",
    'OPENQASM 3.0; include "stdgates.inc"; input float[64] a; qubit[1] q; bit[1] c; rx(a) q[0]; '
    "c[0] = measure q[0];",
    "OPENQASM 3.0; qubit[3] q;",
    "OPENQASM 3.0; qubit[1000000000000] q;",
    'OPENQASM 3.0; include "stdgates.inc"; x $5; bit c; c = measure $5;',
    "OPENQASM 2.0; qreg q[1];",
    "",
]


@st.composite
def mutated_qpy(draw) -> bytes:
    """A corpus QPY with a few bytes or 32-bit words overwritten."""
    data = bytearray(draw(st.sampled_from(QPY_CORPUS)))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[at] = draw(st.integers(0, 255))
        else:
            word = draw(st.sampled_from([0, 1, 2**31 - 1, 2**32 - 1, 10**6]))
            data[at : at + 4] = struct.pack("!I", word)
    return bytes(data)


def _floats64() -> st.SearchStrategy[bytes]:
    values = st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=8)
    return values.map(lambda v: np.asarray(v, dtype="<f8").tobytes()) | st.binary(max_size=24)


def _small_shape() -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 4) | st.sampled_from([2**32 - 1, 2**31]), max_size=3)


KNOWN_IDS: list[str] = []  # filled by the fixture: ids of real sessions and jobs


def _ids() -> st.SearchStrategy[str]:
    return (
        st.sampled_from(["", "x" * 200, "../../etc", "\u0000"])
        | st.text(max_size=40)
        | st.builds(lambda i: KNOWN_IDS[i % len(KNOWN_IDS)], st.integers(0, 100))
    )


def _durations() -> st.SearchStrategy[str]:
    return st.sampled_from(
        ["", "300", "10m", "2h 30m 40s", "1.5h", "-3", "9" * 40, "8h", "1d", "abc"]
    ) | st.text(max_size=12)


# Domain-aware values for some fields, mixed with the generic random ones.
OVERRIDES: dict[str, st.SearchStrategy] = {
    "qsession.v1.Circuit.qpy": st.sampled_from(QPY_CORPUS) | mutated_qpy() | st.binary(max_size=64),
    "qsession.v1.Circuit.qasm3": st.sampled_from(QASM3_CORPUS) | st.text(max_size=60),
    "qsession.v1.Float64Array.data": _floats64(),
    "qsession.v1.Float64Array.shape": _small_shape(),
    "qsession.v1.ObservableArray.shape": _small_shape(),
    "qsession.v1.ParameterValues.parameters": st.lists(
        st.sampled_from(["a", "b", "c", ""]), max_size=3
    ),
    "qsession.v1.PauliTerm.label": st.text(alphabet="IXYZ", max_size=3) | st.text(max_size=4),
    "qsession.v1.CreateSessionRequest.max_ttl": _durations(),
    "qsession.v1.CreateSessionRequest.backend": st.sampled_from(["ideal_24", "", "nope"]),
    "qsession.v1.CreateJobRequest.backend": st.sampled_from(["ideal_24", "", "nope"]),
    "qsession.v1.GetBackendRequest.name": st.sampled_from(["ideal_24", "", "nope"])
    | st.text(max_size=10),
    "qsession.v1.CreateJobRequest.session_id": _ids(),
    "qsession.v1.CreateJobRequest.request_id": st.text(max_size=10) | st.just("r" * 129),
    "qsession.v1.CreateJobRequest.program": st.sampled_from([0, 1, 2, 3, -1, 2**31 - 1]),
    "qsession.v1.JobOptions.default_shots": st.integers(-5, 2000)
    | st.sampled_from([-(2**63), 2**63 - 1]),
    "qsession.v1.SamplerPub.shots": st.integers(-5, 2000) | st.sampled_from([-(2**63), 2**63 - 1]),
    "qsession.v1.ListJobsRequest.session_id": _ids(),
    "qsession.v1.ListJobsRequest.page_token": _ids(),
    "qsession.v1.ListSessionsRequest.page_token": _ids(),
    "qsession.v1.WatchJobsRequest.session_id": _ids(),
    "qsession.v1.WatchJobsRequest.job_ids": st.lists(_ids(), max_size=3),
    "qsession.v1.WatchSessionsRequest.session_ids": st.lists(_ids(), max_size=3),
    **{
        f"qsession.v1.{name}.id": _ids()
        for name in (
            "GetJobRequest",
            "CancelJobRequest",
            "GetJobResultRequest",
            "GetSessionRequest",
            "CloseSessionRequest",
            "CancelSessionRequest",
        )
    },
}

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _scalar(field: FieldDescriptor, depth: int) -> st.SearchStrategy:
    if field.full_name in OVERRIDES:
        return OVERRIDES[field.full_name]
    kind = field.type
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return (
            st.integers(max(low, -3), min(high, 100))
            | st.sampled_from([low, high])
            | st.integers(low, high)
        )
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(
            allow_nan=True,
            allow_infinity=True,
            width=64 if kind == FieldDescriptor.TYPE_DOUBLE else 32,
        )
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=30)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.sampled_from(known) | st.integers(-(2**31), 2**31 - 1)
    return messages(field.message_type, depth + 1)


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Random messages of ``descriptor``'s type: every field set or not, to random values; at
    most one field of each oneof; nesting deeper than 4 stays empty."""
    cls = message_factory.GetMessageClass(descriptor)
    if depth > 4:
        return st.just(cls())
    fields = {}
    for field in descriptor.fields:
        value = _scalar(field, depth)
        if field.is_repeated and field.full_name not in OVERRIDES:
            value = st.lists(value, max_size=3)
        fields[field.name] = value
    oneofs = [list(o.fields) for o in descriptor.oneofs]

    @st.composite
    def build(draw) -> Message:
        chosen = draw(st.fixed_dictionaries({}, optional=fields))
        for members in oneofs:
            present = [f.name for f in members if f.name in chosen]
            for name in present[1:]:
                del chosen[name]
        message = cls()
        for name, value in chosen.items():
            field = descriptor.fields_by_name[name]
            if field.is_repeated:
                getattr(message, name).extend(value)
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                getattr(message, name).CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return build()


@st.composite
def _float_array(draw) -> types_pb2.Float64Array:
    """Mostly a shape and exactly as many float64s (NaNs and infinities included)."""
    shape = draw(st.lists(st.integers(0, 3), max_size=3))
    count = int(np.prod(shape, dtype=np.int64))
    values = draw(
        st.lists(
            st.floats(allow_nan=True, allow_infinity=True) | st.floats(-7, 7),
            min_size=count,
            max_size=count,
        )
    )
    data = np.asarray(values, dtype="<f8").tobytes()
    if draw(st.integers(0, 9)) == 0:
        data = draw(st.binary(max_size=24))
    return types_pb2.Float64Array(data=data, shape=shape)


@st.composite
def _plausible_pub(draw, sampler: bool):
    """A PUB with a real (or mutated) circuit and random parameter values, shots, observables."""
    circuit = draw(
        st.sampled_from(QPY_CORPUS).map(lambda b: types_pb2.Circuit(qpy=b))
        | mutated_qpy().map(lambda b: types_pb2.Circuit(qpy=b))
        | st.sampled_from(QASM3_CORPUS).map(lambda t: types_pb2.Circuit(qasm3=t))
    )
    pub = (
        types_pb2.SamplerPub(circuit=circuit)
        if sampler
        else types_pb2.EstimatorPub(circuit=circuit)
    )
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3))
        pub.parameter_values.CopyFrom(
            types_pb2.ParameterValues(parameters=names, values=draw(_float_array()))
        )
    if sampler:
        if draw(st.booleans()):
            pub.shots = draw(st.integers(-2, 1200))
        return pub
    terms = st.builds(
        types_pb2.PauliTerm,
        label=st.text(alphabet="IXYZ", min_size=1, max_size=3),
        coefficient=st.floats(allow_nan=True, allow_infinity=True) | st.floats(-2, 2),
    )
    observables = draw(
        st.lists(st.builds(types_pb2.Observable, terms=st.lists(terms, max_size=2)), max_size=4)
    )
    shape = draw(st.just([len(observables)]) | st.lists(st.integers(0, 4), max_size=2))
    pub.observables.CopyFrom(types_pb2.ObservableArray(observables=observables, shape=shape))
    if draw(st.booleans()):
        pub.precision = draw(st.floats(allow_nan=True, allow_infinity=True) | st.floats(0.03, 1))
    return pub


@st.composite
def plausible_jobs(draw) -> job_pb2.CreateJobRequest:
    """A CreateJobRequest that passes the first checks, so decoding and validation are reached."""
    sampler = draw(st.booleans())
    pubs = draw(st.lists(_plausible_pub(sampler), min_size=1, max_size=3))
    request = job_pb2.CreateJobRequest(
        program=job_pb2.PROGRAM_SAMPLER if sampler else job_pb2.PROGRAM_ESTIMATOR,
        backend="ideal_24",
        tags=draw(st.lists(st.text(max_size=5), max_size=2)),
        options=draw(st.just(job_pb2.JobOptions()) | messages(job_pb2.JobOptions.DESCRIPTOR)),
    )
    (request.sampler_pubs if sampler else request.estimator_pubs).extend(pubs)
    return request


def requests(method) -> st.SearchStrategy[Message]:
    """Random messages for ``method``; for CreateJob, mostly plausible jobs."""
    generic = messages(method.input_type)
    if method.name == "CreateJob":
        return plausible_jobs() | plausible_jobs() | plausible_jobs() | generic
    return generic


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> ServerProcess:
    workdir = tmp_path_factory.mktemp("fuzz")
    config = base_config(
        workdir / "data",
        plans={"premium": {"interactive_ttl": "0.1s", "min_max_ttl": "1s"}},
        sessions={"idle_timeout": "5s"},
        limits={
            "max_shots_per_pub": 5000,
            "max_samples_per_job": 50_000,
            "max_queued_jobs_per_instance": 100_000,
            "circuit_parse_memory_bytes": 256 * 1024 * 1024,
        },
        backends=[{"name": "ideal_24", "profile": "ideal_24"}],
    )
    with ServerProcess(workdir, config) as server:
        client = RawClient(server)
        bell = QuantumCircuit(2)
        bell.h(0)
        bell.cx(0, 1)
        bell.measure_all()
        session = client.sessions.CreateSession(
            session_pb2.CreateSessionRequest(
                backend="ideal_24", mode=session_pb2.Session.MODE_BATCH
            ),
            metadata=client.metadata,
        ).session
        job = client.create_job([(bell, None, 100)], session_id=session.id)
        client.wait(job.id)
        KNOWN_IDS.extend([session.id, job.id])
        yield server


def _details(error: grpc.RpcError) -> list:
    status = rpc_status.from_call(error)
    return list(status.details) if status is not None else []


def _call(channel: grpc.Channel, method, payload, token: str | None, raw: bool):
    """Send one request; return the status code (OK when it succeeded) and the error."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    serialize = None if raw else (lambda m: m.SerializeToString())
    if method.server_streaming:
        stub = channel.unary_stream(path, request_serializer=serialize, response_deserializer=None)
    else:
        stub = channel.unary_unary(path, request_serializer=serialize, response_deserializer=None)
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    timeout = 0.2 if method.name in WATCHES else 60
    try:
        answer = stub(payload, metadata=metadata, timeout=timeout)
        if method.server_streaming:
            for _ in answer:
                pass
    except grpc.RpcError as error:
        return error.code(), error
    return grpc.StatusCode.OK, None


def _check(method, code: grpc.StatusCode, error, parses: bool) -> None:
    """The answer to a request is clean: INTERNAL only for bytes that do not parse, never
    UNKNOWN, no hang (only a watch may still be streaming at its deadline), and details on
    every error the server raises itself."""
    where = f"{method.name}: {code} {error.details() if error else ''}"
    assert code != grpc.StatusCode.UNKNOWN, where
    assert parses or code == grpc.StatusCode.INTERNAL, where
    assert code != grpc.StatusCode.INTERNAL or not parses, where
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        assert method.name in WATCHES, f"{where}: the server did not answer in time"
    if code in CLEAN_ERRORS_WITH_DETAILS:
        assert any(d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR) for d in _details(error)), where


def _settings(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


@pytest.fixture(scope="module")
def channel(fuzzed) -> grpc.Channel:
    return fuzzed.channel()


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_random_messages_never_get_internal_or_unknown(fuzzed, channel, method):
    @_settings(EXAMPLES.get(method.name, DEFAULT_EXAMPLES))
    @given(request=requests(method), token=st.sampled_from(TOKENS))
    def send(request, token):
        code, error = _call(channel, method, request, token, raw=False)
        _check(method, code, error, parses=True)

    send()


def _raw_payloads(method) -> st.SearchStrategy[bytes]:
    valid = messages(method.input_type).map(lambda m: m.SerializeToString())
    truncated = valid.flatmap(lambda b: st.integers(0, max(len(b) - 1, 0)).map(lambda n: b[:n]))
    return (
        st.just(b"") | st.binary(max_size=64) | truncated | valid.map(lambda b: b + b"\xff\xff\xff")
    )


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_raw_bytes_get_internal_only_when_they_do_not_parse(fuzzed, channel, method):
    cls = message_factory.GetMessageClass(method.input_type)

    @_settings(RAW_EXAMPLES)
    @given(payload=_raw_payloads(method), token=st.sampled_from(TOKENS))
    def send(payload, token):
        try:
            cls.FromString(payload)
            parses = True
        except DecodeError:
            parses = False
        code, error = _call(channel, method, payload, token, raw=True)
        if token in (PREMIUM_TOKEN, OPEN_TOKEN):
            _check(method, code, error, parses)
        else:  # nothing is parsed before it is authenticated (issue 25)
            assert code == grpc.StatusCode.UNAUTHENTICATED, f"{method.name}: {code}"

    send()


def test_after_the_fuzzing_the_server_is_alive_healthy_and_runs_jobs(fuzzed):
    assert fuzzed.process.poll() is None
    health = health_pb2_grpc.HealthStub(fuzzed.channel())
    assert (
        health.Check(health_pb2.HealthCheckRequest(), timeout=10).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    circuit = QuantumCircuit(3)
    circuit.x([0, 2])
    circuit.measure_all()
    result = RawClient(fuzzed).run([(circuit, None, 50)])
    assert result[0].data.meas.get_counts() == {"101": 50}
    assert "unexpected error" not in fuzzed.log()
