"""A client that floods a server with large CreateJob requests, for the ``flood`` scenario.

``python bench/flood_client.py HOST:PORT SECONDS [TOKEN]``: 24 connections, 3 calls in flight
on each, every request 60 MB of bytes that are no CreateJobRequest, sent again and again for
SECONDS. Without TOKEN each connection presents a different made-up token. Prints the count
of each final status as one JSON line.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter

import grpc

CONNECTIONS = 24
CALLS_PER_CONNECTION = 3
REQUEST_BYTES = 60 * 1024 * 1024


def flood(address: str, seconds: float, token: str | None) -> Counter[str]:
    payload = b"\xff" * REQUEST_BYTES
    codes: Counter[str] = Counter()
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def connection(number: int) -> None:
        channel = grpc.insecure_channel(
            address,
            # a distinct argument per connection: gRPC would otherwise share one connection
            options=[("grpc.max_send_message_length", 2 * REQUEST_BYTES), ("flood", number)],
        )
        call = channel.unary_unary(
            "/qsession.v1.JobService/CreateJob",
            request_serializer=lambda data: data,
            response_deserializer=lambda data: data,
        )
        metadata = (("authorization", f"Bearer {token or f'made-up-token-{number}'}"),)

        def caller() -> None:
            while time.monotonic() < end:
                try:
                    call(payload, metadata=metadata, timeout=30)
                    code = "OK"
                except grpc.RpcError as error:
                    code = error.code().name
                with lock:
                    codes[code] += 1

        callers = [threading.Thread(target=caller) for _ in range(CALLS_PER_CONNECTION)]
        for thread in callers:
            thread.start()
        for thread in callers:
            thread.join()
        channel.close()

    threads = [threading.Thread(target=connection, args=(n,)) for n in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


if __name__ == "__main__":
    address, seconds = sys.argv[1], float(sys.argv[2])
    print(json.dumps(flood(address, seconds, sys.argv[3] if len(sys.argv) > 3 else None)))
