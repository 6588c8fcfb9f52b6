"""Issue 7: a Go client built from proto/ alone runs a session workload and sees what Python sees.

The Go program in examples/go shares no code with the server. It is built and run against the
shared test server; the Python SDK then runs the same workload (the same OpenQASM 3 files,
parameter values, shots and seed), and the two must agree exactly.

Issue 16: the Go program also transpiles a logical circuit for fake_torino with the Transpile
RPC and runs it; the Python SDK transpiles the same circuit with Qiskit's own preset pass
manager (same optimization level and seed_transpiler) and runs it with the same seed_simulator,
and the counts must be equal.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from qiskit import qasm3
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qsession import EstimatorV2, RuntimeService, SamplerV2, Session

GO_DIR = Path(__file__).resolve().parents[2] / "examples" / "go"
SEED = 1234
TRANSPILE_LEVEL = 1  # the Go program's -optimization-level default
TRANSPILE_SEED = 7  # the Go program's -seed-transpiler default
SHOTS = 1024
THETAS = [i * math.pi / 4 for i in range(4)]  # the same float operations as the Go program
OBSERVABLES = [[("ZZ", 1.0)], [("XX", 0.5), ("IZ", 0.5)]]  # shape (2, 1), as in the Go program
COUNT_LINE = re.compile(r"^([01]+):(\d+)$")
EV_LINE = re.compile(r"^ev\[(\d+),(\d+)\]=(\S+) std=(\S+)$")


def go_toolchain() -> str:
    """The `go` executable, or skip the test with the reason."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("go not found on PATH: the Go client tests need a Go toolchain")
    return go


