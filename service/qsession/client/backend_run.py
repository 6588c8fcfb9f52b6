"""``backend.run(circuits)``: Qiskit's ``BackendV2.run`` as one Sampler job.

qiskit-ibm-runtime removed ``backend.run``, but libraries written for Aer and older IBM
backends still call it (mthree's readout calibrations, for one). :func:`run_circuits` submits
ONE ``SamplerV2`` job with one PUB per circuit, in job mode or in the enclosing
``with Session(...)`` block's session, exactly as ``SamplerV2(mode=backend)`` would; its
:class:`BackendRunJob` returns a :class:`qiskit.result.Result` shaped like Aer's: hex-keyed
``counts`` (and ``memory``) over all the circuit's classical bits, and a header with
``creg_sizes`` and ``memory_slots``, so ``get_counts()`` gives bitstrings with a space between
registers.

Run options (``backend.set_options`` or keywords of ``run``):

* ``shots`` (default 4000, IBM's): shots of every circuit.
* ``memory`` (default ``False``): keep per-shot outcomes for ``Result.get_memory()``.
* ``rep_delay`` (seconds, ``None`` or >= 0): accepted and ignored; an emulator starts every
  shot from a freshly prepared state, so there is no delay between shots to set.
* ``init_qubits`` (default ``True``): only ``True``; an emulator always initializes qubits.
* ``job_tags``: tags of the Sampler job.
* ``seed_simulator``: seed of the emulator's random numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import SamplerPubResult
from qiskit.providers import JobStatus, JobV1, Options
from qiskit.result import Result
from qiskit.result.models import ExperimentResult, ExperimentResultData

from qsession.bitarray import BitArray
from qsession.client.errors import IBMInputValueError, RuntimeInvalidStateError

if TYPE_CHECKING:
    from datetime import datetime

    from qsession.client.backend import QSessionBackend
    from qsession.client.job import RuntimeJobV2


def default_run_options() -> Options:
    """The options ``backend.run`` accepts, with their defaults (see the module docstring)."""
    return Options(
        shots=4000,
        memory=False,
        rep_delay=None,
        init_qubits=True,
        job_tags=None,
        seed_simulator=None,
    )


def run_circuits(
    backend: QSessionBackend,
    circuits: QuantumCircuit | Sequence[QuantumCircuit],
    options: Mapping[str, Any],
    sampler: Callable[..., Any],
) -> BackendRunJob:
    """Submit ``circuits`` as one Sampler job on ``backend``.

    Args:
        backend: The backend; its session, if a ``with Session(...)`` block is open on it.
        circuits: ISA circuits for the backend, each with every classical bit in a
            classical register and at least one such bit.
        options: The run options, every name of :func:`default_run_options`.
        sampler: The Sampler class (``SamplerV2``), called as
            ``sampler(mode=backend, options={...})``.

    Returns:
        The submitted job.

    Raises:
        IBMInputValueError: a circuit is not a ``QuantumCircuit`` or has a classical bit
            outside its registers or none, an option has a bad value (the error names it), or
            the server rejected a circuit (e.g. not ISA) or the shots (over ``max_shots``).
        TypeError, ValueError: ``shots`` is not a positive integer (Qiskit's PUB check).
        SessionClosedError: the enclosing session does not accept jobs any more.
    """
    batch = [circuits] if isinstance(circuits, QuantumCircuit) else list(circuits)
    for index, circuit in enumerate(batch):
        _check_circuit(index, circuit)
    rep_delay = options["rep_delay"]
    if rep_delay is not None and (not isinstance(rep_delay, Real) or rep_delay < 0):
        raise IBMInputValueError(f"rep_delay must be None or seconds >= 0, got {rep_delay!r}")
    if options["init_qubits"] is not True:
        raise IBMInputValueError(
            "init_qubits must be True: qsession emulated QPUs always initialize the qubits"
        )
    if not isinstance(options["memory"], bool):
        raise IBMInputValueError(f"memory must be True or False, got {options['memory']!r}")
    job = sampler(
        mode=backend,
        options={
            "environment": {"job_tags": options["job_tags"]},
            "simulator": {"seed_simulator": options["seed_simulator"]},
        },
    ).run(batch, shots=options["shots"])
    return BackendRunJob(backend, job, batch, memory=options["memory"])


def _check_circuit(index: int, circuit: Any) -> None:
    """Raise :class:`IBMInputValueError` unless the Sampler returns all of the circuit's bits."""
    if not isinstance(circuit, QuantumCircuit):
        raise IBMInputValueError(
            f"circuits[{index}] is a {type(circuit).__name__}; backend.run() runs QuantumCircuits"
        )
    if circuit.num_clbits == 0:
        raise IBMInputValueError(
            f"circuits[{index}] ({circuit.name!r}) has no classical bits to count; measure "
            "into a classical register"
        )
    in_registers = {bit for register in circuit.cregs for bit in register}
    if len(in_registers) != circuit.num_clbits:
        raise IBMInputValueError(
            f"circuits[{index}] ({circuit.name!r}) has classical bits outside any classical "
            "register; the Sampler returns registers only, so add them to a ClassicalRegister"
        )


class BackendRunJob(JobV1):
    """A ``backend.run`` job: one Sampler job whose result reads as a Qiskit ``Result``.

    ``status()`` gives Qiskit's :class:`~qiskit.providers.JobStatus`, as ``backend.run``
    jobs of Aer do; the Sampler job itself is :attr:`runtime_job`.
    """

    def __init__(
        self,
        backend: QSessionBackend,
        job: RuntimeJobV2,
        circuits: list[QuantumCircuit],
        *,
        memory: bool,
    ):
        super().__init__(backend, job.job_id())
        self._job = job
        self._circuits = circuits
        self._memory = memory

    def __repr__(self) -> str:
        return f"<BackendRunJob('{self._job_id}')>"

    @property
    def runtime_job(self) -> RuntimeJobV2:
        """The Sampler job that runs the circuits."""
        return self._job

    @property
    def session_id(self) -> str | None:
        """The id of the session or batch the job runs in, or ``None`` in job mode."""
        return self._job.session_id

    @property
    def tags(self) -> list[str]:
        """The tags the job was submitted with (``job_tags``)."""
        return self._job.tags

    @property
    def creation_date(self) -> datetime:
        """When the job was created (UTC)."""
        return self._job.creation_date

    def submit(self) -> NoReturn:
        """Not supported: ``backend.run`` has already submitted the job.

        Raises:
            RuntimeInvalidStateError: always.
        """
        raise RuntimeInvalidStateError(f"job {self._job_id} was submitted by backend.run()")

    def status(self) -> JobStatus:
        """The job's status: QUEUED, RUNNING, DONE, ERROR or CANCELLED."""
        return JobStatus[self._job.status()]

    def cancel(self) -> None:
        """Cancel the job (see :meth:`RuntimeJobV2.cancel`).

        Raises:
            RuntimeInvalidStateError: the job already finished.
        """
        self._job.cancel()

    def error_message(self) -> str | None:
        """Why the job failed or was cancelled, as the server reports it; ``None`` otherwise."""
        return self._job.error_message()

    def metrics(self) -> dict[str, Any]:
        """The job's metrics, as :meth:`RuntimeJobV2.metrics` gives them."""
        return self._job.metrics()

    def usage(self, partial: bool = False) -> float:
        """QPU seconds the job used: 0 until it finishes unless ``partial`` is true."""
        return self._job.usage(partial)

    def result(self, timeout: float | None = None) -> Result:
        """Wait for the job and return its counts as a Qiskit ``Result``.

        Args:
            timeout: Seconds to wait; ``None`` waits as long as it takes.

        Returns:
            One experiment per circuit, in order: ``data.counts`` keyed by hex outcome over all
            classical bits (bit ``i`` = clbit ``i``), ``data.memory`` (hex per shot) when run
            with ``memory=True``, and a header with ``name``, ``creg_sizes``,
            ``memory_slots``, ``qreg_sizes``, ``n_qubits``, ``global_phase``, ``metadata``.

        Raises:
            RuntimeJobFailureError: the job ended in ERROR (the message has the reason).
            RuntimeInvalidStateError: the job was cancelled.
            RuntimeJobTimeoutError: the job did not finish within ``timeout`` seconds.
        """
        pub_results = self._job.result(timeout)
        return Result(
            backend_name=self._backend.name,
            backend_version=self._backend.backend_version,
            job_id=self._job_id,
            success=True,
            status="COMPLETED",
            results=[
                _experiment(circuit, pub_result, self._memory)
                for circuit, pub_result in zip(self._circuits, pub_results, strict=True)
            ],
        )


def _experiment(
    circuit: QuantumCircuit, pub_result: SamplerPubResult, memory: bool
) -> ExperimentResult:
    """One circuit's counts (and memory), with the header Aer's ``backend.run`` writes."""
    samples = _clbit_samples(circuit, pub_result)
    counts = {hex(value): count for value, count in samples.get_int_counts().items()}
    shot_memory = [hex(int(bits, 2)) for bits in samples.get_bitstrings()] if memory else None
    return ExperimentResult(
        shots=samples.num_shots,
        success=True,
        data=ExperimentResultData(counts=counts, memory=shot_memory),
        status="DONE",
        header={
            "creg_sizes": [[register.name, register.size] for register in circuit.cregs],
            "global_phase": float(circuit.global_phase),
            "memory_slots": circuit.num_clbits,
            "n_qubits": circuit.num_qubits,
            "name": circuit.name,
            "qreg_sizes": [[register.name, register.size] for register in circuit.qregs],
            "metadata": dict(circuit.metadata),
        },
    )


def _clbit_samples(circuit: QuantumCircuit, pub_result: SamplerPubResult) -> BitArray:
    """The shots over all of the circuit's classical bits (bit ``i`` = clbit ``i``), from the
    Sampler's per-register BitArrays."""
    shots = pub_result.data[circuit.cregs[0].name].num_shots
    bits = np.zeros((shots, circuit.num_clbits), dtype=bool)
    for register in circuit.cregs:
        columns = [circuit.find_bit(bit).index for bit in register]
        bits[:, columns] = pub_result.data[register.name].to_bool_array(order="little")
    return BitArray.from_bool_array(bits, order="little")
