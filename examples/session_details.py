"""Determine session details and status.

From the guide "Run jobs in a session" (sections "Check session status" and "Determine
session details"); only the import lines differ from the guide, plus one status() line.
"""

from qsession import (
    QiskitRuntimeService,
    Session,
    EstimatorV2 as Estimator,
)

service = QiskitRuntimeService()
backend = service.least_busy(operational=True, simulator=False)

with Session(backend=backend) as session:
    print(session.details())
    print(session.status())

# qsession example: report what ran.
print(f"status after the block: {session.status()}")
