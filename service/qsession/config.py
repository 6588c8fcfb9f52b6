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
    name = "lab"                    # required, unique
    plan = "premium"                # or "open" (no dedicated sessions)
    tokens = ["tok-lab"]            # required; a token belongs to one instance only
    crn = ""                        # its name on IBM's REST API ([ibm_api]); default
                                    # derived from the name (see crn_of)
    allocation = 1                  # its share of QPU time: a weight (1, 7, 0.5) or QPU
                                    # seconds per window ("2h"); "open" plan: "10m"
    limit = false                   # true: the allocation is a limit; reached, its jobs wait
                                    # until usage leaves the window ("open" plan: true)

    [plans.premium]                 # the plans are "premium" and "open"
    interactive_ttl = "60s"         # durations: "250ms", "0.3s", "2h 30m 40s" or seconds
    max_ttl = "8h"
    min_max_ttl = "300s"

    [sessions]
    idle_timeout = "30m"

    [scheduler]
    policy = "fair_share"           # a free QPU runs the job of the instance furthest below
                                    # its allocation (see lifecycle.fair_share); or "fifo"
    window = "28d"                  # the rolling window usage is counted over

    [[backends]]                    # default: fake_torino and ideal_24, noiseless
    name = "fake_torino"            # required, unique
    profile = "fake_torino"         # a built-in device profile (fake_torino, fake_fez,
                                    # fake_brisbane, ideal_24) or a directory holding an IBM
                                    # calibration snapshot (conf_*.json, props_*.json);
                                    # default: the backend's name
    noise = false                   # true: the profile's noise model
    min_job_duration = "0s"         # hold each job RUNNING at least this long
    max_execution_time = "3h"       # how long a job may run here: the default of the option
                                    # max_execution_time and its cap on this backend; default
                                    # and cap: [limits] max_execution_time (IBM's 3 h)
    ray_resources = {}              # engine "ray": resources a job of this backend holds,
                                    # name -> positive number, e.g. { CPU = 1, GPU = 0.5 }

    [execution]
    max_attempts = 3                # a job whose worker dies this often ends in ERROR
    engine = "local"                # where jobs run: "local" (worker processes) or "ray"
    ray_address = "auto"            # engine "ray": the cluster to join
    worker_heartbeat_timeout = "30s"  # engine "local": a running job's worker silent this
                                    # long is frozen; it is replaced and the job runs again

    [retention]
    finished_jobs = 100000          # keep each instance's newest N jobs; or "30d":
                                    # delete jobs that finished longer ago (with results);
                                    # closed sessions and batches follow the same rule

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
    max_watch_job_ids = 1000                     # job ids one WatchJobs may name
    watch_messages_per_second_per_instance = 2000  # what an instance's watch streams are
                                                 # sent, together; more wait their turn
    max_execution_time = 10800                   # seconds a job may run: the default of the
                                                 # option max_execution_time, and its cap
    max_noise_factors = 16                       # entries of each ZNE list option
    max_noise_factor = 20                        # the largest ZNE noise factor (circuit depth x)
    max_result_bytes = 536870912                 # one job's result (SQLite keeps < 1 GB a row)
    max_concurrent_admissions_per_instance = 2   # CreateJob calls parsed at once (at most
                                                 # the cores but one); more wait their
                                                 # turn, instances served in turn
    request_bytes_per_second_per_instance = 16777216  # request bytes an instance sends
                                                 # per second, on average, while others
                                                 # call; more wait unread
    max_open_sessions_per_instance = 1000        # sessions and batches not closed
    max_http_connections = 1024                  # the page's connections (of the process's
                                                 # open files; gRPC has the rest)
    auth_failures_per_minute = 60                # per peer address; more are refused at once

    [dashboard]
    listen = ""                     # "127.0.0.1:8080": serve the Workloads page and /metrics
                                    # (HTTP, sign-in with an instance token); "": off. `make
                                    # serve` turns it on (qsession serve --dashboard)
    secure_cookie = false           # true: the sign-in cookie is always Secure (behind a
                                    # TLS proxy that sends no X-Forwarded-Proto); else it
                                    # is when the request came over TLS or says it did

    [ibm_api]
    listen = ""                     # "127.0.0.1:8081": serve IBM Quantum's REST API, so that
                                    # IBM's own client (qiskit-ibm-runtime) runs unmodified
                                    # ("qsession ibm-env" prints its settings); "": off

