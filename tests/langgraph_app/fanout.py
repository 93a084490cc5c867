"""A fan-out the LangGraph server tests also serve: ``fan`` sends one ``worker`` task per
item, and ``join`` counts what they wrote (every task is one ``put_writes`` of the same
checkpoint, at the same time)."""

from __future__ import annotations

import operator
from collections.abc import Callable
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


def join(state: Fan) -> dict[str, Any]:
    """How many items the tasks wrote."""
    return {"joined": len(state["items"])}


def build(on_item: Callable[[int], None] | None = None) -> StateGraph[Fan]:
    """The fan-out, not compiled; each ``worker`` task calls ``on_item`` with its item
    first, if given."""

    def worker(item: int) -> dict[str, Any]:
        if on_item is not None:
            on_item(item)
        return {"items": [item]}

    builder = StateGraph(Fan)
    builder.add_node("fan", lambda state: {})
    builder.add_node("worker", worker)  # type: ignore[call-overload]
    builder.add_node("join", join)
    builder.add_edge(START, "fan")
    builder.add_conditional_edges("fan", spread, ["worker"])
    builder.add_edge("worker", "join")
    builder.add_edge("join", END)
    return builder


graph = build().compile()
