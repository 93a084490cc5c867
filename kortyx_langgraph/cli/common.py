"""What every command shares: exit statuses, the adapter the environment selects, notes."""

from __future__ import annotations

import argparse
import textwrap

from kortyx_langgraph.core.adapter import FrameworkAdapter
from kortyx_langgraph.env import REDIS_URL_VARIABLES, FrameworkSettings
from kortyx_langgraph.errors import ConfigurationError
from kortyx_langgraph.factory import create_framework_adapter_from_env
from kortyx_langgraph.redis.layout import DEFAULT_PREFIX, check_prefix

EXIT_OK = 0
"""The command did what was asked."""
EXIT_FAILURE = 1
"""A failure the user must fix: unknown or expired token, unreachable server, bad setting."""
EXIT_USAGE = 2
"""The arguments were wrong (argparse's own status)."""

EPILOG = (
    "exit status: 0 success; 1 a failure to fix (unknown, expired or claimed token,\n"
    "unreachable server, a bad setting); 2 a usage error (bad arguments).\n"
    "The backend comes from the environment: Redis when one of "
    f"{', '.join(REDIS_URL_VARIABLES[:2])},\n"
    f"{REDIS_URL_VARIABLES[2]} is set (the first one set wins), otherwise in-memory.\n"
    "Passwords are never printed."
)
"""Shown at the end of every ``--help``."""

IN_MEMORY_NOTE = (
    "the in-memory backend lives inside one process: this command sees only its own "
    "process's store, which starts empty, never the interrupts of another process. Set "
    f"{' or '.join(REDIS_URL_VARIABLES)} to a Redis URL to share them between processes."
)
"""Why a command on the in-memory backend cannot see another process's interrupts."""


def not_found(adapter: FrameworkAdapter) -> str:
    """Why a thread may not be found: gone, or kept under another key prefix."""
    prefix = getattr(adapter, "prefix", None)
    where = "" if prefix is None else f" under the key prefix {prefix!r}"
    return (
        f"never written{where}, deleted or expired; an app that uses another prefix needs --prefix"
    )


def positive_number(text: str) -> int:
    """An option's value as a whole number of at least 1 (argparse's ``type``)."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return number


def wrap(text: str) -> str:
    """``text`` with each blank-line-separated paragraph filled to 88 columns, for --help."""
    return "\n\n".join(textwrap.fill(" ".join(p.split()), 88) for p in text.split("\n\n"))


def add_prefix_option(parser: argparse.ArgumentParser) -> None:
    """``--prefix``: the Redis key prefix the application's adapter uses."""
    parser.add_argument(
        "--prefix",
        default=DEFAULT_PREFIX,
        type=prefix_argument,
        help=f"Redis key prefix of the adapter (default: {DEFAULT_PREFIX!r}); ignored in memory",
    )


def prefix_argument(text: str) -> str:
    """An argparse ``type`` for a key prefix: refused as the adapter refuses it."""
    try:
        return check_prefix(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def open_adapter(settings: FrameworkSettings, prefix: str) -> FrameworkAdapter:
    """The adapter ``settings`` select, with the key prefix when it is Redis."""
    if settings.backend == "redis":
        return create_framework_adapter_from_env(prefix=prefix)
    return create_framework_adapter_from_env()


def where(settings: FrameworkSettings) -> str:
    """Where the data lives, with any password hidden: a redacted URL, or ``in-memory``."""
    return settings.redis_url_redacted or "in-memory (this process only)"