The whole file is checked against one schema (``CONFIG_SCHEMA`` below) before the server
starts, so a mistake stops it instead of being silently ignored. Every error is one line that
names the key by its dotted path, e.g. ``backends[0].noize: unknown key; did you mean
'noise'?``: unknown sections, keys and plans (with the nearest valid spelling), values of the
wrong type (integers are never booleans; ``noise = "false"`` is not false), durations that
``parse_config_duration`` refuses, unknown device profiles, and duplicate instance names,
tokens (the error names where they are, never the token) and backend names.
``qsession serve --check-config`` runs these checks without serving.
"""

from __future__ import annotations

import datetime
import difflib
import math
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from qsession.execution.profiles import PROFILE_NAMES, is_snapshot_path
from qsession.execution.profiles.fake_torino import snapshot_files
from qsession.execution.validation import MAX_SHOTS
from qsession.lifecycle.durations import parse_config_duration
from qsession.lifecycle.fair_share import DEFAULT_WINDOW, POLICIES, Allocation
from qsession.lifecycle.model import Plan
from qsession.store.sqlite import MAX_BLOB_BYTES, SYNCHRONOUS
from qsession.workers.protocol import ENGINES

DEFAULT_LISTEN = "127.0.0.1:50051"
DEV_INSTANCE = "local"
"""The instance `serve` creates when none is configured (its token: ``dev_token``)."""
DEFAULT_PLANS = {
    "premium": {"interactive_ttl": 60.0, "max_ttl": 8 * 3600.0, "min_max_ttl": 300.0},
    "open": {"interactive_ttl": 60.0, "max_ttl": 8 * 3600.0, "min_max_ttl": 300.0},
}
"""The known plans (``[plans.X]``, ``instances[].plan``) and their defaults in seconds."""
OPEN_PLAN_ALLOCATION = Allocation(share=None, seconds=600.0, limit=True)
"""The "open" plan's default: 10 minutes of QPU time per window, as a limit (IBM's Open
Plan)."""


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class InstanceConfig:
    """A tenant: its name, plan and the tokens that authenticate as it."""

    name: str
    plan: str
    tokens: tuple[str, ...]
    crn: str = ""  # how IBM's REST API names it ([ibm_api]); default: crn_of(name)
    allocation: Allocation = Allocation()  # its share of QPU time, and whether it is a limit

    @property
    def service_crn(self) -> str:
        """The instance's CRN: the configured one, or one derived from its name."""
        return self.crn or crn_of(self.name)


def crn_of(instance: str) -> str:
    """The CRN an instance without a configured ``crn`` has on IBM's REST API (IBM's client
    requires an instance to start with ``crn:``)."""
    return f"crn:v1:qsession:local:quantum-computing:local:a/qsession:{instance}::"


@dataclass(frozen=True)
class BackendConfig:
    """An emulated QPU built from a device profile.

    Attributes:
        ray_resources: with the "ray" engine, the Ray resources (name -> amount) a job of
            this backend holds while it runs; empty: Ray's defaults.
        max_execution_time: seconds a job may run on this backend: the default of its
            ``max_execution_time`` option and the option's cap here, so that a job whose client
            died cannot hold the QPU for long; None: ``[limits] max_execution_time``.
    """

    name: str
    profile: str
    noise: bool = False
    min_job_duration: float = 0.0
    ray_resources: dict[str, float] = field(default_factory=dict)
    max_execution_time: float | None = None  # a job's default time limit; None: [limits]


