"""`make bench`'s first table: qsession's result core against Qiskit, measured in the same run.

One table row per operation: the data, the reference's time (Qiskit's BitArray, or Aer's
SamplerV2 for the end-to-end job), ours, the ratio against the issue's target, our throughput
over the packed input next to a plain numpy copy of the same array, and the memory our version
needed relative to its input: the peak extra (result included) and the scratch (peak above
what remains once it returns).

Each section is a function returning ``Row``s; add a section by appending it to ``SECTIONS``.
Times are the best of a few repeats (Qiskit's slow paths run fewer times to keep the whole
benchmark within a few minutes on two cores).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qiskit.primitives import BitArray as QiskitBitArray
from scenarios.sampler_job import sampler_job

from qsession.bitarray import BitArray

SHOTS = 1_000_000
SEED = 2024

#: Lines printed under the table: context a ratio alone does not give.
NOTES: list[str] = []


@dataclass
class Row:
    """One measured operation."""

    operation: str
    data: str
    qiskit_s: float
    ours_s: float
    target: float
    input_bytes: int
    copy_s: float
    memory: tuple[int, int] | None

    @property
    def ratio(self) -> float:
        return self.qiskit_s / self.ours_s


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def memory_use(fn: Callable[[], object]) -> tuple[int, int] | None:
    """Resident memory ``fn`` took beyond its input: ``(peak extra, scratch)``, where the peak
    extra includes the result and the scratch is the high-water mark above the level once
    ``fn`` returned (result still held). None where Linux's resettable peak
    (/proc/self/clear_refs) is unavailable."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # return freed heap pages, so reuse cannot hide
        Path("/proc/self/clear_refs").write_text("5")
        start = _status_kib("VmRSS")
        result = fn()
        peak, end = _status_kib("VmHWM"), _status_kib("VmRSS")
        del result
        return max(peak - start, 0) * 1024, max(peak - max(end, start), 0) * 1024
    except OSError:
        return None


def measure(
    operation: str,
    data: str,
    qiskit: Callable[[], object],
    ours: Callable[[], object],
    *,
    target: float,
    packed: np.ndarray,
    qiskit_repeats: int = 1,
    ours_repeats: int = 9,
) -> Row:
    """Time Qiskit's and our version of one operation over ``packed`` input."""
    return Row(
        operation=operation,
        data=data,
        qiskit_s=best_time(qiskit, qiskit_repeats),
        ours_s=best_time(ours, ours_repeats),
        target=target,
        input_bytes=packed.nbytes,
        copy_s=best_time(packed.copy, 5),
        memory=memory_use(ours),
    )


