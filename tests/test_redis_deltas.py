"""Growing lists stored as deltas: exact round trips, bounded chains, safe under pruning."""

from __future__ import annotations

import threading
import uuid
from typing import Annotated, Any, TypedDict

import ormsgpack
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from kortyx_langgraph import create_redis_framework_adapter
from kortyx_langgraph.redis.deltas import (
    HELD_BYTES,
    MAX_CHAIN,
    DeltaPlanner,
    array_header,
    join_chain,
    list_shape,
    make_array_header,
)
from tests.redis_harness import RedisServer

items = st.lists(
    st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=20), st.binary(max_size=20))
)


@given(st.lists(items, min_size=1, max_size=6))
def test_a_chain_of_appends_joins_back_into_the_whole_list(batches: list[list[Any]]) -> None:
    planner = DeltaPlanner()
    values: list[Any] = []
    stored: dict[str, bytes] = {}
    for n, batch in enumerate(batches):
        values = values + batch
        payload = ormsgpack.packb(values)
        field = f"v{n:03}"
        plan = planner.plan(("t", "", "messages"), field, "msgpack", payload)
        full = ormsgpack.packb(["msgpack", payload])
        stored[field] = plan.delta if plan.base_field in stored else full
        chain: list[bytes | None] = [stored[field]]
        while chain[-1] is not None and chain[-1].startswith(b"~"):
            base = ormsgpack.unpackb(chain[-1][5 : 5 + int.from_bytes(chain[-1][1:5], "big")])[0]
            chain.append(stored[base])
        if len(chain) == 1:
            assert ormsgpack.unpackb(chain[0]) == ["msgpack", payload]
        else:
            kind, joined = join_chain(chain, lambda raw: tuple(ormsgpack.unpackb(raw)))
            assert (kind, joined) == ("msgpack", payload)


@pytest.mark.parametrize("count", [0, 1, 15, 16, 65_535, 65_536])
def test_array_headers_round_trip(count: int) -> None:
    assert array_header(make_array_header(count)) == (count, len(make_array_header(count)))


def test_no_delta_for_values_that_are_not_lists_or_do_not_extend() -> None:
    planner = DeltaPlanner()
    key = ("t", "", "c")
    assert planner.plan(key, "a", "msgpack", ormsgpack.packb({"x": 1})).base_field == ""
    assert planner.plan(key, "b", "msgpack", ormsgpack.packb([1, 2])).base_field == ""
    assert planner.plan(key, "c", "msgpack", ormsgpack.packb([1, 2, 3])).base_field == "b"
    assert planner.plan(key, "d", "msgpack", ormsgpack.packb([9, 2, 3, 4])).base_field == ""
    assert planner.plan(key, "e", "json", b"[1, 2, 3, 4, 5]").base_field == ""
    assert planner.plan(key, "f", "msgpack+aes", ormsgpack.packb([1])).base_field == ""


def test_chains_are_bounded() -> None:
    planner = DeltaPlanner()
    depths = []
    run = 0
    for n in range(3 * MAX_CHAIN):
        plan = planner.plan(("t", "", "c"), f"v{n}", "msgpack", ormsgpack.packb(list(range(n))))
        run = run + 1 if plan.base_field else 0
        depths.append(run)
    assert max(depths) == MAX_CHAIN


steps = st.lists(
    st.tuples(
        st.sampled_from("abc"),  # which channel is written
        st.one_of(st.none(), items),  # None: the channel's list is replaced, else extended
        st.booleans(),  # sent as a bytearray, changed after it was planned
    ),
    min_size=1,
    max_size=30,
)


