"""The ``kortyx-langgraph`` command: ``demo``, ``pending``, ``inspect``, ``doctor``, ``settings``.

Every command works on the backend the environment selects (see ``settings``); each one is
a module of this package. Exit status: 0 success, 1 a failure the user must fix, 2 a usage
error. No output ever shows a password: URLs are printed redacted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from kortyx_langgraph._version import __version__
from kortyx_langgraph.cli import demo, doctor, inspect, pending
from kortyx_langgraph.cli.common import EPILOG, EXIT_FAILURE, EXIT_OK, wrap
from kortyx_langgraph.cli.demo import build_demo_graph, run_demo
from kortyx_langgraph.env import resolve_framework_settings
from kortyx_langgraph.errors import KortyxError


def _settings(out: TextIO) -> int:
    print(resolve_framework_settings().describe(), file=out)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="kortyx-langgraph",
        description=wrap("Runtime persistence for LangGraph runs that pause for a human."),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.add_parser(commands)
    pending.add_parser(commands)
    inspect.add_parser(commands)
    doctor.add_parser(commands)
    settings = commands.add_parser(
        "settings",
        help="show which backend and TTL the environment selects",
        description=wrap(
            "Show which backend and TTL the environment selects, and why, "
            "without connecting to anything."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    settings.set_defaults(handler=lambda args, out, err: _settings(out))
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Entry point of the ``kortyx-langgraph`` command; returns the exit status."""
    stdout = sys.stdout if out is None else out
    stderr = sys.stderr if err is None else err
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args, stdout, stderr)
        stdout.flush()
    except KortyxError as exc:
        print(f"error: {exc}", file=stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        # the reader went away (`... | head -1`): stop quietly, and keep Python from
        # failing again when it flushes standard output at exit
        if stdout is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    return status


__all__ = ["build_demo_graph", "build_parser", "main", "run_demo"]
