"""The saver contract beyond the conformance suite, including bugs seen in other savers."""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT, RESUME
from langgraph.types import Command, Interrupt

from kortyx_langgraph import (
    AlreadyClaimedError,
    ClaimMismatchError,
    FrameworkAdapter,
    InvalidConfigError,
    NothingPendingError,
    UnknownTokenError,
)
from tests.conftest import AdapterFactory
from tests.graphs import approval_graph


def _thread() -> str:
    return f"t-{uuid.uuid4().hex}"


def _put(
    adapter: BaseCheckpointSaver[Any],
    thread_id: str,
    *,
    ns: str = "",
    parent: str | None = None,
    values: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6(clock_seq=-1))
    values = values or {}
    versions = {channel: adapter.get_next_version(None, None) for channel in values}
    checkpoint["channel_values"] = dict(values)
    checkpoint["channel_versions"] = dict(versions)
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
    if parent:
        config["configurable"]["checkpoint_id"] = parent
    stored = adapter.put(config, checkpoint, metadata or {"source": "loop", "step": 0}, versions)
    return dict(stored)


def test_writes_that_arrive_before_their_checkpoint_are_kept(adapter: FrameworkAdapter) -> None:
    thread_id = _thread()
    checkpoint_id = str(uuid6(clock_seq=-1))
    config = {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": "",
            "checkpoint_id": checkpoint_id,
        }
    }
    interrupt = Interrupt(value="approve?", id="a" * 32)
    adapter.put_writes(config, [(INTERRUPT, (interrupt,))], "task-1")
    checkpoint = empty_checkpoint()
    checkpoint["id"] = checkpoint_id
    adapter.put(
        {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}},
        checkpoint,
        {"source": "loop", "step": 0},
        {},
    )
    stored = adapter.get_tuple({"configurable": {"thread_id": thread_id}})
    assert stored is not None
    assert stored.pending_writes == [("task-1", INTERRUPT, [interrupt])]
    [pending] = adapter.pending.list(thread_id)
    assert pending.value == "approve?"
    assert pending.checkpoint_id == checkpoint_id


def test_special_writes_overwrite_regular_writes_do_not(adapter: FrameworkAdapter) -> None:
    thread_id = _thread()
    config = _put(adapter, thread_id)
    adapter.put_writes(config, [("answer", "first"), (ERROR, "boom-1")], "task")
    adapter.put_writes(config, [("answer", "second"), (ERROR, "boom-2")], "task")
    adapter.put_writes(config, [(RESUME, "r1")], "task")
    adapter.put_writes(config, [(RESUME, "r2")], "task")
    stored = adapter.get_tuple(config)
    assert stored is not None
    assert sorted(w[1:] for w in stored.pending_writes or []) == sorted(
        [("answer", "first"), (ERROR, "boom-2"), (RESUME, "r2")]
    )


def test_pending_writes_come_back_in_writes_sort_key_order(adapter: FrameworkAdapter) -> None:
    thread_id = _thread()
    config = _put(adapter, thread_id)
    adapter.put_writes(config, [("c", 1), ("c", 2)], "task-b", "~path-2")
    adapter.put_writes(config, [("c", 3)], "task-a", "~path-2")
    adapter.put_writes(config, [("c", 4)], "task-z", "~path-1")
    adapter.put_writes(config, [("c", 5)], "task-y", "")
    stored = adapter.get_tuple(config)
    assert stored is not None
    assert [w[2] for w in stored.pending_writes or []] == [5, 4, 3, 1, 2]


