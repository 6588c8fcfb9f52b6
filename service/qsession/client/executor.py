"""Executor: qiskit-ibm-runtime 0.51's ``Executor``, running a ``QuantumProgram`` on a qsession
server.

The program and the result are qiskit-ibm-runtime's own types (``QuantumProgram``,
``QuantumProgramResult``), so IBM's Executor examples run with the import line changed. The
program travels as a ``qsession.v1.QuantumProgram`` (``wire.quantum_program``); each item
(circuit or samplex) runs as a Sampler PUB of the program's shots, in job mode, a session or a
batch, as any job does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qiskit_ibm_runtime.options_models.executor import ExecutorOptions
from qiskit_ibm_runtime.quantum_program import QuantumProgram

from qsession.client.errors import IBMInputValueError
from qsession.client.primitives import resolve_mode, submit_job
from qsession.v1 import job_pb2
from qsession.wire.quantum_program import encode_program

if TYPE_CHECKING:
    from qsession.client.job import RuntimeJobV2
    from qsession.client.session import Session
    from qsession.local import LocalRuntimeJob

_DEFAULT_EXECUTION = ExecutorOptions().execution.model_dump()


class Executor:
    """Runs :class:`~qiskit_ibm_runtime.QuantumProgram` s, as qiskit-ibm-runtime's
    ``Executor``.

    Args:
        mode: A :class:`Session` or :class:`Batch`, a backend (job mode), or ``None`` for the
            session of the enclosing ``with Session(...)`` block.
        options: qiskit-ibm-runtime's ``ExecutorOptions``, or a dict of them. qsession runs
            ``environment.job_tags``, ``environment.private``, ``max_execution_time`` (or
            ``environment.max_execution_time``) and ``simulator.seed_simulator`` (or
            ``experimental.seed_simulator``, the form IBM's own ``Executor`` sends to
            qsession's REST API); ``run()`` refuses execution options other than their
            defaults and other experimental options.

    Raises:
        ValueError: no mode can be determined.
        TypeError: ``options`` is neither ``ExecutorOptions`` nor a dict.
    """

    def __init__(self, mode: Any = None, options: ExecutorOptions | dict | None = None):
        self._mode, self._backend = resolve_mode(mode)
        self.options = options if options is not None else ExecutorOptions()

    def __setattr__(self, name: str, value: Any) -> None:
        """``options`` becomes ``ExecutorOptions`` (a dict is its fields), as IBM's does."""
        if name == "options":
            if isinstance(value, dict):
                value = ExecutorOptions(**value)
            elif not isinstance(value, ExecutorOptions):
                raise TypeError(f"Expected ExecutorOptions or dict, got {type(value)}")
        super().__setattr__(name, value)

    def backend(self) -> Any:
        """The backend the programs run on."""
        return self._backend

    @property
    def mode(self) -> Session | None:
        """The session or batch the programs run in, or ``None`` in job mode."""
        return self._mode

    def run(self, program: Any, dry_run: bool = False) -> RuntimeJobV2 | LocalRuntimeJob:
        """Submit ``program`` (qiskit-ibm-runtime's or samplomatic's ``QuantumProgram``).

        Returns:
            The job; its ``result()`` is a ``QuantumProgramResult``.

        Raises:
            IBMInputValueError: ``dry_run``, an item that is neither a circuit nor a samplex
                item, or an option qsession cannot run.
        """
        if dry_run:
            raise IBMInputValueError("dry_run is not supported: qsession runs every job")
        if not isinstance(program, QuantumProgram):
            program = QuantumProgram.from_(program)
        try:
            message = encode_program(program)
        except ValueError as exc:
            raise IBMInputValueError(str(exc)) from exc
        options = self.options
        return submit_job(
            self._mode,
            self._backend,
            job_pb2.PROGRAM_EXECUTOR,
            _job_options(options),
            list(options.environment.job_tags or []),
            quantum_program=message,
        )


def _job_options(options: ExecutorOptions) -> job_pb2.JobOptions:
    """The JobOptions of an Executor job (the server takes no other; see ``limits``).

    Raises:
        IBMInputValueError: execution or experimental options qsession cannot run.
    """
    execution = options.execution.model_dump()
    for name, value in execution.items():
        if value != _DEFAULT_EXECUTION[name]:
            raise IBMInputValueError(
                f"execution.{name}={value!r} is not emulated; leave it at "
                f"{_DEFAULT_EXECUTION[name]!r}"
            )
    unknown = sorted(set(options.experimental) - {"seed_simulator"})
    if unknown:
        raise IBMInputValueError(
            f"experimental options {unknown} are not supported; the one experimental option "
            "is seed_simulator"
        )
    message = job_pb2.JobOptions()
    seed = options.simulator.seed_simulator
    if seed is None:
        seed = options.experimental.get("seed_simulator")
    if seed is not None:
        message.seed_simulator = seed
    limit = options.max_execution_time or options.environment.max_execution_time
    if limit is not None:
        message.max_execution_time = limit
    if options.environment.private:
        message.private = True
    return message
