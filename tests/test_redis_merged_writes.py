"""Concurrent ``put_writes`` of one thread sent as one script call (``redis/merged.py``).

The promise, as a property on real servers: whatever writes a pipeline carries, sending
them as merged calls stores exactly what sending them one at a time stores, pending
interrupts included. And a merged call that fails as a whole answers each of its writes
with "send it alone", so each then tells its own outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.cluster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.types import Interrupt

from kortyx_langgraph import create_redis_framework_adapter
from kortyx_langgraph.errors import DeserializationError
from kortyx_langgraph.redis import merged, scripts
from kortyx_langgraph.redis.operations import Call
from tests.redis_snapshot import stored

pytestmark = pytest.mark.redis

TASKS = ("task-a", "task-b", "task-c")
CHANNELS = ("items", "count", "__error__", "__interrupt__")


def _value(channel: str, n: int) -> Any:
    if channel == "__interrupt__":
        return (Interrupt(value={"ask": n}, id=f"{n % 3:032x}"),)
    if channel == "__error__":
        return f"error {n}"
    return [n] if channel == "items" else n


writes = st.lists(
    st.tuples(st.sampled_from(CHANNELS), st.integers(0, 5)).map(
        lambda pair: (pair[0], _value(*pair))
    ),
    max_size=3,
)
calls = st.lists(st.tuples(st.sampled_from(TASKS), writes), min_size=2, max_size=merged.MOST + 4)


@pytest.fixture(params=["redis", "redis-cluster"])
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """An adapter, and a client of the same server (or cluster) to read what it stored."""
    from tests.conftest import redis_url_for

    url = redis_url_for(request, request.param)
    made = create_redis_framework_adapter(url=url, prefix=f"merged-{uuid.uuid4().hex[:8]}:")
    cluster = request.param == "redis-cluster"
    admin = (redis.cluster.RedisCluster if cluster else redis.Redis).from_url(url)
    try:
        yield made, admin
    finally:
        admin.close()
        made.close()


@pytest.fixture
def adapter(servers: tuple[Any, Any]) -> Any:
    return servers[0]


@pytest.fixture
def admin(servers: tuple[Any, Any]) -> Any:
    return servers[1]


def _target(adapter: Any, thread_id: str, *, stored: bool) -> tuple[dict[str, Any], Any]:
    """A checkpoint to write to, and the checkpoint: stored, or only named so far (under
    async durability writes often come before the checkpoint is stored)."""
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()
    if stored:
        return dict(adapter.put(config, checkpoint, {"step": 0}, {})), checkpoint
    return {"configurable": {**config["configurable"], "checkpoint_id": checkpoint["id"]}}, (
        checkpoint
    )


def _steps(adapter: Any, config: Any, sequence: list[tuple[str, Any]]) -> list[Call]:
    """The script call each ``put_writes`` would send."""
    steps = []
    for task, task_writes in sequence:
        step = next(adapter._ops.put_writes(config, task_writes, task, ""))
        assert isinstance(step, Call)
        steps.append(step)
    return steps


def _send_pipeline(adapter: Any, steps: list[Call]) -> list[Any]:
    connection = adapter.connection
    return list(connection._send_pipeline(connection.sync_client(), steps))


def _what_is_stored(adapter: Any, config: Any, thread_id: str) -> Any:
    pending = sorted((p.interrupt_id, repr(p.value)) for p in adapter.pending.list(thread_id))
    found = adapter.get_tuple(config)
    assert found is not None
    return pending, [(task, channel, repr(value)) for task, channel, value in found.pending_writes]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=calls, record_first=st.booleans())
def test_merged_writes_store_what_the_same_writes_sent_one_at_a_time_store(
    adapter: Any, admin: Any, sequence: list[tuple[str, Any]], record_first: bool
) -> None:
    run = uuid.uuid4().hex[:8]
    merged_config, merged_checkpoint = _target(adapter, f"merged-{run}", stored=record_first)
    alone_config, alone_checkpoint = _target(adapter, f"alone-{run}", stored=record_first)
    steps = _steps(adapter, merged_config, sequence)
    runs = merged.plan(steps)
    assert len(runs) < len(steps), "the writes of one thread should be merged"
    assert all(1 < len(r) <= merged.MOST for r in runs[:-1])

    assert _send_pipeline(adapter, steps) == [1] * len(steps)
    for task, task_writes in sequence:
        adapter.put_writes(alone_config, task_writes, task)
    if not record_first:  # the checkpoint comes after its writes
        for config, checkpoint in (
            (merged_config, merged_checkpoint),
            (alone_config, alone_checkpoint),
        ):
            unnamed = {"configurable": {**config["configurable"], "checkpoint_id": None}}
            del unnamed["configurable"]["checkpoint_id"]
            adapter.put(unnamed, checkpoint, {"step": 0}, {})

    assert _what_is_stored(adapter, merged_config, f"merged-{run}") == _what_is_stored(
        adapter, alone_config, f"alone-{run}"
    )


def test_a_merged_call_that_meets_an_emptied_script_cache_is_sent_alone_then_loaded(
    redis_standalone: Any,
) -> None:
    adapter = create_redis_framework_adapter(
        url=redis_standalone.url, prefix=f"merged-{uuid.uuid4().hex[:8]}:"
    )
    client = redis.Redis.from_url(redis_standalone.url)
    try:
        config, _ = _target(adapter, "cache", stored=True)
        sequence = [(task, [("items", [n])]) for n, task in enumerate(TASKS)]
        # first sent with EVAL: the node has not been asked for the merged script yet
        assert _send_pipeline(adapter, _steps(adapter, config, sequence)) == [1, 1, 1]
        assert client.script_exists(scripts.PUT_WRITES_MANY.sha) == [True]
        client.script_flush()  # as after a restart or a failover
        replies = _send_pipeline(adapter, _steps(adapter, config, sequence))
        assert [type(r) for r in replies] == [merged.SendAlone] * 3
        assert adapter.connection._resolve(None, replies[0]) is None  # each goes again alone
        # the connection no longer takes the script for loaded: EVAL again
        assert _send_pipeline(adapter, _steps(adapter, config, sequence)) == [1, 1, 1]
        found = adapter.get_tuple(config)
        assert found is not None
        assert sorted(found.pending_writes) == [
            (task, "items", [n]) for n, task in enumerate(TASKS)
        ]
    finally:
        client.close()
        adapter.close()


def test_a_merged_call_stops_at_a_write_that_fails_and_the_rest_go_alone(
    adapter: Any, admin: Any
) -> None:
    # A pipeline with writes to a checkpoint whose record is unreadable and to a sound one.
    # The merged call runs the writes before the broken one, stops there and says so: that
    # write gets its own error, the one after it is sent alone (as group commit does), and
    # nothing runs twice.
    broken, _ = _target(adapter, "thread", stored=True)
    sound = dict(adapter.put(broken, empty_checkpoint(), {"step": 1}, {}))
    sequence = [("task-a", [("items", [1])]), ("task-b", [("items", [2])])]
    steps = _steps(adapter, sound, sequence) + _steps(adapter, broken, sequence[:1])
    steps += _steps(adapter, sound, [("task-c", [("items", [3])])])
    cp_key, member = steps[2].keys[1], steps[2].args[1]
    client = adapter.connection.sync_client()
    client.hset(cp_key, member, b"\x80\x00\x00\x01x")  # claims a body that is not there

    replies = _send_pipeline(adapter, steps)
    assert replies[:2] == [1, 1]
    assert isinstance(replies[2], redis.exceptions.ResponseError)
    error = adapter.connection._resolve(steps[2], replies[2])
    assert isinstance(error, DeserializationError)
    assert "could not be decoded" in str(error)
    assert isinstance(replies[3], merged.SendAlone)
    assert adapter.connection._resolve(steps[3], replies[3]) is None
    after_the_call = stored(admin, adapter.prefix)
    assert adapter.connection._send_retrying(client, steps[3]) == 1
    found = adapter.get_tuple(sound)
    assert found is not None
    assert sorted(found.pending_writes) == [
        ("task-a", "items", [1]),
        ("task-b", "items", [2]),
        ("task-c", "items", [3]),
    ]
    # the call gave every key of the thread its TTL, the writes that ran included
    assert all(expires for _, _, expires in after_the_call.values())


def test_only_consecutive_writes_of_the_same_keys_and_ttl_are_merged() -> None:
    def write(keys: tuple[str, ...], ttl: int = 900_000) -> Call:
        return Call(scripts.PUT_WRITES, keys, [ttl, "m", "t"])

    save = Call(scripts.PUT, ("a",), [900_000])
    steps = [
        write(("a",)),
        write(("a",)),
        save,
        write(("a",)),
        write(("b",)),
        write(("b",), ttl=0),
        *[write(("c",))] * (merged.MOST + 1),
    ]
    assert merged.plan(steps) == [
        [0, 1],
        [2],
        [3],
        [4],
        [5],
        list(range(6, 6 + merged.MOST)),
        [6 + merged.MOST],
    ]
    # and up to MOST_BYTES of arguments: a larger write goes alone
    half = "x" * (merged.MOST_BYTES // 2 + 1)
    large = [Call(scripts.PUT_WRITES, ("d",), [900_000, half, "t"]) for _ in range(3)]
    larger = Call(scripts.PUT_WRITES, ("d",), [900_000, half + half, "t"])
    assert merged.plan([*large, larger, *large[:1]]) == [[0], [1], [2], [3], [4]]
    small = Call(scripts.PUT_WRITES, ("d",), [900_000, "m", "t"])
    assert merged.plan([small, large[0], small, small]) == [[0, 1, 2, 3]]
    sent = merged.commands(steps, merged.plan(steps), lambda sha: False)
    assert sent[0][:2] == ("EVAL", scripts.PUT_WRITES_MANY.source)
    assert sent[0][2:] == (1, "a", 2, 3, 900_000, "m", "t", 3, 900_000, "m", "t")
    assert sent[1][:2] == ("EVALSHA", scripts.PUT.sha)
    assert merged.commands(steps[:2], [[0, 1]], lambda sha: True)[0][:2] == (
        "EVALSHA",
        scripts.PUT_WRITES_MANY.sha,
    )
