"""The `qsession` command: run the server, or look at an instance's work from a terminal.

* ``qsession serve [--config FILE] [--check-config] [--dashboard HOST:PORT] [--ibm-api
  HOST:PORT]``: the server;
* ``qsession ibm-env --url http://HOST:PORT --token TOKEN [--crn CRN]``: the environment
  variables that point IBM's own client (qiskit-ibm-runtime) at a server's IBM REST API;
* ``qsession jobs``, ``qsession sessions``, ``qsession job ID``, ``qsession watch`` and
  ``qsession cancel ID``: an instance's jobs and sessions through the SDK, with its account
  lookup (``--url``/``--token``/``--account``, else ``$QSESSION_URL``/``$QSESSION_TOKEN``,
  the default saved account, the dev account); tables for a terminal, ``--json`` for scripts
  (``--json``: one JSON document; for ``watch``, one JSON object per line).

A configuration error (from ``--check-config``, or met while starting to serve) is printed as
one line on stderr, ``qsession: config error: <message>``, and the exit code is 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

CONFIG_ERROR_EXIT = 2
"""The exit code of a configuration error, as for a command-line usage error."""


class _JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = argparse.ArgumentParser(prog="qsession", description="A self-hosted Qiskit Runtime.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--config", help="TOML configuration file (default: embedded defaults)")
    serve.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration and exit (0: usable, 2: the error) without serving",
    )
    serve.add_argument("--log-level", default="INFO")
    serve.add_argument(
        "--dashboard",
        metavar="HOST:PORT",
        help='serve the Workloads page and /metrics there ("" turns it off); overrides '
        "[dashboard] listen",
    )
    serve.add_argument(
        "--ibm-api",
        metavar="HOST:PORT",
        help='serve IBM Quantum\'s REST API there ("" turns it off); overrides [ibm_api] listen',
    )
    ibm_env = commands.add_parser(
        "ibm-env", help="print the exports that point qiskit-ibm-runtime at qsession"
    )
    ibm_env.add_argument("--url", required=True, help="the IBM API's address, http://HOST:PORT")
    ibm_env.add_argument("--token", required=True, help="an instance token (the API key)")
    ibm_env.add_argument("--instance", default="", help="the instance's name (for its CRN)")
    ibm_env.add_argument("--crn", default="", help="the instance's configured crn, if any")
    ibm_env.set_defaults(run=_ibm_env)
    _add_client_commands(commands)
    args = parser.parse_args(argv)
    if args.command != "serve":
        return args.run(args)

    from qsession.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _config_error(exc)
    for flag, value, key in (
        ("--dashboard", args.dashboard, "dashboard_listen"),
        ("--ibm-api", args.ibm_api, "ibm_api_listen"),
    ):
        if value is not None:  # the flag overrides the file's listen address
            from dataclasses import replace

            from qsession.config import optional_address

            try:
                config = replace(config, **{key: optional_address(flag, value)})
            except ConfigError as exc:
                return _config_error(exc)
    if args.check_config:
        # With no [[instances]], serve creates the one local instance: count what it serves.
        instances = len(config.instances) or 1
        print(f"config OK: {instances} instances, {len(config.backends)} backends")
        return 0

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    logging.getLogger("qiskit").setLevel(logging.WARNING)  # its pass timings are INFO noise

    from qsession.server.app import StartupError
    from qsession.server.app import serve as run

    try:
        asyncio.run(run(config))
    except ConfigError as exc:  # e.g. the data directory needs a backend the config dropped
        return _config_error(exc)
    except StartupError as exc:  # a port in use, an unusable data directory, a bad TLS file
        print(f"qsession: cannot start: {exc}", file=sys.stderr)
        return CONFIG_ERROR_EXIT
    return 0


def _ibm_env(args) -> int:
    """The five exports of qiskit-ibm-runtime's self-hosted recipe (see the README)."""
    import shlex

    from qsession.config import crn_of

    base = args.url.rstrip("/")
    crn = args.crn or crn_of(args.instance or "local")
    for name, value in (
        ("QISKIT_IBM_URL", f"{base}/experimental/api/v1"),
        ("IAM_URL", base),
        ("QISKIT_IBM_TOKEN", args.token),
        ("QISKIT_IBM_INSTANCE", crn),
        ("QISKIT_FUNCTIONS_EXPERIMENTAL", "1"),
    ):
        print(f"export {name}={shlex.quote(value)}")
    return 0


