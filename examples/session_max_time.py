"""Session length: set the session's max TTL with max_time.

From the guide "Run jobs in a session" (section "Session length"); only the import line
differs from the guide, and the block's body (`...` in the guide) builds a primitive.
"""

from qsession import (
    QiskitRuntimeService,
    Session,
    SamplerV2 as Sampler,
    EstimatorV2 as Estimator,
)

service = QiskitRuntimeService()
backend = service.least_busy(operational=True, simulator=False)

with Session(backend=backend, max_time="25m"):
    estimator = Estimator()

# qsession example: report what ran.
details = estimator.mode.details()
print(f"max_time: {details['max_time']}")
print(f"interactive_timeout: {details['interactive_timeout']}")
print(f"status after the block: {estimator.mode.status()}")
