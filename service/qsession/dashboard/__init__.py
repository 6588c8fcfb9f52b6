"""The Workloads page: a live dashboard of one instance's sessions, batches and jobs, its
backends, and the server's Prometheus metrics, served over HTTP by ``qsession serve`` when
``[dashboard] listen`` is set.

``server`` serves it (aiohttp, on the server's own event loop), ``views`` builds what each
page shows from the Runtime's per-instance queries, ``activity`` follows the QPUs across
instances so that a session's timeline can show other instances' work as anonymous busy time,
and ``static/`` holds the page itself: plain HTML, CSS and JavaScript, no build step, no CDN.
"""

from qsession.dashboard.server import Dashboard, start_dashboard

__all__ = ["Dashboard", "start_dashboard"]
