"""End to end: a Sampler job through the service against Aer's own SamplerV2 in-process.

The server runs as a separate process (``qsession serve``) on an ephemeral port; the client is
the SDK, so the time covers submission, queueing, execution, the result stream and decoding
into a BitArray. The reference is ``qiskit_aer.primitives.SamplerV2`` on the same circuit in
this process. Server start-up and a warm-up job are excluded from the timing.

``server_process`` is shared with the runtime scenarios (``bench/runtime.py``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qiskit import QuantumCircuit

TOKEN = "bench-token"


def layered_circuit(num_qubits: int, layers: int = 3, seed: int = 11) -> QuantumCircuit:
    """A seeded entangling circuit (ry/rz rotations and cx ladders), measured at the end."""
    rng = np.random.default_rng(seed)
    circuit = QuantumCircuit(num_qubits)
    for _ in range(layers):
        for q in range(num_qubits):
            circuit.ry(rng.uniform(0, np.pi), q)
            circuit.rz(rng.uniform(0, 2 * np.pi), q)
        for q in range(num_qubits - 1):
            circuit.cx(q, q + 1)
    circuit.measure_all()
    return circuit


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class BenchServer:
    """A running `qsession serve` subprocess: where it listens and its process id."""

    address: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process itself (not its worker or sandbox
        children, which are separate processes), from /proc/<pid>/stat."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        """The server process's resident memory (VmRSS), in bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise KeyError("VmRSS")


@contextmanager
def server_process(
    backends: Sequence[str] = ("ideal_24",), extra_toml: str = "", server_toml: str = ""
) -> Iterator[BenchServer]:
    """A `qsession serve` subprocess on an ephemeral port, with one premium instance whose
    token is :data:`TOKEN`; yields it once it accepts connections, terminates it on exit.

    Args:
        backends: built-in profile names; each becomes a noiseless backend of that name.
        extra_toml: more TOML appended to the configuration (e.g. a ``[limits]`` table).
        server_toml: more keys for the ``[server]`` table (e.g. ``durability = "process"``).
    """
    with tempfile.TemporaryDirectory() as data:
        port = _free_port()
        config = Path(data) / "bench.toml"
        tables = "".join(f'[[backends]]\nname = "{b}"\nprofile = "{b}"\n' for b in backends)
        config.write_text(
            f'[server]\nlisten = "127.0.0.1:{port}"\ndata_dir = "{data}"\n{server_toml}'
            f'[[instances]]\nname = "bench"\nplan = "premium"\ntokens = ["{TOKEN}"]\n'
            f"{tables}{extra_toml}"
        )
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qsession.cli",
                "serve",
                "--config",
                str(config),
                "--log-level",
                "WARNING",
            ],
            env={**os.environ, "QSESSION_HOME": data},
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError("the bench server did not start") from None
                    time.sleep(0.1)
            yield BenchServer(f"127.0.0.1:{port}", process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)


def sampler_job(num_qubits: int = 20, shots: int = 1_000_000) -> dict:
    """Time one Sampler job through the service and Aer's SamplerV2; check they agree.

    Returns Aer's seconds, ours, and the packed samples we received.
    """
    from qiskit_aer.primitives import SamplerV2 as AerSampler

    from qsession import RuntimeService, SamplerV2

    circuit = layered_circuit(num_qubits)
    start = time.perf_counter()
    reference = AerSampler(seed=1).run([circuit], shots=shots).result()[0].data.meas
    aer_seconds = time.perf_counter() - start

    with server_process() as server:
        service = RuntimeService(url=server.address, token=TOKEN)
        sampler = SamplerV2(mode=service.backend("ideal_24"))
        sampler.run([(circuit, None, 1000)]).result()  # warm-up: connection, imports, caches
        start = time.perf_counter()
        ours = sampler.run([circuit], shots=shots).result()[0].data.meas
        our_seconds = time.perf_counter() - start

    # Same distribution: each bit's frequency of ones agrees within 6 sigma.
    ones_ref = np.unpackbits(reference.array, axis=-1)[..., -num_qubits:].mean(axis=0)
    ones_ours = np.unpackbits(ours.array, axis=-1)[..., -num_qubits:].mean(axis=0)
    assert ours.num_shots == shots and ours.num_bits == num_qubits
    assert np.all(np.abs(ones_ref - ones_ours) < 6 * np.sqrt(0.25 / shots) * np.sqrt(2)), (
        "distributions differ"
    )
    return {"aer_s": aer_seconds, "ours_s": our_seconds, "packed": ours.array}
