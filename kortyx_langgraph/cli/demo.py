"""kortyx-langgraph demo: pause a small approval graph on interrupt(), resume it by token.

It runs both halves in one process, on whatever backend the environment selects: the run
pauses on interrupt(), the pending interrupt is found by token and claimed, and the run
resumes to the end.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any, TextIO, TypedDict

from kortyx_langgraph.cli.common import (
    EPILOG,
    EXIT_OK,
    open_adapter,
)
from kortyx_langgraph.cli.render import (
    iso,
    summarize,
)
from kortyx_langgraph.env import resolve_framework_settings
from kortyx_langgraph.redis.layout import DEFAULT_PREFIX


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
            {"question": "Approve this expense?", "item": state["item"], "amount": state["amount"]},
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


def add_parser(commands: Any) -> None:
    """Register ``demo``."""
    demo = commands.add_parser(
        "demo",
        help="pause a graph on interrupt() and resume it by token",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.set_defaults(handler=lambda args, out, err: _run_whole(out))


def _run_whole(out: TextIO) -> int:
    run_demo(out)
    return EXIT_OK


def run_demo(out: TextIO) -> dict[str, Any]:
    """Pause a run, find its interrupt by token, claim it, resume it; returns the final state."""
    from langgraph.types import Command

    settings = resolve_framework_settings()
    print(f"backend: {settings.describe()}", file=out)
    with open_adapter(settings, DEFAULT_PREFIX) as adapter:
        graph = build_demo_graph(adapter)
        thread_id = f"demo-{uuid.uuid4().hex[:8]}"
        config = {"configurable": {"thread_id": thread_id}}
        graph.invoke({"item": "train ticket", "amount": 84}, config)
        print(f"paused: thread {thread_id}, next node {graph.get_state(config).next}", file=out)

        pending = adapter.pending.list(thread_id)
        for p in pending:
            print(f"pending interrupt {p.interrupt_id[:8]}: {summarize(p.value)[0]}", file=out)
            print(f"  token {p.token}, expires {iso(p.expires_at)}", file=out)

        # Later, possibly in another process: all that is needed is the token.
        claimed = adapter.pending.claim(pending[0].token)
        result: dict[str, Any] = graph.invoke(
            Command(resume=claimed.resume_map("approved")), claimed.config
        )
        print(f"resumed: {result['status']}", file=out)
        print(f"pending after resume: {len(adapter.pending.list(thread_id))}", file=out)
        return result