@given(steps)
def test_the_byte_budget_changes_what_a_plan_costs_never_the_plan(
    writes: list[tuple[str, list[Any] | None, bool]],
) -> None:
    # the planner compares a new version with the last one in place while its byte budget
    # holds that one, and with a digest after: whatever the budget, every write is planned
    # alike (among planners keeping as many entries), and so is a buffer that its caller
    # changes after the plan (which must not be kept as it was handed in)
    groups = [
        [DeltaPlanner(held_bytes=b) for b in (HELD_BYTES, 0, 40)],
        [DeltaPlanner(capacity=2, held_bytes=b) for b in (HELD_BYTES, 0, 60)],
    ]
    lists: dict[str, list[Any]] = {}
    for n, (channel, added, mutable) in enumerate(writes):
        before = lists.get(channel, [])
        lists[channel] = [n] if added is None else before + added
        payload = ormsgpack.packb(lists[channel])
        for planners in groups:
            plans = set()
            for planner in planners:
                sent = bytearray(payload) if mutable else payload
                plan = planner.plan(("t", "", channel), f"v{n}", "msgpack", sent)  # type: ignore[arg-type]
                if isinstance(sent, bytearray):
                    sent[-1:] = b"\xc0"  # the caller reuses its buffer
                plans.add((plan.base_field, plan.delta))
            assert len(plans) == 1
            assert all(_held(planner) <= planner._held_bytes for planner in planners)
            (base, delta), *_ = plans
            if base:  # a delta of the version before: exactly the items after it
                assert base == f"v{max(i for i, w in enumerate(writes[:n]) if w[0] == channel)}"
                assert lists[channel][: len(before)] == before
                tail = lists[channel][len(before) :]
                assert delta.endswith(ormsgpack.packb(tail)[len(make_array_header(len(tail))) :])


def _held(planner: DeltaPlanner) -> int:
    """Bytes of the values ``planner`` keeps to compare in place."""
    return sum(len(e.payload) for e in planner._last.values() if e.payload is not None)


def test_threads_planning_at_once_each_get_their_deltas_within_the_budget() -> None:
    # threads of one process plan their own threads' lists at once, while the budget lets
    # go of values under them: every step of every list is still a delta of the one before
    # (but the first of each chain)
    planner = DeltaPlanner(held_bytes=2_000)
    failures: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for key in range(4):
                values: list[int] = []
                for step in range(150):
                    values.append(step)
                    payload = ormsgpack.packb(values)
                    channel = ("t", "", f"{worker}-{key}")
                    plan = planner.plan(channel, f"v{step}", "msgpack", payload)
                    whole = step % (MAX_CHAIN + 1) == 0  # a chain's first value
                    assert plan.base_field == ("" if whole else f"v{step - 1}")
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert 0 < _held(planner) <= 2_000


class Chat(TypedDict):
    messages: Annotated[list[Any], add_messages]


def _chat_graph(checkpointer: Any) -> Any:
    def reply(state: Chat) -> Chat:
        return {"messages": [("ai", f"reply {len(state['messages'])} " + "x" * 200)]}

    builder = StateGraph(Chat)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer)


def _texts(state: Any) -> list[str]:
    return [m.content for m in state.values["messages"]]


def _chain_depth(stored: dict[bytes, bytes], field: bytes) -> int:
    """How many deltas lead from ``field`` down to a full value."""
    depth = 0
    value = stored[field]
    while value.startswith(b"~"):
        length = int.from_bytes(value[1:5], "big")
        base = ormsgpack.unpackb(value[5 : 5 + length])[0]
        value = stored[base.encode()]
        depth += 1
    return depth


@pytest.mark.redis
def test_a_long_conversation_is_stored_as_deltas_and_reads_back_exactly(
    redis_standalone: RedisServer,
) -> None:
    prefix = f"kortyx-test-{uuid.uuid4().hex[:12]}:"
    adapter = create_redis_framework_adapter(url=redis_standalone.url, prefix=prefix)
    graph = _chat_graph(adapter)
    config = {"configurable": {"thread_id": "chat"}}
    for turn in range(MAX_CHAIN + 10):
        graph.invoke({"messages": [("user", f"turn {turn}")]}, config)
    client = redis.Redis.from_url(redis_standalone.url)
    [blob_key] = client.keys(f"{prefix}*:blob")
    values = client.hvals(blob_key)
    deltas = [v for v in values if v.startswith(b"~")]
    assert len(deltas) > MAX_CHAIN, "most message versions are deltas"
    # past MAX_CHAIN deltas in a row, a full value is stored again: no stored chain is longer
    stored = dict(zip(client.hkeys(blob_key), values, strict=True))
    depths = [_chain_depth(stored, field) for field in stored if b":messages:" in field]
    assert max(depths) == MAX_CHAIN
    assert depths.count(0) >= 2, "a full value was stored again after the longest chain"
    # every historical state reads back as it was written
    history = list(graph.get_state_history(config))
    expected = [
        t for n in range(MAX_CHAIN + 10) for t in (f"turn {n}", f"reply {2 * n + 1} " + "x" * 200)
    ]
    assert _texts(history[0]) == expected
    lengths = [len(_texts(state)) for state in history]
    assert lengths == sorted(lengths, reverse=True)
    # a fresh process (no memory of earlier writes) starts a new full value, then deltas
    fresh = create_redis_framework_adapter(url=redis_standalone.url, prefix=prefix)
    _chat_graph(fresh).invoke({"messages": [("user", "after restart")]}, config)
    assert _texts(graph.get_state(config))[-2] == "after restart"
    client.close()


