"""Your first qsession program: a Bell state on the least busy backend, in job mode.

Run a server with `make serve`, then `python examples/first_script.py`.
"""

from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qsession import QiskitRuntimeService, SamplerV2

service = QiskitRuntimeService()
backend = service.least_busy(operational=True, simulator=False)
print(f"backend: {backend.name} ({backend.num_qubits} qubits)")

bell = QuantumCircuit(2)
bell.h(0)
bell.cx(0, 1)
bell.measure_all()

pm = generate_preset_pass_manager(backend=backend, optimization_level=1)
isa_circuit = pm.run(bell)

sampler = SamplerV2(mode=backend)
job = sampler.run([isa_circuit])
print(f"job id: {job.job_id()}")
counts = job.result()[0].data.meas.get_counts()
print(f"counts: {counts}")
