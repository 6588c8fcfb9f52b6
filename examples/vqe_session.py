"""Usage pattern: an iterative VQE workload in a session, with SciPy's COBYLA optimizer.

From the guide "Run jobs in a session" (section "Usage patterns"); only the import lines
differ from the guide (the setup it relies on is repeated at the top).
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

session = Session(backend=backend)

# If using qiskit-ibm-runtime earlier than 0.24.0, change `mode=` to `session=`
estimator = Estimator(mode=session, options={"default_shots": int(1e4)})

res = minimize(
    cost_func,
    x0,
    args=(ansatz, mapped_hamiltonian, estimator),
    method="cobyla",
    options={"maxiter": 25},
)

# Close the session because no context manager was used.
session.close()

# qsession example: report what ran.
print(f"backend: {backend.name}")
print(f"initial energy: {cost_func(x0, ansatz, mapped_hamiltonian, Estimator(mode=backend, options={'default_shots': int(1e4)})):.6f}")
print(f"final energy: {res.fun:.6f}")
print(f"evaluations: {res.nfev}")
print(f"ground energy: {np.linalg.eigvalsh(hamiltonian.to_matrix()).min():.6f}")
print(f"session jobs: {len(service.jobs(session_id=session.session_id, limit=None))}")
print(f"session status: {session.status()}")
