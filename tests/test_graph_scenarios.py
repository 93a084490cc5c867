"""Real LangGraph graphs paused and resumed through an adapter, on every backend."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.types import Command

from kortyx_langgraph import FrameworkAdapter, UnknownTokenError
from tests.graphs import (
    approval_graph,
    counter_graph,
    large_value_graph,
    parallel_graph,
    subgraph_graph,
    two_step_graph,
)
from tests.pending_truth import assert_agrees


def _config(thread_id: str | None = None) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id or f"t-{uuid.uuid4().hex}"}}


def test_interrupt_then_resume_by_token(adapter: FrameworkAdapter) -> None:
    graph = approval_graph(adapter)
    config = _config()
    first = graph.invoke({"request": "laptop", "log": []}, config)
    assert first["__interrupt__"][0].value == {"question": "approve laptop?"}

    [pending] = adapter.pending.list(config["configurable"]["thread_id"])
    assert pending.value == {"question": "approve laptop?"}
    assert pending.interrupt_id == first["__interrupt__"][0].id
    assert pending.checkpoint_id == graph.get_state(config).config["configurable"]["checkpoint_id"]
    assert adapter.pending.get(pending.token) == pending

    claimed = adapter.pending.claim(pending.token)
    result = graph.invoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    assert result["log"] == ["asked", "done:yes"]
    assert adapter.pending.list(config["configurable"]["thread_id"]) == []
    with pytest.raises(UnknownTokenError):
        adapter.pending.get(pending.token)


async def test_interrupt_then_resume_async(adapter: FrameworkAdapter) -> None:
    graph = approval_graph(adapter)
    config = _config()
    await graph.ainvoke({"request": "desk", "log": []}, config)
    [pending] = await adapter.pending.alist(config["configurable"]["thread_id"])
    claimed = await adapter.pending.aclaim(pending.token)
    result = await graph.ainvoke(Command(resume=claimed.resume_map("ok")), claimed.config)
    assert result["log"] == ["asked", "done:ok"]
    assert await adapter.pending.alist(config["configurable"]["thread_id"]) == []


def test_plain_resume_value_also_retires_the_record(adapter: FrameworkAdapter) -> None:
    graph = approval_graph(adapter)
    config = _config()
    graph.invoke({"request": "chair", "log": []}, config)
    result = graph.invoke(Command(resume="fine"), config)
    assert result["answer"] == "fine"
    assert adapter.pending.list(config["configurable"]["thread_id"]) == []


def test_two_interrupts_pending_at_once(adapter: FrameworkAdapter) -> None:
    graph = parallel_graph(adapter)
    config = _config()
    thread_id = config["configurable"]["thread_id"]
    graph.invoke({"log": []}, config)
    pending = adapter.pending.list(thread_id)
    assert sorted(p.value for p in pending) == ["left?", "right?"]
    assert len({p.token for p in pending}) == 2
    assert len({p.task_id for p in pending}) == 2

    by_value = {p.value: p for p in pending}
    left = adapter.pending.claim(by_value["left?"].token)
    graph.invoke(Command(resume=left.resume_map("L")), left.config)
    [still] = adapter.pending.list(thread_id)
    assert still.token == by_value["right?"].token, "the other interrupt keeps its token"
    assert not still.claimed

    right = adapter.pending.claim(still.token)
    result = graph.invoke(Command(resume=right.resume_map("R")), right.config)
    assert sorted(result["log"]) == ["left:L", "right:R"]
    assert result["answer"] == "joined"
    assert adapter.pending.list(thread_id) == []


def test_resume_both_interrupts_in_one_command(adapter: FrameworkAdapter) -> None:
    graph = parallel_graph(adapter)
    config = _config()
    graph.invoke({"log": []}, config)
    pending = adapter.pending.list(config["configurable"]["thread_id"])
    answers = {p.interrupt_id: p.value.upper() for p in pending}
    result = graph.invoke(Command(resume=answers), config)
    assert sorted(result["log"]) == ["left:LEFT?", "right:RIGHT?"]
    assert adapter.pending.list(config["configurable"]["thread_id"]) == []


def test_second_interrupt_in_the_same_node_gets_a_new_token(adapter: FrameworkAdapter) -> None:
    graph = two_step_graph(adapter)
    config = _config()
    thread_id = config["configurable"]["thread_id"]
    graph.invoke({}, config)
    [first] = adapter.pending.list(thread_id)
    assert first.value == "name?"
    adapter.pending.claim(first.token)
    graph.invoke(Command(resume=first.resume_map("Ada")), config)

    [second] = adapter.pending.list(thread_id)
    assert second.value == "age?"
    assert second.token != first.token
    assert second.interrupt_id != first.interrupt_id
    assert not second.claimed
    result = graph.invoke(Command(resume=second.resume_map(36)), second.config)
    assert result["answer"] == "Ada/36"
    assert adapter.pending.list(thread_id) == []


def test_interrupt_inside_a_subgraph(adapter: FrameworkAdapter) -> None:
    graph = subgraph_graph(adapter)
    config = _config()
    thread_id = config["configurable"]["thread_id"]
    graph.invoke({"log": []}, config)
    [pending] = adapter.pending.list(thread_id)
    assert pending.value == "inner?"
    assert pending.checkpoint_ns == ""

    state = graph.get_state(config, subgraphs=True)
    assert state.next == ("inner",)
    assert state.tasks[0].state is not None, "the subgraph's own checkpoint is stored"

    result = graph.invoke(Command(resume=pending.resume_map("deep")), pending.config)
    assert result["log"] == ["prepared", "finished:deep"]
    assert adapter.pending.list(thread_id) == []


def test_state_history_newest_first_and_complete(adapter: FrameworkAdapter) -> None:
    graph = counter_graph(adapter)
    config = _config()
    for _ in range(3):
        graph.invoke({"log": []}, config)
    history = list(graph.get_state_history(config))
    # each invoke: an input checkpoint and two loop checkpoints
    assert len(history) == 9
    ids = [s.config["configurable"]["checkpoint_id"] for s in history]
    assert ids == sorted(ids, reverse=True)
    assert history[0].values["log"] == ["step0", "step1", "step2"]
    assert (history[-1].metadata or {}).get("step") == -1
    limited = list(graph.get_state_history(config, limit=2))
    assert [s.config for s in limited] == [s.config for s in history[:2]]
    before = list(graph.get_state_history(config, before=history[3].config, limit=2))
    assert [s.config for s in before] == [s.config for s in history[4:6]]


def test_time_travel_replays_from_an_old_checkpoint(adapter: FrameworkAdapter) -> None:
    graph = counter_graph(adapter)
    config = _config()
    graph.invoke({"log": []}, config)
    graph.invoke({"log": []}, config)
    first_run_end = next(
        s for s in graph.get_state_history(config) if s.values.get("log") == ["step0"]
    )
    graph.invoke(None, first_run_end.config)  # nothing to run: the old state is returned
    graph.invoke({"log": []}, first_run_end.config)  # a new run forked from the old state
    latest = graph.get_state(config)
    assert latest.values["log"] == ["step0", "step1"]
    assert latest.parent_config is not None
    chain = []
    cursor: Any = latest
    while cursor.parent_config is not None:
        chain.append(cursor.parent_config["configurable"]["checkpoint_id"])
        cursor = graph.get_state(cursor.parent_config)
    assert first_run_end.config["configurable"]["checkpoint_id"] in chain


def test_update_state_forks_without_touching_the_original(adapter: FrameworkAdapter) -> None:
    graph = counter_graph(adapter)
    config = _config()
    graph.invoke({"log": []}, config)
    original = graph.get_state(config)
    forked_config = graph.update_state(original.config, {"log": ["edited"]})
    assert graph.get_state(forked_config).values["log"] == ["step0", "edited"]
    assert graph.get_state(original.config).values["log"] == ["step0"]
    assert graph.get_state(config).config == forked_config


def test_update_state_while_paused_retires_the_pending_interrupt(adapter: FrameworkAdapter) -> None:
    graph = approval_graph(adapter)
    config = _config()
    thread_id = config["configurable"]["thread_id"]
    graph.invoke({"request": "x", "log": []}, config)
    assert len(adapter.pending.list(thread_id)) == 1
    graph.update_state(config, {"answer": "set by hand"}, as_node="ask")
    assert adapter.pending.list(thread_id) == []
    assert graph.invoke(None, config)["log"][-1] == "done:set by hand"


def test_copy_thread_then_resume_on_the_copy(adapter: FrameworkAdapter) -> None:
    graph = approval_graph(adapter)
    source = _config()
    target = _config()
    graph.invoke({"request": "car", "log": []}, source)
    adapter.copy_thread(source["configurable"]["thread_id"], target["configurable"]["thread_id"])

    [original] = adapter.pending.list(source["configurable"]["thread_id"])
    [copied] = adapter.pending.list(target["configurable"]["thread_id"])
    assert copied.token != original.token
    assert copied.interrupt_id == original.interrupt_id
    assert copied.config == target

    result = graph.invoke(Command(resume=copied.resume_map("copy-yes")), copied.config)
    assert result["log"] == ["asked", "done:copy-yes"]
    assert adapter.pending.list(target["configurable"]["thread_id"]) == []
    # the source is still paused and resumable on its own
    assert graph.get_state(source).next == ("ask",)
    assert adapter.pending.get(original.token) == original


def _stored(adapter: FrameworkAdapter, thread_id: str) -> list[tuple[str, Any]]:
    """``(checkpoint id, the run in its metadata)``, newest first."""
    return [
        (t.config["configurable"]["checkpoint_id"], t.metadata.get("run_id"))
        for t in adapter.list({"configurable": {"thread_id": thread_id}})
    ]


def test_deleting_a_run_leaves_the_threads_copied_from_its_thread(
    adapter: FrameworkAdapter,
) -> None:
    """A run's checkpoints are the ones it stored in its own thread, as on LangGraph's server,
    which deletes a rolled-back run's checkpoints in that thread only: a copy keeps them."""
    graph = approval_graph(adapter)
    source, copy, home = (str(uuid.uuid4()) for _ in range(3))

    def config(thread_id: str, run: str) -> Any:
        return {"configurable": {"thread_id": thread_id}, "metadata": {"run_id": run}}

    graph.invoke({"request": "car", "log": []}, config(source, "run-1"))
    adapter.copy_thread(source, copy)
    made = _stored(adapter, source)
    assert {run for _, run in made} == {"run-1"}
    assert _stored(adapter, copy) == made  # metadata as it was, the run's id included
    adapter.copy_thread(copy, home)  # a copy of a copy is still not the run's

    adapter.delete_for_runs(["run-1"])
    assert _stored(adapter, source) == []
    assert _stored(adapter, copy) == _stored(adapter, home) == made
    # the copy is whole: still paused, listed as LangGraph lists it, and resumable
    assert_agrees(graph, adapter, copy)
    [pending] = adapter.pending.list(copy)
    done = graph.invoke(Command(resume=pending.resume_map("yes")), config(copy, "run-2"))
    assert done["log"] == ["asked", "done:yes"]

    # copied back into the run's own thread, they are the run's again
    adapter.copy_thread(home, source)
    assert _stored(adapter, source) == made
    adapter.delete_for_runs(["run-1"])
    assert _stored(adapter, source) == []
    assert _stored(adapter, home) == made


