"""IBM's fake backends under qiskit-ibm-runtime's module name: code that imports from
``qiskit_ibm_runtime.fake_provider`` imports from ``qsession.fake_provider``.

The backends are qiskit-ibm-runtime's own (``FakeManilaV2``, ``FakeTorino``, ...: IBM
devices' calibration snapshots, a dependency of qsession), so a circuit transpiled for one is
the same circuit either way. Passed as a primitive's ``mode``, one runs its jobs in this
process on qsession's executor (local testing mode, :mod:`qsession.local`).
"""

from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2 as FakeProviderForBackendV2
from qiskit_ibm_runtime.fake_provider.backends import *  # noqa: F403 - every fake backend
from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2 as FakeBackendV2
