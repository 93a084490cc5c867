"""A fan-out the LangGraph server tests also serve: ``fan`` sends one ``worker`` task per
item, and ``join`` counts what they wrote (every task is one ``put_writes`` of the same
checkpoint, at the same time)."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send


class Fan(TypedDict, total=False):
    """How many tasks to start, and the list they all append to."""

    tasks: int
    items: Annotated[list[int], operator.add]
    joined: int


def spread(state: Fan) -> list[Send]:
    """One ``worker`` task per item."""
    return [Send("worker", n) for n in range(state["tasks"])]


def worker(item: int) -> dict[str, Any]:
    """Append this task's item."""
    return {"items": [item]}


def join(state: Fan) -> dict[str, Any]:
    """How many items the tasks wrote."""
    return {"joined": len(state["items"])}


builder = StateGraph(Fan)
builder.add_node("fan", lambda state: {})
builder.add_node("worker", worker)  # type: ignore[call-overload]
builder.add_node("join", join)
builder.add_edge(START, "fan")
builder.add_conditional_edges("fan", spread, ["worker"])
builder.add_edge("worker", "join")
builder.add_edge("join", END)
graph = builder.compile()
