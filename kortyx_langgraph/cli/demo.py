"""kortyx-langgraph demo: pause a small approval graph on interrupt(), resume it by token.

"demo" alone runs both halves in one process, on whatever backend the environment selects.
"demo start" pauses a run and prints its token; "demo resume TOKEN --value V" answers it
from any other process that reaches the same Redis. In memory, a second process cannot see
the first one's data, so "start" and "resume" refuse to run there.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any, Literal, TextIO, TypedDict, cast

from kortyx_langgraph.cli.common import (
    EPILOG,
    EXIT_FAILURE,
    EXIT_OK,
    IN_MEMORY_NOTE,
    add_prefix_option,
    open_adapter,
    where,
    wrap,
)
from kortyx_langgraph.cli.render import (
    dump_json,
    iso,
    now_utc,
    pending_record,
    printable,
    summarize,
)
from kortyx_langgraph.core.adapter import FrameworkAdapter
from kortyx_langgraph.env import resolve_framework_settings
from kortyx_langgraph.errors import (
    AlreadyClaimedError,
    ExpiredTokenError,
    KortyxError,
    UnknownTokenError,
)
from kortyx_langgraph.redis.layout import DEFAULT_PREFIX

DEMO_THREAD_PREFIX = "demo-"
"""Every demo run's thread id starts with this; ``demo resume`` answers no other thread."""

