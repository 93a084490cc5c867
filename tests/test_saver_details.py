"""Details of what every backend stores and returns that the conformance suite leaves open."""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.base import WRITES_IDX_MAP, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.memory import InMemorySaver

from kortyx_langgraph import ConfigurationError, FrameworkAdapter


def _put(
    adapter: FrameworkAdapter,
    thread_id: str,
    *,
    ns: str = "",
    parent: str | None = None,
    values: dict[str, Any] | None = None,
    versions: dict[str, str] | None = None,
) -> dict[str, Any]:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6(clock_seq=-1))
    values = values or {}
    versions = versions or {channel: adapter.get_next_version(None, None) for channel in values}
    checkpoint["channel_values"] = dict(values)
    checkpoint["channel_versions"] = dict(versions)
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
    if parent:
        config["configurable"]["checkpoint_id"] = parent
    return dict(adapter.put(config, checkpoint, {"source": "loop", "step": 0}, versions))


def test_writes_of_one_task_come_back_by_index_not_by_arrival(adapter: FrameworkAdapter) -> None:
    config = _put(adapter, f"t-{uuid.uuid4().hex}")
    adapter.put_writes(config, [("a", 1), ("b", 2)], "task")  # indexes 0 and 1
    adapter.put_writes(config, [("__error__", "boom")], "task")  # a negative index
    stored = adapter.get_tuple(config)
    assert stored is not None
    assert WRITES_IDX_MAP["__error__"] < 0
    assert [(w[1], w[2]) for w in stored.pending_writes or []] == [
        ("__error__", "boom"),
        ("a", 1),
        ("b", 2),
    ]


def test_a_channel_with_a_version_and_no_value_has_no_value(adapter: FrameworkAdapter) -> None:
    versions = {"set": adapter.get_next_version(None, None)}
    versions["unset"] = adapter.get_next_version(None, None)
    config = _put(adapter, f"t-{uuid.uuid4().hex}", values={"set": 1}, versions=versions)
    stored = adapter.get_tuple(config)
    assert stored is not None
    assert stored.checkpoint["channel_values"] == {"set": 1}
    assert stored.checkpoint["channel_versions"] == versions


def test_the_parent_config_keeps_the_namespace(adapter: FrameworkAdapter) -> None:
    thread_id = f"t-{uuid.uuid4().hex}"
    first = _put(adapter, thread_id, ns="child:1")
    second = _put(adapter, thread_id, ns="child:1", parent=first["configurable"]["checkpoint_id"])
    stored = adapter.get_tuple(second)
    assert stored is not None
    assert stored.parent_config == first


def test_an_unknown_prune_strategy_names_the_setting(adapter: FrameworkAdapter) -> None:
    expected = "^unknown prune strategy 'all'; use one of keep_latest, delete$"
    with pytest.raises(ConfigurationError, match=expected) as err:
        adapter.prune(["t"], strategy="all")
    assert err.value.variable == "strategy"


def test_versions_count_up_by_one_from_one(adapter: FrameworkAdapter) -> None:
    first = adapter.get_next_version(None, None)
    assert re.fullmatch(r"000000000001\.[0-9a-f]{10}", first)
    assert adapter.get_next_version(first, None).startswith("000000000002.")
    assert adapter.get_next_version(6, None).startswith("000000000007.")
    assert adapter.get_next_version("000000000009.1.5", None).startswith("000000000010.")


async def test_prune_keeps_the_latest_checkpoint_by_default(adapter: FrameworkAdapter) -> None:
    for pruned in ("sync", "async"):
        thread_id = f"t-{uuid.uuid4().hex}"
        first = _put(adapter, thread_id)
        latest = _put(adapter, thread_id, parent=first["configurable"]["checkpoint_id"])
        if pruned == "sync":
            adapter.prune([thread_id])
        else:
            await adapter.aprune([thread_id])
        kept = [t.config for t in adapter.list({"configurable": {"thread_id": thread_id}})]
        assert kept == [latest], pruned


_versions = st.one_of(
    st.sampled_from(["000000000003.0a1b2c3d4e", "000000000004.ffffffffff"]),
    st.text(max_size=6),
    st.integers(0, 2**40),
    st.floats(0, 1e6, allow_nan=False),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    versions=st.dictionaries(st.sampled_from(["a", "b:c", "d%e", "__start__"]), _versions),
    seen=st.dictionaries(
        st.sampled_from(["node", "n:2"]), st.dictionaries(st.just("a"), _versions)
    ),
)
def test_a_checkpoint_reads_back_as_langgraphs_saver_returns_it(
    adapter: FrameworkAdapter, versions: dict[str, Any], seen: dict[str, Any]
) -> None:
    # the stored body leaves out what the record holds beside it (id, string versions);
    # what comes back is the same dict, keys in the same order, whatever the versions are
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6(clock_seq=-1))
    checkpoint["channel_values"] = {channel: [channel] for channel in versions}
    checkpoint["channel_versions"] = dict(versions)
    checkpoint["versions_seen"] = seen
    config: dict[str, Any] = {
        "configurable": {"thread_id": f"t-{uuid.uuid4().hex}", "checkpoint_ns": ""}
    }
    got = []
    for saver in (InMemorySaver(), adapter):
        saved = saver.put(config, copy.deepcopy(checkpoint), {"step": 1}, dict(versions))
        read = saver.get_tuple(saved)
        assert read is not None
        got.append(read.checkpoint)
    reference, ours = got
    assert ours == reference
    assert list(ours) == list(reference)
    assert {c: type(v) for c, v in ours["channel_versions"].items()} == {
        c: type(v) for c, v in versions.items()
    }


def test_a_stored_step_holds_its_id_and_versions_once(
    redis_pair: tuple[FrameworkAdapter, Any],
) -> None:
    adapter, client = redis_pair
    version = adapter.get_next_version(None, None)
    channels = {"messages": ["hi"], "count": 1, "branch:to:agent": None}
    saved = _put(adapter, "once", values=channels, versions=dict.fromkeys(channels, version))
    checkpoint_id = saved["configurable"]["checkpoint_id"]
    (stored,) = [
        value
        for key in client.scan_iter(match=f"{adapter.prefix}*:cp")
        for value in client.hvals(key)
    ]
    assert stored.count(version.encode()) == 1
    assert checkpoint_id.encode() not in stored
    read = adapter.get_tuple(saved)
    assert read is not None
    assert read.checkpoint["id"] == checkpoint_id
    assert read.checkpoint["channel_versions"] == dict.fromkeys(channels, version)
