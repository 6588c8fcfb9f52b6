"""IBM's backend documents (qsession.ibm_api.backends), read back by qiskit-ibm-runtime 0.51.0.

Every document goes through JSON and then through the client's own code, as ``IBMBackend``
does: ``configuration_from_server_data`` -> ``QasmBackendConfiguration``,
``properties_from_server_data`` -> ``BackendProperties``, ``convert_to_target`` -> the Target
the client transpiles for. That Target must be the profile's: same qubits, operations, qubits
of every instruction, errors, durations, qubit properties, ``dt`` and timing constraints.

Where the client's Target differs by construction (checked below, stated here):

* ``measure``, ``reset`` and ``delay`` declared global (on any qubit) by our Target come back
  pinned to every qubit;
* a Target without qubit properties comes back with an empty ``QubitProperties`` per qubit;
* with ``use_fractional_gates=False`` (the client's default) it drops the fractional gates
  itself (:data:`FRACTIONAL`); the comparisons use ``use_fractional_gates=True``;
* ``box``, ``break`` and ``continue`` are not served (the client cannot rebuild them).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit, qasm2
from qiskit.circuit.library import CZGate, Measure
from qiskit.providers import QubitProperties
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.quantum_info import Operator
from qiskit.transpiler import InstructionProperties, Target
from qiskit_ibm_runtime import IBMBackend
from qiskit_ibm_runtime.api.rest.cloud_backend import CloudBackend
from qiskit_ibm_runtime.api.session import RetrySession
from qiskit_ibm_runtime.models import BackendProperties, BackendStatus, QasmBackendConfiguration
from qiskit_ibm_runtime.utils.backend_converter import convert_to_target
from qiskit_ibm_runtime.utils.backend_decoder import (
    configuration_from_server_data,
    properties_from_server_data,
)

from qsession.execution.profiles import load_profile
from qsession.ibm_api.backends import (
    BACKEND_VERSION,
    configuration,
    device,
    properties,
    status,
)

PROFILES = ("fake_torino", "fake_fez", "fake_brisbane", "ideal_24")
ONLINE = datetime(2024, 5, 14, 4, 0, tzinfo=UTC)
CALIBRATED = datetime(2025, 2, 26, 15, 16, 25, tzinfo=UTC)

PINNED_BY_THE_CLIENT = frozenset({"measure", "reset", "delay"})
"""Instructions the client ties to every qubit, even where our Target has them global."""

FRACTIONAL = frozenset({"rx", "ry", "u", "cp", "crx", "cry", "crz", "rxx", "ryy", "rzx", "rzz"})
"""ideal_24's gates the client removes unless ``use_fractional_gates=True``: parametrised
gates other than rz and p."""

NOT_REBUILT = frozenset({"box", "break", "continue"})
"""GenericBackendV2's control-flow instructions the client has no mapping for."""


def documents(name: str, target: Target) -> tuple[dict[str, Any], dict[str, Any]]:
    """The configuration and properties served for ``target``."""
    conf = configuration(name, target, online_date=ONLINE, max_shots=100_000, max_experiments=300)
    return conf, properties(name, target, last_update=CALIBRATED)