def test_list_order_filter_limit_and_namespaces(adapter: FrameworkAdapter) -> None:
    thread_id = _thread()
    ids = []
    parent = None
    for step in range(6):
        source = "input" if step % 2 == 0 else "loop"
        stored = _put(adapter, thread_id, parent=parent, metadata={"source": source, "step": step})
        parent = stored["configurable"]["checkpoint_id"]
        ids.append(parent)
    child = _put(adapter, thread_id, ns="child:1", metadata={"source": "loop", "step": 9})

    root_only = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    every_ns = {"configurable": {"thread_id": thread_id}}
    listed = [t.config["configurable"]["checkpoint_id"] for t in adapter.list(root_only)]
    assert listed == ids[::-1], "newest first, root namespace only"
    assert len(list(adapter.list(every_ns))) == 7
    assert child["configurable"]["checkpoint_id"] not in listed

    inputs = list(adapter.list(root_only, filter={"source": "input"}, limit=2))
    assert [t.metadata["step"] for t in inputs] == [4, 2], "limit applies after the filter"
    before = {"configurable": {"thread_id": thread_id, "checkpoint_id": ids[3]}}
    older = list(adapter.list(root_only, before=before, limit=2))
    assert [t.config["configurable"]["checkpoint_id"] for t in older] == [ids[2], ids[1]]
    assert list(adapter.list(root_only, filter={"source": "input", "step": 3})) == []
    assert list(adapter.list(root_only, limit=0)) == []


def test_a_serializer_type_with_a_plus_sign_round_trips(make_adapter: AdapterFactory) -> None:
    class TaggedSerializer(JsonPlusSerializer):
        def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
            kind, data = super().dumps_typed(obj)
            return f"{kind}+tagged", data

        def loads_typed(self, data: tuple[str, bytes]) -> Any:
            kind, payload = data
            assert kind.endswith("+tagged"), kind
            return super().loads_typed((kind.removesuffix("+tagged"), payload))

    adapter = make_adapter(serde=TaggedSerializer())
    thread_id = _thread()
    config = _put(adapter, thread_id, values={"messages": ["hi"]})
    adapter.put_writes(config, [("messages", ["there"])], "task")
    stored = adapter.get_tuple(config)
    assert stored is not None
    assert stored.checkpoint["channel_values"] == {"messages": ["hi"]}
    assert stored.pending_writes == [("task", "messages", ["there"])]


def test_values_mutated_after_put_do_not_change_what_was_stored(adapter: FrameworkAdapter) -> None:
    thread_id = _thread()
    values = {"items": [1, 2]}
    metadata: dict[str, Any] = {"source": "loop", "step": 0, "tags": ["a"]}
    config = _put(adapter, thread_id, values=values, metadata=metadata)
    values["items"].append(3)
    metadata["tags"].append("b")
    first = adapter.get_tuple(config)
    assert first is not None
    assert first.checkpoint["channel_values"]["items"] == [1, 2]
    assert first.metadata["tags"] == ["a"]  # type: ignore[typeddict-item]
    first.checkpoint["channel_values"]["items"].append(99)
    again = adapter.get_tuple(config)
    assert again is not None
    assert again.checkpoint["channel_values"]["items"] == [1, 2]


@pytest.mark.parametrize(
    "config",
    [{}, {"configurable": {}}, {"configurable": {"thread_id": None}}, {"configurable": None}],
)
def test_a_config_without_thread_id_is_a_typed_error(
    adapter: FrameworkAdapter, config: dict[str, Any]
) -> None:
    with pytest.raises(InvalidConfigError, match="thread_id"):
        adapter.get_tuple(config)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="thread_id"):
        adapter.put(config, empty_checkpoint(), {}, {})  # type: ignore[arg-type]


def test_put_writes_without_checkpoint_id_is_a_typed_error(adapter: FrameworkAdapter) -> None:
    with pytest.raises(InvalidConfigError, match="checkpoint_id"):
        adapter.put_writes({"configurable": {"thread_id": "t"}}, [("a", 1)], "task")


