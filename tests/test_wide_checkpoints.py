"""Checkpoints with more channels than one Lua ``unpack()`` can take (about 8,000).

The Redis scripts read a checkpoint's channel values with ``HMGET``; with every field in one
call, a checkpoint of 9,000 channels was stored and then could not be read back.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph

from kortyx_langgraph import FrameworkAdapter

CHANNELS = 9_000
Wide = TypedDict("Wide", {f"c{i}": int for i in range(CHANNELS)}, total=False)  # type: ignore[misc]


def _put_wide(adapter: FrameworkAdapter, thread_id: str) -> tuple[Any, dict[str, int]]:
    values = {f"channel-{i}": i for i in range(CHANNELS)}
    versions = {channel: adapter.get_next_version(None, None) for channel in values}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = dict(values)
    checkpoint["channel_versions"] = dict(versions)
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    stored = adapter.put(config, checkpoint, {"source": "input", "step": -1}, versions)
    return stored, values


def test_a_checkpoint_with_9000_channels_reads_back(adapter: FrameworkAdapter) -> None:
    stored, values = _put_wide(adapter, "wide")
    found = adapter.get_tuple(stored)
    assert found is not None
    assert found.checkpoint["channel_values"] == values
    latest = adapter.get_tuple({"configurable": {"thread_id": "wide"}})
    assert latest is not None
    assert latest.checkpoint["channel_values"] == values
    [listed] = adapter.list({"configurable": {"thread_id": "wide"}})
    assert listed.checkpoint["channel_values"] == values


async def test_a_checkpoint_with_9000_channels_reads_back_async(
    adapter: FrameworkAdapter,
) -> None:
    stored, values = _put_wide(adapter, "wide-async")
    found = await adapter.aget_tuple(stored)
    assert found is not None
    assert found.checkpoint["channel_values"] == values
    listed = [t async for t in adapter.alist({"configurable": {"thread_id": "wide-async"}})]
    assert [t.checkpoint["channel_values"] for t in listed] == [values]


def test_thread_operations_on_a_checkpoint_with_9000_channels(adapter: FrameworkAdapter) -> None:
    stored, values = _put_wide(adapter, "wide-source")
    adapter.put_writes(stored, [(f"channel-{i}", -i) for i in range(CHANNELS)], "task")
    adapter.copy_thread("wide-source", "wide-copy")
    copied = adapter.get_tuple({"configurable": {"thread_id": "wide-copy"}})
    assert copied is not None
    assert copied.checkpoint["channel_values"] == values
    assert len(copied.pending_writes or []) == CHANNELS
    requested = list(values)[:10]
    history = adapter.get_delta_channel_history(config=stored, channels=requested)
    assert sorted(history) == sorted(requested)
    assert all(not entry["writes"] for entry in history.values())  # no ancestors
    adapter.prune(["wide-copy"], strategy="keep_latest")
    assert adapter.get_tuple({"configurable": {"thread_id": "wide-copy"}}) is not None
    adapter.delete_thread("wide-copy")
    assert adapter.get_tuple({"configurable": {"thread_id": "wide-copy"}}) is None


def test_a_graph_with_9000_channels_runs_and_resumes_its_state(adapter: FrameworkAdapter) -> None:
    def fill(state: dict[str, int]) -> dict[str, int]:
        bump = 1 if state.get("c1") else 0
        return {f"c{i}": i + bump for i in range(1, CHANNELS)}

    builder = StateGraph(Wide)
    builder.add_node("fill", fill)
    builder.add_edge(START, "fill")
    builder.add_edge("fill", END)
    graph = builder.compile(checkpointer=adapter)
    config: Any = {"configurable": {"thread_id": "wide-graph"}}
    graph.invoke({"c0": -1}, config)
    assert graph.get_state(config).values == {"c0": -1} | {f"c{i}": i for i in range(1, CHANNELS)}
    graph.invoke({"c0": -2}, config)
    state = graph.get_state(config).values
    assert state == {"c0": -2} | {f"c{i}": i + 1 for i in range(1, CHANNELS)}
