"""The session guide's VQE iteration through IBM's own client (qiskit-ibm-runtime,
unmodified, over qsession's IBM REST API) against the same iteration through qsession's SDK
(gRPC), on one server, the two taking turns (see :func:`scenarios.vqe._medians`)."""

from __future__ import annotations

import os
import tempfile

import numpy as np
from harness import TOKEN, Row, server_process
from qiskit.circuit.library import efficient_su2
from qiskit.transpiler import generate_preset_pass_manager

from qsession.config import crn_of
from qsession.testing import free_port
from scenarios.vqe import HAMILTONIAN, SHOTS, _medians


def ibm_client_iteration(iterations: int = 50) -> list[Row]:
    """Median ms of one VQE iteration (one Estimator job in a session, 10,000 shots, 4
    observables, resilience level 0, ideal_24) through IBM's client over HTTP and through
    qsession's SDK over gRPC."""
    from qiskit_ibm_runtime import EstimatorV2 as IbmEstimator
    from qiskit_ibm_runtime import QiskitRuntimeService
    from qiskit_ibm_runtime import Session as IbmSession

    from qsession import EstimatorV2, RuntimeService, Session

    port = free_port()
    # Two QPUs of the same profile: each client's session holds its own (a dedicated session
    # keeps its QPU between jobs, so one QPU would make them wait for each other's TTL).
    twins = ["ideal_24", {"name": "ideal_24_ibm", "profile": "ideal_24"}]
    with server_process(backends=twins, ibm_api={"listen": f"127.0.0.1:{port}"}) as server:
        base = f"http://127.0.0.1:{port}"
        saved = dict(os.environ)
        os.environ.update(
            QISKIT_IBM_URL=f"{base}/experimental/api/v1",
            IAM_URL=base,
            QISKIT_IBM_TOKEN=TOKEN,
            QISKIT_IBM_INSTANCE=crn_of("bench"),
            QISKIT_FUNCTIONS_EXPERIMENTAL="1",
            HOME=tempfile.mkdtemp(),  # no saved IBM account is read
        )
        try:
            ibm_backend = QiskitRuntimeService().backend("ideal_24_ibm")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        service = RuntimeService(url=server.address, token=TOKEN)
        backend = service.backend("ideal_24")
        # ISA for the target IBM's client builds (it leaves out fractional gates by
        # default), hence for ideal_24 too
        ansatz = generate_preset_pass_manager(target=ibm_backend.target, optimization_level=3).run(
            efficient_su2(2)
        )
        observables = [op.apply_layout(ansatz.layout) for op in HAMILTONIAN]
        options = {"default_shots": SHOTS, "resilience_level": 0}
        with Session(backend=backend) as ours, IbmSession(backend=ibm_backend) as theirs:
            our_estimator = EstimatorV2(mode=ours, options=options)
            ibm_estimator = IbmEstimator(mode=theirs, options=options)

            def runner(estimator):
                def run_once(rng: np.random.Generator) -> float:
                    values = rng.uniform(0, 2 * np.pi, ansatz.num_parameters)
                    result = estimator.run([(ansatz, observables, values)]).result()
                    return float(result[0].data.evs.sum())

                return run_once

            sdk, ibm = _medians([runner(our_estimator), runner(ibm_estimator)], iterations)
        service.close()
    note = (
        f"ref = qsession's SDK over gRPC, ours = qiskit-ibm-runtime 0.51.0 unmodified over the "
        "IBM REST API, on one server (each on its own ideal_24 QPU); one"
        f" Estimator job per iteration in a session, "
        f"{SHOTS} shots, 4 observables, resilience_level 0; median of {iterations}, taking "
        "turns. IBM's client polls GET /jobs/{id} (every 0.1 s in a session); the server "
        "answers a poll of an unfinished job as soon as it ends (up to 0.5 s)."
    )
    return [
        Row(
            "IBM client",
            "VQE iteration, qiskit-ibm-runtime vs SDK",
            "ms",
            sdk,
            ibm,
            "+5 ms",
            ibm - sdk <= 5.0,
            note,
        )
    ]