@dataclass(frozen=True)
class Limits:
    """Per-request and per-instance limits (see the module docstring).

    Every field is a ``[limits]`` key taking a positive integer, with the field's default.
    """

    max_request_bytes: int = 64 * 1024 * 1024
    max_pubs_per_job: int = 1000
    max_shots_per_pub: int = 10_000_000
    max_samples_per_job: int = 100_000_000
    max_clbits_per_circuit: int = 65_536
    max_queued_jobs_per_instance: int = 1000
    circuit_parse_memory_bytes: int = 1024 * 1024 * 1024
    max_concurrent_requests_per_instance: int = 256
    max_streams_per_instance: int = 2000
    max_watch_job_ids: int = 1000
    watch_messages_per_second_per_instance: int = 2000
    max_execution_time: int = 10_800
    max_noise_factors: int = 16
    max_noise_factor: int = 20
    max_result_bytes: int = 512 * 1024 * 1024
    max_concurrent_admissions_per_instance: int = 2
    request_bytes_per_second_per_instance: int = 16 * 1024 * 1024
    max_http_connections: int = 1024
    max_open_sessions_per_instance: int = 1000
    auth_failures_per_minute: int = 60


@dataclass(frozen=True)
class Retention:
    """Which finished jobs (records, requests and results) are kept; older ones are deleted.

    Attributes:
        keep_newest: keep at most this many jobs of each instance (unfinished ones are
            always kept).
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
    engine: str = "local"
    ray_address: str = "auto"
    worker_heartbeat_timeout: float = 30.0
    dashboard_listen: str = ""
    dashboard_secure_cookie: bool = False
    ibm_api_listen: str = ""
    scheduler_policy: str = "fair_share"
    scheduler_window: float = DEFAULT_WINDOW

    @property
    def uses_default_instance(self) -> bool:
        """True when no instance is configured, so `serve` creates the local dev account."""
        return not self.instances

    @property
    def instance_names(self) -> tuple[str, ...]:
        """The names of the instances the server serves (the dev instance when none is
        configured)."""
        return tuple(i.name for i in self.instances) or (DEV_INSTANCE,)


DEFAULT_BACKENDS = (
    BackendConfig(name="fake_torino", profile="fake_torino"),
    BackendConfig(name="ideal_24", profile="ideal_24"),
)


def load_config(path: str | Path | None = None) -> Config:
    """The configuration in ``path`` (TOML) over the embedded defaults; ``None``: defaults only.

    Raises:
        ConfigError: the file cannot be read or parsed, or breaks the schema (the message
            names the key).
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return parse_config(raw)


# --- Checks: each validates the value found at a dotted path and returns it converted. ---

Check = Callable[[str, Any], Any]
"""``check(path, value) -> converted value``; raises ConfigError naming ``path``."""


@dataclass(frozen=True)
class Key:
    """One key of a table: the check its value must pass, and what an absent key means.

    Attributes:
        check: validates and converts the value (see :data:`Check`).
        default: the value of an absent key, written as in the TOML file (it goes through
            ``check`` too, so ``"10s"`` becomes 10.0); None: an absent key reads as None.
        required: an absent key is an error.
    """

    check: Check
    default: Any = None
    required: bool = False


