"""An instance's usage in qiskit-ibm-runtime's shape (``QiskitRuntimeService.usage()``), from
the Instance message: one conversion for the SDK and IBM's REST API alike."""

from __future__ import annotations

from typing import Any

from qsession.v1 import instance_pb2
from qsession.wire.times import iso


def ibm_usage(instance: instance_pb2.Instance, instance_id: str) -> dict[str, Any]:
    """IBM's usage dict: whole seconds of modelled QPU time over the window, as IBM's API gives
    them; ``usage_limit_seconds`` only when the instance has a limit (IBM's client reads an
    absent key, not a None, as "no limit"); ``usage_remaining_seconds`` as qiskit-ibm-runtime
    computes it (the limit, else the allocation, less the consumption, at least 0); the window
    as ``usage_period``."""
    consumed = round(instance.window_usage_seconds)
    allocation = round(instance.allocation_seconds)
    usage: dict[str, Any] = {
        "instance_id": instance_id,
        "plan_id": instance.plan,
        "usage_consumed_seconds": consumed,
        "usage_allocation_seconds": allocation,
        "usage_limit_reached": instance.limit_reached,
        "usage_remaining_seconds": max(allocation - consumed, 0),
        "usage_period": {
            "start_time": iso(instance.window_start),
            "end_time": iso(instance.window_end),
        },
    }
    if instance.HasField("limit_seconds"):
        limit = round(instance.limit_seconds)
        usage["usage_limit_seconds"] = limit
        usage["usage_remaining_seconds"] = max(limit - consumed, 0)
    return usage
