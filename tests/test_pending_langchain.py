"""The pending store agrees with LangGraph under langchain's ``create_agent`` with
``HumanInTheLoopMiddleware``, in both interrupt modes, on every backend.

langchain needs a newer langchain-core than this package's lowest supported one, so this
module (like the LangGraph server tests) needs the ``clients`` extra.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.types import Command

from kortyx_langgraph import FrameworkAdapter
from tests.pending_truth import assert_agrees, config_of


def _thread() -> str:
    return f"t-{uuid.uuid4().hex}"


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


class ToolCallingFake(GenericFakeChatModel):
    """A scripted chat model that accepts tools (its replies are fixed in advance)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:
        return self


def _agent(adapter: FrameworkAdapter, mode: Literal["batched", "per_call"]) -> Any:
    calls = [
        {"name": "send_email", "args": {"to": to, "body": "hi"}, "id": f"call-{to}"}
        for to in ("ann", "bob")
    ]
    model = ToolCallingFake(
        messages=iter([AIMessage(content="", tool_calls=calls), AIMessage(content="all sent")])
    )
    return create_agent(
        model,
        tools=[send_email],
        middleware=[
            HumanInTheLoopMiddleware(interrupt_on={"send_email": True}, interrupt_mode=mode)
        ],
        checkpointer=adapter,
    )


@pytest.mark.parametrize("mode", ["batched", "per_call"])
def test_human_in_the_loop_middleware_answered_by_token(
    adapter: FrameworkAdapter, mode: Literal["batched", "per_call"]
) -> None:
    agent = _agent(adapter, mode)
    thread = _thread()
    agent.invoke(
        {"messages": [{"role": "user", "content": "email ann and bob"}]}, config_of(thread)
    )
    assert_agrees(agent, adapter, thread)
    pending = adapter.pending.list(thread)
    assert len(pending) == (1 if mode == "batched" else 2)
    if mode == "per_call":
        assert all(p.response_schema for p in pending)

    answers: dict[str, Any] = {}
    for p in pending:
        claimed = adapter.pending.claim(p.token)
        if mode == "batched":
            answers.update(claimed.resume_map({"decisions": [{"type": "approve"}] * 2}))
        else:
            answers.update(claimed.resume_map({"type": "approve"}))
    result = agent.invoke(Command(resume=answers), config_of(thread))
    assert result["messages"][-1].content == "all sent"
    assert [m.content for m in result["messages"] if m.type == "tool"] == [
        "sent to ann",
        "sent to bob",
    ]
    assert adapter.pending.list(thread) == []
    assert_agrees(agent, adapter, thread)
