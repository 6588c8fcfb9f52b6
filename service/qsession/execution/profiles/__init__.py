"""Device profiles: the emulated QPUs a backend can be configured with.

A profile is a name, a :class:`qiskit.transpiler.Target` (topology, ISA, calibration) and a
one-line description. Profiles are built once per process and cached. Besides the built-in
ones, an operator can name a directory holding a calibration snapshot of their own (an IBM
backend's ``conf_<name>.json`` and ``props_<name>.json``, the layout of qiskit-ibm-runtime's
fake backends): ``profile = "/srv/devices/ibm_kyiv"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from qiskit.transpiler import Target

from qsession.execution.profiles.fake_torino import (
    fake_brisbane_target,
    fake_fez_target,
    fake_torino_target,
    snapshot_files,
    snapshot_target,
)
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
    "fake_brisbane": (
        fake_brisbane_target,
        (
            "127-qubit heavy-hex IBM Eagle r3 (ibm_brisbane calibration snapshot); "
            "basis ecr, id, rz, sx, x"
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
    """Return the device profile called ``name`` (built once, then cached): a built-in one,
    or a calibration snapshot directory (see the module docstring).

    Raises:
        ValueError: ``name`` is neither one of :data:`PROFILE_NAMES` nor a snapshot
            directory; the message lists the known profiles.
    """
    if name not in _BUILDERS and is_snapshot_path(name):
        conf, _ = snapshot_files(Path(name))
        return DeviceProfile(
            name=name,
            target=snapshot_target(Path(name)),
            description=f"calibration snapshot {conf.name} from {name}",
        )
    if name not in _BUILDERS:
        raise ValueError(
            f"unknown device profile {name!r}; known profiles: {', '.join(PROFILE_NAMES)}, "
            "or a directory holding conf_<name>.json and props_<name>.json"
        )
    build, description = _BUILDERS[name]
    return DeviceProfile(name=name, target=build(), description=description)


def is_snapshot_path(name: str) -> bool:
    """Whether a profile name is a path (it contains a slash) rather than a built-in name."""
    return "/" in name
