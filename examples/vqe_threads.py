"""Run two VQE algorithms in a session concurrently, from a ThreadPoolExecutor, with job tags.

From the guide "Run jobs in a session" (section "Run two VQE algorithms in a session by using
threading"); only the import lines differ from the guide (the setup it relies on, from the
section before, is repeated at the top).
"""

from qsession import (
    QiskitRuntimeService,
    Session,
    SamplerV2 as Sampler,
    EstimatorV2 as Estimator,
)

from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
import numpy as np

service = QiskitRuntimeService()
backend = service.least_busy(operational=True, simulator=False)

from scipy.optimize import minimize
from qiskit.circuit.library import efficient_su2


def cost_func(params, ansatz, hamiltonian, estimator):
    # Return estimate of energy from estimator

    energy = sum(
        estimator.run([(ansatz, hamiltonian, params)]).result()[0].data.evs
    )
    return energy


hamiltonian = SparsePauliOp.from_list(
    [("YZ", 0.3980), ("ZI", -0.3980), ("ZZ", -0.0113), ("XX", 0.1810)]
)
su2_ansatz = efficient_su2(hamiltonian.num_qubits)
pm = generate_preset_pass_manager(backend=backend, optimization_level=3)
ansatz = pm.run(su2_ansatz)
mapped_hamiltonian = [
    operator.apply_layout(ansatz.layout) for operator in hamiltonian
]

num_params = ansatz.num_parameters
x0 = 2 * np.pi * np.random.random(num_params)

from concurrent.futures import ThreadPoolExecutor
from qsession import EstimatorV2 as Estimator


def minimize_thread(estimator, method):
    return minimize(
        cost_func,
        x0,
        args=(ansatz, mapped_hamiltonian, estimator),
        method=method,
        options={"maxiter": 25},
    )


with Session(backend=backend), ThreadPoolExecutor() as executor:
    estimator1 = Estimator()
    estimator2 = Estimator()

    # Use different tags to differentiate the jobs.
    estimator1.options.environment.job_tags = ["cobyla"]
    estimator2.options.environment.job_tags = ["nelder-mead"]

    # Submit the two workloads.
    cobyla_future = executor.submit(minimize_thread, estimator1, "cobyla")
    nelder_mead_future = executor.submit(
        minimize_thread, estimator2, "nelder-mead"
    )

    # Get workload results.
    cobyla_result = cobyla_future.result()
    nelder_mead_result = nelder_mead_future.result()

# qsession example: report what ran.
session = estimator1.mode
print(f"backend: {backend.name}")
print(f"cobyla energy: {cobyla_result.fun:.6f} evaluations: {cobyla_result.nfev}")
print(f"nelder-mead energy: {nelder_mead_result.fun:.6f} evaluations: {nelder_mead_result.nfev}")
print(f"ground energy: {np.linalg.eigvalsh(hamiltonian.to_matrix()).min():.6f}")
for tag in ("cobyla", "nelder-mead"):
    tagged = service.jobs(session_id=session.session_id, job_tags=[tag], limit=None)
    print(f"{tag} jobs: {len(tagged)} all tagged: {all(job.tags == [tag] for job in tagged)}")
print(f"session jobs: {len(service.jobs(session_id=session.session_id, limit=None))}")
