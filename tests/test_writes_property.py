"""Pending writes: whatever tasks write, in whatever order, a checkpoint returns what
``InMemorySaver`` returns; and on Redis one task's ``put_writes`` never touches another
task's stored writes, so a fan-out of thousands of tasks costs each call the same."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT, RESUME

from kortyx_langgraph import (
    FrameworkAdapter,
    RedisFrameworkAdapter,
    create_in_memory_framework_adapter,
)
from kortyx_langgraph.redis import codec
from kortyx_langgraph.redis.layout import checkpoint_member, thread_keys
from tests.conftest import AdapterFactory
from tests.stored_forms import operations_of

TASKS = [f"task-{n}" for n in range(4)] + ["00000000-0000-0000-0000-000000000000"]
CHANNELS = ["a", "b", ERROR, INTERRUPT, RESUME]

# values small, or large enough that a task's writes leave the record for a field of their
# own (above 8 KB stored), alone or once a second write joins them
value = st.one_of(st.integers(0, 99), st.sampled_from(["m" * 5_000, "L" * 9_000, "X" * 20_000]))
one_call = st.tuples(
    st.integers(0, 1),  # which checkpoint
    st.sampled_from(TASKS),
    st.lists(st.tuples(st.sampled_from(CHANNELS), value), max_size=3),
)


def _put(saver: BaseCheckpointSaver[Any], thread_id: str, ns: str, parent: str | None) -> str:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6(clock_seq=-1))
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
    if parent is not None:
        config["configurable"]["checkpoint_id"] = parent
    saver.put(config, checkpoint, {"source": "loop", "step": 0, "run_id": "run-1"}, {})
    return checkpoint["id"]


def _config(thread_id: str, ns: str, checkpoint_id: str) -> dict[str, Any]:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def _replay(
    saver: BaseCheckpointSaver[Any], thread_id: str, ns: str, calls: list[Any]
) -> list[dict[str, Any]]:
    first = _put(saver, thread_id, ns, None)
    second = _put(saver, thread_id, ns, first)
    targets = [_config(thread_id, ns, first), _config(thread_id, ns, second)]
    for target, task, writes in calls:
        saver.put_writes(targets[target], writes, task, f"~path~{task}")
    return targets


def _writes_of(saver: BaseCheckpointSaver[Any], config: dict[str, Any]) -> list[Any]:
    found = saver.get_tuple(config)
    assert found is not None
    return list(found.pending_writes or [])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=st.lists(one_call, max_size=14), ns=st.sampled_from(["", "child:1"]))
def test_every_checkpoint_returns_the_writes_in_memory_saver_returns(
    make_adapter: AdapterFactory, calls: list[Any], ns: str
) -> None:
    adapter = make_adapter()
    reference = InMemorySaver()
    thread_id = f"t-{uuid.uuid4().hex}"
    ours = _replay(adapter, thread_id, ns, calls)
    theirs = _replay(reference, thread_id, ns, calls)
    for mine, expected in zip(ours, theirs, strict=True):
        assert _writes_of(adapter, mine) == _writes_of(reference, expected)
    # a copy (InMemorySaver has none) and a listing carry the same writes
    copy_id = f"{thread_id}-copy"
    adapter.copy_thread(thread_id, copy_id)
    for mine, expected in zip(ours, theirs, strict=True):
        mine_copy = _config(copy_id, ns, mine["configurable"]["checkpoint_id"])
        assert _writes_of(adapter, mine_copy) == _writes_of(reference, expected)
    listed = {
        t.config["configurable"]["checkpoint_id"]: t.pending_writes
        for t in adapter.list({"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}})
    }
    for mine, expected in zip(ours, theirs, strict=True):
        assert listed[mine["configurable"]["checkpoint_id"]] == _writes_of(reference, expected)


def _wr_fields(
    client: redis.Redis, adapter: RedisFrameworkAdapter, thread_id: str
) -> dict[bytes, bytes]:
    fields: dict[bytes, bytes] = client.hgetall(thread_keys(adapter.prefix, thread_id).wr)
    return fields


@pytest.mark.redis
def test_a_fan_out_stores_each_task_apart_and_returns_every_write(
    redis_pair: tuple[FrameworkAdapter, Any],
) -> None:
    adapter, client = redis_pair
    assert isinstance(adapter, RedisFrameworkAdapter)
    thread_id = f"t-{uuid.uuid4().hex}"
    checkpoint_id = _put(adapter, thread_id, "", None)
    config = _config(thread_id, "", checkpoint_id)
    tasks = [str(uuid.uuid4()) for _ in range(300)]
    for n, task in enumerate(tasks):
        adapter.put_writes(config, [("results", n), ("other", "x" * 50)], task, "~send")
    # a task that writes again merges into its own writes only
    adapter.put_writes(config, [(ERROR, "boom")], tasks[7], "~send")
    fields = _wr_fields(client, adapter, thread_id)
    # what any one put_writes read and rewrote: never more than one task's writes
    one_task = max(len(value) for value in fields.values())
    assert one_task < 1_000, one_task
    writes = _writes_of(adapter, config)
    assert len(writes) == 601
    assert sorted(v for (_, c, v) in writes if c == "results") == list(range(300))
    assert (tasks[7], ERROR, "boom") in writes


@pytest.mark.redis
def test_deleting_checkpoints_removes_every_writes_field_of_theirs(
    redis_pair: tuple[FrameworkAdapter, Any],
) -> None:
    adapter, client = redis_pair
    assert isinstance(adapter, RedisFrameworkAdapter)
    thread_id = f"t-{uuid.uuid4().hex}"
    first = _put(adapter, thread_id, "", None)
    latest = _put(adapter, thread_id, "", first)
    for checkpoint_id in (first, latest):
        for task in ("a", "b", "c"):
            adapter.put_writes(_config(thread_id, "", checkpoint_id), [("x", 1)], task, "")
    adapter.prune([thread_id], strategy="keep_latest")
    kept = checkpoint_member("", latest).encode()
    left = sorted(_wr_fields(client, adapter, thread_id))
    assert left and all(f.startswith(kept) for f in left), left
    assert len(_writes_of(adapter, _config(thread_id, "", latest))) == 3


def _as_before(value: bytes) -> bytes:
    """A stored writes value as versions before the short frame keys wrote it: every frame
    naming its task."""
    out, task = [], b""
    for key, entry in codec.iter_frames(value):
        if b"\0" in key:
            task = key.rpartition(b"\0")[0]
        out.append(codec.frame(key if b"\0" in key else task + b"\0" + key, entry))
    return b"".join(out)


@pytest.mark.redis
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=st.lists(one_call, max_size=8), after=st.lists(one_call, max_size=8))
def test_writes_stored_by_earlier_versions_merge_and_read_the_same(
    redis_pair: tuple[FrameworkAdapter, Any], before: list[Any], after: list[Any]
) -> None:
    adapter, client = redis_pair
    assert isinstance(adapter, RedisFrameworkAdapter)
    reference = InMemorySaver()
    thread_id = f"t-{uuid.uuid4().hex}"
    ours = _replay(adapter, thread_id, "", before)
    theirs = _replay(reference, thread_id, "", before)
    key = thread_keys(adapter.prefix, thread_id).wr
    for field, value in _wr_fields(client, adapter, thread_id).items():
        if b"#" not in field:
            client.hset(key, field, _as_before(value))
    for saver, targets in ((adapter, ours), (reference, theirs)):
        for target, task, writes in after:
            saver.put_writes(targets[target], writes, task, f"~path~{task}")
    for mine, expected in zip(ours, theirs, strict=True):
        assert _writes_of(adapter, mine) == _writes_of(reference, expected)


@pytest.mark.redis
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    calls=st.lists(one_call, max_size=12),
    early=st.integers(0, 12),
    forms=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_writes_read_the_same_whichever_came_first_and_whatever_form_the_record_has(
    redis_pair: tuple[FrameworkAdapter, Any], calls: list[Any], early: int, forms: list[bool]
) -> None:
    # the first `early` calls come before their checkpoints are stored (under async
    # durability LangGraph's puts often run after the writes of their checkpoint); each put
    # writes a record of the current form or of the form earlier versions wrote, and the
    # latest checkpoint is stored a second time
    adapter, _ = redis_pair
    assert isinstance(adapter, RedisFrameworkAdapter)
    reference = InMemorySaver()
    thread_id = f"t-{uuid.uuid4().hex}"
    ids = [str(uuid6(clock_seq=-1)) for _ in range(2)]
    targets = [_config(thread_id, "", i) for i in ids]
    checkpoints = []
    for checkpoint_id in ids:
        checkpoint = empty_checkpoint()
        checkpoint["id"] = checkpoint_id
        checkpoints.append(checkpoint)
    parents = [None, ids[0], ids[0]]
    metadata: Any = {"source": "loop", "step": 0, "run_id": "run-1"}

    def put(n: int, use: Any) -> None:
        use(writes_in_record=forms[n])
        configurable = {"thread_id": thread_id, "checkpoint_ns": ""}
        if parents[n] is not None:
            configurable["checkpoint_id"] = parents[n]
        for saver in (adapter, reference):
            saver.put({"configurable": configurable}, checkpoints[min(n, 1)], metadata, {})

    def write(target: int, task: str, writes: list[Any]) -> None:
        for saver in (adapter, reference):
            saver.put_writes(targets[target], writes, task, f"~path~{task}")

    with operations_of(adapter) as use:
        for call in calls[:early]:
            write(*call)
        put(0, use)
        put(1, use)
        for call in calls[early:]:
            write(*call)
        put(2, use)
    for target in targets:
        assert _writes_of(adapter, target) == _writes_of(reference, target)
    _first_writes_in_one_place(redis_pair[1], adapter, thread_id)


class _OneCheckpoint:
    """One checkpoint of a new thread, written alike to a Redis adapter and InMemorySaver."""

    def __init__(self, redis_pair: tuple[FrameworkAdapter, Any]) -> None:
        adapter, self.client = redis_pair
        assert isinstance(adapter, RedisFrameworkAdapter)
        self.adapter = adapter
        self.reference = InMemorySaver()
        self.thread_id = f"t-{uuid.uuid4().hex}"
        self.checkpoint = empty_checkpoint()
        self.config = _config(self.thread_id, "", self.checkpoint["id"])
        self.member = checkpoint_member("", self.checkpoint["id"]).encode()

    def put(self) -> None:
        root: Any = {"configurable": {"thread_id": self.thread_id, "checkpoint_ns": ""}}
        for saver in (self.adapter, self.reference):
            saver.put(root, self.checkpoint, {"step": 0}, {})

    def write(self, writes: list[tuple[str, Any]], task: str) -> None:
        for saver in (self.adapter, self.reference):
            saver.put_writes(self.config, writes, task, "~p")

    def check(self, in_field: bool) -> None:
        """The first writes are in the field '<m>' or not, never in two places, and read
        back as InMemorySaver's."""
        fields = _wr_fields(self.client, self.adapter, self.thread_id)
        assert (self.member in fields) is in_field
        _first_writes_in_one_place(self.client, self.adapter, self.thread_id)
        assert _writes_of(self.adapter, self.config) == _writes_of(self.reference, self.config)


