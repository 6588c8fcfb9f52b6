"""Close a session: an Estimator and a Sampler PUB with broadcast parameter values.

From the guide "Run jobs in a session" (section "Close a session"): a parametrized circuit is
transpiled for the 133-qubit fake_torino, then run as an Estimator PUB (3 observables x a
(3, 2) array of values, broadcast to shape (3, 2)) and a Sampler PUB (shape (3, 2)), first in
a session context manager and then in a session closed by hand. Only the import line differs
from the guide, and the backend is named (`service.backend("fake_torino")`) where the guide
takes `service.least_busy()`, so that the circuit is always transpiled to 133 qubits.
"""

from qsession import (
    QiskitRuntimeService,
    Session,
    SamplerV2 as Sampler,
    EstimatorV2 as Estimator,
)

from qiskit.quantum_info import SparsePauliOp
from qiskit.circuit import QuantumCircuit, Parameter
from qiskit.transpiler import generate_preset_pass_manager
import numpy as np

# This cell is hidden from users
service = QiskitRuntimeService()
backend = service.backend("fake_torino")

# Define two circuits, each with one parameter with two parameters.
circuit = QuantumCircuit(2)
circuit.h(0)
circuit.cx(0, 1)
circuit.ry(Parameter("a"), 0)
circuit.cx(0, 1)
circuit.h(0)
circuit.measure_all()

pm = generate_preset_pass_manager(optimization_level=1, backend=backend)
transpiled_circuit = pm.run(circuit)
transpiled_circuit_sampler = transpiled_circuit
transpiled_circuit_sampler.measure_all()

# Create parameters and mapped observables to submit
params = np.random.uniform(size=(2, 3)).T
observables = [
    SparsePauliOp(["XX", "IY"], [0.5, 0.5]),
    SparsePauliOp("XX"),
    SparsePauliOp("IY"),
]
mapped_observables = [
    [observable.apply_layout(transpiled_circuit.layout)]
    for observable in observables
]

sampler_pub = (transpiled_circuit_sampler, params)
estimator_pub = (transpiled_circuit_sampler, mapped_observables, params)

with Session(backend=backend) as session:
    estimator = Estimator()
    sampler = Sampler()
    job1 = estimator.run([estimator_pub])
    job2 = sampler.run([sampler_pub])

# The session is no longer accepting jobs but the submitted job will run to completion.
result = job1.result()
result2 = job2.result()

session = Session(backend=backend)

# If using qiskit-ibm-runtime earlier than 0.24.0, change `mode=` to `session=`
estimator = Estimator(mode=session)
sampler = Sampler(mode=session)
job1 = estimator.run([estimator_pub])
job2 = sampler.run([sampler_pub])

print(f"Result1: {job1.result()}")
print(f"Result2: {job2.result()}")

# Manually close the session. Running and queued jobs will run to completion.
session.close()

# qsession example: report what ran, for checking against exact values.
print(f"num_qubits: {transpiled_circuit.num_qubits}")
print(f"params: {params.tolist()}")
for name, estimator_result in (("context", result), ("manual", job1.result())):
    data = estimator_result[0].data
    print(f"{name} evs: {data.evs.tolist()}")
    print(f"{name} stds: {data.stds.tolist()}")
for name, sampler_result in (("context", result2), ("manual", job2.result())):
    meas = sampler_result[0].data.meas
    print(f"{name} meas: shape={meas.shape} num_shots={meas.num_shots} num_bits={meas.num_bits}")
    print(f"{name} p00: {(meas.bitcount() == 0).mean(axis=-1).tolist()}")
