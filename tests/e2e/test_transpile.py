"""Issue 16: TranspilerService.Transpile gives clients in any language the ISA circuit of a
backend, exactly what Qiskit's own preset pass manager gives for the same seed and level, with
its layout and the observables mapped onto it."""

from __future__ import annotations

import io

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from qiskit import QuantumCircuit, qasm3, qpy
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution.profiles import load_profile
from qsession.v1 import job_pb2, transpiler_pb2, transpiler_pb2_grpc, types_pb2
from tests.e2e.conftest import RawClient

GHZ = """OPENQASM 3.0;
include "stdgates.inc";
qubit[3] q;
bit[3] c;
h q[0];
cx q[0], q[1];
cx q[1], q[2];
c = measure q;
"""
SEED = 11


@pytest.fixture(scope="module")
def transpiler(server) -> transpiler_pb2_grpc.TranspilerServiceStub:
    return transpiler_pb2_grpc.TranspilerServiceStub(server.channel())


def transpile(server, stub, **fields) -> transpiler_pb2.TranspileResponse:
    return stub.Transpile(
        transpiler_pb2.TranspileRequest(**fields), metadata=server.metadata(), timeout=120
    )


def qiskit_isa(circuit: QuantumCircuit, level: int, **options) -> QuantumCircuit:
    """What Qiskit's own preset pass manager makes of ``circuit`` for fake_torino."""
    target = load_profile("fake_torino").target
    return generate_preset_pass_manager(
        optimization_level=level, target=target, seed_transpiler=SEED, **options
    ).run(circuit)


def operations(circuit: QuantumCircuit) -> list[tuple]:
    return [
        (
            i.operation.name,
            tuple(circuit.find_bit(q).index for q in i.qubits),
            tuple(float(p) for p in i.operation.params),
        )
        for i in circuit.data
    ]


@pytest.mark.parametrize("level", [0, 1, 3])
def test_qasm3_comes_back_as_the_isa_circuit_qiskit_makes_with_the_same_seed(
    server, transpiler, level
):
    answer = transpile(
        server,
        transpiler,
        circuit=types_pb2.Circuit(qasm3=GHZ),
        backend="fake_torino",
        optimization_level=level,
        seed_transpiler=SEED,
        pauli_labels=["ZZI", "IXX"],
    )
    expected = qiskit_isa(qasm3.loads(GHZ), level)
    assert answer.circuit.WhichOneof("format") == "qasm3"
    assert answer.circuit.qasm3 == qasm3.dumps(expected)
    assert list(answer.initial_layout) == expected.layout.initial_index_layout(filter_ancillas=True)
    assert list(answer.final_layout) == expected.layout.final_index_layout(filter_ancillas=True)
    read_back = qasm3.loads(answer.circuit.qasm3)
    assert answer.num_qubits == read_back.num_qubits  # what a PauliTerm.label's length must be
    for label, mapped in zip(["ZZI", "IXX"], answer.pauli_labels, strict=True):
        full = SparsePauliOp(label).apply_layout(expected.layout).paulis[0].to_label()
        assert len(mapped) == answer.num_qubits and full.endswith(mapped)
        assert set(full[: -len(mapped)]) <= {"I"}


def test_qpy_comes_back_as_qpy_on_all_the_backends_qubits(server, transpiler):
    circuit = qasm3.loads(GHZ)
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    answer = transpile(
        server,
        transpiler,
        circuit=types_pb2.Circuit(qpy=buffer.getvalue()),
        backend="fake_torino",
        optimization_level=1,
        seed_transpiler=SEED,
        initial_layout=[5, 4, 3],
        pauli_labels=["XYZ"],
    )
    isa = qpy.load(io.BytesIO(answer.circuit.qpy))[0]
    expected = qiskit_isa(circuit, 1, initial_layout=[5, 4, 3])
    assert operations(isa) == operations(expected)
    assert list(answer.initial_layout) == [5, 4, 3]
    assert answer.num_qubits == 133
    assert list(answer.pauli_labels) == [
        SparsePauliOp("XYZ").apply_layout(expected.layout).paulis[0].to_label()
    ]