def table(keys: dict[str, Key], noun: str = "key") -> Check:
    """A check for a TOML table holding only ``keys``; it returns every key's value (checked,
    or its default when absent).

    Args:
        keys: the schema of each allowed key.
        noun: what an entry of the table is, for the unknown-entry error ("key", "section",
            "plan").
    """

    def check(path: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: must be a table, got {_kind(value)}")
        for name in value:
            if name not in keys:
                raise ConfigError(f"{_join(path, name)}: unknown {noun}{_suggestion(name, keys)}")
        checked = {}
        for name, key in keys.items():
            where = _join(path, name)
            if name in value:
                checked[name] = key.check(where, value[name])
            elif key.required:
                raise ConfigError(f"{where}: required")
            else:
                checked[name] = None if key.default is None else key.check(where, key.default)
        return checked

    return check


def array_of_tables(keys: dict[str, Key]) -> Check:
    """A check for ``[[name]]`` entries, each a table holding only ``keys``."""
    entry = table(keys)

    def check(path: str, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise ConfigError(
                f"{path}: must be an array of tables ([[{path}]]), got {_kind(value)}"
            )
        return [entry(f"{path}[{index}]", item) for index, item in enumerate(value)]

    return check


def positive_integer(at_most: int | None = None, why: str = "") -> Check:
    """A check for an integer >= 1 (and <= ``at_most``, explained by ``why``); not a boolean."""

    def check(path: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{path}: must be a positive integer, got {value!r}")
        if at_most is not None and value > at_most:
            raise ConfigError(f"{path}: at most {at_most}{why}, got {value}")
        return value

    return check


def one_of(choices: Iterable[str]) -> Check:
    """A check for one of the strings ``choices``."""
    allowed = tuple(choices)

    def check(path: str, value: Any) -> str:
        if value not in allowed or not isinstance(value, str):
            listed = ", ".join(repr(choice) for choice in allowed)
            hint = _suggestion(value, allowed) if isinstance(value, str) else ""
            raise ConfigError(f"{path}: must be one of {listed}, got {value!r}{hint}")
        return value

    return check


def boolean(path: str, value: Any) -> bool:
    """A check for ``true`` or ``false`` (not the strings "true"/"false", not 0 or 1)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: must be true or false, got {value!r}")
    return value


def string(path: str, value: Any) -> str:
    """A check for any string (possibly empty)."""
    if not isinstance(value, str):
        raise ConfigError(f"{path}: must be a string, got {value!r}")
    return value


def optional_address(path: str, value: Any) -> str:
    """A check for ``"host:port"`` (port 0 to 65535; 0: any free port) or ``""`` (off)."""
    address = string(path, value)
    host, _, port = address.rpartition(":")
    if address and not (host and port.isdigit() and int(port) <= 65535):
        raise ConfigError(
            f'{path}: must be "host:port" (e.g. "127.0.0.1:8080") or "" (off), got {value!r}'
        )
    return address


def crn(path: str, value: Any) -> str:
    """An IBM Cloud resource name (``crn:...``), or empty for the derived one."""
    text = string(path, value)
    if text and not text.startswith("crn:"):
        raise ConfigError(f"{path}: a CRN starts with 'crn:', got {text!r}")
    return text


def non_empty_string(path: str, value: Any) -> str:
    """A check for a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: must be a non-empty string, got {value!r}")
    return value


def duration(path: str, value: Any) -> float:
    """A check for a duration in seconds, by the rules of ``parse_config_duration``."""
    try:
        return parse_config_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def allocation(path: str, value: Any) -> float | str:
    """A check for an instance's allocation: a positive weight (a number), or QPU seconds per
    window (a duration string such as "2h"); returns the weight, or the duration as given."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{path}: a weight must be a positive number, got {value!r}")
        return float(value)
    if isinstance(value, str):
        if duration(path, value) <= 0:
            raise ConfigError(f"{path}: QPU seconds per window must be positive, got {value!r}")
        return value
    raise ConfigError(
        f"{path}: must be a weight (a positive number, e.g. 2) or QPU seconds per window (a "
        f'duration string, e.g. "2h"), got {_kind(value)} {value!r}'
    )


def device_profile(path: str, value: Any) -> str:
    """A check for the name of a built-in device profile, or the path of a calibration
    snapshot directory (one conf_*.json and one props_*.json); the error lists the known
    ones."""
    if isinstance(value, str) and is_snapshot_path(value):
        try:
            snapshot_files(Path(value))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return value
    if not isinstance(value, str) or value not in PROFILE_NAMES:
        hint = _suggestion(value, PROFILE_NAMES) if isinstance(value, str) else ""
        raise ConfigError(
            f"{path}: unknown device profile {value!r} "
            f"(known profiles: {', '.join(PROFILE_NAMES)}){hint}"
        )
    return value


def tokens(path: str, value: Any) -> tuple[str, ...]:
    """A check for a list of at least one non-empty string; errors never show a token."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{path}: must be a list of at least one token, got {_kind(value)}")
    for index, token in enumerate(value):
        if not isinstance(token, str) or not token:
            raise ConfigError(f"{path}[{index}]: a token must be a non-empty string")
    return tuple(value)


def resources(path: str, value: Any) -> dict[str, float]:
    """A check for a table of resource name -> positive number (integer or float)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: must be a table of resource name -> number, got {_kind(value)}")
    amounts = {}
    for resource, amount in value.items():
        positive_number = (
            isinstance(amount, int | float)
            and not isinstance(amount, bool)
            and math.isfinite(amount)
            and amount > 0
        )
        if not positive_number:
            raise ConfigError(f"{path}.{resource}: must be a positive number, got {amount!r}")
        amounts[resource] = float(amount)
    return amounts


def retention_rule(path: str, value: Any) -> Retention:
    """A check for ``finished_jobs``: a count of jobs (integer) or an age (duration text)."""
    if isinstance(value, str):
        return Retention(keep_newest=None, max_age=duration(path, value))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f'{path}: must be a positive number of jobs or a duration such as "30d", got {value!r}'
        )
    return Retention(keep_newest=value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _suggestion(word: str, known: Iterable[str]) -> str:
    """The end of an error about ``word``: the nearest known spelling as a question, or
    (when none is near) the list of known ones."""
    candidates = sorted(known)
    close = difflib.get_close_matches(word, candidates, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; use one of {', '.join(repr(candidate) for candidate in candidates)}"


def _kind(value: Any) -> str:
    """The TOML type of ``value``, for errors that should not echo it (a table, a token)."""
    kinds = [
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a float"),
        (str, "a string"),
        (list, "an array"),
        (dict, "a table"),
        (datetime.date | datetime.time, "a date or time"),
    ]
    return next((kind for type_, kind in kinds if isinstance(value, type_)), type(value).__name__)


# --- The schema of the whole file. To add a key: one line here, a field, the docstring. ---

SERVER_KEYS = {
    "listen": Key(string, default=DEFAULT_LISTEN),
    "data_dir": Key(string, default=".qsession"),
    "tls_cert": Key(string, default=""),
    "tls_key": Key(string, default=""),
    "shutdown_grace": Key(duration, default="10s"),
    "watch_buffer": Key(positive_integer(), default=1000),
    "durability": Key(one_of(SYNCHRONOUS), default="disk"),
}

INSTANCE_KEYS = {
    "name": Key(non_empty_string, required=True),
    "plan": Key(one_of(DEFAULT_PLANS), default="premium"),
    "tokens": Key(tokens, required=True),
    "crn": Key(crn, default=""),
    "allocation": Key(allocation),  # absent: the plan's default (see _allocation)
    "limit": Key(boolean),
}

PLAN_TABLES = {
    plan: Key(
        table({key: Key(duration, default=seconds) for key, seconds in defaults.items()}),
        default={},
    )
    for plan, defaults in DEFAULT_PLANS.items()
}

SESSION_KEYS = {
    "idle_timeout": Key(duration, default="30m"),
}

BACKEND_KEYS = {
    "name": Key(non_empty_string, required=True),
    "profile": Key(device_profile),  # absent: the backend's name (see _backends)
    "noise": Key(boolean, default=False),
    "min_job_duration": Key(duration, default=0),
    "ray_resources": Key(resources, default={}),
    "max_execution_time": Key(duration),  # absent: [limits] max_execution_time
}

EXECUTION_KEYS = {
    "max_attempts": Key(positive_integer(), default=3),
    "engine": Key(one_of(ENGINES), default="local"),
    "ray_address": Key(non_empty_string, default="auto"),
    "worker_heartbeat_timeout": Key(duration, default=30.0),
}

DASHBOARD_KEYS = {
    "listen": Key(optional_address, default=""),
    "secure_cookie": Key(boolean, default=False),
}

SCHEDULER_KEYS = {
    "policy": Key(one_of(POLICIES), default="fair_share"),
    "window": Key(duration, default="28d"),
}

IBM_API_KEYS = {
    "listen": Key(optional_address, default=""),
}

RETENTION_KEYS = {
    "finished_jobs": Key(retention_rule, default=Retention.keep_newest),
}

LIMIT_KEYS = {
    limit.name: Key(positive_integer(), default=limit.default) for limit in fields(Limits)
} | {
    "max_shots_per_pub": Key(
        positive_integer(at_most=MAX_SHOTS, why=" (what the executor runs)"),
        default=Limits.max_shots_per_pub,
    ),
    "max_result_bytes": Key(
        positive_integer(at_most=MAX_BLOB_BYTES, why=" (what one SQLite row holds)"),
        default=Limits.max_result_bytes,
    ),
}

CONFIG_SCHEMA = table(
    {
        "server": Key(table(SERVER_KEYS), default={}),
        "instances": Key(array_of_tables(INSTANCE_KEYS), default=[]),
        "plans": Key(table(PLAN_TABLES, noun="plan"), default={}),
        "sessions": Key(table(SESSION_KEYS), default={}),
        "scheduler": Key(table(SCHEDULER_KEYS), default={}),
        "backends": Key(array_of_tables(BACKEND_KEYS), default=[]),
        "execution": Key(table(EXECUTION_KEYS), default={}),
        "retention": Key(table(RETENTION_KEYS), default={}),
        "limits": Key(table(LIMIT_KEYS), default={}),
        "dashboard": Key(table(DASHBOARD_KEYS), default={}),
        "ibm_api": Key(table(IBM_API_KEYS), default={}),
    },
    noun="section",
)
"""The check of a whole parsed file: every section's keys, checked and with defaults."""


def parse_config(raw: dict[str, Any]) -> Config:
    """A Config from parsed TOML (see the module docstring for the keys).

    Raises:
        ConfigError: the first mistake found, naming its key.
    """
    values = CONFIG_SCHEMA("", raw)
    server, execution = values["server"], values["execution"]
    tls_cert, tls_key = server["tls_cert"], server["tls_key"]
    if bool(tls_cert) != bool(tls_key):
        raise ConfigError("server.tls_cert and server.tls_key must be set together")
    return Config(
        listen=server["listen"],
        data_dir=Path(server["data_dir"]),
        tls_cert=Path(tls_cert) if tls_cert else None,
        tls_key=Path(tls_key) if tls_key else None,
        instances=_instances(values["instances"]),
        plans={
            plan: Plan(name=plan, allows_dedicated=plan != "open", **ttls)
            for plan, ttls in values["plans"].items()
        },
        idle_timeout=values["sessions"]["idle_timeout"],
        backends=_backends(values["backends"], values["limits"]["max_execution_time"])
        or DEFAULT_BACKENDS,
        limits=Limits(**values["limits"]),
        shutdown_grace=server["shutdown_grace"],
        watch_buffer=server["watch_buffer"],
        durability=server["durability"],
        max_attempts=execution["max_attempts"],
        retention=values["retention"]["finished_jobs"],
        engine=execution["engine"],
        ray_address=execution["ray_address"],
        worker_heartbeat_timeout=execution["worker_heartbeat_timeout"],
        dashboard_listen=values["dashboard"]["listen"],
        dashboard_secure_cookie=values["dashboard"]["secure_cookie"],
        ibm_api_listen=values["ibm_api"]["listen"],
        scheduler_policy=values["scheduler"]["policy"],
        scheduler_window=_window(values["scheduler"]["window"]),
    )


def _window(seconds: float) -> float:
    if seconds <= 0:
        raise ConfigError('scheduler.window: must be positive, e.g. "28d"')
    return seconds


def _instances(entries: list[dict[str, Any]]) -> tuple[InstanceConfig, ...]:
    """The checked [[instances]] entries, refusing a name or a token used twice (a token
    names one instance, or authentication would depend on the order of the file)."""
    index_of_name: dict[str, int] = {}
    place_of_token: dict[str, tuple[str, int]] = {}  # where a token first appears
    for index, entry in enumerate(entries):
        where, instance = f"instances[{index}]", entry["name"]
        if instance in index_of_name:
            raise ConfigError(
                f"{where}.name: instance {instance!r} is already defined by "
                f"instances[{index_of_name[instance]}]; instance names must be unique"
            )
        index_of_name[instance] = index
        for position, token in enumerate(entry["tokens"]):
            place = f"{where}.tokens[{position}]"
            if token in place_of_token:
                first_place, first_index = place_of_token[token]
                owner = (
                    "" if first_index == index else f" (instance {entries[first_index]['name']!r})"
                )
                raise ConfigError(
                    f"{place}: instance {instance!r} repeats the token of "
                    f"{first_place}{owner}; a token may appear only once, in one instance"
                )
            place_of_token[token] = (place, index)
    return tuple(
        InstanceConfig(
            name=entry["name"],
            plan=entry["plan"],
            tokens=entry["tokens"],
            crn=entry["crn"],
            allocation=_allocation(entry),
        )
        for entry in entries
    )


def _allocation(entry: dict[str, Any]) -> Allocation:
    """An instance's allocation: as configured, else its plan's ("open": 10 minutes a window
    as a limit; "premium": a weight of 1, no limit)."""
    default = OPEN_PLAN_ALLOCATION if entry["plan"] == "open" else Allocation()
    value, limit = entry["allocation"], entry["limit"]
    if limit is None:
        limit = default.limit
    if value is None:
        return Allocation(share=default.share, seconds=default.seconds, limit=limit)
    if isinstance(value, str):
        return Allocation(share=None, seconds=parse_config_duration(value), limit=limit)
    return Allocation(share=value, limit=limit)


def _backends(entries: list[dict[str, Any]], time_cap: int) -> tuple[BackendConfig, ...]:
    """The checked [[backends]] entries, refusing a name used twice or a default
    ``max_execution_time`` over ``[limits] max_execution_time`` (``time_cap``); an absent
    profile is the backend's name, which must then be a device profile."""
    index_of_name: dict[str, int] = {}
    backends = []
    for index, entry in enumerate(entries):
        where, backend = f"backends[{index}]", entry["name"]
        if backend in index_of_name:
            raise ConfigError(
                f"{where}.name: backend {backend!r} is already defined by "
                f"backends[{index_of_name[backend]}]; backend names must be unique"
            )
        index_of_name[backend] = index
        profile = entry["profile"]
        if profile is None:
            if backend not in PROFILE_NAMES:
                raise ConfigError(
                    f"{where}.profile: required, as the backend's name {backend!r} is not a "
                    f"device profile (known profiles: {', '.join(PROFILE_NAMES)})"
                )
            profile = backend
        limit = entry["max_execution_time"]
        if limit is not None and not 0 < limit <= time_cap:
            raise ConfigError(
                f"{where}.max_execution_time: must be more than 0 s and at most [limits] "
                f"max_execution_time ({time_cap} s), got {limit:g} s"
            )
        backends.append(
            BackendConfig(
                name=backend,
                profile=profile,
                noise=entry["noise"],
                min_job_duration=entry["min_job_duration"],
                ray_resources=entry["ray_resources"],
                max_execution_time=limit,
            )
        )
    return tuple(backends)
