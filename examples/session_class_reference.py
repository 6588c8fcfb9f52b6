"""The old ``Session`` class reference example (qiskit-ibm-runtime before 0.24).

From the API reference of ``Session(service=None, backend=None, max_time=None)``: a backend
given by name, the V1 ``Options``, ``Sampler(session=...)`` and the V1 call
``sampler.run(circuit)`` whose result holds quasi-probabilities. Only the import line, the
backend name (``"ibmq_qasm_simulator"`` there) and the misplaced quote in the reference's last
``print`` differ; ``circ`` is built as ``ReferenceCircuits.bell()`` built it.
"""

import warnings

from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

from qsession import Options, Sampler, Session

# The DeprecationWarnings are the point of this example: each one names the modern call.
warnings.simplefilter("default")


def bell() -> QuantumCircuit:
    """qiskit.test.reference_circuits.ReferenceCircuits.bell(), removed from Qiskit."""
    qr = QuantumRegister(2, name="qr")
    cr = ClassicalRegister(2, name="qc")
    qc = QuantumCircuit(qr, cr, name="bell")
    qc.h(qr[0])
    qc.cx(qr[0], qr[1])
    qc.measure(qr, cr)
    return qc


circ = bell()

options = Options(optimization_level=3)

with Session(backend="fake_torino") as session:
    sampler = Sampler(session=session, options=options)
    job = sampler.run(circ)
    print(f"Sampler job ID: {job.job_id()}")
    print(f"Sampler job result: {job.result()}")
    # Close the session only if all jobs are finished and
    # you don't need to run more in the session.
    session.close()

# qsession example: report what ran.
print(f"backend: {session.backend()}")
print(f"session status: {session.status()}")
