"""Every saver operation, in any order, on any thread: the Redis adapter reads back what the
in-memory adapter reads back, and the in-memory adapter what LangGraph's ``InMemorySaver``
reads back.

One state machine drives all three with the same calls: ``put`` (small values kept in the
record, larger ones in blobs, lists that grow and so are stored as deltas, ``DeltaChannel``
snapshots and the steps between them), ``put_writes`` (special channels among them, before
and after other tasks), ``delete_thread``, ``copy_thread`` (also onto a thread holding the
same checkpoints), ``prune`` and ``delete_for_runs``, on two threads and three namespaces;
Redis writes as this version, as an earlier one, or as another process would, in turn, and
is called through its sync or its async methods.
After every step every listing, lookup and delta-channel history agrees. ``InMemorySaver``
has no copy, prune or delete by run, so it is the reference until the first of those; the
in-memory adapter is from then on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT, RESUME, _DeltaSnapshot

from kortyx_langgraph import (
    FrameworkAdapter,
    create_in_memory_framework_adapter,
    create_redis_framework_adapter,
)
from kortyx_langgraph.redis.deltas import DeltaPlanner
from kortyx_langgraph.redis.kept import KeptValues
from tests.conftest import redis_url_for

THREADS = ("a", "b")
NAMESPACES = ("", "child:1", "0:x")  # "0:x" is stored before the root in the index
RUNS = ("run-1", "run-2")
TASKS = ("task-0", "task-1", "00000000-0000-0000-0000-000000000000")
WRITE_CHANNELS = ("n", "items", "msgs", ERROR, INTERRUPT, RESUME)
HISTORY_CHANNELS = ("msgs", "items")

# what one put does to each channel: None leaves it as the parent has it
channel_changes = st.fixed_dictionaries(
    {
        "n": st.none() | st.integers(0, 9),  # small: kept in the record
        "text": st.none() | st.text(max_size=4) | st.text(min_size=40, max_size=60),
        "items": st.none()
        | st.tuples(
            st.sampled_from(["append", "replace"]), st.lists(st.integers(0, 9), max_size=3)
        ),
        # a DeltaChannel: a step with no value, or a snapshot of the messages so far
        "msgs": st.none()
        | st.tuples(st.just("delta"))
        | st.tuples(st.just("snapshot"), st.lists(st.text(max_size=30), max_size=3)),
    }
)
one_write = st.tuples(st.sampled_from(WRITE_CHANNELS), st.integers(0, 99) | st.text(max_size=40))


def _address(thread_id: str, ns: str | None, checkpoint_id: str | None = None) -> Any:
    configurable: dict[str, Any] = {"thread_id": thread_id}
    if ns is not None:
        configurable["checkpoint_ns"] = ns
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _seen(found: CheckpointTuple | None) -> Any:
    """All a caller can read from one tuple."""
    if found is None:
        return None
    return (
        found.config,
        found.checkpoint,
        found.metadata,
        found.parent_config,
        found.pending_writes,
    )


def _listed(saver: BaseCheckpointSaver[Any], config: Any, **kwargs: Any) -> list[Any]:
    return [_seen(found) for found in saver.list(config, **kwargs)]


class SaverMachine(RuleBasedStateMachine):
    """Random saver calls on two threads, the same to every saver; they agree after each."""

    backend: str = "redis"
    redis_url: str = ""
    compression: str | None = None

    def __init__(self) -> None:
        super().__init__()
        suffix = uuid.uuid4().hex[:10]
        self.threads = {name: f"{name}-{suffix}" for name in THREADS}
        self.reference: InMemorySaver | None = InMemorySaver()
        self.memory: FrameworkAdapter = create_in_memory_framework_adapter(ttl_ms=60_000)
        self.redis: FrameworkAdapter = create_redis_framework_adapter(
            url=self.redis_url,
            ttl_ms=60_000,
            prefix=f"kortyx-model-{suffix}:",
            compression=self.compression,
        )
        self.redis_ops = self.redis._ops  # type: ignore[attr-defined]
        self.loop = asyncio.new_event_loop()
        self.redis_async = False
        self.messages: list[str] = []
        for thread_id in self.threads.values():
            self._touch_root(thread_id)

    def teardown(self) -> None:
        self.memory.close()
        self.loop.run_until_complete(self.redis.aclose())  # type: ignore[attr-defined]
        self.redis.close()
        self.loop.close()

    def _call(self, saver: BaseCheckpointSaver[Any], name: str, *args: Any, **kwargs: Any) -> Any:
        """``saver.<name>(...)``; on Redis through the async method while it speaks async."""
        if saver is self.redis and self.redis_async:
            return self.loop.run_until_complete(getattr(saver, f"a{name}")(*args, **kwargs))
        return getattr(saver, name)(*args, **kwargs)

    def _savers(self) -> list[BaseCheckpointSaver[Any]]:
        savers: list[BaseCheckpointSaver[Any]] = [self.memory, self.redis]
        if self.reference is not None:
            savers.append(self.reference)
        return savers

    def _ids(self, thread_id: str, ns: str) -> list[str]:
        """Checkpoint ids of a thread's namespace, newest first."""
        return [found.checkpoint["id"] for found in self.memory.list(_address(thread_id, ns))]

    @rule(
        thread=st.sampled_from(THREADS),
        ns=st.sampled_from(NAMESPACES),
        parent=st.none() | st.integers(0, 20),
        run=st.sampled_from(RUNS),
        changes=channel_changes,
    )
    def put(
        self, thread: str, ns: str, parent: int | None, run: str, changes: dict[str, Any]
    ) -> None:
        thread_id = self.threads[thread]
        ids = self._ids(thread_id, ns)
        parent_id = None if not ids else ids[0] if parent is None else ids[parent % len(ids)]
        base = self.memory.get_tuple(_address(thread_id, ns, parent_id)) if parent_id else None
        versions = dict(base.checkpoint["channel_versions"]) if base else {}
        values = dict(base.checkpoint["channel_values"]) if base else {}
        values.pop("msgs", None)  # a delta channel's value is only ever sent as a snapshot
        new_versions: dict[str, Any] = {}
        for channel, change in changes.items():
            if change is None:
                continue
            if channel == "items":
                how, items = change
                values[channel] = (values.get(channel, []) if how == "append" else []) + items
            elif channel == "msgs":
                if change[0] == "snapshot":
                    self.messages.extend(change[1])
                    values[channel] = _DeltaSnapshot(list(self.messages))
            else:
                values[channel] = change
            new_versions[channel] = InMemorySaver().get_next_version(versions.get(channel), None)
        versions.update(new_versions)
        checkpoint = empty_checkpoint()
        checkpoint["id"] = str(uuid6(clock_seq=-1))
        checkpoint["channel_versions"] = versions
        checkpoint["channel_values"] = values
        checkpoint["versions_seen"] = {"node": dict(new_versions)}
        metadata: Any = {"source": "loop", "step": len(ids), "parents": {}, "run_id": run}
        for saver in self._savers():
            config = _address(thread_id, ns, parent_id)
            self._call(saver, "put", config, checkpoint, metadata, new_versions)

    @rule(
        thread=st.sampled_from(THREADS),
        ns=st.sampled_from(NAMESPACES),
        at=st.integers(0, 20),
        task=st.sampled_from(TASKS),
        writes=st.lists(one_write, max_size=3),
    )
    def put_writes(
        self, thread: str, ns: str, at: int, task: str, writes: list[tuple[str, Any]]
    ) -> None:
        ids = self._ids(self.threads[thread], ns)
        if not ids:
            return
        config = _address(self.threads[thread], ns, ids[at % len(ids)])
        for saver in self._savers():
            self._call(saver, "put_writes", config, writes, task, f"~{task}")

    @rule(form=st.sampled_from(["current", "earlier", "another process"]))
    def write_as(self, form: str) -> None:
        """Redis writes from now on as this version does, as an earlier one did (values
        and first writes in fields of their own), or as another process (which remembers
        none of the lists and values this one wrote)."""
        ops = self.redis_ops
        if form == "earlier":
            ops = dataclasses.replace(ops, writes_in_record=False, inline_bytes=0)
        elif form == "another process":
            ops = dataclasses.replace(ops, deltas=DeltaPlanner(), kept=KeptValues())
        self.redis._ops = ops  # type: ignore[attr-defined]

    @rule(asynchronously=st.booleans())
    def speak(self, asynchronously: bool) -> None:
        """Redis is called through its async methods from now on, or its sync ones."""
        self.redis_async = asynchronously

    @rule(thread=st.sampled_from(THREADS))
    def delete_thread(self, thread: str) -> None:
        for saver in self._savers():
            self._call(saver, "delete_thread", self.threads[thread])
        self._touch_root(self.threads[thread])

    @rule(origin=st.sampled_from(THREADS), into=st.sampled_from(THREADS))
    def copy_thread(self, origin: str, into: str) -> None:
        if origin == into:
            return
        self.reference = None
        for adapter in (self.memory, self.redis):
            self._call(adapter, "copy_thread", self.threads[origin], self.threads[into])

    @rule(
        threads=st.lists(st.sampled_from(THREADS), min_size=1, unique=True),
        strategy=st.sampled_from(["keep_latest", "delete"]),
    )
    def prune(self, threads: list[str], strategy: str) -> None:
        self.reference = None
        for adapter in (self.memory, self.redis):
            self._call(adapter, "prune", [self.threads[t] for t in threads], strategy=strategy)

    @rule(run=st.sampled_from(RUNS))
    def delete_for_runs(self, run: str) -> None:
        self.reference = None
        for adapter in (self.memory, self.redis):
            self._call(adapter, "delete_for_runs", [run])

    def _touch_root(self, thread_id: str) -> None:
        """Read the root namespace of ``InMemorySaver``, as LangGraph does when a run starts:
        its first read of a namespace (even of none) fixes where ``list`` puts it."""
        if self.reference is not None:
            self.reference.get_tuple(_address(thread_id, ""))

    def _agree(self, read: Any, thread_id: str | None = None, ns: str | None = None) -> None:
        expected = read(self.memory)
        assert read(self.redis) == expected
        if self.reference is None:
            return
        if thread_id is not None and ns not in self.reference.storage.get(thread_id, {}):
            return  # not written yet: reading it would place it in InMemorySaver's listing
        assert read(self.reference) == expected

    @invariant()
    def every_listing_agrees(self) -> None:
        # every thread (the machine's adapters hold no others): the same on both backends;
        # InMemorySaver keeps threads in the order first written, the adapters by id
        listed = [_listed(s, None) for s in (self.memory, self.redis)]
        assert listed[0] == listed[1]
        for thread_id in self.threads.values():
            every = _address(thread_id, None)
            self._agree(lambda s, c=every: _listed(s, c))
            self._agree(lambda s, c=every: _listed(s, c, limit=3))
            newest = self.memory.get_tuple(_address(thread_id, ""))
            if newest is not None:
                self._agree(lambda s, c=every, b=newest.config: _listed(s, c, before=b, limit=3))
            for ns in NAMESPACES:
                config = _address(thread_id, ns)
                self._agree(lambda s, c=config: _seen(s.get_tuple(c)), thread_id, ns)
                self._agree(lambda s, c=config: _listed(s, c, limit=2), thread_id, ns)
                for run in RUNS:
                    self._agree(
                        lambda s, c=config, r=run: _listed(s, c, filter={"run_id": r}),
                        thread_id,
                        ns,
                    )
                ids = self._ids(thread_id, ns)
                if len(ids) > 1:
                    before = _address(thread_id, ns, ids[len(ids) // 2])
                    self._agree(
                        lambda s, c=config, b=before: _listed(s, c, before=b), thread_id, ns
                    )

    @invariant()
    def async_reads_agree(self) -> None:
        async def collect(config: Any, **kwargs: Any) -> list[Any]:
            return [_seen(found) async for found in self.redis.alist(config, **kwargs)]

        for thread_id in self.threads.values():
            every = _address(thread_id, None)
            for kwargs in ({}, {"limit": 3}):
                ours = self.loop.run_until_complete(collect(every, **kwargs))
                assert ours == _listed(self.memory, every, **kwargs)
            root = _address(thread_id, "")
            found = self.loop.run_until_complete(self.redis.aget_tuple(root))
            assert _seen(found) == _seen(self.memory.get_tuple(root))

    @invariant()
    def every_delta_channel_history_agrees(self) -> None:
        for thread_id in self.threads.values():
            for ns in NAMESPACES:
                for checkpoint_id in [None, *self._ids(thread_id, ns)[1:2]]:
                    config = _address(thread_id, ns, checkpoint_id)
                    self._agree(
                        lambda s, c=config: s.get_delta_channel_history(
                            config=c, channels=HISTORY_CHANNELS
                        ),
                        thread_id,
                        ns,
                    )


@pytest.mark.redis
@pytest.mark.parametrize(
    ("backend", "compression", "examples"),
    [("redis", None, 50), ("redis", "zlib", 20), ("redis-cluster", None, 20)],
)
def test_every_saver_reads_back_what_the_reference_reads_back(
    request: pytest.FixtureRequest, backend: str, compression: str | None, examples: int
) -> None:
    machine = type(
        f"SaverMachine_{backend.replace('-', '_')}_{compression}",
        (SaverMachine,),
        {
            "backend": backend,
            "redis_url": redis_url_for(request, backend),
            "compression": compression,
        },
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