def served(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the client receives it: through JSON (strictly: no NaN)."""
    return json.loads(json.dumps(document, allow_nan=False))


def decode(
    conf: dict[str, Any], props: dict[str, Any], *, use_fractional_gates: bool
) -> tuple[QasmBackendConfiguration, BackendProperties]:
    """The client's decoding of both documents (``QiskitRuntimeService._create_backend_obj``
    and ``IBMBackend.properties``)."""
    config = configuration_from_server_data(
        served(conf), instance="crn:test", use_fractional_gates=use_fractional_gates
    )
    assert config is not None, "the client would drop this backend (see its warning)"
    decoded = properties_from_server_data(served(props), use_fractional_gates=use_fractional_gates)
    return config, decoded


def client_target(target: Target, *, use_fractional_gates: bool = True) -> Target:
    """The Target ``IBMBackend.target`` builds from the documents served for ``target``."""
    config, decoded = decode(*documents("dev", target), use_fractional_gates=use_fractional_gates)
    return convert_to_target(configuration=config, properties=decoded)


def same(mine: float | None, theirs: float | None) -> bool:
    """Both unknown, or equal up to the rounding of a unit conversion."""
    if mine is None or theirs is None:
        return mine is None and theirs is None
    return math.isclose(mine, theirs, rel_tol=1e-12, abs_tol=1e-24)


def calibration(value: InstructionProperties | None) -> tuple[float | None, float | None]:
    """(error, duration) of one instruction on some qubits; ``None`` means neither known."""
    return (None, None) if value is None else (value.error, value.duration)


def assert_same_instruction(ours: Target, theirs: Target, name: str) -> None:
    """``name`` is the same operation on the same qubits with the same calibration."""
    mine, client = ours.operation_from_name(name), theirs.operation_from_name(name)
    kind = mine if isinstance(mine, type) else type(mine)
    assert (client if isinstance(client, type) else type(client)) is kind, name
    qargs = ours.qargs_for_operation_name(name)
    if qargs is None:  # global in our Target
        client_qargs = theirs.qargs_for_operation_name(name)
        if name in PINNED_BY_THE_CLIENT:
            assert client_qargs == {(q,) for q in range(ours.num_qubits)}, name
        else:
            assert client_qargs is None, name
        return
    assert set(theirs.qargs_for_operation_name(name)) == set(qargs), name
    for q in qargs:
        (error, duration) = calibration(ours[name][q])
        (client_error, client_duration) = calibration(theirs[name][q])
        assert same(error, client_error), (name, q, error, client_error)
        assert same(duration, client_duration), (name, q, duration, client_duration)


def assert_same_target(ours: Target, theirs: Target, *, dropped: frozenset[str]) -> None:
    """The client's Target is ours, but for the instructions ``dropped``."""
    assert theirs.num_qubits == ours.num_qubits
    assert same(ours.dt, theirs.dt)
    for constraint in ("granularity", "min_length", "pulse_alignment", "acquire_alignment"):
        assert getattr(theirs, constraint) == getattr(ours, constraint), constraint
    assert set(theirs.operation_names) == set(ours.operation_names) - dropped
    for name in theirs.operation_names:
        assert_same_instruction(ours, theirs, name)
    for qubit in range(ours.num_qubits):
        mine = ours.qubit_properties[qubit] if ours.qubit_properties else None
        client = theirs.qubit_properties[qubit]
        for field in ("t1", "t2", "frequency"):
            assert same(getattr(mine, field, None), getattr(client, field)), (qubit, field)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("profile", PROFILES)
def test_the_client_rebuilds_the_profile_target(profile: str) -> None:
    target = load_profile(profile).target
    assert_same_target(target, client_target(target), dropped=frozenset())


@pytest.mark.parametrize("profile", PROFILES)
def test_the_client_decodes_both_documents_without_a_warning(
    profile: str, caplog: pytest.LogCaptureFixture
) -> None:
    target = load_profile(profile).target
    caplog.set_level(logging.WARNING, logger="qiskit_ibm_runtime")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config, decoded = decode(*documents(profile, target), use_fractional_gates=False)
        convert_to_target(configuration=config, properties=decoded)
        backend = IBMBackend(configuration=config, service=None, api_client=None)  # type: ignore[arg-type]
    assert not caplog.records, [record.getMessage() for record in caplog.records]

    assert (config.backend_name, config.backend_version) == (profile, BACKEND_VERSION)
    assert config.n_qubits == target.num_qubits
    assert config.online_date == ONLINE
    assert config.simulator is False and config.open_pulse is False
    assert config.max_shots == 100_000 and config.max_experiments == 300
    # dt/dtm in ns and rep_delay in us on the wire: seconds once decoded.
    if target.dt is None:
        assert not hasattr(config, "dt")
    else:
        assert config.dt == pytest.approx(target.dt) and config.dtm == pytest.approx(target.dt)
    assert config.rep_delay_range == pytest.approx([0.0, 500e-6])
    assert config.default_rep_delay == pytest.approx(250e-6)
    # service.backends(dynamic_circuits=True) keeps exactly the backends with control flow.
    assert "dynamic_circuits" in config.supported_features
    assert (backend.name, backend.online_date) == (profile, ONLINE)
    backend.options.update_options(rep_delay=config.default_rep_delay)
    with pytest.raises(ValueError):
        backend.options.update_options(rep_delay=1e-3)  # beyond rep_delay_range

    assert isinstance(decoded, BackendProperties)
    assert decoded.last_update_date == CALIBRATED
    assert decoded.faulty_qubits() == [] and decoded.faulty_gates() == []