def test_concurrent_puts_and_writes_from_many_threads(adapter: FrameworkAdapter) -> None:
    thread_ids = [_thread() for _ in range(8)]

    def worker(thread_id: str) -> None:
        parent = None
        for step in range(25):
            stored = _put(adapter, thread_id, parent=parent, values={"n": step})
            adapter.put_writes(stored, [("n", step), ("m", -step)], f"task-{step}")
            parent = stored["configurable"]["checkpoint_id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(worker, thread_ids * 2))
    for thread_id in thread_ids:
        history = list(adapter.list({"configurable": {"thread_id": thread_id}}))
        assert len(history) == 50
        assert all(len(t.pending_writes or []) == 2 for t in history)


def _pause(adapter: FrameworkAdapter) -> str:
    thread_id = _thread()
    approval_graph(adapter).invoke(
        {"request": "x", "log": []}, {"configurable": {"thread_id": thread_id}}
    )
    return adapter.pending.list(thread_id)[0].token


def test_fifty_concurrent_claims_have_exactly_one_winner(adapter: FrameworkAdapter) -> None:
    token = _pause(adapter)
    barrier = threading.Barrier(50)
    outcomes: list[str] = []

    def claim() -> None:
        barrier.wait()
        try:
            adapter.pending.claim(token)
            outcomes.append("won")
        except AlreadyClaimedError:
            outcomes.append("lost")

    threads = [threading.Thread(target=claim) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost"] * 49 + ["won"]
    assert adapter.pending.get(token).claimed


async def test_fifty_concurrent_async_claims_have_exactly_one_winner(
    adapter: FrameworkAdapter,
) -> None:
    token = _pause(adapter)
    results = await asyncio.gather(
        *(adapter.pending.aclaim(token) for _ in range(50)), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, AlreadyClaimedError)]
    others = [r for r in results if isinstance(r, BaseException) and r not in losers]
    assert not others, others
    assert len(winners) == 1
    assert len(losers) == 49


def test_every_pending_store_has_the_documented_methods(adapter: FrameworkAdapter) -> None:
    from kortyx_langgraph import PendingInterruptStore

    assert isinstance(adapter.pending, PendingInterruptStore)


def test_release_lets_another_caller_claim(adapter: FrameworkAdapter) -> None:
    token = _pause(adapter)
    first = adapter.pending.claim(token)
    assert first.claim_id is not None
    with pytest.raises(AlreadyClaimedError):
        adapter.pending.claim(token)
    with pytest.raises(ClaimMismatchError):
        adapter.pending.release(token, "someone-else")
    assert adapter.pending.get(token).claimed
    assert not adapter.pending.release(token, first.claim_id).claimed
    assert adapter.pending.claim(token).claimed


@pytest.mark.parametrize(
    "token",
    ["", "nonsense", "0123456789abcdef.0.short", "zzzzzzzzzzzzzzzz.0." + "a" * 22, None, 42],
)
def test_malformed_tokens_are_unknown(adapter: FrameworkAdapter, token: Any) -> None:
    with pytest.raises(UnknownTokenError):
        adapter.pending.get(token)
    with pytest.raises(UnknownTokenError):
        adapter.pending.claim(token)


def test_a_forged_token_for_a_real_thread_is_unknown(adapter: FrameworkAdapter) -> None:
    token = _pause(adapter)
    tag, deadline, _ = token.split(".")
    forged = f"{tag}.{deadline}.{'A' * 22}"
    with pytest.raises(UnknownTokenError):
        adapter.pending.claim(forged)


def test_tokens_are_url_safe_and_carry_128_random_bits(adapter: FrameworkAdapter) -> None:
    tokens = {_pause(adapter) for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        random_part = token.split(".")[2]
        assert len(random_part) >= 22  # 22 base64url characters = 132 bits >= 128
        assert all(c.isalnum() or c in "-_." for c in token)


def test_delete_for_runs_retires_pending_interrupts_of_deleted_checkpoints(
    adapter: FrameworkAdapter,
) -> None:
    thread_id = _thread()
    run_id = str(uuid.uuid4())
    graph = approval_graph(adapter)
    graph.invoke(
        {"request": "x", "log": []}, {"configurable": {"thread_id": thread_id, "run_id": run_id}}
    )
    assert all(t.metadata.get("run_id") == run_id for t in adapter.list(None))
    [pending] = adapter.pending.list(thread_id)
    adapter.delete_for_runs([run_id])
    assert adapter.get_tuple({"configurable": {"thread_id": thread_id}}) is None
    with pytest.raises(UnknownTokenError):
        adapter.pending.get(pending.token)


def test_unknown_prune_strategy_is_refused_before_anything_is_deleted(
    adapter: FrameworkAdapter,
) -> None:
    thread_id = _thread()
    _put(adapter, thread_id)
    with pytest.raises(ValueError, match="keep_latest"):
        adapter.prune([thread_id], strategy="everything")
    assert adapter.get_tuple({"configurable": {"thread_id": thread_id}}) is not None


def test_a_late_put_of_an_older_checkpoint_does_not_retire_newer_interrupts(
    adapter: FrameworkAdapter,
) -> None:
    """LangGraph saves in background threads: puts can land out of order."""
    thread_id = _thread()
    older = empty_checkpoint()
    older["id"] = str(uuid6(clock_seq=-1))
    newer = empty_checkpoint()
    newer["id"] = str(uuid6(clock_seq=-1))
    assert older["id"] < newer["id"]
    root = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    at_newer = {"configurable": {**root["configurable"], "checkpoint_id": newer["id"]}}
    adapter.put(root, newer, {"source": "loop", "step": 0}, {})
    adapter.put_writes(at_newer, [(INTERRUPT, (Interrupt(value="v", id="b" * 32),))], "task")
    adapter.put(root, older, {"source": "input", "step": -1}, {})  # arrives late
    [pending] = adapter.pending.list(thread_id)
    assert pending.checkpoint_id == newer["id"]
    newest = empty_checkpoint()
    newest["id"] = str(uuid6(clock_seq=-1))
    adapter.put(at_newer, newest, {"source": "loop", "step": 1}, {})  # the run moved on
    assert adapter.pending.list(thread_id) == []


def test_with_allowlist_clone_shares_storage_and_uses_its_serializer(
    make_adapter: AdapterFactory,
) -> None:
    """LangGraph clones the saver this way when strict msgpack is on."""
    adapter = make_adapter(serde=JsonPlusSerializer(allowed_msgpack_modules=None))
    clone = adapter.with_allowlist([("tests.graphs", "ApprovalState")])
    assert clone is not adapter
    assert clone.serde is not adapter.serde
    assert clone._ops.serde is clone.serde  # type: ignore[attr-defined]
    thread_id = _thread()
    approval_graph(clone).invoke(
        {"request": "x", "log": []}, {"configurable": {"thread_id": thread_id}}
    )
    [pending] = adapter.pending.list(thread_id)
    assert clone.pending.get(pending.token) == pending
    assert adapter.get_tuple({"configurable": {"thread_id": thread_id}}) is not None


async def test_adapters_are_context_managers_and_close_twice(
    make_adapter: AdapterFactory,
) -> None:
    with make_adapter() as adapter:
        _put(adapter, _thread())
    adapter.close()
    async with make_adapter() as other:
        thread_id = _thread()
        await other.aput(
            {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}},
            empty_checkpoint(),
            {},
            {},
        )
        assert await other.aget_tuple({"configurable": {"thread_id": thread_id}}) is not None
    await other.aclose()
    assert other.kind in ("in-memory", "redis")
    assert other.ttl_ms == 60_000


def test_channel_versions_increase_as_strings_and_keep_a_wider_counter(
    adapter: FrameworkAdapter,
) -> None:
    version = None
    seen = []
    for _ in range(1_200):
        version = adapter.get_next_version(version, None)
        seen.append(version)
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen)
    assert len(seen[0]) == 23
    forks = {adapter.get_next_version(seen[5], None) for _ in range(1_000)}
    assert len(forks) == 1_000, "forks of one parent never mint the same version"
    wide = "0" * 31 + "9.0.123"
    assert adapter.get_next_version(wide, None) > wide
    assert adapter.get_next_version(7, None) > adapter.get_next_version(6, None)


