"""What a worker remembers between jobs: circuits it parsed and what it derived from them.

An iterative algorithm sends the same circuit with new parameter values job after job (the
session guide's VQE). Parsing its QPY, reducing it to its active qubits and building the
Estimator's basis circuits do not depend on the values, so a worker does them once: a
circuit is recognised by the SHA-256 of its message (observables by their message), and what
is derived from a circuit object is remembered per object. Results are the same bit for bit:
only the work is skipped. The server's admission keeps one too (parsing and device checks),
used from several threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from qiskit import QuantumCircuit
from qiskit.primitives.containers.observables_array import ObservablesArray

from qsession.v1 import types_pb2
from qsession.wire import circuit_digest, decode_circuit, decode_observables

T = TypeVar("T")

CAPACITY = 256


class Memo:
    """A bounded least-recently-used map from keys to values built on first use.

    Keys may contain ``id(obj)`` of objects passed as ``pin``: the entry keeps them alive,
    so an id is never reused while its entry exists. Safe to use from several threads (two
    that miss the same key at once may both build it; one value is kept).
    """

    def __init__(self, capacity: int = CAPACITY):
        self._capacity = capacity
        self._entries: OrderedDict[Hashable, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], T], pin: object = None) -> T:
        """The value for ``key``, built with ``build()`` if absent (not stored if it raises)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry[1]
        value = build()
        with self._lock:
            entry = self._entries.setdefault(key, (pin, value))
            self._entries.move_to_end(key)
            if len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return entry[1]

    def derived(self, obj: object, kind: str, build: Callable[[], T], *key: Hashable) -> T:
        """What ``build()`` derives from ``obj`` (and ``key``), once per object. Only for
        objects nobody modifies: the circuits this memo decoded and what it derived."""
        return self.get((kind, id(obj), *key), build, pin=obj)

    def held_circuit(self, digest: str) -> QuantumCircuit | None:
        """The circuit whose message has SHA-256 ``digest`` if it is held parsed, else
        ``None`` (nothing is parsed). Callers must not modify it."""
        with self._lock:
            entry = self._entries.get(("circuit", digest))
            if entry is None:
                return None
            self._entries.move_to_end(("circuit", digest))
            return entry[1]

    def circuit(self, message: types_pb2.Circuit, field: str) -> QuantumCircuit:
        """``decode_circuit``, parsed once per distinct message.

        The circuit is shared between the jobs that send it: callers must not modify it.
        """
        digest = circuit_digest(message.SerializeToString())
        return self.get(("circuit", digest), lambda: decode_circuit(message, field))

    def observables(
        self, message: types_pb2.ObservableArray, circuit: QuantumCircuit, field: str
    ) -> ObservablesArray:
        """``decode_observables``, once per distinct message and circuit width (an iterative
        algorithm sends the same Hamiltonian with every job).

        The array is shared between the jobs that send it: callers must not modify it.
        """
        key = ("observables", message.SerializeToString(), circuit.num_qubits)
        return self.get(key, lambda: decode_observables(message, circuit, field))


def derive(memo: Memo | None, obj: object, kind: str, build: Callable[[], T], *key: Hashable) -> T:
    """``memo.derived(...)``, or ``build()`` without a memo."""
    return build() if memo is None else memo.derived(obj, kind, build, *key)
