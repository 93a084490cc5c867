"""What the saver methods accept, side by side with LangGraph's ``InMemorySaver``.

The rule (docs/design.md, "Inputs"): whatever ``InMemorySaver`` accepts, the adapters accept
and answer the same way. The one exception is text no storage can encode (lone surrogates),
which is a typed error instead of a bare ``UnicodeEncodeError``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.memory import InMemorySaver

from kortyx_langgraph import FrameworkAdapter, InvalidConfigError
from tests.graphs import approval_graph

THREAD = "inputs-thread"
OTHER = "inputs-other"


def _ids(count: int) -> list[str]:
    return [str(uuid6(clock_seq=-1)) for _ in range(count)]


def _chain(saver: BaseCheckpointSaver[Any], thread_id: Any, ids: list[str]) -> None:
    """Store checkpoints ``ids`` (oldest first) as one history of ``thread_id``."""
    parent: str | None = None
    for step, checkpoint_id in enumerate(ids):
        checkpoint = empty_checkpoint()
        checkpoint["id"] = checkpoint_id
        config: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        if parent is not None:
            config["configurable"]["checkpoint_id"] = parent
        saver.put(config, checkpoint, {"source": "loop", "step": step}, {})  # type: ignore[arg-type]
        parent = checkpoint_id


def _listed(saver: BaseCheckpointSaver[Any], config: Any, **kwargs: Any) -> list[str]:
    return [t.config["configurable"]["checkpoint_id"] for t in saver.list(config, **kwargs)]


def _savers(adapter: FrameworkAdapter) -> list[BaseCheckpointSaver[Any]]:
    return [InMemorySaver(), adapter]


BEFORE_FORMS = {
    "checkpoint id only": lambda cid: {"configurable": {"checkpoint_id": cid}},
    "another thread id": lambda cid: {"configurable": {"thread_id": OTHER, "checkpoint_id": cid}},
    "with namespace": lambda cid: {"configurable": {"checkpoint_ns": "", "checkpoint_id": cid}},
}


@pytest.mark.parametrize("form", list(BEFORE_FORMS))
def test_list_before_reads_only_the_checkpoint_id(adapter: FrameworkAdapter, form: str) -> None:
    ids, other_ids = _ids(4), _ids(2)
    before = BEFORE_FORMS[form](ids[2])
    answers = []
    for saver in _savers(adapter):
        _chain(saver, THREAD, ids)
        _chain(saver, OTHER, other_ids)
        config = {"configurable": {"thread_id": THREAD}}
        answers.append(
            (
                _listed(saver, config, before=before, limit=1),
                _listed(saver, config, before=before),
            )
        )
    assert answers[0] == ([ids[1]], [ids[1], ids[0]])
    assert answers[1] == answers[0]


@pytest.mark.parametrize("before", [{}, {"configurable": {}}, {"configurable": None}])
def test_list_before_without_a_checkpoint_id_is_no_bound(
    adapter: FrameworkAdapter, before: dict[str, Any]
) -> None:
    ids = _ids(3)
    _chain(adapter, THREAD, ids)
    listed = _listed(adapter, {"configurable": {"thread_id": THREAD}}, before=before)
    assert listed == ids[::-1]


def test_list_before_the_flat_checkpoint_a_langgraph_server_hands_out(
    adapter: FrameworkAdapter,
) -> None:
    """The SDK's ``get_history(before=state["checkpoint"])`` passes the server's flat form;
    without reading it, each page was the newest again and a client paging until an empty
    page never stopped (``InMemorySaver`` raises ``KeyError``: the server answers 500)."""
    ids = _ids(4)
    _chain(adapter, THREAD, ids)
    flat: Any = {"thread_id": THREAD, "checkpoint_ns": "", "checkpoint_id": ids[2]}
    assert _listed(adapter, {"configurable": {"thread_id": THREAD}}, before=flat) == [
        ids[1],
        ids[0],
    ]
    reference = InMemorySaver()
    _chain(reference, THREAD, ids)
    with pytest.raises(KeyError):
        _listed(reference, {"configurable": {"thread_id": THREAD}}, before=flat)


async def test_alist_before_without_thread_id(adapter: FrameworkAdapter) -> None:
    ids = _ids(3)
    _chain(adapter, THREAD, ids)
    before: Any = {"configurable": {"checkpoint_id": ids[2]}}
    found = [
        t.config["configurable"]["checkpoint_id"]
        async for t in adapter.alist({"configurable": {"thread_id": THREAD}}, before=before)
    ]
    assert found == [ids[1], ids[0]]


def test_list_of_an_empty_config_lists_every_thread(adapter: FrameworkAdapter) -> None:
    answers = []
    for saver in _savers(adapter):
        _chain(saver, THREAD, _ids(2))
        _chain(saver, OTHER, _ids(1))
        answers.append(
            sorted(t.config["configurable"]["thread_id"] for t in saver.list({}))  # type: ignore[arg-type]
        )
    assert answers[0] == [OTHER, THREAD, THREAD]
    assert answers[1] == answers[0]


@pytest.mark.parametrize(
    "thread_id",
    ["", 7, uuid.UUID(int=42), 1.5, True, (1, 2), b"ab"],
    ids=["empty string", "int", "uuid", "float", "bool", "tuple", "bytes"],
)
def test_thread_ids_in_memory_saver_accepts(adapter: FrameworkAdapter, thread_id: Any) -> None:
    ids = _ids(2)
    for saver in _savers(adapter):
        _chain(saver, thread_id, ids)
        found = saver.get_tuple({"configurable": {"thread_id": thread_id}})
        assert found is not None
        assert found.config["configurable"]["checkpoint_id"] == ids[1]
        assert _listed(saver, {"configurable": {"thread_id": thread_id}}) == ids[::-1]
    adapter.delete_thread(thread_id)
    assert adapter.get_tuple({"configurable": {"thread_id": thread_id}}) is None


@pytest.mark.parametrize("kind", ["float", "tuple"])
def test_a_thread_id_of_another_type_names_the_thread_a_graph_ran_under(
    adapter: FrameworkAdapter, kind: str
) -> None:
    n = uuid.uuid4().int % 10**9
    thread_id: Any = n + 0.5 if kind == "float" else (n, "x")
    graph = approval_graph(adapter)
    config: Any = {"configurable": {"thread_id": thread_id}}
    graph.invoke({"request": "r"}, config)
    asked = graph.get_state(config).interrupts
    listed = adapter.pending.list(thread_id)
    assert [(p.interrupt_id, p.value) for p in listed] == [(i.id, i.value) for i in asked]
    assert listed[0].thread_id == str(thread_id)
    adapter.delete_thread(thread_id)
    assert adapter.pending.list(thread_id) == []
    assert graph.get_state(config).values == {}


def test_a_thread_id_of_none_is_a_typed_error(adapter: FrameworkAdapter) -> None:
    with pytest.raises(InvalidConfigError, match="thread_id"):
        adapter.delete_thread(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="thread_id"):
        adapter.pending.list(None)  # type: ignore[arg-type]


LONE_SURROGATE = "a\ud800b"


@pytest.mark.parametrize("field", ["thread_id", "checkpoint_ns", "checkpoint_id"])
def test_a_lone_surrogate_in_an_id_is_a_typed_error(adapter: FrameworkAdapter, field: str) -> None:
    configurable = {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": str(uuid6())}
    configurable[field] = LONE_SURROGATE
    config: Any = {"configurable": configurable}
    calls = {
        "get_tuple": lambda: adapter.get_tuple(config),
        "list": lambda: list(adapter.list(config)),
        "put": lambda: adapter.put(config, empty_checkpoint(), {}, {}),
        "put_writes": lambda: adapter.put_writes(config, [("a", 1)], "task"),
    }
    for call in calls.values():
        with pytest.raises(InvalidConfigError, match="lone surrogate"):
            call()
    if field == "checkpoint_id":
        before: Any = {"configurable": {"checkpoint_id": LONE_SURROGATE}}
        with pytest.raises(InvalidConfigError, match="lone surrogate"):
            list(adapter.list({"configurable": {"thread_id": "t"}}, before=before))


async def test_a_lone_surrogate_in_a_thread_id_is_a_typed_error_async(
    adapter: FrameworkAdapter,
) -> None:
    config: Any = {"configurable": {"thread_id": LONE_SURROGATE}}
    with pytest.raises(InvalidConfigError, match="lone surrogate"):
        await adapter.aget_tuple(config)
    with pytest.raises(InvalidConfigError, match="lone surrogate"):
        await adapter.adelete_thread(LONE_SURROGATE)
    with pytest.raises(InvalidConfigError, match="lone surrogate"):
        await adapter.pending.alist(LONE_SURROGATE)
    with pytest.raises(InvalidConfigError, match="lone surrogate"):
        adapter.copy_thread("t", LONE_SURROGATE)


@pytest.mark.parametrize("namespace", [0, 5, b"", b"x", False, 1.5])
def test_a_namespace_that_is_not_text_is_a_typed_error_whatever_its_value(
    adapter: FrameworkAdapter, namespace: Any
) -> None:
    # InMemorySaver keeps any of these as a namespace of its own; here every one is refused
    # alike (0 and b"" were read as the root namespace, 5 refused), and nothing is stored
    config: Any = {"configurable": {"thread_id": "t-ns", "checkpoint_ns": namespace}}
    calls = {
        "get_tuple": lambda: adapter.get_tuple(config),
        "list": lambda: list(adapter.list(config)),
        "put": lambda: adapter.put(config, empty_checkpoint(), {}, {}),
    }
    for call in calls.values():
        with pytest.raises(InvalidConfigError, match="checkpoint_ns must be a string"):
            call()
    assert list(adapter.list({"configurable": {"thread_id": "t-ns"}})) == []
