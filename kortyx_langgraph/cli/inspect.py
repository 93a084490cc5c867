"""``kortyx-langgraph inspect``: a thread's newest checkpoints and its pending interrupts."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from kortyx_langgraph.cli.common import (
    EPILOG,
    EXIT_FAILURE,
    EXIT_OK,
    IN_MEMORY_NOTE,
    add_prefix_option,
    not_found,
    open_adapter,
    positive_number,
    wrap,
)
from kortyx_langgraph.cli.render import now_utc, pending_lines, printable
from kortyx_langgraph.env import resolve_framework_settings


def add_parser(commands: Any) -> None:
    """Register ``inspect`` and its options."""
    parser = commands.add_parser(
        "inspect",
        help="show a thread's checkpoints and pending interrupts (Redis backend)",
        description=wrap(
            "Show a thread's newest checkpoints and its pending interrupts. "
            "Exit status 1 when the thread does not exist."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("thread_id", help="the thread to show")
    parser.add_argument(
        "--limit", type=positive_number, default=20, help="newest checkpoints to list (default 20)"
    )
    add_prefix_option(parser)
    parser.set_defaults(
        handler=lambda args, out, err: run_inspect(args.thread_id, args.limit, args.prefix, out)
    )


def run_inspect(thread_id: str, limit: int, prefix: str, out: TextIO) -> int:
    """Print a thread's newest checkpoints and its pending interrupts; exit status 1 when
    the thread does not exist."""
    settings = resolve_framework_settings()
    if settings.backend != "redis":
        print(f"nothing to inspect: {IN_MEMORY_NOTE}", file=out)
        return EXIT_FAILURE
    shown = printable(repr(thread_id))
    with open_adapter(settings, prefix) as adapter:
        config: dict[str, Any] = {"configurable": {"thread_id": thread_id}}
        checkpoints = list(adapter.list(config, limit=limit))  # type: ignore[arg-type]
        if not checkpoints:
            print(f"thread {shown}: not found ({not_found(adapter)})", file=out)
            return EXIT_FAILURE
        print(f"thread {shown} on {settings.redis_url_redacted}", file=out)
        for item in checkpoints:
            cfg = item.config["configurable"]
            meta = item.metadata or {}
            ns = cfg.get("checkpoint_ns") or "(root)"
            print(
                f"  checkpoint {cfg['checkpoint_id']}  ns={printable(ns)}  "
                f"step={meta.get('step')}  source={meta.get('source')}  "
                f"writes={len(item.pending_writes or [])}",
                file=out,
            )
        pending = adapter.pending.list(thread_id)
        print(f"pending interrupts: {len(pending)}", file=out)
        now = now_utc()
        for p in pending:
            for line in pending_lines(p, now):
                print(f"  {line}", file=out)
    return EXIT_OK