@pytest.mark.parametrize("profile", ("fake_torino", "ideal_24"))
def test_the_configuration_alone_ties_every_gate_to_its_qubits(profile: str) -> None:
    """What a backend served as ``"simulator": true`` gets: no properties are fetched."""
    target = load_profile(profile).target
    conf = configuration(
        profile, target, online_date=ONLINE, max_shots=1, max_experiments=1, simulator=True
    )
    config = configuration_from_server_data(served(conf), use_fractional_gates=True)
    assert config is not None and config.simulator is True
    theirs = convert_to_target(configuration=config)
    assert set(theirs.operation_names) == set(target.operation_names)
    for name in conf["basis_gates"]:
        mine = target.qargs_for_operation_name(name)
        client = theirs.qargs_for_operation_name(name)
        assert (None if mine is None else set(mine)) == (None if client is None else set(client))
    every_qubit = {(q,) for q in range(target.num_qubits)}
    for name in PINNED_BY_THE_CLIENT:
        mine = target.qargs_for_operation_name(name)
        assert set(theirs.qargs_for_operation_name(name)) == (every_qubit if mine is None else mine)


def test_by_default_the_client_drops_the_fractional_gates_itself() -> None:
    ideal = load_profile("ideal_24").target
    assert_same_target(ideal, client_target(ideal, use_fractional_gates=False), dropped=FRACTIONAL)
    torino = load_profile("fake_torino").target
    assert_same_target(
        torino, client_target(torino, use_fractional_gates=False), dropped=frozenset()
    )


def test_instructions_the_client_cannot_rebuild_are_not_served() -> None:
    target = GenericBackendV2(
        5, basis_gates=["cz", "rz", "sx", "x", "id"], control_flow=True, seed=1
    ).target
    assert NOT_REBUILT <= set(target.operation_names)
    conf, _ = documents("generic", target)
    assert not NOT_REBUILT & set(conf["supported_instructions"] + conf["basis_gates"])
    assert_same_target(target, client_target(target), dropped=NOT_REBUILT)


# --------------------------------------------------------------------------- the documents


