"""The server's configuration: one TOML file, with embedded defaults for `make serve`.

Keys (all optional; the defaults are what `qsession serve` with no --config uses)::

    [server]
    listen = "127.0.0.1:50051"
    data_dir = ".qsession"          # SQLite state; relative to the working directory
    tls_cert = "server.crt"         # PEM; TLS is on when both tls_cert and tls_key are set
    tls_key = "server.key"
    shutdown_grace = "10s"          # SIGTERM: how long running jobs may take to finish; a job
                                    # still running after that stays RUNNING and runs again
    watch_buffer = 1000             # events a watcher may have undelivered before it is cut
                                    # off with RESOURCE_EXHAUSTED (resumable)
    durability = "disk"             # a commit waits for the disk (survives power loss); or
                                    # "process": survives a crash or kill -9 of the server,
                                    # not of the machine, and saves an fsync per commit

    [[instances]]                   # default: one premium instance "local", token generated
    name = "lab"
    plan = "premium"                # or "open" (no dedicated sessions)
    tokens = ["tok-lab"]

    [plans.premium]                 # durations: "250ms", "0.3s", "2h 30m 40s" or seconds
    interactive_ttl = "60s"
    max_ttl = "8h"
    min_max_ttl = "300s"

    [sessions]
    idle_timeout = "30m"

    [[backends]]                    # default: fake_torino and ideal_24, noiseless
    name = "fake_torino"
    profile = "fake_torino"
    noise = false
    min_job_duration = "0s"

    [execution]
    max_attempts = 3                # a job whose worker dies this often ends in ERROR

    [retention]
    finished_jobs = 100000          # keep the newest N jobs; or a duration such as "30d":
                                    # delete jobs that finished longer ago (with results)

    [limits]                        # over a limit: RESOURCE_EXHAUSTED or INVALID_ARGUMENT
    max_request_bytes = 67108864    # one gRPC message
    max_pubs_per_job = 1000
    max_shots_per_pub = 10000000    # at most 10000000, what the executor runs
    max_samples_per_job = 100000000 # shots x parameter points, summed over a job's PUBs
    max_clbits_per_circuit = 65536  # (qubits: at most the backend's)
    max_queued_jobs_per_instance = 1000
    circuit_parse_memory_bytes = 1073741824  # memory a client's circuit may take to parse
    max_concurrent_requests_per_instance = 256   # unary calls in flight at once
    max_streams_per_instance = 2000              # open streams (watches, result waits)
    max_concurrent_admissions_per_instance = 2   # CreateJob calls parsed at once; more wait
                                                 # their turn, instances served in turn
    auth_failures_per_minute = 60                # per peer address; more are refused at once
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from qsession.execution.validation import MAX_SHOTS
from qsession.lifecycle.durations import parse_config_duration
from qsession.lifecycle.model import Plan
from qsession.store.sqlite import SYNCHRONOUS

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_PLANS = {
    "premium": {"interactive_ttl": 60.0, "max_ttl": 8 * 3600.0, "min_max_ttl": 300.0},
    "open": {"interactive_ttl": 60.0, "max_ttl": 8 * 3600.0, "min_max_ttl": 300.0},
}


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class InstanceConfig:
    """A tenant: its name, plan and the tokens that authenticate as it."""

    name: str
    plan: str
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class BackendConfig:
    """An emulated QPU built from a device profile."""

    name: str
    profile: str
    noise: bool = False
    min_job_duration: float = 0.0


@dataclass(frozen=True)
class Limits:
    """Per-request and per-instance limits (see the module docstring)."""

    max_request_bytes: int = 64 * 1024 * 1024
    max_pubs_per_job: int = 1000
    max_shots_per_pub: int = 10_000_000
    max_samples_per_job: int = 100_000_000
    max_clbits_per_circuit: int = 65_536
    max_queued_jobs_per_instance: int = 1000
    circuit_parse_memory_bytes: int = 1024 * 1024 * 1024
    max_concurrent_requests_per_instance: int = 256
    max_streams_per_instance: int = 2000
    max_concurrent_admissions_per_instance: int = 2
    auth_failures_per_minute: int = 60


@dataclass(frozen=True)
class Retention:
    """Which finished jobs (records, requests and results) are kept; older ones are deleted.

    Attributes:
        keep_newest: keep at most this many jobs (unfinished ones are always kept).
        max_age: delete jobs that finished more than this many seconds ago.
    """

    keep_newest: int | None = 100_000
    max_age: float | None = None


@dataclass(frozen=True)
class Config:
    """Everything the server needs to start."""

    listen: str = DEFAULT_LISTEN
    data_dir: Path = Path(".qsession")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    instances: tuple[InstanceConfig, ...] = ()
    plans: dict[str, Plan] = field(default_factory=dict)
    idle_timeout: float = 1800.0
    backends: tuple[BackendConfig, ...] = ()
    limits: Limits = Limits()
    shutdown_grace: float = 10.0
    watch_buffer: int = 1000
    durability: str = "disk"
    max_attempts: int = 3
    retention: Retention = Retention()

    @property
    def uses_default_instance(self) -> bool:
        """True when no instance is configured, so `serve` creates the local dev account."""
        return not self.instances


DEFAULT_BACKENDS = (
    BackendConfig(name="fake_torino", profile="fake_torino"),
    BackendConfig(name="ideal_24", profile="ideal_24"),
)


def load_config(path: str | Path | None = None) -> Config:
    """The configuration in ``path`` (TOML) over the embedded defaults; ``None``: defaults only.

    Raises:
        ConfigError: a key with a wrong type or value, naming the key.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return parse_config(raw)