def test_the_isa_circuit_runs_where_the_logical_one_is_refused(server, transpiler):
    client = RawClient(server)
    answer = transpile(
        server,
        transpiler,
        circuit=types_pb2.Circuit(qasm3=GHZ),
        backend="fake_torino",
        optimization_level=2,
        seed_transpiler=SEED,
    )
    isa = qasm3.loads(answer.circuit.qasm3)
    job = client.create_job([(isa, None, 200)], backend="fake_torino")
    live = list(
        client.jobs.WatchJobs(
            job_pb2.WatchJobsRequest(job_ids=[job.id], after_revision=0, until_final=True),
            metadata=client.metadata,
            timeout=120,
        )
    )  # the stream ends by itself once the job is final
    assert live[-1].job.state == job_pb2.Job.STATE_DONE
    assert [r.revision for r in live] == sorted(r.revision for r in live)
    result = client.result(job.id)
    assert set(result[0].data.c.get_counts()) <= {"000", "111"}
    # Watching a job that is already final sends its state once, then ends.
    late = list(
        client.jobs.WatchJobs(
            job_pb2.WatchJobsRequest(job_ids=[job.id], until_final=True),
            metadata=client.metadata,
            timeout=30,
        )
    )
    assert [r.job.state for r in late] == [job_pb2.Job.STATE_DONE]


def reason_of(error: grpc.RpcError) -> tuple[str, list[str]]:
    """(ErrorInfo reason, BadRequest fields) of a failed call."""
    reason, fields = "", []
    for detail in rpc_status.from_call(error).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return reason, fields


@pytest.mark.parametrize(
    ("fields", "code", "reason", "field"),
    [
        ({"backend": "fake_torino"}, "INVALID_ARGUMENT", "FIELD_REQUIRED", "circuit"),
        (
            {"circuit": types_pb2.Circuit(sha256="ab"), "backend": "fake_torino"},
            "INVALID_ARGUMENT",
            "FIELD_INVALID",
            "circuit.sha256",
        ),
        (
            {"circuit": types_pb2.Circuit(qasm3=GHZ)},
            "INVALID_ARGUMENT",
            "FIELD_REQUIRED",
            "backend",
        ),
        (
            {"circuit": types_pb2.Circuit(qasm3=GHZ), "backend": "nope"},
            "NOT_FOUND",
            "BACKEND_NOT_FOUND",
            "backend",
        ),
        (
            {
                "circuit": types_pb2.Circuit(qasm3=GHZ),
                "backend": "fake_torino",
                "optimization_level": 4,
            },
            "INVALID_ARGUMENT",
            "FIELD_INVALID",
            "optimization_level",
        ),
        (
            {"circuit": types_pb2.Circuit(qasm3="qubit[2] q; h r;"), "backend": "fake_torino"},
            "INVALID_ARGUMENT",
            "CIRCUIT_INVALID",
            "circuit.qasm3",
        ),
        (
            {
                "circuit": types_pb2.Circuit(qasm3="OPENQASM 3.0; qubit[200] q;"),
                "backend": "fake_torino",
            },
            "INVALID_ARGUMENT",
            "CIRCUIT_TOO_WIDE",
            "circuit",
        ),
        (
            {
                "circuit": types_pb2.Circuit(qasm3=GHZ),
                "backend": "fake_torino",
                "initial_layout": [1, 1, 2],
            },
            "INVALID_ARGUMENT",
            "LAYOUT_INVALID",
            "initial_layout",
        ),
        (
            {
                "circuit": types_pb2.Circuit(qasm3=GHZ),
                "backend": "fake_torino",
                "initial_layout": [0, 1],
            },
            "INVALID_ARGUMENT",
            "LAYOUT_INVALID",
            "initial_layout",
        ),
        (
            {
                "circuit": types_pb2.Circuit(qasm3=GHZ),
                "backend": "fake_torino",
                "pauli_labels": ["ZZ"],
            },
            "INVALID_ARGUMENT",
            "PAULI_LABEL_INVALID",
            "pauli_labels[0]",
        ),
    ],
)
def test_a_bad_transpile_request_names_its_field_and_reason(
    server, transpiler, fields, code, reason, field
):
    with pytest.raises(grpc.RpcError) as info:
        transpile(server, transpiler, **fields)
    assert info.value.code().name == code, info.value.details()
    assert reason_of(info.value) == (reason, [field]), info.value.details()


def test_transpile_needs_a_token(server, transpiler):
    with pytest.raises(grpc.RpcError) as info:
        transpiler.Transpile(
            transpiler_pb2.TranspileRequest(
                circuit=types_pb2.Circuit(qasm3=GHZ), backend="fake_torino"
            ),
            timeout=30,
        )
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason_of(info.value)[0] == "TOKEN_MISSING"
