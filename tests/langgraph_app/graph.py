"""The graph the LangGraph server tests serve: an expense waits for a reviewer's answer."""

from __future__ import annotations

from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel


class Decision(BaseModel):
    """What the reviewer answers."""

    approved: bool
    note: str = ""


class Expense(TypedDict, total=False):
    """The graph's state."""

    amount: int
    approved: bool
    note: str


def review(state: Expense) -> Expense:
    """Ask a human to approve the expense; the answer must match ``Decision``."""
    answer = interrupt(
        {"question": "Approve this expense?", "amount": state["amount"]},
        response_schema=Decision,
    )
    decision = answer if isinstance(answer, Decision) else Decision.model_validate(answer)
    return {"approved": decision.approved, "note": decision.note}


builder = StateGraph(Expense)
builder.add_node("review", review)
builder.add_edge(START, "review")
builder.add_edge("review", END)
graph = builder.compile()
