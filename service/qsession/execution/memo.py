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
MAX_BYTES = 256 * 1024 * 1024
"""The most circuit bytes (as sent; parsed they take several times more) a memo holds."""


class Memo:
    """A bounded least-recently-used map from keys to values built on first use: at most
    ``capacity`` entries, and entries given a ``weight`` (a circuit: its message's bytes)
    weighing at most ``max_bytes`` together (the newest entry is always kept).

    Keys may contain ``id(obj)`` of objects passed as ``pin``: the entry keeps them alive,
    so an id is never reused while its entry exists. Safe to use from several threads (two
    that miss the same key at once may both build it; one value is kept).
    """

    def __init__(self, capacity: int = CAPACITY, max_bytes: int = MAX_BYTES):
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, Any]] = OrderedDict()
        self._weights: dict[Hashable, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], T], pin: object = None, weight: int = 0) -> T:
        """The value for ``key``, built with ``build()`` if absent (not stored if it raises)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry[1]
        value = build()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = (pin, value)
                if weight:
                    self._weights[key] = weight
                    self._bytes += weight
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity or (
                self._bytes > self._max_bytes and len(self._entries) > 1
            ):
                oldest, _ = self._entries.popitem(last=False)
                self._bytes -= self._weights.pop(oldest, 0)
        return entry[1]

    def forget_circuit(self, message: types_pb2.Circuit) -> None:
        """Drop the parsed circuit of ``message``, if held (a circuit a request was refused
        for need not take memory)."""
        key = ("circuit", circuit_digest(message.SerializeToString()))
        with self._lock:
            if self._entries.pop(key, None) is not None:
                self._bytes -= self._weights.pop(key, 0)

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
        data = message.SerializeToString()
        return self.get(
            ("circuit", circuit_digest(data)),
            lambda: decode_circuit(message, field),
            weight=len(data),
        )

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
