"""qsession: a self-hosted Qiskit Runtime."""
