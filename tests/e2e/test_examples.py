"""Every example runs unchanged against a live server and prints physically right results.

The examples are the session guide's workflows with only the import line changed; each one is
run as `python examples/NAME.py` in a subprocess, with QSESSION_URL / QSESSION_TOKEN pointing
at the test server. Both test backends are noiseless, so Estimator values must agree with exact
statevector values within 5 standard errors, and Sampler frequencies with exact probabilities.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DETAIL_KEYS = {
    "id", "backend_name", "interactive_timeout", "max_time", "active_timeout", "state",
    "accepting_jobs", "last_job_started", "last_job_completed", "started_at", "closed_at",
    "activated_at", "mode", "usage_time", "timestamps",
}  # fmt: skip


def run_example(name: str, server, tmp_path) -> str:
    return run_example_process(name, server, tmp_path).stdout


def run_example_process(name: str, server, tmp_path) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        QSESSION_URL=server.address,
        QSESSION_TOKEN=server.token,
        QSESSION_HOME=str(tmp_path),
    )
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=EXAMPLES.parent,
    )
    assert done.returncode == 0, done.stderr
    return done


def value(output: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}: (.*)$", output, re.MULTILINE)
    assert match, f"no '{label}:' line in\n{output}"
    return match.group(1)


def test_every_python_example_has_a_test():
    tested = {name for name in globals() if name.startswith("test_")}
    for path in EXAMPLES.glob("*.py"):
        assert f"test_{path.stem}" in tested, path.name


def test_first_script(server, tmp_path):
    out = run_example("first_script.py", server, tmp_path)
    counts = ast.literal_eval(value(out, "counts"))
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 4096
    assert abs(counts.get("00", 0) - 2048) < 5 * np.sqrt(4096 * 0.25)


def test_session_class(server, tmp_path):
    out = run_example("session_class.py", server, tmp_path)
    assert value(out, "estimator mode is the session") == "True"
    assert value(out, "sampler mode is the session") == "True"
    assert value(out, "status after close") == "Closed"


def test_session_context_manager(server, tmp_path):
    out = run_example("session_context_manager.py", server, tmp_path)
    assert value(out, "estimator and sampler share the session") == "True"
    assert value(out, "status after the block") == "Closed"


def test_session_max_time(server, tmp_path):
    out = run_example("session_max_time.py", server, tmp_path)
    assert value(out, "max_time") == "1500"
    assert value(out, "interactive_timeout") == "60"


def test_session_details(server, tmp_path):
    out = run_example("session_details.py", server, tmp_path)
    lines = out.splitlines()
    details = ast.literal_eval(lines[0])
    assert set(details) == DETAIL_KEYS
    assert (details["state"], details["accepting_jobs"], details["mode"]) == (
        "open",
        True,
        "dedicated",
    )
    assert (details["interactive_timeout"], details["max_time"]) == (60, 28800)
    assert lines[1] == "Pending"
    assert value(out, "status after the block") == "Closed"


def guide_circuit() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.ry(Parameter("a"), 0)
    circuit.cx(0, 1)
    circuit.h(0)
    return circuit


def exact_estimate(
    state: Statevector, observable: SparsePauliOp, shots: int
) -> tuple[float, float]:
    """The exact value, and the standard error of measuring each Pauli term with ``shots`` shots."""
    terms = [(label, coeff.real) for label, coeff in observable.to_list()]
    values = [state.expectation_value(SparsePauliOp(label)).real for label, _ in terms]
    variance = sum(c**2 * (1 - v**2) for (_, c), v in zip(terms, values, strict=True)) / shots
    mean = sum(c * v for (_, c), v in zip(terms, values, strict=True))
    return mean, float(np.sqrt(max(variance, 0.0)))


def test_close_session(server, tmp_path):
    out = run_example("close_session.py", server, tmp_path)
    assert value(out, "num_qubits") == "133"
    assert "evs=np.ndarray(<shape=(3, 2)" in value(out, "Result1")
    assert "meas0=BitArray(<shape=(3, 2), num_shots=4096, num_bits=133>)" in value(out, "Result2")
    params = np.array(ast.literal_eval(value(out, "params")))
    observables = [
        SparsePauliOp(["XX", "IY"], [0.5, 0.5]),
        SparsePauliOp("XX"),
        SparsePauliOp("IY"),
    ]
    states = [[Statevector(guide_circuit().assign_parameters([a])) for a in row] for row in params]
    for name in ("context", "manual"):
        evs = np.array(ast.literal_eval(value(out, f"{name} evs")))
        stds = np.array(ast.literal_eval(value(out, f"{name} stds")))
        assert evs.shape == stds.shape == (3, 2)
        for i, observable in enumerate(observables):
            for j in range(2):
                exact, sigma = exact_estimate(states[i][j], observable, 4096)
                assert abs(evs[i, j] - exact) <= 5 * max(sigma, stds[i, j]) + 1e-12, (name, i, j)
        assert value(out, f"{name} meas") == "shape=(3, 2) num_shots=4096 num_bits=2"
        p00 = np.array(ast.literal_eval(value(out, f"{name} p00")))
        for i in range(3):
            for j in range(2):
                exact = abs(states[i][j].data[0]) ** 2
                assert abs(p00[i, j] - exact) <= 5 * np.sqrt(exact * (1 - exact) / 4096) + 1e-12


GROUND = -0.702930
SIGMA = 0.01  # standard error of one energy estimate at 10_000 (or 4096) shots, rounded up


def test_vqe_session(server, tmp_path):
    out = run_example("vqe_session.py", server, tmp_path)
    assert float(value(out, "ground energy")) == pytest.approx(GROUND, abs=1e-6)
    final = float(value(out, "final energy"))
    assert final >= GROUND - 5 * SIGMA
    assert final <= float(value(out, "initial energy")) + 5 * SIGMA
    assert value(out, "evaluations") == "25"
    assert value(out, "session jobs") == "25"
    assert value(out, "session status") == "Closed"


def test_vqe_threads(server, tmp_path):
    out = run_example("vqe_threads.py", server, tmp_path)
    for method in ("cobyla", "nelder-mead"):
        energy, evaluations = re.fullmatch(
            r"(\S+) evaluations: (\d+)", value(out, f"{method} energy")
        ).groups()
        assert float(energy) >= GROUND - 5 * SIGMA
        jobs = value(out, f"{method} jobs")
        assert jobs == f"{evaluations} all tagged: True"
    cobyla = int(re.search(r"cobyla jobs: (\d+)", out).group(1))
    nelder = int(re.search(r"nelder-mead jobs: (\d+)", out).group(1))
    assert value(out, "session jobs") == str(cobyla + nelder)


def assert_deprecations(stderr: str, example: str, messages: list[str]) -> None:
    """Each message was warned as a DeprecationWarning at a line of the example itself."""
    for message in messages:
        pattern = rf"{re.escape(example)}:\d+: DeprecationWarning: {re.escape(message)}"
        assert re.search(pattern, stderr), f"no '{message}' warning in\n{stderr}"


H2 = SparsePauliOp.from_list(
    [("II", -1.0524), ("IZ", 0.3979), ("ZI", -0.3979), ("ZZ", -0.0113), ("XX", 0.1809)]
)
# 5 standard errors of one estimate at 10_000 shots (sum of |coefficients| / 100), which is
# also room for COBYLA stopping short of the minimum within its 60 evaluations.
H2_TOLERANCE = 0.05


def test_intro_sessions_vqe(server, tmp_path):
    done = run_example_process("intro_sessions_vqe.py", server, tmp_path)
    ground = float(np.linalg.eigvalsh(H2.to_matrix()).min())
    assert float(value(done.stdout, "exact ground energy")) == pytest.approx(ground, abs=1e-6)
    assert abs(float(value(done.stdout, "energy")) - ground) <= H2_TOLERANCE
    assert value(done.stdout, "session jobs") == value(done.stdout, "evaluations")
    assert_deprecations(
        done.stderr,
        "intro_sessions_vqe.py",
        [
            "Estimator(session=session) is deprecated; use Estimator(mode=session)",
            "options={'shots': 10000} is deprecated; use options={'default_shots': 10000}",
            "Estimator.run(circuits, observables, parameter_values) is the deprecated V1 call",
        ],
    )


def test_session_class_reference(server, tmp_path):
    done = run_example_process("session_class_reference.py", server, tmp_path)
    assert value(done.stdout, "Sampler job ID")
    dists, metadata = re.fullmatch(
        r"SamplerResult\(quasi_dists=(\[.*\]), metadata=(\[.*\])\)",
        value(done.stdout, "Sampler job result"),
    ).groups()
    (dist,) = ast.literal_eval(dists)
    assert set(dist) <= {0, 3} and sum(dist.values()) == pytest.approx(1.0)
    assert abs(dist.get(0, 0.0) - 0.5) <= 5 * np.sqrt(0.25 / 4096)
    assert ast.literal_eval(metadata) == [{"shots": 4096, "circuit_metadata": {}}]
    assert value(done.stdout, "backend") == "fake_torino"
    assert value(done.stdout, "session status") == "Closed"
    assert_deprecations(
        done.stderr,
        "session_class_reference.py",
        [
            "Options is the deprecated V1 options class",
            "Session(backend='fake_torino') with a backend name is deprecated; "
            "use Session(backend=service.backend('fake_torino'))",
            "Sampler(session=session) is deprecated; use Sampler(mode=session)",
            "Sampler.run(circuits, parameter_values) is the deprecated V1 call",
        ],
    )
