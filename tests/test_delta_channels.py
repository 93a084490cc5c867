"""``DeltaChannel`` (beta) threads: history walk, prune, copy, all rebuild the same state."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from kortyx_langgraph import FrameworkAdapter


def _extend(state: list[str], writes: Sequence[list[str]]) -> list[str]:
    out = list(state)
    for batch in writes:
        out.extend(batch)
    return out


class ChatState(TypedDict, total=False):
    messages: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=4)]
    turns: int


def chat_graph(checkpointer: Any) -> Any:
    def reply(state: ChatState) -> ChatState:
        turn = state.get("turns", 0) + 1
        return {"messages": [f"reply {turn}"], "turns": turn}

    builder = StateGraph(ChatState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer)


def _chat(adapter: FrameworkAdapter, turns: int) -> tuple[Any, dict[str, Any]]:
    graph = chat_graph(adapter)
    config = {"configurable": {"thread_id": f"chat-{uuid.uuid4().hex}"}}
    for turn in range(turns):
        graph.invoke({"messages": [f"user {turn}"]}, config)
    return graph, config


def _expected(turns: int) -> list[str]:
    return [m for t in range(turns) for m in (f"user {t}", f"reply {t + 1}")]


def test_delta_channel_state_rebuilds_from_history(adapter: FrameworkAdapter) -> None:
    graph, config = _chat(adapter, 7)
    assert graph.get_state(config).values["messages"] == _expected(7)


def test_override_matches_the_reference_walk_at_every_checkpoint(
    adapter: FrameworkAdapter,
) -> None:
    _, config = _chat(adapter, 6)
    checkpoints = list(adapter.list(config))
    assert len(checkpoints) == 18
    for stored in checkpoints:
        mine = adapter.get_delta_channel_history(
            config=stored.config, channels=["messages", "turns"]
        )
        reference = BaseCheckpointSaver.get_delta_channel_history(
            adapter, config=stored.config, channels=["messages", "turns"]
        )
        assert mine == reference


async def test_async_override_matches_sync(adapter: FrameworkAdapter) -> None:
    _, config = _chat(adapter, 3)
    mine = await adapter.aget_delta_channel_history(config=config, channels=["messages"])
    assert mine == adapter.get_delta_channel_history(config=config, channels=["messages"])


def test_prune_keep_latest_keeps_what_delta_channels_rebuild_from(
    adapter: FrameworkAdapter,
) -> None:
    graph, config = _chat(adapter, 7)
    before = graph.get_state(config).values
    total = len(list(adapter.list(config)))
    adapter.prune([config["configurable"]["thread_id"]], strategy="keep_latest")
    kept = len(list(adapter.list(config)))
    assert 1 < kept < total, "kept the ancestors back to the last snapshot, dropped the rest"
    assert graph.get_state(config).values == before
    graph.invoke({"messages": ["user 7"]}, config)
    assert graph.get_state(config).values["messages"] == _expected(8)


def test_prune_keep_latest_without_delta_channels_keeps_one(adapter: FrameworkAdapter) -> None:
    from tests.graphs import counter_graph

    graph = counter_graph(adapter)
    config = {"configurable": {"thread_id": f"c-{uuid.uuid4().hex}"}}
    for _ in range(3):
        graph.invoke({"log": []}, config)
    before = graph.get_state(config).values
    adapter.prune([config["configurable"]["thread_id"]])
    assert len(list(adapter.list(config))) == 1
    assert graph.get_state(config).values == before


def test_copy_thread_carries_the_whole_delta_chain(adapter: FrameworkAdapter) -> None:
    graph, config = _chat(adapter, 5)
    target = {"configurable": {"thread_id": f"copy-{uuid.uuid4().hex}"}}
    adapter.copy_thread(config["configurable"]["thread_id"], target["configurable"]["thread_id"])
    assert graph.get_state(target).values["messages"] == _expected(5)
