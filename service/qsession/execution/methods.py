"""How a PUB's numbers were made: the simulation methods that ran, exact or not, with bounds.

The executor chooses a method per circuit it simulates (a density matrix, a state vector,
shot-by-shot trajectories, the stabilizer method, a light cone, matrix product states, ...).
Each path says what it did with :func:`note`; the executor opens a :func:`recording` per PUB
and puts what was noted in the PUB's metadata under ``"simulation"``:

    {"methods": [{"method": "density_matrix", "exact": True, "circuits": 3}, ...],
     "exact": True}

A method is *exact* when the distribution of every reported number is that of the device's
noise model (shot noise included), and *approximate* otherwise; an approximate method says
what it approximates and its bound in its entry (e.g. a trajectory average's standard error,
an MPS truncation's discarded weight). A job that sets ``options.simulator.exact`` refuses
approximations: the first approximate method noted raises :class:`ApproximationRefused`
before it runs, and the job ends in ERROR naming the option and the method.

A path noted outside a recording (a unit test calling ``sample_registers`` directly) notes
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from qsession.execution.errors import InvalidPub

EXACT_OPTION = "options.simulator.exact"
"""The option that refuses approximate methods."""


class ApproximationRefused(InvalidPub):
    """Only an approximate method can run this PUB and the job asked for exact results."""


@dataclass
class Record:
    """The methods noted while one PUB ran (see the module docstring)."""

    exact_required: bool = False
    entries: dict[tuple, dict[str, Any]] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """The PUB's ``"simulation"`` metadata."""
        methods = list(self.entries.values())
        return {"methods": methods, "exact": all(entry["exact"] for entry in methods)}


_current: ContextVar[Record | None] = ContextVar("qsession_methods", default=None)


@contextmanager
def recording(exact_required: bool = False) -> Iterator[Record]:
    """Collect what :func:`note` is told while the block runs (one PUB)."""
    record = Record(exact_required)
    token = _current.set(record)
    try:
        yield record
    finally:
        _current.reset(token)


def exact_required() -> bool:
    """Whether the current PUB's job refuses approximate methods (a path that has an exact
    alternative takes it instead of noting an approximation)."""
    record = _current.get()
    return record is not None and record.exact_required


def note(method: str, exact: bool = True, **detail: Any) -> None:
    """Record that ``method`` ran for a circuit of the current PUB.

    Equal notes (same method, exactness and details other than counts) are counted once with
    ``"circuits"`` incremented, so a PUB of 32 randomizations lists its method once.

    Args:
        method: the method's name (``"density_matrix"``, ``"statevector"``,
            ``"trajectories"``, ``"stabilizer"``, ``"light_cone"``, ...).
        exact: whether its numbers follow the noise model's distribution exactly.
        detail: JSON-safe facts: for an approximation, what it approximates and its bound.

    Raises:
        ApproximationRefused: ``exact`` is false and the job asked for exact results.
    """
    record = _current.get()
    if record is None:
        return
    if not exact and record.exact_required:
        facts = ", ".join(f"{key} {value}" for key, value in sorted(detail.items()))
        raise ApproximationRefused(
            EXACT_OPTION,
            f"this PUB can only run approximately here, by {method}"
            + (f" ({facts})" if facts else "")
            + "; unset the option to accept the approximation and its stated bound, or make "
            "the circuit smaller (fewer qubits, a shallower light cone) or Clifford",
        )
    key = (method, exact, tuple(sorted((k, repr(v)) for k, v in detail.items())))
    entry = record.entries.get(key)
    if entry is None:
        record.entries[key] = {"method": method, "exact": exact, **detail, "circuits": 1}
    else:
        entry["circuits"] += 1
