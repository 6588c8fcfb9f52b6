"""Local testing mode against qiskit-ibm-runtime's own: the session guide's VQE cost function,
one code for both, with only the module it imports from changed.

Both run in this process with no server: qsession's local mode on the server's executor (the
device's noise, IBM's options applied), IBM's on Qiskit's ``BackendEstimatorV2`` over the fake
backend's Aer simulator (its noise model; ``resilience_level`` ignored with a warning, so no
mitigation). Each library gets its own instance of the same fake backend; the calls take turns
(see :func:`scenarios.vqe._medians`). :func:`local_mode_iterations` gives the "Runtime"
table's rows (scenario "local").
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from harness import Row
from qiskit.circuit.library import efficient_su2
from qiskit.providers import BackendV2
from qiskit.transpiler import generate_preset_pass_manager

from scenarios.vqe import HAMILTONIAN, SHOTS, WARM_UP, _medians


def seed_cost_function(
    runtime: ModuleType, backend: BackendV2, options: dict[str, Any]
) -> Callable[[np.random.Generator], float]:
    """The guide's ``cost_func`` as its code writes it, for ``runtime``'s ``Session`` and
    ``EstimatorV2`` (``runtime`` is ``qiskit_ibm_runtime`` or ``qsession``): the
    ``efficient_su2`` ansatz transpiled for ``backend`` at optimization level 3, the
    Hamiltonian's terms laid out on it, an Estimator in a Session with ``default_shots`` 10,000
    and ``options``. Each call draws fresh parameter values from the generator it is given and
    returns the energy (one Estimator job)."""
    pass_manager = generate_preset_pass_manager(backend=backend, optimization_level=3)
    ansatz = pass_manager.run(efficient_su2(HAMILTONIAN.num_qubits))
    mapped_hamiltonian = [operator.apply_layout(ansatz.layout) for operator in HAMILTONIAN]
    session = runtime.Session(backend=backend)
    estimator = runtime.EstimatorV2(mode=session, options={"default_shots": SHOTS, **options})

    def cost_func(rng: np.random.Generator) -> float:
        params = rng.uniform(0, 2 * np.pi, ansatz.num_parameters)
        energy = sum(estimator.run([(ansatz, mapped_hamiltonian, params)]).result()[0].data.evs)
        return float(energy)

    return cost_func


def local_mode_iterations() -> list[Row]:
    """Median ms of one VQE iteration in qsession's local mode (at IBM's default resilience
    level 1, and at 0) against qiskit-ibm-runtime's local mode, on ``FakeTorino`` (the seed's
    133-qubit device, a server's ``fake_torino``) and ``FakeManilaV2`` (5 qubits)."""
    import qiskit_ibm_runtime
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2, FakeTorino

    import qsession

    rows = []
    # IBM's iteration on FakeTorino takes seconds: fewer rounds there
    for fake_backend, iterations, warm_up in ((FakeTorino, 5, 1), (FakeManilaV2, 30, WARM_UP)):
        ibm, ours, ours_level_0 = _medians(
            [
                seed_cost_function(qiskit_ibm_runtime, fake_backend(), {}),
                seed_cost_function(qsession, fake_backend(), {}),
                seed_cost_function(qsession, fake_backend(), {"resilience_level": 0}),
            ],
            iterations,
            warm_up,
        )
        name = fake_backend().name
        note = (
            f"the session guide's VQE cost function on {fake_backend.__name__}(), one code for "
            "both with only the import changed: an Estimator in a Session on the fake backend, "
            f"{SHOTS} shots, 4 observables, fresh parameters per call; median of {iterations} "
            f"after {warm_up} warm-up round(s), the three taking turns. ref = "
            f"qiskit-ibm-runtime {qiskit_ibm_runtime.__version__}'s local mode: Qiskit's "
            "BackendEstimatorV2 on the fake backend's AerSimulator with its noise model; it "
            "ignores resilience_level (setting it warns: 'The resilience_level option has no "
            "effect in local testing mode.'), so it mitigates nothing. ours = qsession's local "
            "mode: the server's executor in this process, with the device's noise, at the "
            "default resilience_level 1 (measurement twirling, 32 randomizations, and TREX "
            "readout learning: more work than ref), and at 0 (no mitigation, ref's work). ref "
            f"takes {ibm / ours:,.0f}x ours at level 1, {ibm / ours_level_0:,.0f}x at level 0"
        )
        rows += [
            Row("local mode", f"VQE iteration on {name} vs IBM local", "ms", ibm,
                ours, "<=0.1x", ours <= ibm / 10, note),
            Row("local mode", "same, resilience_level 0", "ms", ibm, ours_level_0,
                "", None, note),
        ]  # fmt: skip
    return rows
