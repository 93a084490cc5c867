"""kortyx-langgraph pending: the interrupts waiting for an answer, of one thread or all.

--thread ID costs one script call (one round trip), and one more when the list is empty,
to tell a thread without pending interrupts (exit status 0) from one that does not exist
(exit status 1; on Redis only, as a command's in-memory store is its own).

--all is an administrative scan: list_threads(limit), that is one SCAN over the prefix's
checkpoint hashes (on every primary of a Cluster) stopped once --limit threads are found,
then one pending.list script per thread found. SCAN visits the database's keys in pages
whatever the limit, so its cost grows with the size of the whole database; the limit
bounds the threads read and printed. In memory, a command sees only its own process's
(empty) store.
"""

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
    where,
)
from kortyx_langgraph.cli.render import (
    dump_json,
    now_utc,
    pending_lines,
    pending_record,
    printable,
)
from kortyx_langgraph.core.adapter import DEFAULT_THREAD_LIMIT, FrameworkAdapter
from kortyx_langgraph.env import FrameworkSettings, resolve_framework_settings
from kortyx_langgraph.pending import PendingInterrupt

JSON_KEYS = """\
--json prints one object: backend ("redis" or "in-memory"), where (the Redis URL with its
password hidden, or "in-memory (this process only)"), thread_id (null with --all), limit
(null with --thread), threads_scanned, complete (false when --all stopped at the limit and
more threads exist), thread_found (with --thread on Redis: whether the thread exists; else
null), note (null, or why the list may be incomplete), interrupts: a list of
objects with token, thread_id, interrupt_id, checkpoint_id, task_id, created_at,
age_seconds, expires_at, expires_in_seconds, claimed, claimed_at, lease_expires_at,
lease_expires_in_seconds, value (the value itself when it is JSON of at most 200
characters, else null), value_summary (always a string, cut at 200 characters with "...
[truncated, N chars]"), value_truncated, response_schema (the JSON Schema of the expected
answer; null when there is none or it is over 100,000 characters). Times are ISO 8601 in
UTC. A claim shows only that it holds and until when: claim ids are never shown, since a
claim id is what releases a claim."""


def add_parser(commands: Any) -> None:
    """Register ``pending`` and its options."""
    parser = commands.add_parser(
        "pending",
        help="list pending interrupts: token, age, expiry, claim, value and answer schema",
        description=__doc__,
        epilog=f"{JSON_KEYS}\n\n{EPILOG}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--thread", metavar="ID", help="the thread whose interrupts to list")
    scope.add_argument(
        "--all", action="store_true", help="every thread's (a bounded scan; see above)"
    )
    parser.add_argument(
        "--limit",
        type=positive_number,
        help=f"with --all: read at most this many threads (default {DEFAULT_THREAD_LIMIT})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (keys below)")
    add_prefix_option(parser)
    parser.set_defaults(handler=lambda args, out, err: run(args, out), parser=parser)


def check_limit(args: argparse.Namespace) -> int | None:
    """The thread limit of ``--all`` (its default when not given); ``--limit`` with
    ``--thread`` is a usage error."""
    if args.thread is not None:
        if args.limit is not None:
            args.parser.error("--limit goes with --all, not with --thread")
        return None
    return DEFAULT_THREAD_LIMIT if args.limit is None else int(args.limit)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``pending`` on the adapter the environment selects."""
    limit = check_limit(args)
    settings = resolve_framework_settings()
    with open_adapter(settings, args.prefix) as adapter:
        return show_pending(
            adapter,
            settings,
            thread_id=args.thread,
            limit=limit,
            as_json=args.json,
            out=out,
        )


def show_pending(
    adapter: FrameworkAdapter,
    settings: FrameworkSettings,
    *,
    thread_id: str | None,
    limit: int | None,
    as_json: bool,
    out: TextIO,
) -> int:
    """Print the pending interrupts of ``thread_id``, or of up to ``limit`` threads."""
    complete = True
    if thread_id is not None:
        threads = [thread_id]
    else:
        assert limit is not None
        threads = adapter.list_threads(limit=limit + 1)
        complete = len(threads) <= limit
        threads = threads[:limit]
    found: list[PendingInterrupt] = []
    for thread in threads:
        found.extend(adapter.pending.list(thread))
    note = IN_MEMORY_NOTE if settings.backend == "in-memory" else None
    # in memory, a command's own store is empty: whether the thread exists is unknown
    on_redis = settings.backend == "redis"
    missing = on_redis and thread_id is not None and not found and not _exists(adapter, thread_id)
    if missing and note is None:
        note = f"no such thread: {not_found(adapter)}"
    if not complete:
        note = (
            f"stopped after {limit} threads: more exist, and which ones were read is "
            "arbitrary; raise --limit to read more"
        )
    now = now_utc()
    if as_json:
        document = {
            "backend": settings.backend,
            "where": where(settings),
            "thread_id": thread_id,
            "limit": limit,
            "threads_scanned": len(threads),
            "complete": complete,
            "thread_found": None if thread_id is None or not on_redis else not missing,
            "note": note,
            "interrupts": [pending_record(p, now) for p in found],
        }
        print(dump_json(document), file=out)
        return EXIT_FAILURE if missing else EXIT_OK
    # the TTL is what this environment gives its writes; a listed thread keeps the expiry
    # its last write gave it (each record's expires_at)
    print(f"backend: {settings.describe()} for new writes", file=out)
    if note is not None:
        print(f"note: {note}", file=out)
    if thread_id is not None:
        print(f"thread {printable(repr(thread_id))}: {_count(len(found))}", file=out)
        for p in found:
            for line in pending_lines(p, now):
                print(f"  {line}", file=out)
        return EXIT_FAILURE if missing else EXIT_OK
    by_thread: dict[str, list[PendingInterrupt]] = {}
    for p in found:
        by_thread.setdefault(p.thread_id, []).append(p)
    for thread, interrupts in by_thread.items():
        print(f"thread {printable(repr(thread))}: {_count(len(interrupts))}", file=out)
        for p in interrupts:
            for line in pending_lines(p, now):
                print(f"  {line}", file=out)
    print(
        f"{len(threads)} threads read, {len(by_thread)} with pending interrupts: "
        f"{_count(len(found))}",
        file=out,
    )
    return EXIT_OK


def _exists(adapter: FrameworkAdapter, thread_id: str) -> bool:
    """Whether the thread has a checkpoint (one more call, made only for an empty list)."""
    config: Any = {"configurable": {"thread_id": thread_id}}
    return next(iter(adapter.list(config, limit=1)), None) is not None


def _count(n: int) -> str:
    return f"{n} pending interrupt{'' if n == 1 else 's'}"