@pytest.mark.redis
def test_pruning_keeps_the_bases_the_latest_state_needs(redis_standalone: RedisServer) -> None:
    prefix = f"kortyx-test-{uuid.uuid4().hex[:12]}:"
    adapter = create_redis_framework_adapter(url=redis_standalone.url, prefix=prefix)
    graph = _chat_graph(adapter)
    config = {"configurable": {"thread_id": "chat"}}
    for turn in range(10):
        graph.invoke({"messages": [("user", f"turn {turn}")]}, config)
    before = _texts(graph.get_state(config))
    adapter.prune(["chat"])
    assert len(list(adapter.list(config))) == 1
    assert _texts(graph.get_state(config)) == before
    graph.invoke({"messages": [("user", "after prune")]}, config)
    assert _texts(graph.get_state(config))[:-1] == [*before, "after prune"]


def _put_list(adapter: Any, thread_id: str, values: list[Any]) -> str:
    """Store ``values`` as the ``messages`` channel of a new checkpoint; return its blob field
    name (``<ns>:<channel>:<version>``, percent-encoded like the layout does)."""
    version = adapter.get_next_version(None, None)
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"messages": values}
    checkpoint["channel_versions"] = {"messages": version}
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    adapter.put(config, checkpoint, {}, {"messages": version})
    return f":messages:{version}"


@pytest.mark.redis
def test_a_delta_whose_base_vanished_is_stored_whole(redis_standalone: RedisServer) -> None:
    prefix = f"kortyx-test-{uuid.uuid4().hex[:12]}:"
    adapter = create_redis_framework_adapter(url=redis_standalone.url, prefix=prefix)
    client = redis.Redis.from_url(redis_standalone.url)
    try:
        base = _put_list(adapter, "chat", ["a", "b"])
        [blob_key] = client.keys(f"{prefix}*:blob")
        # the planner remembers the base and will send a delta against it, but the base is
        # removed behind its back (as by another process's prune): the put script must
        # store the full value the client sends along
        assert client.hdel(blob_key, base) == 1
        following = _put_list(adapter, "chat", ["a", "b", "c"])
        stored = client.hget(blob_key, following)
        assert stored is not None and not stored.startswith(b"~"), "stored against no base"
        latest = adapter.get_tuple({"configurable": {"thread_id": "chat"}})
        assert latest is not None
        assert latest.checkpoint["channel_values"]["messages"] == ["a", "b", "c"]
        # with the base in place, the same step is stored as a delta (the planner did plan one)
        third = _put_list(adapter, "chat", ["a", "b", "c", "d"])
        assert client.hget(blob_key, third).startswith(b"~")
    finally:
        client.close()
        adapter.close()


@pytest.mark.redis
def test_results_match_langgraphs_own_saver() -> None:
    """The same conversation through InMemorySaver and the Redis adapter reads the same."""
    with RedisServer() as server:
        ours = _chat_graph(create_redis_framework_adapter(url=server.url, prefix="diff:"))
        theirs = _chat_graph(InMemorySaver())
        config = {"configurable": {"thread_id": "same"}}
        for turn in range(30):
            ours.invoke({"messages": [("user", f"turn {turn}")]}, config)
            theirs.invoke({"messages": [("user", f"turn {turn}")]}, config)
        mine = [_texts(s) for s in ours.get_state_history(config)]
        reference = [_texts(s) for s in theirs.get_state_history(config)]
        assert mine == reference
        assert len(mine[0]) == 60


