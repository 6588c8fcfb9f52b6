"""Opens idle TCP connections for the ``idle`` scenario and holds them.

``python bench/idle_opener.py PORT COUNT SECONDS SOURCE_ADDRESS``: opens COUNT connections to
127.0.0.1:PORT from SOURCE_ADDRESS (a loopback address of its own, so that three openers do
not run out of one address's ports), sends nothing, prints one JSON line of what it opened,
and holds them for SECONDS.
"""

from __future__ import annotations

import json
import resource
import socket
import sys
import time

port, count, seconds, source = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held, failed = [], 0
for _ in range(count):
    try:
        held.append(socket.create_connection(("127.0.0.1", port), 5, (source, 0)))
    except OSError:
        failed += 1
print(json.dumps({"opened": len(held), "failed": failed}), flush=True)
time.sleep(seconds)
