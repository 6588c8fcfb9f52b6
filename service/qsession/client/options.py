"""Primitive options, with qiskit-ibm-runtime's names.

Give them as a dict when constructing a primitive, or set attributes later::

    estimator = EstimatorV2(mode=session, options={"default_shots": 10_000})
    estimator.options.default_precision = 0.01
    estimator.options.environment.job_tags = ["cobyla"]
    estimator.options.simulator.seed_simulator = 42

An unknown option name raises at every level, naming the valid ones (``AttributeError`` on
reading or assigning an attribute, ``IBMInputValueError`` in a dict), and so does a value of the
wrong kind, so a typo never goes unnoticed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from qsession.client.errors import IBMInputValueError
from qsession.v1 import job_pb2

Validator = Callable[[str, Any], Any]


def _positive_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value != int(value)
        or value <= 0
    ):
        raise IBMInputValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _non_negative_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise IBMInputValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _positive_float(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise IBMInputValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _tags(name: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(tag, str) and tag for tag in value):
        raise IBMInputValueError(f"{name} must be a list of non-empty strings, got {value!r}")
    return list(value)


class _Options:
    """Options that refuse unknown names and check values on every assignment."""

    __slots__ = ()
    _validators: ClassVar[dict[str, Validator]] = {}

    def _unknown(self, name: str) -> AttributeError:
        known = ", ".join(sorted(f.name for f in fields(self)))  # type: ignore[arg-type]
        return AttributeError(
            f"{type(self).__name__} has no option {name!r}; its options are: {known}"
        )

    def __getattr__(self, name: str) -> Any:
        """Called only for names that are not options: raise with the list of valid ones."""
        if name.startswith("__"):  # copy, pickle and friends probe for dunders
            raise AttributeError(name)
        raise self._unknown(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise self._unknown(name)
        nested = _NESTED.get(name)
        if nested is not None:
            value = value if isinstance(value, nested) else nested.from_dict(value, name)
        elif name in self._validators:
            value = self._validators[name](name, value)
        object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "options") -> Any:
        """Options from a (possibly nested) dict.

        Raises:
            IBMInputValueError: an unknown name or a bad value.
        """
        if not isinstance(values, Mapping):
            raise IBMInputValueError(f"{where} must be a dict, got {type(values).__name__}")
        options = cls()
        options.update(**values)
        return options

    def update(self, **kwargs: Any) -> None:
        """Set several options at once; nested options may be given as dicts.

        Raises:
            IBMInputValueError: an unknown name or a bad value.
        """
        for name, value in kwargs.items():
            current = getattr(self, name, None) if name in _NESTED else None
            if isinstance(current, _Options) and isinstance(value, Mapping):
                current.update(**value)
                continue
            try:
                setattr(self, name, value)
            except AttributeError as exc:
                raise IBMInputValueError(str(exc)) from None


@dataclass(slots=True)
class EnvironmentOptions(_Options):
    """Options of the execution environment.

    Attributes:
        job_tags: Tags given to each job, to filter ``RuntimeService.jobs()`` and
            ``watch_jobs()`` by.
    """

    _validators: ClassVar[dict[str, Validator]] = {"job_tags": _tags}
    job_tags: list[str] | None = None


@dataclass(slots=True)
class SimulatorOptions(_Options):
    """Options of the emulator.

    Attributes:
        seed_simulator: Seed of the emulator's random numbers, for reproducible results.
    """

    _validators: ClassVar[dict[str, Validator]] = {"seed_simulator": _non_negative_int}
    seed_simulator: int | None = None


_NESTED: dict[str, type[_Options]] = {
    "environment": EnvironmentOptions,
    "simulator": SimulatorOptions,
}


@dataclass(slots=True)
class SamplerOptions(_Options):
    """Options of :class:`~qsession.SamplerV2`.

    Attributes:
        default_shots: Shots for PUBs that set none (server default 4096).
        max_execution_time: Seconds a job may run; a longer job ends in ERROR.
        environment: :class:`EnvironmentOptions` (``job_tags``).
        simulator: :class:`SimulatorOptions` (``seed_simulator``).
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "default_shots": _positive_int,
        "max_execution_time": _positive_int,
    }
    default_shots: int | None = None
    max_execution_time: int | None = None
    environment: EnvironmentOptions = field(default_factory=EnvironmentOptions)
    simulator: SimulatorOptions = field(default_factory=SimulatorOptions)

    def job_options(self) -> job_pb2.JobOptions:
        """The wire form of these options (unset fields left to the server's defaults)."""
        return _common_job_options(self, default_shots=self.default_shots)


@dataclass(slots=True)
class EstimatorOptions(_Options):
    """Options of :class:`~qsession.EstimatorV2`.

    Attributes:
        default_precision: Target standard error for PUBs that set no precision (server
            default 0.015625, i.e. 4096 shots).
        default_shots: Shots per PUB; when set it overrides ``default_precision`` (the
            precision becomes ``1/sqrt(default_shots)``), as in qiskit-ibm-runtime.
        max_execution_time: Seconds a job may run; a longer job ends in ERROR.
        environment: :class:`EnvironmentOptions` (``job_tags``).
        simulator: :class:`SimulatorOptions` (``seed_simulator``).
    """

    _validators: ClassVar[dict[str, Validator]] = {
        "default_precision": _positive_float,
        "default_shots": _positive_int,
        "max_execution_time": _positive_int,
    }
    default_precision: float | None = None
    default_shots: int | None = None
    max_execution_time: int | None = None
    environment: EnvironmentOptions = field(default_factory=EnvironmentOptions)
    simulator: SimulatorOptions = field(default_factory=SimulatorOptions)

    def job_options(self) -> job_pb2.JobOptions:
        """The wire form of these options (unset fields left to the server's defaults)."""
        precision = self.default_precision
        if self.default_shots is not None:
            precision = shots_to_precision(self.default_shots)
        return _common_job_options(self, default_precision=precision)


def shots_to_precision(shots: int) -> float:
    """The precision whose shot count ``ceil(1 / precision**2)`` is exactly ``shots``.

    ``1/sqrt(shots)`` can round so that the server's ``ceil`` gives ``shots + 1``; a relative
    nudge of 1e-12 keeps ``1/precision**2`` just under ``shots`` for any realistic count.
    """
    return (1.0 + 1e-12) / math.sqrt(shots)


def _common_job_options(
    options: SamplerOptions | EstimatorOptions,
    default_shots: int | None = None,
    default_precision: float | None = None,
) -> job_pb2.JobOptions:
    message = job_pb2.JobOptions()
    if default_shots is not None:
        message.default_shots = default_shots
    if default_precision is not None:
        message.default_precision = default_precision
    if options.simulator.seed_simulator is not None:
        message.seed_simulator = options.simulator.seed_simulator
    if options.max_execution_time is not None:
        message.max_execution_time = float(options.max_execution_time)
    return message