def plain_json(value: Any) -> bool:
    """Only JSON's own types (no numpy scalar, tuple or datetime), and finite numbers."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain_json(v) for v in value)
    if isinstance(value, float):
        return type(value) is float and math.isfinite(value)
    return value is None or type(value) in (str, int, bool)


def numpy_target() -> Target:
    """Two qubits whose values are numpy scalars, one of them NaN (unknown)."""
    target = Target(
        num_qubits=2,
        dt=np.float64(2e-9),
        qubit_properties=[
            QubitProperties(t1=np.float64(1e-4), t2=np.float64(np.nan), frequency=np.float64(5e9)),
            QubitProperties(t1=np.float64(2e-4)),
        ],
    )
    target.add_instruction(
        CZGate(), {(0, 1): InstructionProperties(error=np.float64(np.nan), duration=1e-7)}
    )
    target.add_instruction(
        Measure(), {(q,): InstructionProperties(error=0.01, duration=1e-6) for q in (0, 1)}
    )
    return target


@pytest.mark.parametrize("profile", [*PROFILES, None])
def test_the_documents_are_plain_json(profile: str | None) -> None:
    target = numpy_target() if profile is None else load_profile(profile).target
    for document in documents("dev", target):
        assert plain_json(document)
        assert served(document) == document


def test_unknown_values_are_left_out_not_invented() -> None:
    conf, props = documents("dev", numpy_target())
    assert conf["dt"] == pytest.approx(2.0)  # ns
    first, second = ({v["name"]: v for v in qubit} for qubit in props["qubits"])
    assert set(first) == {"operational", "T1", "frequency", "readout_error", "readout_length"}
    assert set(second) == {"operational", "T1", "readout_error", "readout_length"}
    assert (first["T1"]["value"], first["T1"]["unit"]) == (pytest.approx(100.0), "us")
    assert (first["frequency"]["value"], first["frequency"]["unit"]) == (5.0, "GHz")
    assert (first["readout_length"]["value"], first["readout_length"]["unit"]) == (1000.0, "ns")
    [cz] = props["gates"]
    assert (cz["gate"], cz["qubits"], cz["name"]) == ("cz", [0, 1], "cz0_1")
    assert [(v["name"], v["value"], v["unit"]) for v in cz["parameters"]] == [
        ("gate_length", pytest.approx(100.0), "ns")
    ]
    assert all(v["date"] == CALIBRATED.isoformat() for q in props["qubits"] for v in q)


def test_an_ideal_device_has_global_gates_and_only_operational_qubits() -> None:
    target = load_profile("ideal_24").target
    conf, props = documents("ideal_24", target)
    assert conf["coupling_map"] is None
    assert all("coupling_map" not in gate for gate in conf["gates"])
    assert "dt" not in conf and "dtm" not in conf
    assert conf["supported_instructions"][-4:] == [
        "if_else",
        "for_loop",
        "switch_case",
        "while_loop",
    ]
    assert props["gates"] == []
    assert all([v["name"] for v in qubit] == ["operational"] for qubit in props["qubits"])


def test_a_device_lists_its_coupling_map_and_gate_qubits() -> None:
    target = load_profile("fake_torino").target
    conf, _ = documents("fake_torino", target)
    edges = {tuple(edge) for edge in conf["coupling_map"]}
    assert edges == set(target.build_coupling_map().get_edges())
    cz = next(gate for gate in conf["gates"] if gate["name"] == "cz")
    assert {tuple(q) for q in cz["coupling_map"]} == set(target.qargs_for_operation_name("cz"))
    assert conf["basis_gates"] == ["cz", "id", "rz", "sx", "x"]
    assert set(conf["supported_instructions"]) == set(target.operation_names)
    assert conf["supported_features"] == ["qasm3", "dynamic_circuits"]
    assert conf["timing_constraints"]["min_length"] == target.min_length == 2


def test_each_qasm_def_is_its_gate_in_openqasm2_u_and_cx() -> None:
    """Every definition parses as OpenQASM 2 and is the gate's unitary up to global phase."""
    target = load_profile("ideal_24").target
    conf, _ = documents("ideal_24", target)
    angles = (0.3, -1.1, 2.5)
    for entry in conf["gates"]:
        if entry["name"] == "reset":
            assert entry["qasm_def"] == ""
            continue
        gate = target.operation_from_name(entry["name"])
        values = angles[: len(entry["parameters"])]
        assert len(values) == len(gate.params)
        call = f"{gate.name}({', '.join(map(str, values))})" if values else gate.name
        wires = ", ".join(f"r[{q}]" for q in range(gate.num_qubits))
        program = f"OPENQASM 2.0; {entry['qasm_def']} qreg r[{gate.num_qubits}]; {call} {wires};"
        expected = QuantumCircuit(gate.num_qubits)
        expected.append(gate, expected.qubits)
        expected.assign_parameters(dict(zip(gate.params, values, strict=True)), inplace=True)
        assert Operator(qasm2.loads(program)).equiv(Operator(expected)), entry["qasm_def"]
    rz = next(gate for gate in conf["gates"] if gate["name"] == "rz")
    assert rz["parameters"] == ["lambda"]


# --------------------------------------------------------------------------- status, device


@pytest.fixture
def serve_json() -> Iterator[Any]:
    """``serve(document)`` answers every GET on a local HTTP server with ``document``, and
    returns the server's base URL."""
    servers: list[ThreadingHTTPServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            body = json.dumps(self.server.document).encode()  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    def serve(document: dict[str, Any]) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.document = document  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("operational", [True, False])
def test_the_client_reads_the_status_document(serve_json: Any, operational: bool) -> None:
    """Through the client's real HTTP adapter (``CloudBackend.status``) and model."""
    url = serve_json(status("fake_torino", queue_length=3, operational=operational))
    read = BackendStatus.from_dict(CloudBackend(RetrySession(url), "fake_torino").status())
    assert read.backend_name == "fake_torino"
    assert read.backend_version == BACKEND_VERSION
    assert read.operational is operational
    assert read.pending_jobs == 3
    # The client warns when an operational backend's status is not "active".
    assert (read.status_msg == "active") is operational


def test_a_device_entry_has_what_the_backend_list_is_read_for() -> None:
    entry = device("fake_torino", 133, queue_length=2)
    assert served(entry) == entry
    assert entry["name"] == "fake_torino"
    assert entry["status"] == {"name": "online", "reason": "available"}
    assert (entry["qubits"], entry["physical_qubits"], entry["queue_length"]) == (133, 133, 2)
    assert entry["is_simulator"] is False and "class" not in entry  # not a mock device
    assert set(entry["processor_type"]) == {"family", "revision"}
    assert device("x", 5, queue_length=0, operational=False)["status"]["name"] == "offline"