# ----------------------------------------------------------------- the client commands


def _add_client_commands(commands) -> None:
    """jobs, sessions, job, watch and cancel: each runs through the SDK's account lookup."""
    account = argparse.ArgumentParser(add_help=False)
    group = account.add_argument_group("account (default: the SDK's lookup)")
    group.add_argument("--url", help="server address host:port (else $QSESSION_URL, ...)")
    group.add_argument("--token", help="instance token (else $QSESSION_TOKEN, ...)")
    group.add_argument("--account", help="a saved account's name")
    account.add_argument("--json", action="store_true", help="print JSON for scripts")

    jobs = commands.add_parser("jobs", parents=[account], help="list the instance's jobs")
    jobs.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    jobs.add_argument("--backend", help="only jobs on this backend")
    jobs.add_argument("--session", help="only jobs of this session or batch")
    jobs.add_argument("--tag", action="append", default=[], help="only jobs with this tag")
    pending = jobs.add_mutually_exclusive_group()
    pending.add_argument("--pending", action="store_true", help="only QUEUED and RUNNING jobs")
    pending.add_argument("--finished", action="store_true", help="only finished jobs")
    jobs.set_defaults(run=_jobs)

    sessions = commands.add_parser(
        "sessions", parents=[account], help="list the instance's sessions and batches"
    )
    sessions.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    sessions.add_argument("--backend", help="only sessions on this backend")
    sessions.set_defaults(run=_sessions)

    job = commands.add_parser("job", parents=[account], help="one job: details, metrics, logs")
    job.add_argument("id")
    job.set_defaults(run=_job)

    watch = commands.add_parser(
        "watch", parents=[account], help="follow job changes live, with running jobs' progress"
    )
    watch.add_argument("--session", help="only jobs of this session or batch")
    watch.add_argument("--tag", action="append", default=[], help="only jobs with this tag")
    watch.add_argument("--max-events", type=int, help="stop after this many events")
    watch.add_argument("--timeout", type=float, help="stop after this many seconds")
    watch.set_defaults(run=_watch)

    cancel = commands.add_parser("cancel", parents=[account], help="cancel a job")
    cancel.add_argument("id")
    cancel.set_defaults(run=_cancel)