def random_bits(num_bits: int, rng: np.random.Generator) -> np.ndarray:
    """1M shots of uniformly random bits (padding bits random too)."""
    return rng.integers(0, 256, size=(SHOTS, (num_bits + 7) // 8), dtype=np.uint8)


def few_outcomes(num_bits: int, outcomes: int, rng: np.random.Generator) -> np.ndarray:
    """1M shots drawn from ``outcomes`` distinct ``num_bits``-bit values."""
    values = rng.choice(2**num_bits, size=outcomes, replace=False)
    picks = values[rng.integers(0, outcomes, size=SHOTS)]
    return QiskitBitArray.from_samples(picks.tolist(), num_bits).array


def dict_floor_note(counts: dict[str, int]) -> str:
    """How long CPython itself takes to build a dict like ``counts`` from ready-made keys."""
    hashed = best_time(lambda: dict.fromkeys(counts), 3)  # presized; keys' hashes cached

    def unhashed() -> dict[str, None]:
        fresh = [("0" + key)[1:] for key in counts]  # equal strings whose hash is not cached
        start = time.perf_counter()
        dict.fromkeys(fresh)
        return time.perf_counter() - start

    plain = min(unhashed() for _ in range(2))
    return (
        f"get_counts 1M x 133: the result has {len(counts):,} distinct 133-character keys; "
        f"CPython alone needs {hashed * 1e3:.0f} ms to put them in a dict when their str objects "
        f"exist and are hashed, {plain * 1e3:.0f} ms when they exist but are not hashed yet: "
        "a floor for any get_counts that returns this dict."
    )


def counts_section(rng: np.random.Generator) -> list[Row]:
    wide = random_bits(133, rng)
    narrow = few_outcomes(20, 1024, rng)
    NOTES.append(dict_floor_note(BitArray(wide, 133).get_counts()))
    return [
        measure(
            "get_counts",
            "1M x 133 random bits",
            QiskitBitArray(wide, 133).get_counts,
            BitArray(wide, 133).get_counts,
            target=5,
            packed=wide,
            ours_repeats=3,
        ),
        measure(
            "get_counts",
            "1M x 20 bits, 1024 outcomes",
            QiskitBitArray(narrow, 20).get_counts,
            BitArray(narrow, 20).get_counts,
            target=50,
            packed=narrow,
            qiskit_repeats=2,
        ),
    ]


def expectation_section(rng: np.random.Generator) -> list[Row]:
    wide = random_bits(133, rng)
    labels = ["Z" * 133, "I" * 132 + "Z", "0" * 4 + "I" * 129, "I" * 60 + "Z1" * 10 + "I" * 53]
    return [
        measure(
            "expectation_values",
            "Z*133 on 1M x 133",
            lambda: QiskitBitArray(wide, 133).expectation_values("Z" * 133),
            lambda: BitArray(wide, 133).expectation_values("Z" * 133),
            target=100,
            packed=wide,
        ),
        measure(
            "expectation_values",
            "4 labels (Z,0,1) on 1M x 133",
            lambda: QiskitBitArray(wide, 133).expectation_values(labels),
            lambda: BitArray(wide, 133).expectation_values(labels),
            target=100,
            packed=wide,
        ),
    ]


def slice_section(rng: np.random.Generator) -> list[Row]:
    wide = random_bits(133, rng)
    every_other = list(range(0, 133, 2))
    window = list(range(10, 74))
    return [
        measure(
            "slice_bits",
            "every 2nd of 1M x 133",
            lambda: QiskitBitArray(wide, 133).slice_bits(every_other),
            lambda: BitArray(wide, 133).slice_bits(every_other),
            target=10,
            packed=wide,
        ),
        measure(
            "slice_bits",
            "bits 10..73 of 1M x 133",
            lambda: QiskitBitArray(wide, 133).slice_bits(window),
            lambda: BitArray(wide, 133).slice_bits(window),
            target=10,
            packed=wide,
        ),
    ]


def hex_section(rng: np.random.Generator) -> list[Row]:
    values = rng.integers(0, 2**20, size=SHOTS)
    memory = [hex(v) for v in values.tolist()]
    packed = BitArray.from_hex_memory(memory, 20).array
    return [
        measure(
            "hex memory -> BitArray",
            "1M x 20-bit Aer memory",
            lambda: QiskitBitArray.from_samples(memory, 20),
            lambda: BitArray.from_hex_memory(memory, 20),
            target=50,
            packed=packed,
            qiskit_repeats=2,
        )
    ]


def service_section(rng: np.random.Generator) -> list[Row]:
    """A 1M-shot, 20-qubit Sampler job through the service vs Aer's SamplerV2 in-process."""
    job = sampler_job(num_qubits=20, shots=SHOTS)
    NOTES.append(
        "Sampler job e2e: the reference column is Aer's SamplerV2 in-process; ours is "
        "submit -> queue -> execute -> stream -> BitArray through a server subprocess"
    )
    return [
        Row(
            operation="Sampler job e2e",
            data="1M shots x 20 qubits, vs Aer",
            qiskit_s=job["aer_s"],
            ours_s=job["ours_s"],
            target=5,
            input_bytes=job["packed"].nbytes,
            copy_s=best_time(job["packed"].copy, 5),
            memory=None,
        )
    ]


SECTIONS: list[Callable[[np.random.Generator], list[Row]]] = [
    counts_section,
    expectation_section,
    slice_section,
    hex_section,
    service_section,
]


def format_table(rows: list[Row]) -> str:
    header = (
        f"{'operation':<24} {'data':<30} {'ref ms':>10} {'ours ms':>9} {'ratio':>8} "
        f"{'target':>7} {'ours MB/s':>10} {'copy MB/s':>10} {'extra/in':>9} {'scratch/in':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        mb = r.input_bytes / 1e6
        if r.memory is None:
            extra = scratch = "n/a"
        else:
            extra, scratch = (f"{b / r.input_bytes:.2f}x" for b in r.memory)
        verdict = "ok" if r.ratio >= r.target else "MISS"
        lines.append(
            f"{r.operation:<24} {r.data:<30} {r.qiskit_s * 1e3:>10.1f} {r.ours_s * 1e3:>9.2f} "
            f"{r.ratio:>7.1f}x {f'>={r.target:g}x':>7} {mb / r.ours_s:>10.0f} "
            f"{mb / r.copy_s:>10.0f} {extra:>9} {scratch:>10}  {verdict}"
        )
    return "\n".join(lines)