Decision = Literal["approved", "rejected"]
"""The answers the demo's reviewer accepts (its interrupt's ``response_schema``)."""


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
            response_schema=cast(Any, Decision),
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
    """Register ``demo``, ``demo start`` and ``demo resume``."""
    demo = commands.add_parser(
        "demo",
        help="pause a graph on interrupt() and resume it by token",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.set_defaults(handler=lambda args, out, err: _run_whole(out))
    steps = demo.add_subparsers(
        dest="step",
        metavar="[start | resume]",
        title="steps",
        description="without a step, the whole demo runs in one process",
    )
    start = steps.add_parser(
        "start",
        help="pause a run and print its token (Redis backend)",
        description=wrap(
            "Pause a demo run on interrupt() and print its token, to be answered "
            "with `demo resume TOKEN` from any process that reaches the same Redis."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    start.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: where, thread_id, and interrupt (an object with the "
        "keys of `pending --json`'s interrupts)",
    )
    add_prefix_option(start)
    start.set_defaults(handler=lambda args, out, err: run_start(args.prefix, args.json, out, err))
    resume = steps.add_parser(
        "resume",
        help="answer a paused demo run by its token (Redis backend)",
        description=wrap(
            "Claim the interrupt of TOKEN, resume the demo run with the answer and "
            "print the result. If the resume fails, the claim is released and the token works "
            "again. Exit status 1 for a token that is unknown, expired or claimed by another "
            "caller, or an answer the run refuses."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    resume.add_argument("token", help="the token `demo start` printed")
    resume.add_argument(
        "--value",
        default="approved",
        help="the reviewer's answer: approved or rejected (default: approved)",
    )
    add_prefix_option(resume)
    resume.set_defaults(
        handler=lambda args, out, err: run_resume(args.token, args.value, args.prefix, out, err)
    )


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
        thread_id = f"{DEMO_THREAD_PREFIX}{uuid.uuid4().hex[:8]}"
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


def _refuse_in_memory(step: str, err: TextIO) -> int:
    print(
        f"error: `demo {step}` needs Redis: {IN_MEMORY_NOTE} "
        "Run `demo` alone to pause and resume within one process.",
        file=err,
    )
    return EXIT_FAILURE


def run_start(prefix: str, as_json: bool, out: TextIO, err: TextIO) -> int:
    """Pause a demo run and print its token; refuses in memory."""
    settings = resolve_framework_settings()
    if settings.backend != "redis":
        return _refuse_in_memory("start", err)
    with open_adapter(settings, prefix) as adapter:
        return start_demo(adapter, where(settings), as_json, out)


def start_demo(adapter: FrameworkAdapter, location: str, as_json: bool, out: TextIO) -> int:
    """Pause a demo run on ``adapter`` and print its pending interrupt and token."""
    thread_id = f"{DEMO_THREAD_PREFIX}{uuid.uuid4().hex[:8]}"
    build_demo_graph(adapter).invoke(
        {"item": "train ticket", "amount": 84}, {"configurable": {"thread_id": thread_id}}
    )
    [p] = adapter.pending.list(thread_id)
    now = now_utc()
    if as_json:
        document = {"where": location, "thread_id": thread_id, "interrupt": pending_record(p, now)}
        print(dump_json(document), file=out)
        return EXIT_OK
    schema = summarize(p.response_schema)[0]
    print(f"paused on {location}: thread {thread_id} waits for a reviewer", file=out)
    print(f"question: {summarize(p.value)[0]}", file=out)
    print(f"answer schema: {schema}", file=out)
    print(f"token: {p.token}", file=out)
    print(f"expires: {iso(p.expires_at)}", file=out)
    print(
        f"answer it from any process: kortyx-langgraph demo resume {p.token} --value approved",
        file=out,
    )
    return EXIT_OK


def run_resume(token: str, value: str, prefix: str, out: TextIO, err: TextIO) -> int:
    """Answer a paused demo run by token; refuses in memory."""
    settings = resolve_framework_settings()
    if settings.backend != "redis":
        return _refuse_in_memory("resume", err)
    with open_adapter(settings, prefix) as adapter:
        return resume_demo(adapter, token, value, out, err)


def resume_demo(adapter: FrameworkAdapter, token: str, value: str, out: TextIO, err: TextIO) -> int:
    """Claim ``token``, resume the demo run with ``value``, release the claim if that fails."""
    from langgraph.types import Command

    try:
        found = adapter.pending.get(token)
        if not found.thread_id.startswith(DEMO_THREAD_PREFIX):
            print(
                f"error: this token belongs to thread {printable(repr(found.thread_id))}, "
                "not to a demo run; `demo resume` answers only demo runs",
                file=err,
            )
            return EXIT_FAILURE
        claimed = adapter.pending.claim(token)
    except (UnknownTokenError, ExpiredTokenError, AlreadyClaimedError) as exc:
        print(f"error: {_token_problem(exc)}", file=err)
        return EXIT_FAILURE
    try:
        result = build_demo_graph(adapter).invoke(
            Command(resume=claimed.resume_map(value)), claimed.config
        )
    except BaseException as exc:
        released = _release(adapter, token, claimed.claim_id)
        if not isinstance(exc, Exception):  # Ctrl-C: released, then stop as asked
            raise
        if isinstance(exc, KortyxError):
            print(f"error: the resume failed: {exc}", file=err)
        else:
            problem = printable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            schema = summarize(claimed.response_schema)[0]
            print(
                f"error: the run refused the answer {printable(repr(value))} ({problem}); "
                f"the answer must match {schema}",
                file=err,
            )
        print(released, file=err)
        return EXIT_FAILURE
    print(f"resumed thread {claimed.thread_id}: {printable(str(result.get('status')))}", file=out)
    print(f"pending after resume: {len(adapter.pending.list(claimed.thread_id))}", file=out)
    return EXIT_OK


def _release(adapter: FrameworkAdapter, token: str, claim_id: str | None) -> str:
    if claim_id is None:  # claim() always sets it; kept for the type checker
        return "the claim could not be released; it ends with its lease"
    try:
        adapter.pending.release(token, claim_id)
    except KortyxError as exc:
        return f"the claim could not be released ({exc}); it ends with its lease"
    return "the claim was released: the token works again"


def _token_problem(exc: KortyxError) -> str:
    if isinstance(exc, ExpiredTokenError):
        return "this token expired with its run's thread; start a new run"
    if isinstance(exc, AlreadyClaimedError):
        return (
            "another caller has claimed this interrupt; try again once its lease runs out "
            "(`kortyx-langgraph pending --thread ID` shows until when)"
        )
    return (
        "no pending interrupt has this token: it was answered, its run moved on, "
        "it was deleted, or it never existed"
    )
