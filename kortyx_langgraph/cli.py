"""The ``kortyx-langgraph`` command: ``demo``, ``settings``, ``doctor`` and ``inspect``.

``python -m kortyx_langgraph demo`` runs a small approval graph on the adapter the
environment selects (in-memory when no Redis URL is set): the run pauses on ``interrupt()``,
the pending interrupt is found by token and claimed, and the run resumes to the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from kortyx_langgraph.env import resolve_framework_settings
from kortyx_langgraph.errors import KortyxError
from kortyx_langgraph.factory import create_framework_adapter_from_env
from kortyx_langgraph.server_ttl import server_thread_ttl_from_env, ttl_mismatch


class _ExpenseState(TypedDict, total=False):
    item: str
    amount: int
    decision: str
    status: str


def build_demo_graph(checkpointer: Any) -> Any:
    """A two-node graph: a reviewer approves or rejects an expense, then it is filed."""
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def review(state: _ExpenseState) -> _ExpenseState:
        answer = interrupt(
            {"question": "Approve this expense?", "item": state["item"], "amount": state["amount"]}
        )
        return {"decision": str(answer)}

    def file_expense(state: _ExpenseState) -> _ExpenseState:
        return {"status": f"{state['item']} filed as {state['decision']}"}

    builder = StateGraph(_ExpenseState)
    builder.add_node("review", review)
    builder.add_node("file", file_expense)
    builder.add_edge(START, "review")
    builder.add_edge("review", "file")
    builder.add_edge("file", END)
    return builder.compile(checkpointer=checkpointer)


def run_demo(out: Any = sys.stdout) -> dict[str, Any]:
    """Pause a run, find its interrupt by token, claim it, resume it; returns the final state."""
    from langgraph.types import Command

    settings = resolve_framework_settings()
    print(f"backend: {settings.describe()}", file=out)
    with create_framework_adapter_from_env() as adapter:
        graph = build_demo_graph(adapter)
        thread_id = f"demo-{uuid.uuid4().hex[:8]}"
        config = {"configurable": {"thread_id": thread_id}}
        graph.invoke({"item": "train ticket", "amount": 84}, config)
        print(f"paused: thread {thread_id}, next node {graph.get_state(config).next}", file=out)

        pending = adapter.pending.list(thread_id)
        for p in pending:
            print(f"pending interrupt {p.interrupt_id[:8]}: {p.value}", file=out)
            print(f"  token {p.token}, expires {p.expires_at}", file=out)

        # Later, possibly in another process: all that is needed is the token.
        claimed = adapter.pending.claim(pending[0].token)
        result: dict[str, Any] = graph.invoke(
            Command(resume=claimed.resume_map("approved")), claimed.config
        )
        print(f"resumed: {result['status']}", file=out)
        print(f"pending after resume: {len(adapter.pending.list(thread_id))}", file=out)
        return result


def server_ttl_line(langgraph_config: str | None) -> str | None:
    """The doctor's line on the LangGraph server's thread TTL against ours.

    Reads ``checkpointer.ttl`` from ``langgraph_config`` (default: ``./langgraph.json`` when
    it exists) and ``LANGGRAPH_THREAD_TTL``; ``None`` when there is nothing to compare.
    """
    path = Path(langgraph_config or "langgraph.json")
    env = dict(os.environ)
    if path.is_file():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return f"[error] server-ttl: {path} is not valid JSON"
        if isinstance(document, dict) and isinstance(document.get("checkpointer"), dict):
            env["LANGGRAPH_CHECKPOINTER"] = json.dumps(document["checkpointer"])
    elif langgraph_config is not None:
        return f"[error] server-ttl: {path} not found"
    elif "LANGGRAPH_THREAD_TTL" not in env and "LANGGRAPH_CHECKPOINTER" not in env:
        return None
    ours = resolve_framework_settings().ttl_ms
    server = server_thread_ttl_from_env(env)
    mismatch = ttl_mismatch(ours, server)
    if mismatch is not None:
        return f"[warning] server-ttl: {mismatch}"
    return (
        f"[ok] server-ttl: the server keeps a thread up to {server.keeps_records_ms} ms "
        f"(from {server.source}); ttl_ms={ours} outlives it. langgraph dev never deletes "
        "threads: there, pauses longer than ttl_ms cannot be resumed"
    )


def run_doctor(url: str | None, out: Any = sys.stdout, langgraph_config: str | None = None) -> int:
    """Print the doctor's findings; exit status 1 when any is an error."""
    from kortyx_langgraph.redis.doctor import diagnose

    server_line = server_ttl_line(langgraph_config)
    if server_line is not None:
        print(server_line, file=out)
    server_failed = server_line is not None and server_line.startswith("[error]")
    if url is None:
        settings = resolve_framework_settings()
        if settings.redis_url is None:
            print(f"nothing to check on Redis: {settings.describe()}", file=out)
            return 1 if server_failed else 0
        url = settings.redis_url
    findings = diagnose(url)
    for finding in findings:
        print(finding, file=out)
    return 1 if server_failed or any(f.level == "error" for f in findings) else 0


