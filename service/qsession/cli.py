"""The `qsession` command: `qsession serve [--config FILE] [--check-config]`.

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
    args = parser.parse_args(argv)

    from qsession.server.config import ConfigError, load_config

    try:
        config = load_config(args.config)
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

    from qsession.server.app import serve as run

    try:
        asyncio.run(run(config))
    except ConfigError as exc:  # e.g. the data directory needs a backend the config dropped
        return _config_error(exc)
    return 0


def _config_error(error: Exception) -> int:
    """Print ``error`` as one line on stderr (no traceback, no usage) and return exit code 2."""
    message = " ".join(str(error).splitlines())
    print(f"qsession: config error: {message}", file=sys.stderr)
    return CONFIG_ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
