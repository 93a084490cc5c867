"""Workflows the agent tests run: typed questions, sequential questions, a failing step."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from kortyx_langgraph import Option, use_interrupt


class Trip(TypedDict, total=False):
    city: str
    transport: str
    extras: list[str]
    note: str
    log: Annotated[list[str], operator.add]


TRANSPORT = [
    Option(id="train", label="Train", description="slow, scenic", value="TRAIN"),
    Option(id="plane", label="Plane", value="PLANE"),
]
EXTRAS = [{"id": "bag", "label": "Checked bag"}, {"id": "seat", "label": "Seat"}, "meal"]


def trip_builder() -> StateGraph[Any]:
    """``plan`` asks for a transport, then extras (sequential questions); ``book`` follows."""

    def plan(state: Trip) -> Trip:
        transport = use_interrupt("choice", f"How to {state['city']}?", options=TRANSPORT)
        extras = use_interrupt("multi-choice", "Extras?", options=EXTRAS, max_choices=2)
        return {"transport": transport, "extras": extras, "log": ["planned"]}

    def book(state: Trip) -> Trip:
        return {"log": [f"booked {state['transport']} with {'+'.join(state['extras'])}"]}

    builder = StateGraph(Trip)
    builder.add_node("plan", plan)
    builder.add_node("book", book)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "book")
    builder.add_edge("book", END)
    return builder


def note_builder(fail_in_node: list[int], fail_after: list[int]) -> StateGraph[Any]:
    """One free-text question. ``ask`` fails ``fail_in_node[0]`` times after the answer came
    (the question stays pending); ``store``, the next node, fails ``fail_after[0]`` times
    (the question was answered; the run stopped later)."""

    def ask(state: Trip) -> Trip:
        note = use_interrupt("text", "Any note?")
        if fail_in_node[0]:
            fail_in_node[0] -= 1
            raise ConnectionError("the booking service is down")
        return {"note": note}

    def store(state: Trip) -> Trip:
        if fail_after[0]:
            fail_after[0] -= 1
            raise TimeoutError("the archive timed out")
        return {"log": [f"noted {state['note']}"]}

    builder = StateGraph(Trip)
    builder.add_node("ask", ask)
    builder.add_node("store", store)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "store")
    builder.add_edge("store", END)
    return builder
