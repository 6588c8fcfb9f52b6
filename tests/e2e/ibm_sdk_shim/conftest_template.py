"""The one-line import change, made for IBM's integration tests: ``qiskit_ibm_runtime`` is
qsession.

``test_sdk_conformance`` writes this file as the root ``conftest.py`` of the unpacked sdist
tree, so pytest loads it before it imports a test module. It maps IBM's public names to
qsession's and nothing else:

* ``qiskit_ibm_runtime`` (its public classes: ``QiskitRuntimeService``, ``Session``,
  ``Batch``, ``SamplerV2``, ``EstimatorV2``, ``RuntimeJobV2``, the exceptions, ...) is
  :mod:`qsession`;
* ``qiskit_ibm_runtime.exceptions``, ``.options``, ``.fake_provider`` and
  ``.fake_provider.local_service`` are ``qsession.exceptions``, ``.options``,
  ``.fake_provider`` and ``.fake_provider.local_service``.

IBM's package is imported whole first, so that the modules of it that the suite imports for
its own helpers or for IBM's private internals (``qiskit_ibm_runtime.api.exceptions``,
``.accounts.utils``, ``.models``, ``.ibm_backend``) still import, and so do IBM's transpiler
plugins, which Qiskit finds by entry point (``qiskit_ibm_runtime.transpiler.plugin``); a test
that calls into them with qsession's objects is in ``test_sdk_conformance.PRIVATE``, which
deselects it.
"""

import sys

import qiskit_ibm_runtime  # noqa: F401 - IBM's own modules, loaded before the alias
import qiskit_ibm_runtime.transpiler.plugin  # noqa: F401

import qsession
import qsession.exceptions
import qsession.fake_provider
import qsession.fake_provider.local_service
import qsession.options

sys.modules["qiskit_ibm_runtime"] = qsession
sys.modules["qiskit_ibm_runtime.exceptions"] = qsession.exceptions
sys.modules["qiskit_ibm_runtime.options"] = qsession.options
sys.modules["qiskit_ibm_runtime.fake_provider"] = qsession.fake_provider
sys.modules["qiskit_ibm_runtime.fake_provider.local_service"] = qsession.fake_provider.local_service