def run_go(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a go command in examples/go and fail the test with its output if it fails."""
    done = subprocess.run(
        [go_toolchain(), *args], cwd=GO_DIR, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"go {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def sections(report: str) -> dict[str, list[str]]:
    """Split the Go program's stdout into its "== name" sections, each a list of lines."""
    parsed: dict[str, list[str]] = {}
    current: list[str] = []
    for line in report.splitlines():
        if line.startswith("== "):
            current = parsed.setdefault(line[3:], [])
        else:
            current.append(line)
    return parsed


@pytest.fixture(scope="module")
def go_report(server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Build examples/go, run it against the server with SEED and SHOTS, return its sections."""
    binary = tmp_path_factory.mktemp("go") / "qsession-go"
    run_go("build", "-o", str(binary), ".")
    done = subprocess.run(
        [
            str(binary),
            "-addr",
            server.address,
            "-token",
            server.token,
            "-backend",
            server.backend,
            "-seed",
            str(SEED),
            "-shots",
            str(SHOTS),
            "-timeout",
            "5m",
        ],
        capture_output=True,
        text=True,
        timeout=360,
    )
    assert done.returncode == 0, f"the Go client failed:\n{done.stdout}\n{done.stderr}"
    return sections(done.stdout)


@dataclass(frozen=True)
class PythonResults:
    """What the Python SDK sees for the Go program's workload."""

    counts: list[dict[str, int]]  # the Sampler's counts per parameter point, 4 points
    evs: np.ndarray  # the Estimator's expectation values, shape (2, 4)
    stds: np.ndarray  # their standard errors, shape (2, 4)


@pytest.fixture(scope="module")
def python_results(server) -> PythonResults:
    """Run the Go program's workload with the qsession SDK: the same OpenQASM 3 files (loaded
    by Qiskit), parameter values, shots and seed, in a dedicated session on the same backend."""
    service = RuntimeService(url=server.address, token=server.token)
    sampler_circuit = qasm3.loads((GO_DIR / "circuits" / "sampler.qasm").read_text())
    estimator_circuit = qasm3.loads((GO_DIR / "circuits" / "estimator.qasm").read_text())
    thetas = np.array(THETAS).reshape(4, 1)
    observables = [[SparsePauliOp.from_list(terms)] for terms in OBSERVABLES]
    with Session(backend=service.backend(server.backend)) as session:
        sampler = SamplerV2(mode=session)
        sampler.options.default_shots = SHOTS
        sampler.options.simulator.seed_simulator = SEED
        bits = sampler.run([(sampler_circuit, thetas)]).result()[0].data.c
        estimator = EstimatorV2(mode=session)
        estimator.options.simulator.seed_simulator = SEED
        data = estimator.run([(estimator_circuit, observables, thetas)]).result()[0].data
    return PythonResults([bits.get_counts(loc=p) for p in range(4)], data.evs, data.stds)


def go_counts(go_report: dict[str, list[str]]) -> list[dict[str, int]]:
    """The Go client's counts per parameter point."""
    points: list[dict[str, int]] = []
    for line in go_report["sampler counts"][1:]:
        if line.startswith("-- point "):
            points.append({})
        else:
            match = COUNT_LINE.match(line)
            assert match, f"unexpected counts line {line!r}"
            points[-1][match[1]] = int(match[2])
    return points


def test_go_client_builds_vets_and_passes_its_unit_tests():
    run_go("vet", "./...")
    run_go("test", "./...")


def test_go_client_lists_the_backends_the_sdk_lists(go_report, server):
    service = RuntimeService(url=server.address, token=server.token)
    names = [line.split()[0] for line in go_report["backends"]]
    assert names == [backend.name for backend in service.backends()]
    assert "ideal_24 qubits=24 operational=true noisy=false" in go_report["backends"]


def test_go_client_opens_a_dedicated_session(go_report, server):
    assert go_report["session"] == [
        f"backend={server.backend} mode=MODE_DEDICATED state=STATE_OPEN accepting_jobs=true"
    ]


def test_go_client_prints_each_job_state_change_in_order(go_report):
    expected = ["state STATE_QUEUED", "state STATE_RUNNING", "state STATE_DONE"]
    assert go_report["sampler job"] == expected
    assert go_report["estimator job"] == expected


def test_go_sampler_counts_equal_python_sdk_counts_for_the_same_seed(go_report, python_results):
    assert go_report["sampler counts"][0] == "pub 0 register c shape=[4] num_shots=1024 num_bits=10"
    assert go_counts(go_report) == python_results.counts


def test_go_counts_put_bit_zero_rightmost_across_two_bytes(go_report):
    points = go_counts(go_report)
    assert points[0] == {"1000000000": SHOTS}  # theta = 0: only q[9] is 1
    for counts in points:
        assert set(counts) <= {"1000000000", "1000000011"} and sum(counts.values()) == SHOTS
    # q[0] and q[1] are 1 with probability sin^2(theta/2): 1/2 at theta = pi/2.
    assert abs(points[2]["1000000011"] - SHOTS / 2) < 5 * math.sqrt(SHOTS / 4)


def test_go_estimator_evs_equal_python_sdk_evs_for_the_same_seed(go_report, python_results):
    evs, stds = python_results.evs, python_results.stds
    assert go_report["estimator evs"][0] == "pub 0 shape=[2 4]"
    go_lines = go_report["estimator evs"][1:]
    assert go_lines == [
        f"ev[{i},{j}]={evs[i, j]:.6f} std={stds[i, j]:.6f}" for i in range(2) for j in range(4)
    ]


def test_go_estimator_evs_are_the_states_expectation_values(go_report):
    for line in go_report["estimator evs"][1:]:
        i, j, ev, std = EV_LINE.match(line).groups()
        theta = THETAS[int(j)]
        exact = 1.0 if i == "0" else 0.5 * math.sin(theta) + 0.5 * math.cos(theta)
        assert abs(float(ev) - exact) <= 5 * float(std) + 1e-6, line


def test_go_client_ends_with_the_session_closed(go_report):
    final, transitions = go_report["session closed"]
    assert final == "state=STATE_CLOSED accepting_jobs=false close_reason=closed pending_jobs=0"
    states = transitions.removeprefix("transitions=").split(",")
    assert states[0] == "STATE_OPEN" and states[-1] == "STATE_CLOSED" and "STATE_ACTIVE" in states


def counts_lines(lines: list[str]) -> dict[str, int]:
    """The "bitstring:count" lines of a single-point counts section."""
    counts = {}
    for line in lines:
        match = COUNT_LINE.match(line)
        if match:
            counts[match[1]] = int(match[2])
    return counts


def test_go_client_sees_the_logical_circuit_refused_with_reason_not_isa(go_report):
    assert go_report["logical circuit refused"] == [
        "code=InvalidArgument reason=NOT_ISA fields=[sampler_pubs[0].circuit]"
    ]


def test_go_client_follows_the_transpiled_job_until_the_stream_ends(go_report):
    assert go_report["transpiled job"] == [
        "state STATE_QUEUED",
        "state STATE_RUNNING",
        "state STATE_DONE",
        "stream ended",
    ]


def test_go_transpiled_counts_equal_python_sdk_counts_with_qiskits_pass_manager(go_report, server):
    service = RuntimeService(url=server.address, token=server.token)
    backend = service.backend("fake_torino")
    logical = qasm3.loads((GO_DIR / "circuits" / "logical.qasm").read_text())
    isa = generate_preset_pass_manager(
        backend=backend, optimization_level=TRANSPILE_LEVEL, seed_transpiler=TRANSPILE_SEED
    ).run(logical)
    layout = isa.layout.initial_index_layout(filter_ancillas=True)
    final = isa.layout.final_index_layout(filter_ancillas=True)
    assert go_report["transpile"][1] == f"initial_layout={layout} final_layout={final}".replace(
        ",", ""
    )
    sampler = SamplerV2(mode=backend)
    sampler.options.default_shots = SHOTS
    sampler.options.simulator.seed_simulator = SEED
    python_counts = sampler.run([isa]).result()[0].data.c.get_counts()
    go_counts_ = counts_lines(go_report["transpiled counts"])
    assert go_counts_ == python_counts
    assert sum(go_counts_.values()) == SHOTS and len(go_counts_) > 2
