"""``kortyx-langgraph doctor``: check that a Redis server suits the adapter."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from kortyx_langgraph.cli.common import EPILOG, EXIT_FAILURE, EXIT_OK, wrap
from kortyx_langgraph.env import resolve_framework_settings


def add_parser(commands: Any) -> None:
    """Register ``doctor`` and its options."""
    parser = commands.add_parser(
        "doctor",
        help="check that the Redis server suits the adapter",
        description=wrap(
            "Check a Redis server: connection, version, mode, Lua, eviction policy, "
            "persistence. Exit status 1 when any check is an error."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="Redis URL (default: the one the environment selects)")
    parser.set_defaults(handler=lambda args, out, err: run_doctor(args.url, out))


def run_doctor(url: str | None, out: TextIO) -> int:
    """Print the doctor's findings; exit status 1 when any is an error."""
    from kortyx_langgraph.redis.doctor import diagnose

    if url is None:
        settings = resolve_framework_settings()
        if settings.redis_url is None:
            print(f"nothing to check: {settings.describe()}", file=out)
            return EXIT_OK
        url = settings.redis_url
    findings = diagnose(url)
    for finding in findings:
        print(finding, file=out)
    return EXIT_FAILURE if any(f.level == "error" for f in findings) else EXIT_OK
