"""Utility-scale jobs on an emulated QPU (issue 29): wide noisy workloads through the server,
each row against its reference measured in the same run.

Rows (noisy fake_brisbane, the 127-qubit Eagle calibration snapshot):

* ``qaoa-N``: MaxCut QAOA on a seeded random graph of N nodes and 1.5 N edges (p = 2, 1,000 shots,
  XY4 dynamical decoupling, gate twirling), IBM's tutorial workload. *Ours* is the job
  through the server (submission to decoded result, warm worker). *Reference* is the path
  that ran before closed-form twirling and batched trajectories, in this process: one
  density-matrix run per randomization up to 10 active qubits, Aer's one trajectory per shot
  above (``Executor.twirl_in_closed_form = False`` and ``options.simulator.exact``). The two
  cut-value distributions are compared: their total-variation distance against the error
  the job states (``distribution_error``) plus the shot noise of both.
* ``mirror-50``: a 50-qubit mirror circuit Estimator job at resilience level 1.
* ``brickwork-127``: a depth-10 brickwork Estimator job on all 127 qubits with 100 local
  observables.

Each row also prints the job's ``usage_estimation`` (modelled QPU seconds, IBM's field) and
the methods its PUB metadata names.

Run: ``make bench-scale`` (or ``.venv/bin/python bench/scale.py [--rows qaoa-5 qaoa-10]``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import rustworkx as rx  # noqa: E402
from qiskit import QuantumCircuit  # noqa: E402
from qiskit.circuit.library import QAOAAnsatz  # noqa: E402
from qiskit.primitives.containers.sampler_pub import SamplerPub  # noqa: E402
from qiskit.quantum_info import SparsePauliOp  # noqa: E402
from qiskit.transpiler import generate_preset_pass_manager  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from harness import TOKEN, server_process  # noqa: E402

from qsession import RuntimeService, SamplerV2  # noqa: E402
from qsession.execution import Executor, load_profile  # noqa: E402
from qsession.wire.options import (  # noqa: E402
    DynamicalDecouplingOptions,
    JobOptions,
    TwirlingOptions,
    encode_job_options,
)

BACKEND = "fake_brisbane"
SHOTS = 1000
ANGLES = (0.4, 0.7, 0.3, 0.9)  # p = 2: (beta_1, beta_2, gamma_1, gamma_2), fixed


@dataclass
class Row:
    name: str
    ours_s: float
    reference_s: float
    usage_s: float | None
    methods: str
    check: str


def qaoa_circuit(nodes: int) -> tuple[QuantumCircuit, list[tuple[int, int]]]:
    """The p = 2 MaxCut QAOA circuit of a seeded random graph of ``nodes`` nodes and
    ``1.5 * nodes`` edges (a 3-regular graph's), measured, on fake_brisbane (optimization
    level 2), its angles bound; and the graph's edges."""
    graph = rx.undirected_gnm_random_graph(nodes, (3 * nodes) // 2, seed=1)
    edges = [(a, b) for a, b in graph.edge_list()]
    cost = SparsePauliOp.from_sparse_list([("ZZ", [a, b], 1.0) for a, b in edges], nodes)
    ansatz = QAOAAnsatz(cost, reps=2)
    ansatz.measure_all()
    target = load_profile(BACKEND).target
    isa = generate_preset_pass_manager(2, target=target, seed_transpiler=1).run(ansatz)
    return isa.assign_parameters(ANGLES), edges


def cut_distribution(counts: dict[str, int], edges: list[tuple[int, int]]) -> np.ndarray:
    """The distribution of the cut value over the shots (index = edges cut)."""
    edges = np.array(edges)
    histogram = np.zeros(len(edges) + 1)
    for bits, count in counts.items():
        assignment = np.array([int(b) for b in reversed(bits)])
        cut = int(np.sum(assignment[edges[:, 0]] != assignment[edges[:, 1]]))
        histogram[cut] += count
    return histogram / histogram.sum()


def qaoa_row(service: RuntimeService, nodes: int) -> Row:
    circuit, edges = qaoa_circuit(nodes)
    sampler = SamplerV2(mode=service.backend(BACKEND))
    sampler.options.default_shots = SHOTS
    sampler.options.dynamical_decoupling.enable = True
    sampler.options.dynamical_decoupling.sequence_type = "XY4"
    sampler.options.twirling.enable_gates = True
    sampler.run([circuit]).result()  # warm-up: the worker's noise caches
    start = time.perf_counter()
    job = sampler.run([circuit])
    result = job.result()
    ours = time.perf_counter() - start
    usage = job.usage_estimation.get("quantum_seconds")
    simulation = result[0].metadata.get("simulation", {})
    ours_cut = cut_distribution(result[0].data.meas.get_counts(), edges)

    executor = Executor(load_profile(BACKEND), noise=True)
    executor.twirl_in_closed_form = False
    options = encode_job_options(
        JobOptions(
            default_shots=SHOTS,
            exact=True,
            dynamical_decoupling=DynamicalDecouplingOptions(enable=True, sequence_type="XY4"),
            twirling=TwirlingOptions(enable_gates=True),
        )
    )
    pub = SamplerPub.coerce(circuit, SHOTS)
    start = time.perf_counter()
    reference = executor.run_sampler([pub], seed=7, options=options)
    reference_s = time.perf_counter() - start
    reference_cut = cut_distribution(reference[0].data.meas.get_counts(), edges)

    distance = 0.5 * float(np.abs(ours_cut - reference_cut).sum())
    stated = sum(m.get("distribution_error", 0.0) for m in simulation.get("methods", []))
    # Shot noise of the total variation between two 1,000-shot histograms of k cells.
    noise = np.sqrt(len(ours_cut) / (np.pi * SHOTS))
    verdict = "ok" if distance <= stated + 2 * noise else "DIFFERS"
    return Row(
        f"qaoa-{nodes}",
        ours,
        reference_s,
        usage,
        _methods(simulation),
        f"cut TV {distance:.3f} <= stated {stated:.3f} + shot noise {2 * noise:.3f}: {verdict}",
    )


def _methods(simulation: dict) -> str:
    return ", ".join(
        entry["method"] + ("" if entry["exact"] else "~") for entry in simulation.get("methods", [])
    )


ROWS: dict[str, Callable[[RuntimeService], Row]] = {
    "qaoa-5": lambda service: qaoa_row(service, 5),
    "qaoa-10": lambda service: qaoa_row(service, 10),
    "qaoa-14": lambda service: qaoa_row(service, 14),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    args = parser.parse_args()
    backends = [{"name": BACKEND, "profile": BACKEND, "noise": True}]
    rows = []
    with server_process(backends) as server:
        service = RuntimeService(url=server.address, token=TOKEN)
        for name in args.rows:
            rows.append(ROWS[name](service))
            print(_format(rows[-1]), flush=True)
    print()
    print(f"{'row':<15}{'ours s':>9}{'ref s':>9}{'speed-up':>10}{'usage s':>9}  methods; check")
    for row in rows:
        print(_format(row))


def _format(row: Row) -> str:
    usage = "-" if row.usage_s is None else f"{row.usage_s:.1f}"
    return (
        f"{row.name:<15}{row.ours_s:>9.2f}{row.reference_s:>9.2f}"
        f"{row.reference_s / row.ours_s:>9.1f}x{usage:>9}  {row.methods}; {row.check}"
    )


if __name__ == "__main__":
    main()
