"""The graphs the workloads run: an agent loop, an approval step, and their state types."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt

MESSAGE_BYTES = 500
"""Length of every message the agent loop adds (ASCII, so also its size in bytes), unless a
run asks for another size (``--message-bytes``)."""

Graph = CompiledStateGraph[Any, Any, Any, Any]


PROSE = (
    "Thanks for waiting while I looked into the order. The parcel left our warehouse on "
    "Monday and was handed to the courier the same evening, but the tracking page has not "
    "moved since it reached the regional depot. That usually means a missed scan rather than "
    "a lost parcel, so I have opened a trace with the courier and asked them to confirm where "
    "it is now. If they cannot find it within two working days, we will send a replacement at "
    "no cost and you can keep the first one if it turns up later. In the meantime, could you "
    "check whether a neighbour or the building reception signed for it? Some drivers leave a "
    "card only after the second attempt. I have also added a note to your account so that "
    "anyone on the team can pick this up if you write back while I am away. Let me know which "
    "delivery address you would prefer for the replacement, and whether a weekday morning "
    "slot suits you better than the afternoon. "
)
"""Running English the agent-loop messages are cut from: a reply as an assistant writes it,
so that compression meets text that compresses as prose does (about 60% of its size with
deflate at 500 bytes), not a repeated pattern."""


def message_text(thread_id: str, step: int, size: int = MESSAGE_BYTES) -> str:
    """A unique ``size``-character text for ``step`` of ``thread_id``: its name and step,
    then :data:`PROSE` from a point that depends on both, wrapping around."""
    head = f"{thread_id} step {step}: "
    start = int(hashlib.sha256(head.encode()).hexdigest()[:8], 16) % len(PROSE)
    body = PROSE[start:] + PROSE * (size // len(PROSE) + 1)
    return (head + body)[:size]


@functools.cache
def _reference_corpus() -> str:
    """The text of CPython's language reference (``pydoc_data.topics``, about 430 KB),
    ASCII only and its whitespace collapsed (so a character is a byte): English that does
    not repeat, on every CPython."""
    from pydoc_data.topics import topics

    text = " ".join(text for _, text in sorted(topics.items()))
    return " ".join(text.encode("ascii", "ignore").decode().split())


def reference_text(thread_id: str, step: int, size: int = MESSAGE_BYTES) -> str:
    """A unique ``size``-character text for ``step`` of ``thread_id``: its name and step,
    then the next ``size`` characters of CPython's language reference after those of the
    step before, from a point that depends on the thread. Unlike :func:`message_text`,
    a thread's messages share words but no passage (until the text wraps around, after
    about 860 steps of 500 characters), as a real transcript's do, so a value that holds
    many of them compresses as a real one would."""
    corpus = _reference_corpus()
    head = f"{thread_id} step {step}: "
    offset = int(hashlib.sha256(thread_id.encode()).hexdigest()[:8], 16)
    start = (offset + step * size) % (len(corpus) - size)
    return (head + corpus[start : start + size])[:size]


TextSource = Callable[[str, int, int], str]
"""Where the agent loop's messages come from: ``(thread id, step, size) -> text``."""


class AgentState(TypedDict):
    """A chat transcript (``add_messages``) and a small counter."""

    messages: Annotated[list[AnyMessage], add_messages]
    count: int


def fold_messages(state: list[AnyMessage], batches: Sequence[Any]) -> list[AnyMessage]:
    """``DeltaChannel`` reducer: ``add_messages`` folded over a batch of writes.

    Batching-invariant as ``DeltaChannel`` requires, because every message carries its id
    (``add_messages`` would otherwise mint random ids on each replay).
    """
    for batch in batches:
        state = add_messages(state, batch)  # type: ignore[assignment]
    return state


def delta_state(snapshot_frequency: int) -> type:
    """:class:`AgentState` with the transcript in a ``DeltaChannel`` (LangGraph beta)."""
    channel = DeltaChannel(fold_messages, snapshot_frequency=snapshot_frequency)
    return TypedDict(  # type: ignore[operator, no-any-return]
        "DeltaAgentState",
        {"messages": Annotated[list[AnyMessage], channel], "count": int},
    )


def agent_loop_graph(
    checkpointer: BaseCheckpointSaver[Any],
    steps: int,
    state: type = AgentState,
    message_bytes: int = MESSAGE_BYTES,
    text_source: TextSource = message_text,
) -> Graph:
    """One ``agent`` node looping ``steps`` super-steps, adding one message per step (its
    text from ``text_source``)."""

    def agent(values: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        step = values.get("count", 0) + 1
        thread_id = config["configurable"]["thread_id"]
        text = text_source(thread_id, step, message_bytes)
        message = AIMessage(content=text, id=f"m{step}")
        return {"messages": [message], "count": step}

    def route(values: dict[str, Any]) -> str:
        return "agent" if values["count"] < steps else END

    builder = StateGraph(state)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["agent", END])
    return builder.compile(checkpointer=checkpointer)


def agent_input() -> dict[str, Any]:
    """The input of one agent-loop run."""
    return {"messages": [], "count": 0}


def thread_config(thread_id: str, steps: int = 0) -> RunnableConfig:
    """Config of ``thread_id`` with room for ``steps`` super-steps."""
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": max(25, steps + 5)}


class ApprovalState(TypedDict, total=False):
    """What the approval graph carries."""

    request: str
    answer: str


def approval_graph(checkpointer: BaseCheckpointSaver[Any]) -> Graph:
    """``ask`` pauses on ``interrupt()`` for a human; ``done`` records the answer."""

    def ask(values: ApprovalState) -> ApprovalState:
        answer = interrupt({"question": "approve?", "request": values["request"]})
        return {"answer": answer}

    def done(values: ApprovalState) -> ApprovalState:
        return {"answer": f"{values['answer']}!"}

    builder = StateGraph(ApprovalState)
    builder.add_node("ask", ask)
    builder.add_node("done", done)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "done")
    builder.add_edge("done", END)
    return builder.compile(checkpointer=checkpointer)
