"""The server's configuration schema: mistakes that used to pass silently are now one-line
errors naming the key, and `qsession serve --check-config` reports them with exit code 2."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from qsession import config as config_module
from qsession.config import (
    DEFAULT_BACKENDS,
    BackendConfig,
    ConfigError,
    Limits,
    Retention,
    load_config,
    parse_config,
)

BACKEND = {"name": "ideal_24", "profile": "ideal_24"}
SECRET = "tok-very-secret"


def config_error(raw: dict[str, Any]) -> str:
    """The message parse_config refuses ``raw`` with."""
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    return str(refused.value)


# --- The mistakes of issue 12, one test each. ---


def test_noise_written_as_the_string_false_is_refused_not_noisy() -> None:
    message = config_error({"backends": [{**BACKEND, "noise": "false"}]})
    assert message == "backends[0].noise: must be true or false, got 'false'"


def test_misspelled_backend_key_noize_names_the_path_and_suggests_noise() -> None:
    message = config_error({"backends": [BACKEND, {**BACKEND, "name": "b", "noize": True}]})
    assert message == "backends[1].noize: unknown key; did you mean 'noise'?"


def test_misspelled_server_key_shutdown_grase_suggests_shutdown_grace() -> None:
    message = config_error({"server": {"shutdown_grase": "1s"}})
    assert message == "server.shutdown_grase: unknown key; did you mean 'shutdown_grace'?"


def test_misspelled_server_key_watch_bufer_suggests_watch_buffer() -> None:
    message = config_error({"server": {"watch_bufer": 10}})
    assert message == "server.watch_bufer: unknown key; did you mean 'watch_buffer'?"


def test_unknown_section_limitz_suggests_limits() -> None:
    message = config_error({"limitz": {"max_pubs_per_job": 2}})
    assert message == "limitz: unknown section; did you mean 'limits'?"


def test_misspelled_backend_key_profil_suggests_profile() -> None:
    message = config_error({"backends": [{"name": "ideal_24", "profil": "ideal_24"}]})
    assert message == "backends[0].profil: unknown key; did you mean 'profile'?"


def test_plans_table_for_a_misspelled_plan_is_refused_not_a_new_plan() -> None:
    message = config_error({"plans": {"premum": {"max_ttl": "1h"}}})
    assert message == "plans.premum: unknown plan; did you mean 'premium'?"


def test_same_token_in_two_instances_names_both_and_never_prints_the_token() -> None:
    message = config_error(
        {
            "instances": [
                {"name": "lab", "tokens": ["tok-a", SECRET]},
                {"name": "student", "plan": "open", "tokens": [SECRET]},
            ]
        }
    )
    assert message.startswith("instances[1].tokens[0]: instance 'student' repeats the token of ")
    assert "instances[0].tokens[1] (instance 'lab')" in message
    assert SECRET not in message


def test_same_token_twice_in_one_instance_is_refused_without_printing_it() -> None:
    message = config_error({"instances": [{"name": "lab", "tokens": [SECRET, SECRET]}]})
    assert message.startswith("instances[0].tokens[1]: instance 'lab' repeats the token of ")
    assert "instances[0].tokens[0]" in message
    assert SECRET not in message


def test_duplicate_instance_name_is_refused() -> None:
    message = config_error(
        {"instances": [{"name": "lab", "tokens": ["a"]}, {"name": "lab", "tokens": ["b"]}]}
    )
    assert message == (
        "instances[1].name: instance 'lab' is already defined by instances[0]; "
        "instance names must be unique"
    )


def test_unknown_profile_lists_the_known_profiles_and_the_nearest() -> None:
    message = config_error({"backends": [{"name": "torino", "profile": "fake_torin"}]})
    assert message == (
        "backends[0].profile: unknown device profile 'fake_torin' "
        "(known profiles: fake_torino, fake_fez, fake_brisbane, ideal_24); "
        "did you mean 'fake_torino'?"
    )


# --- Other rules of the schema. ---


def test_duplicate_backend_name_is_refused() -> None:
    message = config_error({"backends": [BACKEND, {**BACKEND, "noise": True}]})
    assert message.startswith("backends[1].name: backend 'ideal_24' is already defined by ")


def test_backend_without_profile_uses_its_name_which_must_be_a_profile() -> None:
    assert parse_config({"backends": [{"name": "ideal_24"}]}).backends[0].profile == "ideal_24"
    message = config_error({"backends": [{"name": "slow"}]})
    assert message.startswith("backends[0].profile: required, as the backend's name 'slow'")
    assert "fake_torino, fake_fez, fake_brisbane, ideal_24" in message


def test_unknown_key_without_a_near_spelling_lists_the_known_ones() -> None:
    message = config_error({"plans": {"gold": {}}})
    assert message == "plans.gold: unknown plan; use one of 'open', 'premium'"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"limits": {"max_pubs_per_job": True}},
            "limits.max_pubs_per_job: must be a positive integer, got True",
        ),
        (
            {"server": {"watch_buffer": 10.0}},
            "server.watch_buffer: must be a positive integer, got 10.0",
        ),
        (
            {"execution": {"max_attempts": 0}},
            "execution.max_attempts: must be a positive integer, got 0",
        ),
        ({"server": {"listen": 50051}}, "server.listen: must be a string, got 50051"),
        ({"server": []}, "server: must be a table, got an array"),
        (
            {"backends": {"name": "ideal_24"}},
            "backends: must be an array of tables ([[backends]]), got a table",
        ),
        (
            {"retention": {"finished_jobs": False}},
            'retention.finished_jobs: must be a positive number of jobs or a duration such as "30d"'
            ", got False",
        ),
        (
            {"server": {"durability": "dsk"}},
            "server.durability: must be one of 'disk', 'process', got 'dsk'; did you mean 'disk'?",
        ),
        ({"instances": [{"tokens": ["t"]}]}, "instances[0].name: required"),
    ],
)
def test_wrong_types_are_refused_naming_the_key(raw: dict[str, Any], message: str) -> None:
    assert config_error(raw) == message


def test_tokens_of_the_wrong_type_are_refused_without_printing_them() -> None:
    message = config_error({"instances": [{"name": "lab", "tokens": SECRET}]})
    assert message == "instances[0].tokens: must be a list of at least one token, got a string"


def test_durations_keep_the_rules_of_parse_config_duration() -> None:
    config = parse_config({"sessions": {"idle_timeout": "2h 30m"}, "server": {"shutdown_grace": 3}})
    assert (config.idle_timeout, config.shutdown_grace) == (9000.0, 3.0)
    assert config_error({"sessions": {"idle_timeout": "5 min"}}).startswith(
        "sessions.idle_timeout: not a duration: '5 min'"
    )
    assert config_error({"plans": {"open": {"max_ttl": True}}}).startswith(
        "plans.open.max_ttl: not a duration: True"
    )


def test_max_shots_per_pub_stays_at_most_what_the_executor_runs() -> None:
    assert config_error({"limits": {"max_shots_per_pub": 10_000_001}}) == (
        "limits.max_shots_per_pub: at most 10000000 (what the executor runs), got 10000001"
    )


def test_an_empty_file_gives_the_documented_defaults() -> None:
    config = parse_config({})
    assert config.listen == "127.0.0.1:50051"
    assert config.data_dir == Path(".qsession")
    assert (config.tls_cert, config.tls_key) == (None, None)
    assert config.uses_default_instance
    assert config.backends == DEFAULT_BACKENDS
    assert config.limits == Limits()
    assert config.retention == Retention(keep_newest=100_000)
    assert (config.shutdown_grace, config.watch_buffer, config.durability) == (10.0, 1000, "disk")
    assert (config.idle_timeout, config.max_attempts) == (1800.0, 3)
    assert (config.engine, config.ray_address) == ("local", "auto")
    premium, open_plan = config.plans["premium"], config.plans["open"]
    assert (premium.interactive_ttl, premium.max_ttl, premium.min_max_ttl) == (60.0, 28800.0, 300.0)
    assert premium.allows_dedicated and not open_plan.allows_dedicated
    assert set(config.plans) == {"premium", "open"}


def test_ray_keys_are_read_and_checked() -> None:
    config = parse_config(
        {
            "execution": {"engine": "ray", "ray_address": "ray://head:10001"},
            "backends": [{**BACKEND, "ray_resources": {"CPU": 1, "GPU": 0.5}}],
        }
    )
    assert (config.engine, config.ray_address) == ("ray", "ray://head:10001")
    assert config.backends[0] == BackendConfig(
        name="ideal_24", profile="ideal_24", ray_resources={"CPU": 1.0, "GPU": 0.5}
    )
    assert config_error({"execution": {"engine": "rey"}}) == (
        "execution.engine: must be one of 'local', 'ray', got 'rey'; did you mean 'ray'?"
    )
    for amount in (0, -1, True, "1"):
        message = config_error({"backends": [{**BACKEND, "ray_resources": {"GPU": amount}}]})
        assert (
            message == f"backends[0].ray_resources.GPU: must be a positive number, got {amount!r}"
        )


def test_every_documented_key_is_accepted_and_every_key_is_documented() -> None:
    """The module docstring's example is a valid file naming exactly the schema's keys."""
    doc = config_module.__doc__ or ""
    example = textwrap.dedent(doc.split("::\n", 1)[1].split("\nThe whole file", 1)[0])
    documented = tomllib.loads(example)
    parse_config(documented)
    schema = {
        "server": config_module.SERVER_KEYS,
        "instances": config_module.INSTANCE_KEYS,
        "sessions": config_module.SESSION_KEYS,
        "scheduler": config_module.SCHEDULER_KEYS,
        "backends": config_module.BACKEND_KEYS,
        "execution": config_module.EXECUTION_KEYS,
        "retention": config_module.RETENTION_KEYS,
        "limits": config_module.LIMIT_KEYS,
        "dashboard": config_module.DASHBOARD_KEYS,
        "ibm_api": config_module.IBM_API_KEYS,
    }
    assert set(documented) == {*schema, "plans"}
    for section, keys in schema.items():
        table = documented[section]
        assert set(table[0] if isinstance(table, list) else table) == set(keys), section
    assert set(documented["plans"]["premium"]) == set(config_module.DEFAULT_PLANS["premium"])


def test_load_config_reads_toml_and_reports_syntax_errors(tmp_path: Path) -> None:
    path = tmp_path / "qsession.toml"
    path.write_text('[[backends]]\nname = "noisy"\nprofile = "fake_torino"\nnoise = true\n')
    assert load_config(path).backends == (
        BackendConfig(name="noisy", profile="fake_torino", noise=True),
    )
    path.write_text("[server\n")
    with pytest.raises(ConfigError, match=r"^cannot read config .*qsession\.toml: "):
        load_config(path)


# --- qsession serve --check-config, as an operator runs it. ---


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qsession.cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_config_of_a_valid_file_prints_one_line_and_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        textwrap.dedent(
            """\
            [[instances]]
            name = "lab"
            tokens = ["tok-lab"]

            [[instances]]
            name = "student"
            plan = "open"
            tokens = ["tok-student"]

            [[backends]]
            name = "ideal_24"
            """
        )
    )
    done = run_cli("--check-config", "--config", str(path))
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "config OK: 2 instances, 1 backends\n",
        "",
    )


def test_check_config_of_a_bad_file_prints_one_error_line_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[backends]]\nname = "ideal_24"\nnoize = true\n')
    done = run_cli("--check-config", "--config", str(path))
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "qsession: config error: backends[0].noize: unknown key; did you mean 'noise'?\n",
    )


@pytest.mark.parametrize("problem", ["syntax", "missing"])
def test_check_config_of_an_unreadable_file_exits_2_with_one_line(
    tmp_path: Path, problem: str
) -> None:
    path = tmp_path / "qsession.toml"
    if problem == "syntax":
        path.write_text('[server]\nlisten = "127.0.0.1:1\n')
    done = run_cli("--check-config", "--config", str(path))
    assert done.returncode == 2
    assert re.fullmatch(r"qsession: config error: cannot read config .*\n", done.stderr)


def test_serve_with_a_bad_file_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[backends]]\nname = "ideal_24"\nnoise = "false"\n')
    done = run_cli("--config", str(path))
    assert (done.returncode, done.stderr) == (
        2,
        "qsession: config error: backends[0].noise: must be true or false, got 'false'\n",
    )


def test_a_backend_profile_may_be_a_calibration_snapshot_directory(tmp_path):
    (tmp_path / "conf_mine.json").write_text("{}")
    (tmp_path / "props_mine.json").write_text("{}")
    config = parse_config({"backends": [{"name": "mine", "profile": str(tmp_path)}]})
    assert config.backends[0].profile == str(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"backends\[0\]\.profile: .*conf_<name>\.json"):
        parse_config({"backends": [{"name": "mine", "profile": str(empty)}]})


def test_allocations_limits_and_the_scheduler_are_checked() -> None:
    from qsession.lifecycle.fair_share import Allocation

    def instance(**keys: object) -> dict:
        return {"instances": [{"name": "lab", "tokens": ["t"], **keys}]}

    config = parse_config(instance(allocation=7))
    assert config.instances[0].allocation == Allocation(share=7.0)
    config = parse_config(instance(allocation="2h", limit=True))
    assert config.instances[0].allocation == Allocation(share=None, seconds=7200.0, limit=True)
    # The open plan keeps its meaning: 10 minutes a window, as a limit, unless configured.
    config = parse_config(instance(plan="open"))
    assert config.instances[0].allocation == Allocation(share=None, seconds=600.0, limit=True)
    config = parse_config(instance(plan="open", limit=False))
    assert config.instances[0].allocation.limit is False
    assert config_error(instance(allocation=0)) == (
        "instances[0].allocation: a weight must be a positive number, got 0"
    )
    assert "instances[0].allocation: must be a weight" in config_error(instance(allocation=True))
    assert config_error(instance(allocation="soon")).startswith("instances[0].allocation: ")
    assert config_error(instance(limit="yes")).startswith("instances[0].limit: ")
    assert parse_config({"scheduler": {"policy": "fifo", "window": "7d"}}).scheduler_window == (
        7 * 24 * 3600.0
    )
    assert config_error({"scheduler": {"policy": "fair"}}).startswith(
        "scheduler.policy: must be one of 'fair_share', 'fifo'"
    )
    assert config_error({"scheduler": {"window": "0s"}}) == (
        'scheduler.window: must be positive, e.g. "28d"'
    )


def test_a_backends_default_max_execution_time_is_checked_against_the_cap() -> None:
    backend = {"name": "ideal_24", "profile": "ideal_24"}
    config = parse_config({"backends": [{**backend, "max_execution_time": "30m"}]})
    assert config.backends[0].max_execution_time == 1800.0
    assert parse_config({"backends": [backend]}).backends[0].max_execution_time is None
    assert config_error({"backends": [{**backend, "max_execution_time": "4h"}]}) == (
        "backends[0].max_execution_time: must be more than 0 s and at most [limits] "
        "max_execution_time (10800 s), got 14400 s"
    )