@pytest.mark.redis
def test_a_step_of_a_long_list_sends_what_it_added(redis_standalone: RedisServer) -> None:
    adapter = create_redis_framework_adapter(
        url=redis_standalone.url, prefix=f"kortyx-test-{uuid.uuid4().hex[:12]}:"
    )
    probe = redis.Redis.from_url(redis_standalone.url)

    def server_counts() -> tuple[int, int]:
        # what the server received, and the scripts it ran (read by this probe's own client)
        received = int(probe.info("stats")["total_net_input_bytes"])
        calls = probe.info("commandstats")
        return received, sum(
            calls.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval")
        )

    try:
        items = [f"item {n} " + "x" * 100 for n in range(200)]
        _put_list(adapter, "chat", items)
        received, scripts_run = server_counts()
        _put_list(adapter, "chat", [*items, "one more"])
        received_after, scripts_after = server_counts()
        # one call, about the size of the added item (the list itself is 22 KB)
        assert scripts_after - scripts_run == 1
        assert received_after - received < 2_000, received_after - received
        latest = adapter.get_tuple({"configurable": {"thread_id": "chat"}})
        assert latest is not None
        assert latest.checkpoint["channel_values"]["messages"] == [*items, "one more"]
    finally:
        probe.close()
        adapter.close()


@given(st.lists(st.tuples(items, st.booleans()), min_size=1, max_size=6))
def test_a_chain_of_delta_channel_snapshots_joins_back_exactly(
    versions: list[tuple[list[Any], bool]],
) -> None:
    # a DeltaChannel stores its whole list as a snapshot (an extension around the array);
    # each version, a snapshot or a plain list, is stored as a delta of the one before
    # and joins back into exactly the bytes the serializer wrote
    serde = JsonPlusSerializer()
    planner = DeltaPlanner()
    values: list[Any] = []
    stored: dict[str, bytes] = {}
    for n, (batch, snapshot) in enumerate(versions):
        values = values + batch
        kind, payload = serde.dumps_typed(_DeltaSnapshot(values) if snapshot else values)
        assert list_shape(payload) is not None
        field = f"v{n:03}"
        plan = planner.plan(("t", "", "messages"), field, kind, payload)
        stored[field] = (
            plan.delta if plan.base_field in stored else ormsgpack.packb([kind, payload])
        )
        if n > 0:
            assert plan.base_field == f"v{n - 1:03}"
        chain: list[bytes | None] = [stored[field]]
        while chain[-1] is not None and chain[-1].startswith(b"~"):
            base = ormsgpack.unpackb(chain[-1][5 : 5 + int.from_bytes(chain[-1][1:5], "big")])[0]
            chain.append(stored[base])
        if len(chain) > 1:
            joined = join_chain(chain, lambda raw: tuple(ormsgpack.unpackb(raw)))
            assert joined == (kind, payload)
            read = serde.loads_typed(joined)
            assert (read.value if snapshot else read) == values


def _extend(state: list[str], writes: Any) -> list[str]:
    out = list(state)
    for batch in writes:
        out.extend(batch)
    return out


@pytest.mark.redis
def test_delta_channel_snapshots_are_stored_as_deltas(redis_standalone: RedisServer) -> None:
    class State(TypedDict, total=False):
        messages: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=3)]

    def reply(state: State) -> State:
        return {"messages": [f"reply {len(state.get('messages', []))} " + "x" * 300]}

    builder = StateGraph(State)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    prefix = f"kortyx-test-{uuid.uuid4().hex[:12]}:"
    adapter = create_redis_framework_adapter(url=redis_standalone.url, prefix=prefix)
    reference = InMemorySaver()
    config = {"configurable": {"thread_id": "snapshots"}}
    graphs = [builder.compile(checkpointer=saver) for saver in (adapter, reference)]
    for turn in range(15):
        for graph in graphs:
            graph.invoke({"messages": [f"user {turn}"]}, config)
    client = redis.Redis.from_url(redis_standalone.url)
    [blob_key] = client.keys(f"{prefix}*:blob")
    snapshots = {
        field: value for field, value in client.hgetall(blob_key).items() if b":messages:" in field
    }
    client.close()
    assert len(snapshots) >= 5
    assert sum(value.startswith(b"~") for value in snapshots.values()) >= len(snapshots) - 2
    ours = [s.values for s in graphs[0].get_state_history(config)]
    theirs = [s.values for s in graphs[1].get_state_history(config)]
    assert ours == theirs
    assert len(ours[0]["messages"]) == 30
