"""Circuits the server admitted recently, so a client can send a circuit's SHA-256 instead.

An iterative algorithm sends the same circuit job after job with new parameter values. Once a
circuit has passed admission (parsed in the sandbox, its width checked), its message is kept
here under the SHA-256 of its serialized bytes, scoped to the instance and the session (or to
the instance in job mode): another instance can never use it, and a session's circuits are not
another session's. A request naming a circuit by ``sha256`` gets the kept message put back in
its place, so the stored request (what a worker runs, what a restart replays) is whole.

The cache is bounded (entries and bytes, least recently used first out); a miss is a
FAILED_PRECONDITION the client answers by sending the circuit itself.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from qsession.lifecycle.errors import FailedPrecondition
from qsession.sandbox.circuits import CircuitWidth
from qsession.v1 import types_pb2
from qsession.wire import circuit_digest

MAX_ENTRIES = 4096
MAX_BYTES = 256 * 1024 * 1024

Scope = tuple[str, str]
"""(instance, session id or "" in job mode)."""


class CircuitCache:
    """The admitted circuits (see the module docstring); safe to use from several threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES):
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str, str], tuple[bytes, CircuitWidth]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def resolve(
        self, scope: Scope, circuits: Sequence[tuple[str, types_pb2.Circuit]]
    ) -> list[CircuitWidth | None]:
        """Put the kept circuit in place of each ``sha256`` reference (in the messages
        themselves) and return its width; ``None`` for circuits sent whole.

        Raises:
            FailedPrecondition: a reference the cache does not hold, naming its
                field; the client sends the circuit itself again.
        """
        widths: list[CircuitWidth | None] = []
        for field, circuit in circuits:
            if circuit.WhichOneof("format") != "sha256":
                widths.append(None)
                continue
            with self._lock:
                entry = self._entries.get((*scope, circuit.sha256))
                if entry is not None:
                    self._entries.move_to_end((*scope, circuit.sha256))
            if entry is None:
                raise FailedPrecondition(
                    f"{field}.sha256: the server does not hold circuit {circuit.sha256[:16]}… "
                    "for this session (it was never sent here, or was evicted); send the "
                    "circuit itself (qpy or qasm3) again",
                    field=f"{field}.sha256",
                    reason="CIRCUIT_NOT_CACHED",
                )
            data, width = entry
            circuit.ParseFromString(data)
            widths.append(width)
        return widths

    def remember(
        self, scope: Scope, circuits: Sequence[types_pb2.Circuit], widths: Sequence[CircuitWidth]
    ) -> None:
        """Keep admitted circuits (whole messages) under their SHA-256."""
        with self._lock:
            for circuit, width in zip(circuits, widths, strict=True):
                data = circuit.SerializeToString()
                key = (*scope, circuit_digest(data))
                if key in self._entries:
                    self._entries.move_to_end(key)
                    continue
                self._entries[key] = (data, width)
                self._bytes += len(data)
                while self._entries and (
                    len(self._entries) > self._max_entries or self._bytes > self._max_bytes
                ):
                    _, (old, _) = self._entries.popitem(last=False)
                    self._bytes -= len(old)
