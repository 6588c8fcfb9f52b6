"""qiskit-ibm-runtime's API where IBM's integration tests found qsession's SDK short (issue
27): the service's constructor and filters, the backend's IBMBackend behaviours, the job's
attributes and fresh results, private jobs, the modules IBM code imports, and the local
channel (local testing mode itself: ``test_local_mode.py``)."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime

import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qsession import EstimatorV2, IBMInputValueError, RuntimeService, SamplerV2
from qsession.client.errors import BackendNotFoundError
from qsession.exceptions import IBMBackendValueError, IBMError, RuntimeJobMaxTimeoutError
from qsession.fake_provider.local_service import QiskitRuntimeLocalService
from qsession.options import EstimatorOptions
from tests.circuits import bell


def isa(circuit: QuantumCircuit, backend) -> QuantumCircuit:
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)


# ---------------------------------------------------------------------- service


def test_the_service_takes_ibms_channel_and_its_instance_by_name_or_crn(server):
    service = RuntimeService(
        url=server.address,
        token=server.token,
        channel="ibm_cloud",
        instance="crn:v1:qsession:local:quantum-computing:local:a/qsession:lab::",
    )
    assert service.channel == "ibm_cloud"
    assert service.active_account()["channel"] == "ibm_cloud"
    assert RuntimeService(url=server.address, token=server.token).channel == (
        "ibm_quantum_platform"
    )


def test_an_instance_that_is_not_the_tokens_is_refused_at_construction(server):
    with pytest.raises(IBMInputValueError, match="'student' is not available"):
        RuntimeService(url=server.address, token=server.token, instance="student")


def test_an_unknown_channel_is_refused(server):
    with pytest.raises(IBMInputValueError, match="ibm_quantum_platform"):
        RuntimeService(url=server.address, token=server.token, channel="ibm_quantum")


def test_the_local_channel_makes_the_local_service_whatever_else_is_given():
    service = RuntimeService(channel="local", url="nowhere:1", token="none", instance="x")
    assert isinstance(service, QiskitRuntimeLocalService)
    assert service.backend("fake_manila").num_qubits == 5


def test_jobs_filter_by_program_and_list_oldest_first(service, ideal):
    tag = uuid.uuid4().hex
    sampler = SamplerV2(mode=ideal)
    sampler.options.environment.job_tags = [tag]
    estimator = EstimatorV2(mode=ideal)
    estimator.options.environment.job_tags = [tag]
    first = sampler.run([isa(bell(), ideal)])
    flip = QuantumCircuit(1)
    flip.x(0)
    second = estimator.run([(isa(flip, ideal), "Z")])
    third = sampler.run([isa(bell(), ideal)])
    for job in (first, second, third):
        job.result()
    ids = [job.job_id() for job in (first, second, third)]
    assert [j.job_id() for j in service.jobs(job_tags=[tag])] == ids[::-1]
    assert [j.job_id() for j in service.jobs(job_tags=[tag], descending=False)] == ids
    assert [j.job_id() for j in service.jobs(job_tags=[tag], program_id="sampler")] == [
        ids[2],
        ids[0],
    ]
    assert [j.job_id() for j in service.jobs(job_tags=[tag], descending=False, skip=1)] == ids[1:]


def test_jobs_refuse_tags_that_are_not_strings(service):
    with pytest.raises(IBMInputValueError, match="job_tags must be a list of strings"):
        service.jobs(job_tags=[1, 2, 3])


# ---------------------------------------------------------------------- backend


def test_fractional_gates_are_asked_for_or_left_out(service):
    with pytest.raises(IBMInputValueError, match="does not support fractional gates"):
        service.backend("fake_torino", use_fractional_gates=True)
    without = service.backend("ideal_24", use_fractional_gates=False)
    assert {"rx", "rzz"} & set(service.backend("ideal_24").target.operation_names)
    assert not {"rx", "rzz"} & set(without.target.operation_names)
    assert "rz" in without.target.operation_names  # virtual: not fractional
    assert service.backend("ideal_24", use_fractional_gates=False) is without


def test_a_calibration_id_is_not_found(service):
    with pytest.raises(BackendNotFoundError, match="nope"):
        service.backend("fake_torino", calibration_id="nope")


def test_configuration_attributes_read_as_the_backends_as_copies(torino):
    assert torino.basis_gates == torino.configuration().basis_gates
    torino.basis_gates.remove(torino.basis_gates[0])
    assert torino.basis_gates == torino.configuration().basis_gates
    assert torino.physical_qubits == 133
    with pytest.raises(AttributeError):
        torino.foobar  # noqa: B018


def test_a_deep_copy_shares_the_service_and_has_its_own_target(torino):
    twin = copy.deepcopy(torino)
    assert twin.service is torino.service
    assert twin.target is not torino.target
    assert twin.configuration().basis_gates == torino.configuration().basis_gates
    assert twin.status().operational


def test_refresh_reads_the_backend_again(torino):
    target, configuration = torino.target, torino.configuration()
    torino.refresh()
    assert torino.target is not target
    assert torino.configuration() is not configuration
    assert torino.target.operation_names == target.operation_names


def test_the_calibration_is_the_same_at_any_date(torino):
    then = torino.properties(datetime=datetime(2020, 1, 1))
    assert then.t1(0) == torino.properties().t1(0)
    assert torino.target_history(datetime(2020, 1, 1)).operation_names == (
        torino.target.operation_names
    )


def test_a_backend_that_is_not_active_warns_when_a_primitive_is_made(torino, monkeypatch):
    status = torino.status()
    status.status_msg = "internal"
    monkeypatch.setattr(torino, "status", lambda: status)
    with pytest.warns(UserWarning, match="status of internal"):
        SamplerV2(mode=torino)


# ---------------------------------------------------------------------- job


def test_job_inputs_are_ibms_tuples(ideal):
    circuit = isa(bell(), ideal)
    job = SamplerV2(mode=ideal).run([circuit], shots=7)
    job.result()
    (pub,) = job.inputs["pubs"]
    assert pub == (circuit, None, 7)


def test_each_result_is_a_fresh_object(ideal):
    job = SamplerV2(mode=ideal).run([isa(bell(), ideal)])
    first = job.result()
    first.metadata["test"] = "changed"
    second = job.result()
    assert "test" not in second.metadata
    assert second[0].data.meas.get_counts() == first[0].data.meas.get_counts()


def test_a_job_has_ibms_attributes(service, ideal):
    job = SamplerV2(mode=ideal).run([isa(bell(), ideal)])
    estimate = job.usage_estimation  # known at creation: the job's modelled QPU seconds
    assert estimate["quantum_seconds"] > 0
    job.result()
    assert job.usage_estimation == estimate == {"quantum_seconds": job.usage()}
    assert job.instance == service.active_instance() == "lab"
    assert job.metrics()["qiskit_version"].startswith("qsession-")
    assert not job.private


def test_a_private_jobs_inputs_are_not_returned_and_its_result_is_read_once(ideal):
    sampler = SamplerV2(mode=ideal)
    sampler.options.environment.private = True
    job = sampler.run([isa(bell(), ideal)])
    assert job.private
    assert job.inputs == {}
    assert job.result()[0].data.meas.num_shots == 4096
    assert len(job.result()) == 0


# ---------------------------------------------------------------------- modules


def test_ibms_exception_names_are_in_ibms_hierarchy():
    assert issubclass(IBMInputValueError, IBMError)
    assert issubclass(IBMBackendValueError, IBMError)
    assert issubclass(IBMBackendValueError, ValueError)
    assert issubclass(RuntimeJobMaxTimeoutError, IBMError)


def test_layer_noise_learning_is_accepted_and_ignored_without_pea_or_pec():
    options = EstimatorOptions()
    options.resilience.layer_noise_learning.max_layers_to_learn = 10
    options.job_options()  # accepted
    options.resilience.pec_mitigation = True
    with pytest.raises(IBMInputValueError, match="layer_noise_learning"):
        options.job_options()
