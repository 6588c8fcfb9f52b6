"""The wire module: what one side encodes, the other decodes to the same Qiskit object."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives import BitArray, DataBin, PrimitiveResult, PubResult, SamplerPubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import SparsePauliOp

from qsession.v1 import job_pb2, types_pb2
from qsession.wire import (
    WireError,
    decode_bits,
    decode_circuit,
    decode_estimator_pub,
    decode_result,
    decode_sampler_pub,
    encode_bits,
    encode_estimator_pub,
    encode_result,
    encode_sampler_pub,
)
from qsession.wire.spans import ExecutionSpans, SliceSpan


def parametrized() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.ry(Parameter("a"), 0)
    circuit.rx(Parameter("b"), 1)
    circuit.measure_all()
    return circuit


def test_sampler_pub_round_trips_with_parameters_and_shots():
    values = np.random.default_rng(1).uniform(size=(3, 4, 2))
    pub = SamplerPub.coerce((parametrized(), values, 123))
    back = decode_sampler_pub(encode_sampler_pub(pub), 0, default_shots=4096)
    assert back.shape == (3, 4) and back.shots == 123
    params = pub.circuit.parameters
    assert np.array_equal(
        back.parameter_values.as_array(params), pub.parameter_values.as_array(params)
    )


def test_sampler_pub_without_shots_takes_the_default():
    pub = SamplerPub.coerce((parametrized(), [0.1, 0.2]))
    assert decode_sampler_pub(encode_sampler_pub(pub), 0, default_shots=77).shots == 77


def test_estimator_pub_round_trips_observables_and_precision():
    circuit = parametrized().remove_final_measurements(inplace=False)
    observables = [[SparsePauliOp(["XX", "IY"], [0.5, 0.5])], [SparsePauliOp("ZZ")]]
    pub = EstimatorPub.coerce((circuit, observables, np.zeros((3, 2)), 0.01))
    back = decode_estimator_pub(encode_estimator_pub(pub), 0, default_precision=1 / 64)
    assert back.shape == (2, 3) and back.precision == 0.01
    assert back.observables[0, 0] == {"XX": 0.5, "IY": 0.5}


def test_parameter_names_must_match_the_circuit():
    message = encode_sampler_pub(SamplerPub.coerce((parametrized(), [0.1, 0.2])))
    message.parameter_values.parameters[1] = "c"
    with pytest.raises(WireError) as info:
        decode_sampler_pub(message, 2, 4096)
    assert info.value.field == "sampler_pubs[2].parameter_values.parameters"


def test_non_finite_parameter_values_are_rejected():
    message = encode_sampler_pub(SamplerPub.coerce((parametrized(), [0.1, np.nan])))
    with pytest.raises(WireError) as info:
        decode_sampler_pub(message, 0, 4096)
    assert info.value.field == "sampler_pubs[0].parameter_values.values"


def test_observable_labels_must_span_the_circuit():
    pub = EstimatorPub.coerce((QuantumCircuit(2), SparsePauliOp("ZZ")))
    message = encode_estimator_pub(pub)
    message.observables.observables[0].terms[0].label = "Z"
    with pytest.raises(WireError) as info:
        decode_estimator_pub(message, 0, 1 / 64)
    assert info.value.field == "estimator_pubs[0].observables.observables[0].terms[0].label"


def test_packed_bits_round_trip_without_copy_and_check_their_length():
    bits = BitArray.from_samples(["0x5", "0x3", "0x1ff"], num_bits=11)
    message = encode_bits(bits)
    back = decode_bits(message, "x")
    assert back == bits
    message.data = message.data[:-1]
    with pytest.raises(WireError):
        decode_bits(message, "x")


def test_sampler_and_estimator_results_round_trip_with_spans():
    meas = BitArray(np.random.default_rng(0).integers(0, 256, (3, 2, 10, 2), dtype=np.uint8), 13)
    start, stop = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    spans = ExecutionSpans([SliceSpan(start, stop, {0: ((3, 2), slice(0, 6))})])
    sampler = PrimitiveResult(
        [SamplerPubResult(DataBin(meas=meas, shape=(3, 2)), metadata={"circuit_metadata": {}})],
        metadata={"execution": {"execution_spans": spans}, "version": 2},
    )
    back = decode_result(job_pb2.JobResult.FromString(encode_result(sampler).SerializeToString()))
    assert back[0].data.meas == meas and back.metadata["version"] == 2
    assert back.metadata["execution"]["execution_spans"] == spans
    evs = np.arange(6.0).reshape(2, 3)
    estimator = PrimitiveResult(
        [
            PubResult(
                DataBin(evs=evs, stds=evs / 10, ensemble_standard_error=evs / 10, shape=(2, 3)),
                metadata={"shots": 4096},
            )
        ]
    )
    back = decode_result(encode_result(estimator))
    assert np.array_equal(back[0].data.evs, evs) and back[0].metadata["shots"] == 4096


def test_malformed_qasm3_names_line_and_column():
    with pytest.raises(WireError) as info:
        decode_circuit(
            types_pb2.Circuit(qasm3="OPENQASM 3.0;\nqubit[2] q\nh q[0];\n"),
            "sampler_pubs[0].circuit",
        )
    assert info.value.field == "sampler_pubs[0].circuit.qasm3" and "line 3, column 1" in str(
        info.value
    )


def test_qasm3_inputs_become_parameters_bound_by_name():
    text = (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float[64] theta;\n'
        "qubit[1] q;\nbit[1] c;\nrx(theta) q[0];\nc = measure q;\n"
    )
    circuit = decode_circuit(types_pb2.Circuit(qasm3=text), "c")
    assert [p.name for p in circuit.parameters] == ["theta"]


def test_qasm3_semantic_errors_name_line_and_column_too():
    text = "OPENQASM 3.0;\nqubit[1] q;\nfoo q[0];\n"
    with pytest.raises(WireError) as info:
        decode_circuit(types_pb2.Circuit(qasm3=text), "c")
    assert "line 3, column 1: gate 'foo' is not defined" in str(info.value)


def test_empty_qasm3_says_what_to_send():
    with pytest.raises(WireError, match="is empty"):
        decode_circuit(types_pb2.Circuit(qasm3="  \n"), "c")


def test_result_metadata_round_trips_nested_values_ints_and_non_finite_numbers():
    metadata = {
        "shots": 4096,
        "fit": {"slope": float("nan"), "bound": float("inf"), "ok": False, "note": None},
        "noise_factors": [1, 3.5, 5],
        "nested": [{"label": "zne", "order": [2, 1]}],
    }
    result = PrimitiveResult(
        [PubResult(DataBin(evs=np.zeros(2), shape=(2,)), metadata=metadata)], metadata=metadata
    )
    back = decode_result(encode_result(result), BitArray)
    for got in (back.metadata, back[0].metadata):
        assert np.isnan(got["fit"].pop("slope"))
        assert got == {**metadata, "fit": {"bound": float("inf"), "ok": False, "note": None}}
        assert isinstance(got["shots"], int) and isinstance(got["noise_factors"][1], float)
