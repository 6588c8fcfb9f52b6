"""The qiskit-ibm-runtime API that real code calls beyond the session guide.

Jobs: ``inputs``, ``update_tags()``, ``logs()``. The service: ``usage()``, ``instances()``,
``active_instance()``, ``backends(instance=, dynamic_circuits=)``. Options: an unknown name
raises with the valid names at every level. And the contract beneath them: GetJob's full
view, UpdateJob's field mask, InstanceService.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession import (
    EstimatorOptions,
    EstimatorV2,
    IBMInputValueError,
    RuntimeService,
    SamplerOptions,
    SamplerV2,
)
from qsession.v1 import job_pb2
from tests.circuits import bell
from tests.conftest import base_config, start_server
from tests.e2e.conftest import RawClient


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory) -> Iterator:
    """Jobs hold their QPU 0.4 s, so a second job is still queued when it is cancelled."""
    config = base_config(
        tmp_path_factory.mktemp("fidelity"),
        backends=[{"name": "ideal_24", "profile": "ideal_24", "min_job_duration": "0.4s"}],
    )
    with start_server(config) as handle:
        yield handle


@pytest.fixture(scope="module")
def service(slow_server) -> RuntimeService:
    return RuntimeService(url=slow_server.address, token=slow_server.token)


@pytest.fixture(scope="module")
def backend(service):
    return service.backend("ideal_24")


@pytest.fixture(scope="module")
def isa_bell(backend):
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())


def test_job_inputs_are_the_pubs_as_submitted_and_run_again_to_the_same_result(backend, isa_bell):
    sampler = SamplerV2(mode=backend, options={"simulator": {"seed_simulator": 7}})
    job = sampler.run([(isa_bell, None, 300), isa_bell], shots=100)
    inputs = job.inputs
    assert inputs["version"] == 2
    assert inputs["options"]["seed_simulator"] == 7
    assert all(value not in ({}, None) for value in inputs["options"].values())
    first, second = inputs["pubs"]  # qiskit-ibm-runtime's (circuit, parameter_values, shots)
    assert (first[2], second[2]) == (300, 100)
    assert first[0] == isa_bell and first[1] is None
    again = sampler.run(inputs["pubs"]).result()
    for a, b in zip(job.result(), again, strict=True):
        np.testing.assert_array_equal(a.data.meas.array, b.data.meas.array)


def test_estimator_job_inputs_keep_observables_parameters_and_precision(backend, isa_bell):
    circuit = isa_bell.remove_final_measurements(inplace=False)
    observable = SparsePauliOp("ZZ").apply_layout(circuit.layout)
    job = EstimatorV2(mode=backend).run([(circuit, [[observable], [observable]])], precision=0.1)
    # qiskit-ibm-runtime's (circuit, observables, parameter_values, precision)
    ((_, observables, values, precision),) = job.inputs["pubs"]
    assert observables.shape == (2, 1) and values is None and precision == 0.1
    expected = dict(zip(observable.paulis.to_labels(), observable.coeffs.real, strict=True))
    assert observables[0, 0] == observables[1, 0] == expected


def test_update_tags_replaces_the_tags_and_the_server_filters_by_the_new_ones(
    service, backend, isa_bell
):
    job = SamplerV2(mode=backend, options={"environment": {"job_tags": ["old"]}}).run(
        [isa_bell], shots=10
    )
    assert job.update_tags(["new", "vqe", "new"]) == ["new", "vqe"]
    assert job.tags == ["new", "vqe"]
    assert service.job(job.job_id()).tags == ["new", "vqe"]
    assert [j.job_id() for j in service.jobs(job_tags=["vqe"], limit=5)][0] == job.job_id()
    assert job.job_id() not in {j.job_id() for j in service.jobs(job_tags=["old"])}
    job.result()
    assert job.update_tags([]) == []  # a finished job's tags can change too


@pytest.mark.parametrize("tags", [[""], ["x" * 257], [f"t{i}" for i in range(101)]])
def test_update_tags_refuses_bad_tags_naming_the_rule(backend, isa_bell, tags):
    job = SamplerV2(mode=backend).run([isa_bell], shots=10)
    with pytest.raises(IBMInputValueError, match="job.tags"):
        job.update_tags(tags)


def test_update_job_needs_exactly_the_tags_field_mask(slow_server):
    client = RawClient(slow_server)
    for paths in ([], ["state"], ["tags", "backend"]):
        with pytest.raises(grpc.RpcError) as info:
            client.jobs.UpdateJob(
                job_pb2.UpdateJobRequest(
                    job=job_pb2.Job(id="any", tags=["x"]), update_mask={"paths": paths}
                ),
                metadata=client.metadata,
            )
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "update_mask" in info.value.details()


def test_logs_tell_queued_started_and_done(backend, isa_bell):
    job = SamplerV2(mode=backend).run([isa_bell], shots=10)
    job.result()
    lines = job.logs().splitlines()
    assert len(lines) == 3
    assert "INFO queued: sampler job" in lines[0] and "1 PUB(s) on backend ideal_24" in lines[0]
    assert "INFO started running" in lines[1]
    assert "INFO DONE after" in lines[2]
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert stamps == sorted(stamps)


def test_logs_of_a_cancelled_job_say_so(backend, isa_bell):
    sampler = SamplerV2(mode=backend)
    running = sampler.run([isa_bell], shots=10)
    queued = sampler.run([isa_bell], shots=10)
    queued.cancel()
    running.result()
    assert queued.logs().splitlines()[-1].split(" ", 2)[1:] == [
        "WARNING",
        "CANCELLED: Cancelled by the user before it started.",
    ]


def test_logs_of_a_failed_job_give_the_reason(slow_server):
    client = RawClient(slow_server)
    job = client.create_job([bell()], backend="ideal_24", max_execution_time=0.1)
    assert client.wait(job.id).state == job_pb2.Job.STATE_ERROR
    service = RuntimeService(url=slow_server.address, token=slow_server.token)
    last = service.job(job.id).logs().splitlines()[-1]
    assert " ERROR failed: " in last and "max_execution_time" in last


def test_usage_counts_the_qpu_seconds_of_finished_jobs(service, backend, isa_bell):
    before = service.usage()
    job = SamplerV2(mode=backend).run([isa_bell], shots=10)
    job.result()
    after = service.usage()
    assert after["instance"] == "lab" and after["plan"] == "premium"
    assert after["usage_consumed_seconds"] == pytest.approx(  # IBM's whole seconds
        before["usage_consumed_seconds"] + job.usage(), abs=1
    )
    assert job.usage() >= 0.4  # min_job_duration
    assert ("usage_limit_seconds" in after, after["usage_limit_reached"]) == (False, False)


def test_instances_and_active_instance_name_the_tokens_instance(service, slow_server):
    assert service.instances() == [{"crn": "lab", "name": "lab", "plan": "premium"}]
    assert service.active_instance() == "lab"
    student = RuntimeService(url=slow_server.address, token=slow_server.open_token)
    assert student.instances() == [{"crn": "student", "name": "student", "plan": "open"}]


def test_backends_filter_by_instance_and_dynamic_circuits(service):
    assert [b.name for b in service.backends(instance="lab")] == ["ideal_24"]
    with pytest.raises(IBMInputValueError, match="'student' is not available"):
        service.backends(instance="student")
    dynamic = "if_else" in service.backend("ideal_24").target.operation_names
    assert [b.name for b in service.backends(dynamic_circuits=dynamic)] == ["ideal_24"]
    assert service.backends(dynamic_circuits=not dynamic) == []


@pytest.mark.parametrize(
    "options_class, path, valid",
    [
        (EstimatorOptions, ("resilence_level",), "resilience_level"),
        (SamplerOptions, ("twirlng",), "twirling"),
        (EstimatorOptions, ("simulator", "seed_simulatr"), "seed_simulator"),
        (SamplerOptions, ("environment", "job_tag"), "job_tags"),
    ],
)
def test_an_unknown_option_raises_with_the_valid_names_at_every_level(options_class, path, valid):
    options = options_class()
    *parents, name = path
    for parent in parents:
        options = getattr(options, parent)
    message = f"no option '{name}'; its options are: .*\\b{valid}\\b"
    with pytest.raises(AttributeError, match=message):
        setattr(options, name, 1)
    with pytest.raises(AttributeError, match=message):
        getattr(options, name)
    nested: dict = {name: 1}
    for parent in reversed(parents):
        nested = {parent: nested}
    with pytest.raises(IBMInputValueError, match=f"no option '{name}'"):
        options_class.from_dict(nested)


def test_usage_is_restored_after_a_restart(tmp_path, isa_bell):
    config = base_config(tmp_path, backends=[{"name": "ideal_24", "profile": "ideal_24"}])
    with start_server(config) as handle:
        service = RuntimeService(url=handle.address, token=handle.token)
        SamplerV2(mode=service.backend("ideal_24")).run([isa_bell], shots=10).result()
        used = service.usage()["usage_consumed_seconds"]
        assert used > 0
    time.sleep(0.1)
    with start_server(config) as handle:
        service = RuntimeService(url=handle.address, token=handle.token)
        assert service.usage()["usage_consumed_seconds"] == pytest.approx(used)
