"""Local testing mode: a primitive whose mode is one of IBM's fake backends
(``SamplerV2(mode=FakeManilaV2())``, or a backend of ``RuntimeService(channel="local")``)
runs its jobs in this process, on qsession's own executor, with no server.

It is the server's path without the network: the job's request is the ``CreateJobRequest``
the SDK would send, run by what a server's worker runs (``workers.process.build_executor``
and ``answer``) with the seed a server would use (``runtime.dispatch.run_seed``), on the
fake backend's calibration snapshot loaded as a server loads an operator's snapshot profile
(``profile = "<directory>"``), with its noise. So the device's noise is the server's, and
IBM's options are applied, not ignored: mitigation (TREX, ZNE), twirling, dynamical
decoupling. With the same ISA circuits, options and ``seed_simulator``, a job gives bit for bit
the values a server's backend of the same snapshot gives (``fake_torino`` with noise and
``FakeTorino``). Jobs run one at a time per process, in a background thread each, as Qiskit's
``PrimitiveJob`` runs them.

Sessions and batches (``Session(backend=FakeManilaV2())`` or ``Batch(...)``, as a class or a
``with`` block) are accepted as in qiskit-ibm-runtime's local mode, and mean little more than
grouping: there is no server to hold a QPU for them, so no id, no TTLs and no state
(``details()``, ``status()`` and ``usage()`` return ``None``), and their jobs run as job-mode
jobs do, one at a time in this process. Closing or cancelling one stops it accepting jobs (the
next ``run`` raises ``SessionClosedError``); jobs already submitted still run, since a local job
starts as soon as it is submitted. A fake backend given as a primitive's ``mode`` inside a
``with Session(...)`` block runs in job mode, as in qiskit-ibm-runtime.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

from qiskit.primitives import PrimitiveResult
from qiskit.primitives.primitive_job import PrimitiveJob
from qiskit.providers import BackendV2

from qsession.bitarray import BitArray
from qsession.client.errors import RuntimeJobFailureError
from qsession.v1 import job_pb2
from qsession.wire import decode_result
from qsession.wire.quantum_program import decode_program_result

if TYPE_CHECKING:
    from qsession.execution import Executor

_PROGRAM_IDS = {
    job_pb2.PROGRAM_SAMPLER: "sampler",
    job_pb2.PROGRAM_ESTIMATOR: "estimator",
    job_pb2.PROGRAM_EXECUTOR: "executor",
}
_ONE_AT_A_TIME = threading.Lock()  # a QPU runs one job at a time; so does this process


def is_local_backend(backend: Any) -> bool:
    """Whether ``backend`` runs in local testing mode: one of qiskit-ibm-runtime's fake
    backends (``qsession.fake_provider``)."""
    if not isinstance(backend, BackendV2):
        return False
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    return isinstance(backend, FakeBackendV2)


@cache
def _executor(snapshot: str) -> Executor:
    """The executor of a fake backend's snapshot directory, with its noise, built once."""
    from qsession.workers.process import build_executor

    return build_executor(snapshot, noise=True)


class LocalRuntimeJob(PrimitiveJob[PrimitiveResult]):
    """A job of local testing mode: Qiskit's ``PrimitiveJob`` (``result()``, ``status()``,
    ``done()``, ...; qiskit-ibm-runtime's local jobs are one too) with
    qiskit-ibm-runtime's ``primitive_id``, ``tags`` and ``backend()``.

    Args:
        backend: The fake backend it runs on.
        request: The job as the SDK would send it to a server.
    """

    def __init__(self, backend: BackendV2, request: job_pb2.CreateJobRequest):
        super().__init__(self._execute)
        self._backend = backend
        self._request = request

    @property
    def primitive_id(self) -> str:
        """``"sampler"``, ``"estimator"`` or ``"executor"``."""
        return _PROGRAM_IDS[self._request.program]

    @property
    def tags(self) -> list[str]:
        """The tags the job was submitted with."""
        return list(self._request.tags)

    def backend(self) -> BackendV2:
        """The fake backend the job runs on."""
        return self._backend

    def run(self) -> LocalRuntimeJob:
        """Start the job in a background thread; returns the job."""
        self._submit()
        return self

    def _execute(self) -> PrimitiveResult:
        """Run the job as a server's worker would: the same executor, request and seed rule.

        Raises:
            RuntimeJobFailureError: the job failed (the message says why, as a server's).
        """
        from qsession.runtime.dispatch import run_seed
        from qsession.workers.process import answer

        executor = _executor(str(self._backend.dirname))
        request = self._request
        with _ONE_AT_A_TIME:
            _, value = answer(
                executor, request.SerializeToString(), run_seed(request.options, self.job_id())
            )
        if isinstance(value, str):  # ("error", why)
            raise RuntimeJobFailureError(
                f"Unable to retrieve job result. Job {self.job_id()} has failed: {value}"
            )
        result = job_pb2.JobResult.FromString(value)
        if request.program == job_pb2.PROGRAM_EXECUTOR:
            return decode_program_result(result)
        return decode_result(result, BitArray)
