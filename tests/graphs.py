"""Small LangGraph graphs the scenario tests pause and resume."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from tests.langgraph_app.fanout import build as build_fanout


class ApprovalState(TypedDict, total=False):
    request: str
    answer: str
    log: Annotated[list[str], operator.add]


def approval_graph(checkpointer: Any) -> Any:
    """ask (interrupts) -> done."""

    def ask(state: ApprovalState) -> ApprovalState:
        answer = interrupt({"question": f"approve {state['request']}?"})
        return {"answer": answer, "log": ["asked"]}

    def done(state: ApprovalState) -> ApprovalState:
        return {"log": [f"done:{state['answer']}"]}

    builder = StateGraph(ApprovalState)
    builder.add_node("ask", ask)
    builder.add_node("done", done)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "done")
    builder.add_edge("done", END)
    return builder.compile(checkpointer=checkpointer)


class LargeState(TypedDict):
    doc: str
    answer: str


def large_value_graph(checkpointer: Any) -> Any:
    """write (a 500 KB document) -> ask (interrupts with a 300 KB question)."""

    def write(state: LargeState) -> dict[str, Any]:
        return {"doc": "D" * 500_000}

    def ask(state: LargeState) -> dict[str, Any]:
        return {"answer": interrupt({"question": "q" * 300_000, "doc": len(state["doc"])})}

    graph = StateGraph(LargeState).add_sequence([write, ask])
    return graph.add_edge(START, "write").add_edge("ask", END).compile(checkpointer=checkpointer)


def parallel_graph(checkpointer: Any) -> Any:
    """Two parallel nodes that each interrupt, joined by a final node."""

    def left(state: ApprovalState) -> ApprovalState:
        return {"log": [f"left:{interrupt('left?')}"]}

    def right(state: ApprovalState) -> ApprovalState:
        return {"log": [f"right:{interrupt('right?')}"]}

    def join(state: ApprovalState) -> ApprovalState:
        return {"answer": "joined"}

    builder = StateGraph(ApprovalState)
    builder.add_node("left", left)
    builder.add_node("right", right)
    builder.add_node("join", join)
    builder.add_edge(START, "left")
    builder.add_edge(START, "right")
    builder.add_edge(["left", "right"], "join")
    builder.add_edge("join", END)
    return builder.compile(checkpointer=checkpointer)


def two_step_graph(checkpointer: Any) -> Any:
    """One node that calls interrupt() twice in a row."""

    def interview(state: ApprovalState) -> ApprovalState:
        name = interrupt("name?")
        age = interrupt("age?")
        return {"answer": f"{name}/{age}"}

    builder = StateGraph(ApprovalState)
    builder.add_node("interview", interview)
    builder.add_edge(START, "interview")
    builder.add_edge("interview", END)
    return builder.compile(checkpointer=checkpointer)


def subgraph_graph(checkpointer: Any) -> Any:
    """prepare -> inner (a subgraph whose node interrupts) -> finish."""

    class InnerState(TypedDict, total=False):
        answer: str

    def inner_ask(state: InnerState) -> InnerState:
        return {"answer": interrupt("inner?")}

    inner = StateGraph(InnerState)
    inner.add_node("inner_ask", inner_ask)
    inner.add_edge(START, "inner_ask")
    inner.add_edge("inner_ask", END)

    def prepare(state: ApprovalState) -> ApprovalState:
        return {"log": ["prepared"]}

    def finish(state: ApprovalState) -> ApprovalState:
        return {"log": [f"finished:{state['answer']}"]}

    builder = StateGraph(ApprovalState)
    builder.add_node("prepare", prepare)
    builder.add_node("inner", inner.compile())
    builder.add_node("finish", finish)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "inner")
    builder.add_edge("inner", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer)


def counter_graph(checkpointer: Any) -> Any:
    """Appends one entry per invoke; no interrupts. For history and time travel."""

    def step(state: ApprovalState) -> ApprovalState:
        return {"log": [f"step{len(state.get('log', []))}"]}

    builder = StateGraph(ApprovalState)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    builder.add_edge("step", END)
    return builder.compile(checkpointer=checkpointer)


def fanout_graph(checkpointer: Any, on_item: Callable[[int], None] | None = None) -> Any:
    """The served app's fan-out (``tests/langgraph_app/fanout.py``): one ``worker`` task per
    item, all writing to the same checkpoint at once; each calls ``on_item`` with its item
    first, if given."""
    return build_fanout(on_item).compile(checkpointer=checkpointer)


def answer_all(adapter: Any, tokens: list[str], answer: str = "ok") -> int:
    """Claim and resume each token's :func:`approval_graph` run; how many completed."""
    graph = approval_graph(adapter)
    completed = 0
    for token in tokens:
        claimed = adapter.pending.claim(token)
        result = graph.invoke(Command(resume=claimed.resume_map(answer)), claimed.config)
        completed += result["log"] == ["asked", f"done:{answer}"]
    return completed