@pytest.mark.redis
def test_a_tasks_writes_move_between_record_and_field_as_their_size_crosses_the_bound(
    redis_pair: tuple[FrameworkAdapter, Any],
) -> None:
    one = _OneCheckpoint(redis_pair)
    one.put()
    steps: list[tuple[list[tuple[str, Any]], bool]] = [
        ([("a", 1), (ERROR, "small")], False),  # after the record
        ([(ERROR, "X" * 20_000)], True),  # replaced by a large one: its own field
        ([(ERROR, "small again")], True),  # shrunk: stays in its field
        ([("b", "Y" * 20_000)], True),
    ]
    for writes, in_field in steps:
        one.write(writes, "task-0")
        one.check(in_field)


@pytest.mark.redis
@pytest.mark.parametrize(("value", "in_field"), [("small", False), ("L" * 20_000, True)])
def test_writes_that_came_before_their_record_join_it_unless_large(
    redis_pair: tuple[FrameworkAdapter, Any], value: str, in_field: bool
) -> None:
    one = _OneCheckpoint(redis_pair)
    one.write([("a", value)], "task-0")
    one.put()
    one.write([("b", 2)], "task-1")
    one.check(in_field)


def _first_writes_in_one_place(
    client: redis.Redis, adapter: RedisFrameworkAdapter, thread_id: str
) -> None:
    """A checkpoint's first writes follow its record or have the field '<m>', never both
    (a field left beside writes in the record would be stale, and never read)."""
    keys = thread_keys(adapter.prefix, thread_id)
    fields = _wr_fields(client, adapter, thread_id)
    for member, record in client.hgetall(keys.cp).items():
        if codec.split_record(record)[2]:
            assert member not in fields, member


