"""The benchmark harness's --message-bytes option: the agent loop writes messages that size."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks.config import FULL
from benchmarks.graphs import MESSAGE_BYTES, agent_input, agent_loop_graph, thread_config
from benchmarks.run import _parse


@pytest.mark.parametrize("size", [MESSAGE_BYTES, 64, 20_000])
def test_agent_loop_messages_have_the_asked_size(size: int) -> None:
    graph = agent_loop_graph(InMemorySaver(), 3, message_bytes=size)
    result = graph.invoke(agent_input(), thread_config("t", 3))
    assert [len(m.content) for m in result["messages"]] == [size] * 3
    assert len({m.content for m in result["messages"]}) == 3


def test_message_bytes_option_is_parsed_and_checked() -> None:
    assert _parse([]).message_bytes is None
    assert _parse(["--message-bytes", "16384"]).message_bytes == 16384
    assert FULL.message_bytes == MESSAGE_BYTES
    with pytest.raises(SystemExit):
        _parse(["--message-bytes", "0"])
