"""Run jobs in a session: open a session with the Session class, then close it.

From the guide "Run jobs in a session" (section "Session class"); only the import line
differs from the guide.
"""

from qsession import (
    QiskitRuntimeService,
    Session,
    SamplerV2 as Sampler,
    EstimatorV2 as Estimator,
)

service = QiskitRuntimeService()

backend = service.least_busy(operational=True, simulator=False)
session = Session(backend=backend)
estimator = Estimator(mode=session)
sampler = Sampler(mode=session)
# Close the session because no context manager was used.
session.close()

# qsession example: report what ran.
print(f"session id: {session.session_id}")
print(f"estimator mode is the session: {estimator.mode is session}")
print(f"sampler mode is the session: {sampler.mode is session}")
print(f"status after close: {session.status()}")
