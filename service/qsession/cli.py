"""The `qsession` command: `qsession serve [--config FILE]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time


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
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="qsession", description="A self-hosted Qiskit Runtime.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--config", help="TOML configuration file (default: embedded defaults)")
    serve.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    logging.getLogger("qiskit").setLevel(logging.WARNING)  # its pass timings are INFO noise

    from qsession.server.app import serve as run
    from qsession.server.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(run(config))
    except ConfigError as exc:  # e.g. the data directory needs a backend the config dropped
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