def run_inspect(thread_id: str, limit: int, out: Any = sys.stdout) -> int:
    """Print a thread's newest checkpoints and its pending interrupts (no values decoded
    beyond what LangGraph stored); exit status 1 when the thread does not exist."""
    settings = resolve_framework_settings()
    if settings.backend != "redis":
        print(
            "nothing to inspect: the in-memory backend lives inside each process; "
            f"set one of the Redis URL variables ({settings.describe()})",
            file=out,
        )
        return 1
    with create_framework_adapter_from_env() as adapter:
        config: dict[str, Any] = {"configurable": {"thread_id": thread_id}}
        checkpoints = list(adapter.list(config, limit=max(limit, 1)))  # type: ignore[arg-type]
        if not checkpoints:
            print(f"thread {thread_id!r}: not found (never written, deleted or expired)", file=out)
            return 1
        print(f"thread {thread_id!r} on {settings.redis_url_redacted}", file=out)
        for item in checkpoints:
            cfg = item.config["configurable"]
            meta = item.metadata or {}
            ns = cfg.get("checkpoint_ns") or "(root)"
            print(
                f"  checkpoint {cfg['checkpoint_id']}  ns={ns}  step={meta.get('step')}  "
                f"source={meta.get('source')}  writes={len(item.pending_writes or [])}",
                file=out,
            )
        pending = adapter.pending.list(thread_id)
        print(f"pending interrupts: {len(pending)}", file=out)
        for p in pending:
            state = (
                f"claimed {p.claimed_at} until {p.lease_expires_at}" if p.claimed else "unclaimed"
            )
            print(f"  token {p.token}  {state}  expires {p.expires_at}", file=out)
            print(f"    value: {p.value!r}", file=out)
            if p.response_schema is not None:
                print(f"    response schema: {p.response_schema!r}", file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kortyx-langgraph`` command."""
    parser = argparse.ArgumentParser(prog="kortyx-langgraph", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="pause a graph on interrupt() and resume it by token")
    commands.add_parser("settings", help="show which backend and TTL the environment selects")
    doctor = commands.add_parser(
        "doctor", help="check the Redis server, and our TTL against a LangGraph server's"
    )
    doctor.add_argument("--url", help="Redis URL (default: the one the environment selects)")
    doctor.add_argument(
        "--langgraph-config",
        help="langgraph.json whose checkpointer.ttl to compare with our TTL "
        "(default: ./langgraph.json when it exists)",
    )
    inspect = commands.add_parser(
        "inspect", help="show a thread's checkpoints and pending interrupts (Redis backend)"
    )
    inspect.add_argument("thread_id", help="the thread to show")
    inspect.add_argument("--limit", type=int, default=20, help="newest checkpoints to list")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            run_demo()
        elif args.command == "doctor":
            return run_doctor(args.url, langgraph_config=args.langgraph_config)
        elif args.command == "inspect":
            return run_inspect(args.thread_id, args.limit)
        else:
            print(resolve_framework_settings().describe())
    except KortyxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