# a put_writes on the source (True) or the target (False) after the first copy, at one of
# the two checkpoints both then hold
copy_call = st.tuples(st.booleans(), one_call)


@pytest.mark.redis
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=st.lists(one_call, max_size=8),
    after=st.lists(copy_call, max_size=10),
    old_form=st.booleans(),
    ns=st.sampled_from(["", "child:1"]),
    grow=st.booleans(),
)
def test_a_copy_onto_a_thread_holding_the_same_checkpoints_merges_their_writes(
    redis_pair: tuple[FrameworkAdapter, Any],
    *,
    before: list[Any],
    after: list[Any],
    old_form: bool,
    ns: str,
    grow: bool,
) -> None:
    # copy a thread, let both threads write more at the checkpoints they share, copy again:
    # the target keeps what only it wrote and takes what the source wrote, per (task,
    # index), as the in-memory adapter does (records of either form on Redis); with `grow`
    # each thread also stores a checkpoint of its own in between, with a write there
    adapter, _ = redis_pair
    assert isinstance(adapter, RedisFrameworkAdapter)
    reference = create_in_memory_framework_adapter()
    source, target = f"s-{uuid.uuid4().hex}", f"t-{uuid.uuid4().hex}"
    with operations_of(adapter) as use:
        if old_form:
            use(writes_in_record=False, inline_bytes=0)
        ours = _replay(adapter, source, ns, before)
    theirs = _replay(reference, source, ns, before)
    results = []
    for saver, configs in ((adapter, ours), (reference, theirs)):
        saver.copy_thread(source, target)
        for on_source, (at, task, writes) in after:
            thread_id = source if on_source else target
            checkpoint_id = configs[at]["configurable"]["checkpoint_id"]
            saver.put_writes(_config(thread_id, ns, checkpoint_id), writes, task, f"~{task}")
        ids = [c["configurable"]["checkpoint_id"] for c in configs]
        if grow:
            for thread_id in (source, target):
                ids.append(_put(saver, thread_id, ns, ids[1]))
                saver.put_writes(_config(thread_id, ns, ids[-1]), [("a", 1)], thread_id, "")
        saver.copy_thread(source, target)
        results.append(
            [
                _writes_of(saver, _config(thread_id, ns, checkpoint_id))
                for thread_id in (source, target)
                for checkpoint_id in ids
                if saver.get_tuple(_config(thread_id, ns, checkpoint_id)) is not None
            ]
        )
    assert results[0] == results[1]
