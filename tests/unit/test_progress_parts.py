"""A running job reports progress from inside a PUB (execution/progress.py): one long PUB
reports as its randomizations, noise factors or trajectory batches finish, monotonically,
ending at the whole job; many PUBs report once each."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.transpiler import generate_preset_pass_manager

from qsession.execution import Executor, load_profile, progress
from qsession.execution.noise import restrict_target
from qsession.execution.profiles import DeviceProfile
from qsession.wire.options import JobOptions, TwirlingOptions, encode_job_options


@pytest.fixture(scope="module")
def device() -> DeviceProfile:
    torino = load_profile("fake_torino").target
    return DeviceProfile("torino_3", restrict_target(torino, (0, 1, 2)), "fake_torino 0-2")


def _pub(device: DeviceProfile, shots: int) -> SamplerPub:
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.measure_all()
    isa = generate_preset_pass_manager(optimization_level=1, target=device.target).run(circuit)
    return SamplerPub.coerce(isa, shots)


def _reports(executor: Executor, pubs: list[SamplerPub], options) -> list[float]:
    reports: list[float] = []
    executor.progress = lambda done, total: reports.append(done / total)
    executor.run_sampler(pubs, seed=1, options=options)
    return reports


def test_one_long_pub_reports_as_its_randomizations_finish(device) -> None:
    executor = Executor(device, noise=True)
    executor.twirl_in_closed_form = False  # one run per randomization: 16 of them
    options = encode_job_options(JobOptions(twirling=TwirlingOptions(enable_gates=True)))
    reports = _reports(executor, [_pub(device, 1000)], options)
    assert len(set(reports)) >= 10
    assert all(b >= a for a, b in zip(reports, reports[1:], strict=False))
    assert reports[-1] == pytest.approx(1.0)


def test_many_pubs_report_once_each(device) -> None:
    reports = _reports(Executor(device, noise=False), [_pub(device, 10)] * 4, None)
    assert reports == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_a_part_that_raises_reports_nothing() -> None:
    reports: list[float] = []
    with progress.reporting(reports.append), pytest.raises(ValueError):
        for index in progress.iterate(range(4), 4):
            for _ in progress.iterate([0], 2):  # the first half of the item's share
                pass
            if index == 1:
                raise ValueError
    assert reports == [0.125, 0.25, 0.375]
