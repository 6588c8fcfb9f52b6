"""The session guide's VQE iteration through IBM's own client (qiskit-ibm-runtime,
unmodified, over qsession's IBM REST API) against the same iteration through qsession's SDK
(gRPC), on one server, taking turns (see :func:`scenarios.vqe._medians`).

A third run measures what IBM's client costs by itself: the same iteration against a replay
server (in its own process) that answers each call at once with the document the real server
gave for it, so no job runs and no server work is done. That floor, against the SDK's whole
iteration, shows how much of the difference any server could remove.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import numpy as np
from harness import TOKEN, Row, server_process
from qiskit.circuit.library import efficient_su2
from qiskit.transpiler import generate_preset_pass_manager

from qsession.config import crn_of
from qsession.testing import free_port
from scenarios.vqe import HAMILTONIAN, SHOTS, _medians

Answers = dict[tuple[str, str], tuple[int, bytes, str]]
_ID = re.compile(r"/(jobs|sessions)/[^/?]+")


def _key(method: str, path: str) -> tuple[str, str]:
    """A call as the replay knows it: method and path, ids and query left out."""
    return method, _ID.sub(r"/\1/ID", path.split("?")[0])


def ibm_client_iteration(iterations: int = 50) -> list[Row]:
    """Median ms of one VQE iteration (one Estimator job in a session, 10,000 shots, 4
    observables, resilience level 0, ideal_24) through IBM's client over HTTP, through
    qsession's SDK over gRPC, and through IBM's client against the replay."""
    import requests
    from qiskit_ibm_runtime import EstimatorV2 as IbmEstimator
    from qiskit_ibm_runtime import Session as IbmSession

    from qsession import EstimatorV2, RuntimeService, Session

    port = free_port()
    # Two QPUs of the same profile: each client's session holds its own (a dedicated session
    # keeps its QPU between jobs, so one QPU would make them wait for each other's TTL).
    twins = ["ideal_24", {"name": "ideal_24_ibm", "profile": "ideal_24"}]
    answers: Answers = {}
    with server_process(backends=twins, ibm_api={"listen": f"127.0.0.1:{port}"}) as server:
        base = f"http://127.0.0.1:{port}"
        recording = ExitStack()  # every call IBM's client makes, up to its first iteration
        recording.enter_context(_recording(requests.Session, answers))
        ibm_backend = _ibm_service(base).backend("ideal_24_ibm")
        service = RuntimeService(url=server.address, token=TOKEN)
        backend = service.backend("ideal_24")
        # ISA for the target IBM's client builds (it leaves out fractional gates by
        # default), hence for ideal_24 too
        ansatz = generate_preset_pass_manager(target=ibm_backend.target, optimization_level=3).run(
            efficient_su2(2)
        )
        observables = [op.apply_layout(ansatz.layout) for op in HAMILTONIAN]
        options = {"default_shots": SHOTS, "resilience_level": 0}

        def runner(estimator):
            def run_once(rng: np.random.Generator) -> float:
                values = rng.uniform(0, 2 * np.pi, ansatz.num_parameters)
                result = estimator.run([(ansatz, observables, values)]).result()
                return float(result[0].data.evs.sum())

            return run_once

        with Session(backend=backend) as ours, IbmSession(backend=ibm_backend) as theirs:
            ibm_estimator = IbmEstimator(mode=theirs, options=options)
            runner(ibm_estimator)(np.random.default_rng(0))
            recording.close()
            with _replay(answers) as replay_base:
                replay_backend = _ibm_service(replay_base).backend("ideal_24_ibm")
                with IbmSession(backend=replay_backend) as replayed:
                    sdk, ibm, floor = _medians(
                        [
                            runner(EstimatorV2(mode=ours, options=options)),
                            runner(ibm_estimator),
                            runner(IbmEstimator(mode=replayed, options=options)),
                        ],
                        iterations,
                    )
        service.close()
    note = (
        "ref = qsession's SDK over gRPC, ours = qiskit-ibm-runtime 0.51.0 unmodified over the "
        "IBM REST API, on one server (each on its own ideal_24 QPU); one Estimator job per "
        f"iteration in a session, {SHOTS} shots, 4 observables, resilience_level 0; median "
        f"of {iterations}, taking turns. IBM's client makes 5 calls an iteration (backend "
        "status, instance usage, POST /jobs, GET /jobs/{id}, results) and polls GET "
        "/jobs/{id} (every 0.1 s in a session); the server answers a poll of an unfinished "
        "job as soon as it ends (up to 0.5 s)."
    )
    floor_note = (
        "ours = IBM's client alone: the same iteration against a replay server (its own "
        "process) answering each call at once with the real server's recorded document; "
        "ref = the SDK's whole iteration, as above. ours - ref is the least any server "
        "could add over the SDK"
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
        ),
        Row(
            "IBM client",
            "the client alone (replayed answers) vs SDK",
            "ms",
            sdk,
            floor,
            "",
            None,
            floor_note,
        ),
    ]


def _ibm_service(base: str):
    """IBM's QiskitRuntimeService for the bench instance at ``base``, from the environment
    alone (the README's recipe)."""
    from qiskit_ibm_runtime import QiskitRuntimeService

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
        return QiskitRuntimeService()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _recording(session_class, answers: Answers) -> Iterator[None]:
    """Keep the answer to each call IBM's client makes (``requests.Session.request``)."""
    original = session_class.request

    def request(self, method, url, *args, **kwargs):
        response = original(self, method, url, *args, **kwargs)
        path = url.split("://", 1)[-1].partition("/")[2]
        answers[_key(method, "/" + path)] = (
            response.status_code,
            response.content,
            response.headers.get("Content-Type", "application/json").split(";")[0],
        )
        return response

    session_class.request = request
    try:
        yield
    finally:
        session_class.request = original


@contextmanager
def _replay(answers: Answers) -> Iterator[str]:
    """A replay server of ``answers`` in a child process; yields its base URL."""
    port = free_port()
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_serve_replay, args=(answers, port), daemon=True)
    child.start()
    try:
        import socket

        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or not child.is_alive():
                    raise RuntimeError("the replay server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.join(10)


def _serve_replay(answers: Answers, port: int) -> None:
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        status, body, kind = answers.get(
            _key(request.method, request.path), (404, b"{}", "application/json")
        )
        if status == 204:
            return web.Response(status=204)
        return web.Response(status=status, body=body, content_type=kind)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