def test_a_copy_names_itself_where_its_metadata_named_the_source(
    adapter: FrameworkAdapter,
) -> None:
    """LangGraph's server puts the thread's id in each checkpoint's metadata, and its copies
    name the copy there: so do ours. Other metadata, and other thread ids, stay as they are."""
    source, copy = str(uuid.uuid4()), str(uuid.uuid4())
    saved: Any = {"configurable": {"thread_id": source, "checkpoint_ns": ""}}
    for i, named in enumerate([source, "another-thread", None]):
        checkpoint = empty_checkpoint()
        metadata: Any = {"source": "loop", "step": i, "parents": {}, "run_id": f"run-{i}"}
        if named is not None:
            metadata["thread_id"] = named
        saved = adapter.put(saved, checkpoint, metadata, {})
    adapter.copy_thread(source, copy)
    listed = [t.metadata for t in adapter.list({"configurable": {"thread_id": copy}})]
    assert [m.get("thread_id") for m in listed] == [None, "another-thread", copy]
    assert [m["run_id"] for m in listed] == ["run-2", "run-1", "run-0"]
    assert [m.get("thread_id") for m in
            (t.metadata for t in adapter.list({"configurable": {"thread_id": source}}))] == [
        None, "another-thread", source]  # fmt: skip


def test_delete_thread_removes_its_pending_interrupts(adapter: FrameworkAdapter) -> None:
    graph = approval_graph(adapter)
    config = _config()
    thread_id = config["configurable"]["thread_id"]
    graph.invoke({"request": "x", "log": []}, config)
    [pending] = adapter.pending.list(thread_id)
    adapter.delete_thread(thread_id)
    assert graph.get_state(config).values == {}
    assert adapter.pending.list(thread_id) == []
    with pytest.raises(UnknownTokenError):
        adapter.pending.claim(pending.token)


async def test_large_values_pause_and_resume_by_token(adapter: FrameworkAdapter) -> None:
    # values past the sizes where the Redis adapter stores writes in a field of their own
    # and sends arguments as chunks of their own (redis/scripts.py, redis/direct.py)
    graph = large_value_graph(adapter)
    for colour in ("sync", "async"):
        config = _config()
        thread_id = config["configurable"]["thread_id"]
        if colour == "sync":
            graph.invoke({"doc": "", "answer": ""}, config)
        else:
            await graph.ainvoke({"doc": "", "answer": ""}, config)
        [asked] = graph.get_state(config).interrupts
        [pending] = adapter.pending.list(thread_id)
        assert (pending.interrupt_id, pending.value) == (asked.id, asked.value)
        assert asked.value == {"question": "q" * 300_000, "doc": 500_000}
        claimed = adapter.pending.claim(pending.token)
        resume = Command(resume=claimed.resume_map("A" * 200_000))
        if colour == "sync":
            result = graph.invoke(resume, claimed.config)
        else:
            result = await graph.ainvoke(resume, claimed.config)
        assert (result["doc"], result["answer"]) == ("D" * 500_000, "A" * 200_000)
        assert adapter.pending.list(thread_id) == []