def _client_command(run):
    """Run ``run(service, args)``; an SDK error is one line on stderr and exit code 1."""

    def command(args: argparse.Namespace) -> int:
        from qsession.client.errors import QSessionError
        from qsession.client.service import RuntimeService

        try:
            service = RuntimeService(url=args.url, token=args.token, name=args.account)
            try:
                return run(service, args) or 0
            finally:
                service.close()
        except QSessionError as exc:
            print(f"qsession: error: {_shown(' '.join(str(exc).splitlines()))}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130

    return command


def _job_dict(message) -> dict:
    """A Job message as the commands print it (times: ISO 8601 UTC, or None)."""
    from qsession.client.times import iso
    from qsession.wire.states import JOB_STATUSES, PROGRAM_NAMES

    return {
        "id": message.id,
        "status": JOB_STATUSES[message.state].value,
        "program": PROGRAM_NAMES[message.program].value,
        "backend": message.backend,
        "session_id": message.session_id or None,
        "created": iso(message.create_time),
        "started": iso(message.start_time),
        "finished": iso(message.end_time),
        "usage_seconds": message.usage_seconds,
        "estimated_usage_seconds": message.estimated_usage_seconds,
        "simulation_seconds": message.simulation_seconds,
        "waiting_reason": message.waiting_reason or None,
        "tags": list(message.tags),
        "error": message.error_message or None,
    }


def _session_dict(message) -> dict:
    from qsession.client.times import iso
    from qsession.wire.states import MODE_NAMES, SESSION_STATE_NAMES

    return {
        "id": message.id,
        "mode": MODE_NAMES[message.mode].value,
        "backend": message.backend,
        "state": SESSION_STATE_NAMES[message.state].value,
        "accepting_jobs": message.accepting_jobs,
        "pending_jobs": message.pending_jobs,
        "created": iso(message.create_time),
        "closed": iso(message.close_time),
        "usage_seconds": message.usage_seconds,
        "close_reason": message.close_reason or None,
    }


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Rows as an aligned text table with the given (key, heading) columns."""
    cells = [[heading for _, heading in columns]]
    for row in rows:
        cells.append(["-" if row[key] in (None, "", []) else _cell(row[key]) for key, _ in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}s"
    if isinstance(value, list):
        return _shown(",".join(value))
    if isinstance(value, str) and value.endswith("Z") and "T" in value:
        return value.replace("T", " ")[:19]  # an ISO time, to the second
    return _shown(str(value))


# Control characters (C0, DEL, C1) as escapes: a tag, an error message or a log line a user
# wrote is shown, never run by the terminal (an escape sequence could rewrite the screen).
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def _shown(text: str) -> str:
    """``text`` safe to print on a terminal: its control characters escaped."""
    return text.translate(_CONTROLS)


@_client_command
def _jobs(service, args) -> int:
    from qsession.v1 import job_pb2

    states = []
    if args.pending:
        states = [job_pb2.Job.STATE_QUEUED, job_pb2.Job.STATE_RUNNING]
    elif args.finished:
        states = [job_pb2.Job.STATE_DONE, job_pb2.Job.STATE_ERROR, job_pb2.Job.STATE_CANCELLED]
    request = job_pb2.ListJobsRequest(
        backend=args.backend or "",
        session_id=args.session or "",
        tags=args.tag,
        states=states,
        page_size=max(1, min(args.limit, 1000)),
    )
    connection = service._connection
    rows = [_job_dict(m) for m in connection.call(connection.jobs.ListJobs, request).jobs]
    rows = rows[: args.limit]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = [("id", "ID"), ("status", "STATUS"), ("program", "PROGRAM"), ("backend", "BACKEND")]
    columns += [("session_id", "SESSION"), ("created", "CREATED"), ("usage_seconds", "USAGE")]
    print(_table(rows, [*columns, ("tags", "TAGS")]) if rows else "no jobs")
    return 0


@_client_command
def _sessions(service, args) -> int:
    from qsession.v1 import session_pb2

    connection = service._connection
    request = session_pb2.ListSessionsRequest(
        backend=args.backend or "", page_size=max(1, min(args.limit, 1000))
    )
    response = connection.call(connection.sessions.ListSessions, request)
    rows = [_session_dict(m) for m in response.sessions][: args.limit]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = [("id", "ID"), ("mode", "MODE"), ("backend", "BACKEND"), ("state", "STATE")]
    columns += [("pending_jobs", "PENDING"), ("created", "CREATED"), ("closed", "CLOSED")]
    print(_table(rows, [*columns, ("usage_seconds", "USAGE")]) if rows else "no sessions")
    return 0


@_client_command
def _job(service, args) -> int:
    from qsession.client.times import iso

    job = service.job(args.id)
    message = job._refresh()
    shown = _job_dict(message) | {
        "metrics": job.metrics(),
        "options": _options(message),
        "logs": job.logs().splitlines(),
        "last_update": iso(message.end_time) or iso(message.start_time),
    }
    if args.json:
        print(json.dumps(shown, indent=2))
        return 0
    for key in ("id", "status", "program", "backend", "session_id", "created", "started"):
        print(f"{key:>14}: {_shown(shown[key] or '-')}")
    print(f"{'finished':>14}: {shown['finished'] or '-'}")
    print(
        f"{'usage':>14}: {shown['usage_seconds']:.3f} s of QPU time (modelled; estimated "
        f"{shown['estimated_usage_seconds']:.3f} s), {shown['simulation_seconds']:.3f} s "
        "simulated"
    )
    if shown["waiting_reason"]:
        print(f"{'waiting':>14}: {_shown(shown['waiting_reason'])}")
    print(f"{'tags':>14}: {_shown(', '.join(shown['tags'])) or '-'}")
    if shown["error"]:
        print(f"{'error':>14}: {_shown(shown['error'])}")
    print("\nlogs:")
    for line in shown["logs"]:
        print(f"  {_shown(line)}")
    return 0


def _options(message) -> dict:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(message.options, preserving_proto_field_name=True)


@_client_command
def _cancel(service, args) -> int:
    job = service.job(args.id)
    job.cancel()
    status = job.status()
    if args.json:
        print(json.dumps({"id": args.id, "status": status}))
    else:
        print(f"job {args.id}: cancel requested, now {status}")
    return 0


@_client_command
def _watch(service, args) -> int:
    """Print each job change as it happens; on a terminal, a status line below them shows
    the running jobs and how long each has run, refreshed while waiting for events."""
    import queue
    import threading

    events: queue.Queue = queue.Queue()
    watch = service.watch_jobs(session_id=args.session, tags=args.tag or None)

    def follow() -> None:
        try:
            for event in watch:
                events.put(event)
        except Exception as exc:  # noqa: BLE001 - handed to the main thread to report
            events.put(exc)

    threading.Thread(target=follow, name="qsession-watch", daemon=True).start()
    interactive = sys.stdout.isatty() and not args.json
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    running: dict[str, float] = {}  # job id -> when it was seen starting (monotonic)
    progress: dict[str, tuple[float, float | None]] = {}  # job id -> (fraction, remaining)
    seen = 0
    spinner = "|/-\\"
    try:
        while args.max_events is None or seen < args.max_events:
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                event = events.get(timeout=0.25)
            except queue.Empty:
                if interactive:
                    _progress_line(running, progress, spinner[int(time.monotonic() * 4) % 4])
                continue
            if isinstance(event, Exception):
                raise event
            seen += 1
            if event.status == "RUNNING":
                running.setdefault(event.job_id, time.monotonic())
                progress[event.job_id] = (event.progress, event.remaining_seconds)
            else:
                running.pop(event.job_id, None)
                progress.pop(event.job_id, None)
            if args.json:
                print(json.dumps(_event_dict(event)), flush=True)
            else:
                if interactive:
                    print("\r\033[K", end="")
                stamp = event.timestamp.strftime("%H:%M:%S.%f")[:-3]
                where = f"session {event.session_id}" if event.session_id else "job mode"
                done = _progress_text(event.progress, event.remaining_seconds)
                if event.status != "RUNNING" or not event.progress:
                    done = ""
                print(f"{stamp}  {event.status:<9}  {event.job_id}  ({where}){done}", flush=True)
    finally:
        watch.close()
        if interactive:
            print("\r\033[K", end="", flush=True)
    return 0


def _event_dict(event) -> dict:
    return {
        "revision": event.revision,
        "job_id": event.job_id,
        "session_id": event.session_id,
        "status": event.status,
        "timestamp": event.timestamp.isoformat().replace("+00:00", "Z"),
        "tags": list(event.tags),
        "progress": event.progress,
        "remaining_seconds": event.remaining_seconds,
    }


def _progress_text(fraction: float, remaining: float | None) -> str:
    """A running job's progress as the watch prints it: "  42%, ~3.1 s left"."""
    left = "" if remaining is None else f", ~{remaining:.1f} s left"
    return f"  {fraction:.0%}{left}"


def _progress_line(
    running: dict[str, float], progress: dict[str, tuple[float, float | None]], spin: str
) -> None:
    """Rewrite the terminal's last line: the running jobs, their elapsed time and progress."""
    now = time.monotonic()
    if running:
        jobs = ", ".join(
            f"{job_id[:8]} {now - since:5.1f}s"
            + (_progress_text(*progress[job_id]) if progress.get(job_id, (0,))[0] else "")
            for job_id, since in running.items()
        )
        text = f"{spin} running: {jobs}"
    else:
        text = f"{spin} waiting for job changes (Ctrl-C to stop)"
    print(f"\r\033[K{text[:150]}", end="", flush=True)


def _config_error(error: Exception) -> int:
    """Print ``error`` as one line on stderr (no traceback, no usage) and return exit code 2."""
    message = " ".join(str(error).splitlines())
    print(f"qsession: config error: {message}", file=sys.stderr)
    return CONFIG_ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
