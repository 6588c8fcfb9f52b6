"""Server errors become clear Python exceptions named as in qiskit-ibm-runtime, carrying the
gRPC code, the ErrorInfo reason and the offending field from the status details."""

from __future__ import annotations

import grpc
import pytest
from qiskit.quantum_info import SparsePauliOp

from qsession import (
    EstimatorV2,
    IBMApiError,
    IBMInputValueError,
    QSessionError,
    RuntimeJobNotFound,
    RuntimeService,
    SamplerV2,
    Session,
)
from qsession.client.errors import QuotaExceededError, SessionNotFoundError
from tests.circuits import bell
from tests.conftest import base_config, start_server


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A server with tiny limits: 2 PUBs per job, 1000 shots per PUB."""
    config = base_config(
        tmp_path_factory.mktemp("limits"), limits={"max_pubs_per_job": 2, "max_shots_per_pub": 1000}
    )
    with start_server(config) as handle:
        yield RuntimeService(url=handle.address, token=handle.token)


def test_a_circuit_not_transpiled_for_the_device_is_an_input_error_naming_the_pub(limited):
    with pytest.raises(IBMInputValueError) as info:
        SamplerV2(mode=limited.backend("fake_torino")).run([bell()])
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "NOT_ISA")
    assert error.field == "sampler_pubs[0].circuit"
    assert error.field_violations[0].reason == "NOT_ISA"
    assert "Transpile RPC" in str(error) and "generate_preset_pass_manager" in str(error)


def test_shots_over_the_limit_name_the_shots_field(limited):
    with pytest.raises(IBMInputValueError) as info:
        SamplerV2(mode=limited.backend("ideal_24")).run([bell()], shots=5000)
    assert info.value.field == "sampler_pubs[0].shots"


def test_too_many_pubs_is_a_quota_error(limited):
    with pytest.raises(QuotaExceededError) as info:
        SamplerV2(mode=limited.backend("ideal_24")).run([bell()] * 3)
    assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_an_observable_of_the_wrong_size_is_refused_before_sending(limited):
    with pytest.raises(ValueError):
        EstimatorV2(mode=limited.backend("ideal_24")).run(
            [(bell().remove_final_measurements(inplace=False), SparsePauliOp("ZZZ"))]
        )


def test_an_unknown_job_id_raises_job_not_found(limited):
    with pytest.raises(RuntimeJobNotFound) as info:
        limited.job("no-such-job")
    assert info.value.code == grpc.StatusCode.NOT_FOUND


def test_an_unknown_session_id_raises_session_not_found(limited):
    with pytest.raises(SessionNotFoundError):
        Session.from_id("no-such-session", limited)


def test_an_unreachable_server_names_its_url():
    service = RuntimeService(url="127.0.0.1:1", token="anything")
    with pytest.raises(IBMApiError, match="127.0.0.1:1"):
        service.backends()


def test_an_unknown_option_name_raises_at_assignment_and_in_a_dict(limited):
    backend = limited.backend("ideal_24")
    sampler = SamplerV2(mode=backend)
    with pytest.raises(AttributeError, match="default_shot"):
        sampler.options.default_shot = 10
    with pytest.raises(IBMInputValueError, match="job_tag"):
        SamplerV2(mode=backend, options={"environment": {"job_tag": ["x"]}})
    with pytest.raises(IBMInputValueError, match="positive"):
        sampler.options.default_shots = 0


def test_a_negative_precision_is_refused(limited):
    with pytest.raises(ValueError, match="precision"):
        EstimatorV2(mode=limited.backend("ideal_24")).run([], precision=-1.0)


def test_every_sdk_error_is_a_qsession_error():
    for error in (IBMInputValueError("x"), RuntimeJobNotFound("x"), QuotaExceededError("x")):
        assert isinstance(error, QSessionError)
