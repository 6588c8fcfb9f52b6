"""An iterative VQE workload in a session, written for qiskit-ibm-runtime before 0.24.

From "Introduction to Qiskit Runtime sessions" (section "Usage patterns"), with its comment's
advice for releases before 0.24 followed (``session=`` for ``mode=``): the V1 call
``estimator.run(ansatz, hamiltonian, parameter_values=params).result().values[0]`` on a circuit
that is not transpiled, and the old ``options={"shots": ...}``. Only the import line differs
from the guide; the setup it relies on (ansatz, Hamiltonian, backend) is spelled out at the top.
"""

import warnings

import numpy as np
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import SparsePauliOp
from scipy.optimize import minimize

from qsession import Estimator, QiskitRuntimeService, Session

# The DeprecationWarnings are the point of this example: each one names the modern call.
warnings.simplefilter("default")

service = QiskitRuntimeService()
backend = service.least_busy(operational=True, simulator=False)

# H2 at 0.735 angstrom on two qubits, and a real-amplitude ansatz (RY layers around a CX).
hamiltonian = SparsePauliOp.from_list(
    [("II", -1.0524), ("IZ", 0.3979), ("ZI", -0.3979), ("ZZ", -0.0113), ("XX", 0.1809)]
)
ansatz = efficient_su2(hamiltonian.num_qubits, su2_gates=["ry"], reps=1)
num_params = ansatz.num_parameters
np.random.seed(0)


def cost_func(params, ansatz, hamiltonian, estimator):
    # Return estimate of energy from estimator
    energy = estimator.run(ansatz, hamiltonian, parameter_values=params).result().values[0]
    return energy


x0 = 2 * np.pi * np.random.random(num_params)

session = Session(backend=backend)

# If using qiskit-ibm-runtime earlier than 0.24.0, change `mode=` to `session=`
estimator = Estimator(session=session, options={"shots": int(1e4)})

res = minimize(
    cost_func, x0, args=(ansatz, hamiltonian, estimator), method="cobyla", options={"maxiter": 60}
)

# Close the session because we didn't use a context manager.
session.close()

# qsession example: report what ran.
print(f"backend: {backend.name}")
print(f"energy: {res.fun:.6f}")
print(f"exact ground energy: {np.linalg.eigvalsh(hamiltonian.to_matrix()).min():.6f}")
print(f"evaluations: {res.nfev}")
print(f"session jobs: {len(service.jobs(session_id=session.session_id, limit=None))}")
