"""IBM Quantum's REST API, served on the application layer (see app.py)."""