def parse_config(raw: dict[str, Any]) -> Config:
    """A Config from parsed TOML (see the module docstring for the keys)."""
    server = _table(raw, "server")
    plans = _plans(_table(raw, "plans"))
    instances = tuple(
        _instance(i, entry, plans) for i, entry in enumerate(raw.get("instances", []))
    )
    backends = tuple(_backend(i, entry) for i, entry in enumerate(raw.get("backends", [])))
    names = [b.name for b in backends]
    if len(set(names)) != len(names):
        raise ConfigError(f"backends: names must be unique, got {names}")
    tls_cert, tls_key = server.get("tls_cert"), server.get("tls_key")
    if bool(tls_cert) != bool(tls_key):
        raise ConfigError("server.tls_cert and server.tls_key must be set together")
    limits = _limits(_table(raw, "limits"))
    durability = server.get("durability", "disk")
    if durability not in SYNCHRONOUS:
        raise ConfigError(
            f"server.durability: use one of {sorted(SYNCHRONOUS)}, got {durability!r}"
        )
    max_attempts = _execution(_table(raw, "execution"))
    retention = _retention(_table(raw, "retention"))
    watch_buffer = server.get("watch_buffer", 1000)
    if isinstance(watch_buffer, bool) or not isinstance(watch_buffer, int) or watch_buffer < 1:
        raise ConfigError(f"server.watch_buffer: a positive integer, got {watch_buffer!r}")
    return Config(
        listen=str(server.get("listen", DEFAULT_LISTEN)),
        data_dir=Path(server.get("data_dir", ".qsession")),
        tls_cert=Path(tls_cert) if tls_cert else None,
        tls_key=Path(tls_key) if tls_key else None,
        instances=instances,
        plans=plans,
        idle_timeout=_duration(
            "sessions.idle_timeout", _table(raw, "sessions").get("idle_timeout", "30m")
        ),
        backends=backends or DEFAULT_BACKENDS,
        limits=limits,
        shutdown_grace=_duration("server.shutdown_grace", server.get("shutdown_grace", "10s")),
        watch_buffer=watch_buffer,
        durability=durability,
        max_attempts=max_attempts,
        retention=retention,
    )


def _retention(raw: dict[str, Any]) -> Retention:
    """The [retention] table: finished_jobs, a count (integer) or an age (duration text)."""
    for key in raw:
        if key != "finished_jobs":
            raise ConfigError(f"retention.{key}: unknown key; use ['finished_jobs']")
    value = raw.get("finished_jobs", Retention.keep_newest)
    if isinstance(value, str):
        return Retention(keep_newest=None, max_age=_duration("retention.finished_jobs", value))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            "retention.finished_jobs: a positive number of jobs or a duration such as "
            f'"30d", got {value!r}'
        )
    return Retention(keep_newest=value)


def _execution(raw: dict[str, Any]) -> int:
    """The [execution] table's max_attempts (the only key)."""
    for key in raw:
        if key != "max_attempts":
            raise ConfigError(f"execution.{key}: unknown key; use ['max_attempts']")
    value = raw.get("max_attempts", 3)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"execution.max_attempts: a positive integer, got {value!r}")
    return value


def _limits(raw: dict[str, Any]) -> Limits:
    known = {f.name for f in fields(Limits)}
    values = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"limits.{key}: unknown key; use {sorted(known)}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"limits.{key}: a positive integer, got {value!r}")
        values[key] = value
    limits = Limits(**values)
    if limits.max_shots_per_pub > MAX_SHOTS:
        raise ConfigError(
            f"limits.max_shots_per_pub: at most {MAX_SHOTS} (what the executor runs), "
            f"got {limits.max_shots_per_pub}"
        )
    return limits


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a table")
    return value


def _duration(key: str, value: Any) -> float:
    try:
        return parse_config_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from exc


def _plans(raw: dict[str, Any]) -> dict[str, Plan]:
    plans = {}
    for name in {*DEFAULT_PLANS, *raw}:
        values = dict(DEFAULT_PLANS.get(name, DEFAULT_PLANS["premium"]))
        for key, value in raw.get(name, {}).items():
            if key not in values:
                raise ConfigError(f"plans.{name}.{key}: unknown key; use {sorted(values)}")
            values[key] = _duration(f"plans.{name}.{key}", value)
        plans[name] = Plan(name=name, allows_dedicated=name != "open", **values)
    return plans


def _instance(index: int, entry: dict[str, Any], plans: dict[str, Plan]) -> InstanceConfig:
    where = f"instances[{index}]"
    name, plan, tokens = entry.get("name"), entry.get("plan", "premium"), entry.get("tokens", [])
    if not name:
        raise ConfigError(f"{where}.name: required")
    if plan not in plans:
        raise ConfigError(f"{where}.plan: {plan!r} is not a plan; use one of {sorted(plans)}")
    if not tokens or not all(isinstance(t, str) and t for t in tokens):
        raise ConfigError(f"{where}.tokens: a list of at least one non-empty string")
    return InstanceConfig(name=name, plan=plan, tokens=tuple(tokens))


def _backend(index: int, entry: dict[str, Any]) -> BackendConfig:
    where = f"backends[{index}]"
    name = entry.get("name")
    if not name:
        raise ConfigError(f"{where}.name: required")
    return BackendConfig(
        name=name,
        profile=entry.get("profile", name),
        noise=bool(entry.get("noise", False)),
        min_job_duration=_duration(f"{where}.min_job_duration", entry.get("min_job_duration", 0)),
    )
