"""Run jobs in a session: the context manager opens the session and closes it on exit.

From the guide "Run jobs in a session" (section "Context manager"); only the import lines
differ from the guide.
"""

from qsession import (
    QiskitRuntimeService,
    Session,
    SamplerV2 as Sampler,
    EstimatorV2 as Estimator,
)

service = QiskitRuntimeService()

from qsession import (
    Session,
    SamplerV2 as Sampler,
    EstimatorV2 as Estimator,
)

backend = service.least_busy(operational=True, simulator=False)
with Session(backend=backend):
    estimator = Estimator()
    sampler = Sampler()

# qsession example: report what ran.
session = estimator.mode
print(f"session id: {session.session_id}")
print(f"estimator and sampler share the session: {sampler.mode is session}")
print(f"status after the block: {session.status()}")