def test_list_before_over_every_namespace(adapter: FrameworkAdapter) -> None:
    thread_id = _thread()
    written: dict[str, list[str]] = {}
    for step in range(6):
        for ns in ["", "a:1", "b:2"]:
            stored = _put(adapter, thread_id, ns=ns, metadata={"source": "loop", "step": step})
            written.setdefault(ns, []).append(stored["configurable"]["checkpoint_id"])
    everything = sorted(i for ids in written.values() for i in ids)
    before_id = everything[len(everything) // 2]
    config = {"configurable": {"thread_id": thread_id}}
    before = {"configurable": {"thread_id": thread_id, "checkpoint_id": before_id}}
    found = list(adapter.list(config, before=before))
    assert sorted(t.config["configurable"]["checkpoint_id"] for t in found) == [
        i for i in everything if i < before_id
    ]
    for ns in written:
        ids = [
            t.config["configurable"]["checkpoint_id"]
            for t in found
            if t.config["configurable"]["checkpoint_ns"] == ns
        ]
        assert ids == sorted(ids, reverse=True), "newest first within a namespace"
    limited = list(adapter.list(config, before=before, limit=4))
    assert [t.config for t in limited] == [t.config for t in found[:4]]


def test_list_pages_agree_with_one_big_page(
    adapter: FrameworkAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kortyx_langgraph.redis.operations as redis_operations

    thread_id = _thread()
    for step in range(5):
        # four namespaces besides the root: more than a page of 3, so pages grow to 4
        for ns in ["", "a:1", "b:2", "c:3", "d:4"]:
            _put(adapter, thread_id, ns=ns, metadata={"source": "loop", "step": step})
    config = {"configurable": {"thread_id": thread_id}}
    everything = list(adapter.list(config))
    assert len(everything) == 25
    middle = everything[7].config
    one_page = [t.config for t in adapter.list(config, before=middle)]
    monkeypatch.setattr(redis_operations, "LIST_PAGE", 3)
    assert [t.config for t in adapter.list(config)] == [t.config for t in everything]
    # with a limit too, pages stop inside namespaces
    for limit in (2, 4, 10, 24):
        assert [t.config for t in adapter.list(config, limit=limit)] == [
            t.config for t in everything[:limit]
        ]
    assert [t.config for t in adapter.list(config, before=middle)] == one_page
    assert len(one_page) == sum(
        1
        for t in everything
        if t.config["configurable"]["checkpoint_id"] < middle["configurable"]["checkpoint_id"]
    )


def test_list_by_checkpoint_id_without_a_namespace_finds_it_in_any_namespace(
    adapter: FrameworkAdapter,
) -> None:
    thread_id = _thread()
    root = _put(adapter, thread_id)
    child = _put(adapter, thread_id, ns="child:1")
    for stored in (root, child):
        checkpoint_id = stored["configurable"]["checkpoint_id"]
        config = {"configurable": {"thread_id": thread_id, "checkpoint_id": checkpoint_id}}
        [found] = list(adapter.list(config))
        assert found.config == stored


def test_claim_next_takes_each_pending_interrupt_once_oldest_first(
    adapter: FrameworkAdapter,
) -> None:
    from tests.graphs import parallel_graph

    thread_id = _thread()
    config = {"configurable": {"thread_id": thread_id}}
    graph = parallel_graph(adapter)
    graph.invoke({"log": []}, config)
    listed = adapter.pending.list(thread_id)
    first = adapter.pending.claim_next(thread_id)
    assert first.token == listed[0].token
    assert first.claimed
    second = adapter.pending.claim_next(thread_id)
    assert {first.token, second.token} == {p.token for p in listed}
    with pytest.raises(NothingPendingError):
        adapter.pending.claim_next(thread_id)
    with pytest.raises(NothingPendingError):
        adapter.pending.claim_next(_thread())
    result = graph.invoke(
        Command(resume={**first.resume_map("A"), **second.resume_map("B")}), config
    )
    assert result["answer"] == "joined"


async def test_concurrent_claim_next_hands_out_each_interrupt_to_one_caller(
    adapter: FrameworkAdapter,
) -> None:
    from tests.graphs import parallel_graph

    thread_id = _thread()
    parallel_graph(adapter).invoke({"log": []}, {"configurable": {"thread_id": thread_id}})
    results = await asyncio.gather(
        *(adapter.pending.aclaim_next(thread_id) for _ in range(20)), return_exceptions=True
    )
    won = [r.token for r in results if not isinstance(r, BaseException)]
    assert len(won) == 2
    assert len(set(won)) == 2
    assert all(isinstance(r, NothingPendingError) for r in results if isinstance(r, BaseException))


def test_claim_next_on_real_threads_hands_out_each_interrupt_once(
    adapter: FrameworkAdapter,
) -> None:
    """The in-memory engine runs flows in place, so only threads can race it."""
    from tests.graphs import parallel_graph

    thread_id = _thread()
    parallel_graph(adapter).invoke({"log": []}, {"configurable": {"thread_id": thread_id}})
    barrier = threading.Barrier(20)
    won: list[str] = []
    empty: list[int] = []

    def take() -> None:
        barrier.wait()
        try:
            won.append(adapter.pending.claim_next(thread_id).token)
        except NothingPendingError:
            empty.append(1)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 2
    assert len(set(won)) == 2
    assert len(empty) == 18


def test_list_without_a_namespace_reads_them_in_the_order_in_memory_saver_does(
    adapter: FrameworkAdapter,
) -> None:
    # a graph whose subgraph keeps checkpoints of its own, run three times: every namespace
    # in the order InMemorySaver lists them (the root, then each child as it was first
    # written), each newest first, and the same checkpoints at every limit
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import START, StateGraph
    from typing_extensions import TypedDict

    class State(TypedDict):
        n: int

    inner = StateGraph(State)
    inner.add_node("bump", lambda state: {"n": state["n"] + 1})
    inner.add_edge(START, "bump")
    child = inner.compile(checkpointer=True)

    def run(saver: BaseCheckpointSaver[Any]) -> None:
        outer = StateGraph(State)
        outer.add_node("first", child)
        outer.add_node("second", child)
        outer.add_edge(START, "first")
        outer.add_edge("first", "second")
        graph = outer.compile(checkpointer=saver)
        for n in range(3):
            graph.invoke({"n": n}, {"configurable": {"thread_id": thread_id}})

    def shapes(saver: BaseCheckpointSaver[Any], **kwargs: Any) -> list[Any]:
        return [
            (t.config["configurable"]["checkpoint_ns"].split(":")[0], t.metadata["step"])
            for t in saver.list({"configurable": {"thread_id": thread_id}}, **kwargs)
        ]

    thread_id = _thread()
    reference = InMemorySaver()
    run(reference)
    run(adapter)
    expected = shapes(reference)
    assert [ns for ns, _ in expected[:2]] == ["", ""]
    assert {ns for ns, _ in expected} == {"", "first", "second"}
    assert shapes(adapter) == expected
    for limit in (1, 5, 12):
        assert shapes(adapter, limit=limit) == expected[:limit]


def test_put_writes_with_a_value_the_serializer_refuses_stores_none_of_the_call(
    adapter: FrameworkAdapter,
) -> None:
    # InMemorySaver keeps the writes before the refused value; a call here is stored whole
    # or not at all, and what earlier calls stored stays
    stored = _put(adapter, _thread())
    adapter.put_writes(stored, [("kept", 0)], "task-0")
    with pytest.raises(TypeError):
        adapter.put_writes(stored, [("a", 1), ("b", 2**70)], "task-1")
    found = adapter.get_tuple(stored)
    assert found is not None
    assert found.pending_writes == [("task-0", "kept", 0)]
