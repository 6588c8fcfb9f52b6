"""Errors the executor raises."""

from __future__ import annotations


class InvalidPub(ValueError):
    """A PUB the device cannot run as given.

    Attributes:
        field: where the problem is, e.g. ``"sampler_pubs[0].circuit"``.
        message: what is wrong and how to fix it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ExecutionFailed(RuntimeError):
    """A valid PUB that the emulator could not run (e.g. too many entangled non-Clifford qubits
    to simulate); the job fails with this message."""
