"""Utility-scale jobs on an emulated QPU (issue 29): wide noisy workloads through the server,
each row against its reference measured in the same run.

Rows (noisy fake_brisbane, the 127-qubit Eagle calibration snapshot):

* ``qaoa-N``: MaxCut QAOA on a seeded random graph of N nodes and 1.5 N edges (p = 2,
  1,000 shots, XY4 dynamical decoupling, gate twirling), IBM's tutorial workload. *Ours* is
  the job through the server (submission to decoded result, warm worker; median of 3).
  *Reference* is the path that ran before closed-form twirling and batched trajectories,
  in this process: one density-matrix run per randomization up to 10 active qubits, Aer's
  one trajectory per shot above (``Executor.twirl_in_closed_form = False`` and
  ``options.simulator.exact``). The two cut-value distributions are compared: their
  total-variation distance against the error the job states (``distribution_error``) plus
  the shot noise of both.
* ``mirror-50``: the "combine error mitigation" tutorial's kind of mirror circuit (a
  50-qubit ``efficient_su2`` of 2 pairwise-entangled repetitions with random angles, then
  its inverse) as an Estimator job
  at resilience level 1, ``<Z>`` of every fifth qubit. Ideally each is 1; the reference is
  that ideal value (no other exact reference exists at this width: the path that ran
  before, shot by shot on matrix product states, did not finish in 90 s).
* ``brickwork-127``: a brickwork of random 1-qubit rotations and ECR layers over
  fake_brisbane's heavy-hex edges (3 edge colours per round) on all 127 qubits, with 100
  local observables (``Z`` on 60 qubits, ``ZZ`` on 40 edges), at resilience level 1. The
  check compares the values with the same PUB on the ideal device (exact values, light
  cones on a state vector) and gives that job's time. Depth 4; at depth
  10 the light cones reach ~50 qubits and no path here runs it in a minute.

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
RUNS = 3
"""Jobs timed per QAOA row (the median is reported)."""
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
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        job = sampler.run([circuit])
        result = job.result()
        times.append(time.perf_counter() - start)
    ours = float(np.median(times))
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


def mirror_row(service: RuntimeService) -> Row:
    from qiskit.circuit.library import efficient_su2

    width = 50
    layer = efficient_su2(width, entanglement="pairwise", reps=2)
    angles = np.random.default_rng(5).uniform(0, 2 * np.pi, layer.num_parameters)
    bound = layer.assign_parameters(angles)
    mirror = bound.compose(bound.inverse())
    target = load_profile(BACKEND).target
    isa = generate_preset_pass_manager(1, target=target, seed_transpiler=1).run(mirror)
    observables = [
        SparsePauliOp("I" * (width - 1 - q) + "Z" + "I" * q).apply_layout(isa.layout)
        for q in range(0, width, 5)
    ]
    ours, result, usage = _estimate(service, BACKEND, isa, observables, level=1)
    evs = result[0].data.evs
    return Row(
        "mirror-50",
        ours,
        float("nan"),
        usage,
        _methods(result[0].metadata.get("simulation", {})),
        f"<Z> {evs.min():.3f}..{evs.max():.3f} (ideal 1; mitigated at level 1)",
    )


def brickwork_row(service: RuntimeService, depth: int = 4) -> Row:
    target = load_profile(BACKEND).target
    width = target.num_qubits
    directed = sorted(tuple(q) for q in target.qargs_for_operation_name("ecr"))
    edges = [e for e in directed if e[0] < e[1] or (e[1], e[0]) not in directed]
    colours: list[list[tuple[int, int]]] = []
    for edge in edges:  # greedy edge colouring: each colour a layer of disjoint ECRs
        for colour in colours:
            if all(not set(edge) & set(other) for other in colour):
                colour.append(edge)
                break
        else:
            colours.append([edge])
    rng = np.random.default_rng(9)
    circuit = QuantumCircuit(width)
    for step in range(depth):
        for qubit in range(width):
            circuit.rz(rng.uniform(0, 2 * np.pi), qubit)
            circuit.sx(qubit)
            circuit.rz(rng.uniform(0, 2 * np.pi), qubit)
        for a, b in colours[step % len(colours)]:
            circuit.ecr(a, b)
    singles = [("Z", [q], 1.0) for q in range(0, width, 2)][:60]
    pairs = [("ZZ", list(edge), 1.0) for edge in edges[::3]][:40]
    observables = [SparsePauliOp.from_sparse_list([term], width) for term in singles + pairs]
    ours, result, usage = _estimate(service, BACKEND, circuit, observables, level=1)
    ideal_s, ideal, _ = _estimate(service, "ideal_127", circuit, observables, level=0)
    gap = np.abs(result[0].data.evs - ideal[0].data.evs)
    return Row(
        f"brickwork-127 d{depth}",
        ours,
        float("nan"),
        usage,
        _methods(result[0].metadata.get("simulation", {})),
        f"{len(observables)} observables; |noisy - ideal| median {np.median(gap):.3f} "
        f"(the ideal job: {ideal_s:.2f} s)",
    )


def _estimate(service, backend, circuit, observables, level: int):
    from qsession import EstimatorV2

    estimator = EstimatorV2(mode=service.backend(backend), options={"resilience_level": level})
    estimator.options.default_precision = 0.02
    estimator.run([(circuit, observables)]).result()  # warm-up
    start = time.perf_counter()
    job = estimator.run([(circuit, observables)])
    result = job.result()
    return time.perf_counter() - start, result, job.usage_estimation.get("quantum_seconds")


ROWS: dict[str, Callable[[RuntimeService], Row]] = {
    "qaoa-5": lambda service: qaoa_row(service, 5),
    "qaoa-10": lambda service: qaoa_row(service, 10),
    "qaoa-14": lambda service: qaoa_row(service, 14),
    "mirror-50": mirror_row,
    "brickwork-127": brickwork_row,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    args = parser.parse_args()
    backends = [
        {"name": BACKEND, "profile": BACKEND, "noise": True},
        {"name": "ideal_127", "profile": BACKEND},
    ]
    rows = []
    with server_process(backends) as server:
        service = RuntimeService(url=server.address, token=TOKEN)
        for name in args.rows:
            rows.append(ROWS[name](service))
            print(_format(rows[-1]), flush=True)
    print()
    print(f"{'row':<18}{'ours s':>9}{'ref s':>9}{'ref/ours':>10}{'usage s':>9}  methods; check")
    for row in rows:
        print(_format(row))


def _format(row: Row) -> str:
    usage = "-" if row.usage_s is None else f"{row.usage_s:.1f}"
    if np.isnan(row.reference_s):
        reference, ratio = f"{'-':>9}", f"{'-':>10}"
    else:
        reference = f"{row.reference_s:>9.2f}"
        ratio = f"{row.reference_s / row.ours_s:>9.1f}x"
    return (
        f"{row.name:<18}{row.ours_s:>9.2f}{reference}{ratio}{usage:>9}  {row.methods}; {row.check}"
    )


if __name__ == "__main__":
    main()
