"""``kortyx-langgraph doctor``: check that a Redis server suits the adapter, and that our TTL
outlives a LangGraph server's thread records."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, TextIO

from kortyx_langgraph.cli.common import EPILOG, EXIT_FAILURE, EXIT_OK, prefix_argument, wrap
from kortyx_langgraph.env import resolve_framework_settings
from kortyx_langgraph.errors import ConfigurationError
from kortyx_langgraph.redis.layout import DEFAULT_PREFIX
from kortyx_langgraph.server_ttl import server_thread_ttl_from_env, ttl_mismatch


def add_parser(commands: Any) -> None:
    """Register ``doctor`` and its options."""
    parser = commands.add_parser(
        "doctor",
        help="check the Redis server, and our TTL against a LangGraph server's",
        description=wrap(
            "Check a Redis server: connection, version, mode, Lua, what the adapter's "
            "scripts may do on keys of its prefix, memory, eviction policy, persistence; "
            "and, when a langgraph.json or LANGGRAPH_THREAD_TTL is there, our TTL against "
            "the LangGraph server's thread TTL. Exit status 1 when any check is an error."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="Redis URL (default: the one the environment selects)")
    parser.add_argument(
        "--prefix",
        default=DEFAULT_PREFIX,
        type=prefix_argument,
        help=f"the adapter's key prefix, whose keys the access check writes (default: "
        f"{DEFAULT_PREFIX!r})",
    )
    parser.add_argument(
        "--langgraph-config",
        help="langgraph.json whose checkpointer.ttl to compare with our TTL "
        "(default: ./langgraph.json when it exists)",
    )
    parser.add_argument(
        "--require-redis",
        action="store_true",
        help="exit status 1 when the environment selects no Redis (the in-memory default): "
        "for a deploy check, where a missing URL would leave every instance with a store "
        "of its own",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit status 1 on a warning too (an evicting maxmemory-policy, memory near "
        "maxmemory, no persistence, a LangGraph server keeping threads longer than our TTL): "
        "for a deploy check that holds the server to every guarantee",
    )
    parser.set_defaults(
        handler=lambda args, out, err: run_doctor(
            args.url,
            out,
            args.langgraph_config,
            prefix=args.prefix,
            require_redis=args.require_redis,
            strict=args.strict,
        )
    )


def server_lines(langgraph_config: str | None) -> tuple[list[str], dict[str, str]]:
    """The doctor's lines on the LangGraph server's settings, and the environment the
    server's process would read ours from.

    Reads ``langgraph_config`` (default: ``./langgraph.json`` when it exists): its ``env``
    mapping is laid over this process's environment, as the server does; its
    ``checkpointer.path`` is checked to name our entry point as the server can load it; its
    ``checkpointer.ttl`` (or ``LANGGRAPH_THREAD_TTL``) is compared with our TTL.
    """
    path = Path(langgraph_config or "langgraph.json")
    env = dict(os.environ)
    lines: list[str] = []
    if path.is_file():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return [f"[error] server-ttl: {path} is not valid JSON"], env
        if not isinstance(document, dict):
            document = {}
        lines += _env_lines(path, document.get("env"), env)
        checkpointer = document.get("checkpointer")
        if isinstance(checkpointer, dict):
            env["LANGGRAPH_CHECKPOINTER"] = json.dumps(checkpointer)
            lines += _path_lines(path, checkpointer.get("path"))
    elif langgraph_config is not None:
        return [f"[error] server-ttl: {path} not found"], env
    elif "LANGGRAPH_THREAD_TTL" not in env and "LANGGRAPH_CHECKPOINTER" not in env:
        return lines, env
    lines.append(_ttl_line(env))
    return lines, env


def _env_lines(path: Path, entry: object, env: dict[str, str]) -> list[str]:
    """Lay ``langgraph.json``'s ``env`` mapping over ``env``; a line when it is a file."""
    if isinstance(entry, dict):
        env.update({str(k): str(v) for k, v in entry.items()})
        return []
    if isinstance(entry, str):
        return [
            f"[warning] env: {path} takes the server's variables from the file {entry!r}, "
            "which doctor does not read: set them in this shell to check the same Redis and TTL"
        ]
    return []


def _path_lines(path: Path, entry: object) -> list[str]:
    """An error line when ``checkpointer.path`` names our entry point in a form the server
    cannot load."""
    if isinstance(entry, str) and entry.replace(" ", "") == "kortyx_langgraph.server:checkpointer":
        return [
            f"[error] checkpointer: {path} has path {entry!r}, which the server reads as an "
            "attribute 'server:checkpointer' of kortyx_langgraph and cannot load; use "
            "'kortyx_langgraph.server.checkpointer'"
        ]
    return []


def _ttl_line(env: dict[str, str]) -> str:
    """The server's thread TTL against ours, both read from ``env``."""
    ours = resolve_framework_settings(env).ttl_ms
    try:
        server = server_thread_ttl_from_env(env)
    except ConfigurationError as exc:  # the Redis checks still run, as for invalid JSON
        return f"[error] server-ttl: {exc}"
    mismatch = ttl_mismatch(ours, server)
    if mismatch is not None:
        return f"[warning] server-ttl: {mismatch}"
    return (
        f"[ok] server-ttl: the server keeps a thread up to {server.keeps_records_ms} ms "
        f"(from {server.source}); ttl_ms={ours} outlives it. langgraph dev never deletes "
        "threads: there, pauses longer than ttl_ms cannot be resumed"
    )


def run_doctor(
    url: str | None,
    out: TextIO,
    langgraph_config: str | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    require_redis: bool = False,
    strict: bool = False,
) -> int:
    """Print the doctor's findings; exit status 1 when any is an error (with ``strict``, or
    a warning), or when no Redis URL is set and ``require_redis``."""
    from kortyx_langgraph.redis.doctor import diagnose

    lines, env = server_lines(langgraph_config)
    for line in lines:
        print(line, file=out)
    failing = ("[error]", "[warning]") if strict else ("[error]",)
    server_failed = any(line.startswith(failing) for line in lines)
    if url is None:
        settings = resolve_framework_settings(env)
        if settings.redis_url is None:
            if require_redis:
                print(f"[error] redis: no Redis URL is set: {settings.describe()}", file=out)
                return EXIT_FAILURE
            print(f"nothing to check on Redis: {settings.describe()}", file=out)
            return EXIT_FAILURE if server_failed else EXIT_OK
        url = settings.redis_url
    findings = diagnose(url, prefix)
    for finding in findings:
        print(finding, file=out)
    levels = ("error", "warning") if strict else ("error",)
    failed = server_failed or any(f.level in levels for f in findings)
    return EXIT_FAILURE if failed else EXIT_OK
