"""Built-in device profiles: the emulated QPUs a backend can be configured with.

A profile is a name, a :class:`qiskit.transpiler.Target` (topology, ISA, calibration) and a
one-line description. Profiles are built once per process and cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from qiskit.transpiler import Target

from qsession.execution.profiles.fake_torino import fake_fez_target, fake_torino_target
from qsession.execution.profiles.ideal import ideal_target


@dataclass(frozen=True)
class DeviceProfile:
    """An emulated QPU.

    Attributes:
        name: the profile name used in configuration (``profile = "fake_torino"``).
        target: the device's ISA, coupling map and calibration (errors as probabilities,
            durations in seconds, ``dt`` in seconds, T1/T2 in seconds, frequency in Hz).
        description: one line for humans.
    """

    name: str
    target: Target
    description: str


_BUILDERS: dict[str, tuple[Callable[[], Target], str]] = {
    "fake_torino": (
        fake_torino_target,
        (
            "133-qubit heavy-hex IBM Heron r1 (ibm_torino calibration snapshot); "
            "basis cz, id, rz, sx, x"
        ),
    ),
    "fake_fez": (
        fake_fez_target,
        (
            "156-qubit heavy-hex IBM Heron r2 (ibm_fez calibration snapshot); "
            "basis cz, id, rz, sx, x"
        ),
    ),
    "ideal_24": (
        lambda: ideal_target(24),
        "24-qubit ideal device: all-to-all connectivity, no noise, a generous gate set",
    ),
}

PROFILE_NAMES: tuple[str, ...] = tuple(_BUILDERS)
"""Names accepted by :func:`load_profile`."""


@cache
def load_profile(name: str) -> DeviceProfile:
    """Return the built-in device profile called ``name`` (built once, then cached).

    Raises:
        ValueError: ``name`` is not one of :data:`PROFILE_NAMES`; the message lists them.
    """
    if name not in _BUILDERS:
        raise ValueError(
            f"unknown device profile {name!r}; known profiles: {', '.join(PROFILE_NAMES)}"
        )
    build, description = _BUILDERS[name]
    return DeviceProfile(name=name, target=build(), description=description)
