"""The pending store agrees with LangGraph in the cases real clients hit, on every backend.

Each test drives a real LangGraph client (the functional API, ``response_schema``, ``Send``
fan-out, ``copy_thread``; langchain's agents are in ``test_pending_langchain.py``)
and checks the store against ``graph.get_state(config).interrupts``.
"""

from __future__ import annotations

import operator
import uuid
from typing import Annotated, Any

import pydantic
import pytest
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Interrupt, Send, interrupt
from typing_extensions import TypedDict

from kortyx_langgraph import (
    AlreadyClaimedError,
    FrameworkAdapter,
    NothingPendingError,
    UnknownTokenError,
    create_in_memory_framework_adapter,
)
from kortyx_langgraph.core import interrupts
from tests.graphs import parallel_graph
from tests.pending_truth import assert_agrees, config_of


def _thread() -> str:
    return f"t-{uuid.uuid4().hex}"


# -- 1. functional API --------------------------------------------------------------------


def _functional(adapter: FrameworkAdapter) -> Any:
    @task
    def ask(topic: str) -> str:
        return str(interrupt({"topic": topic}))

    @entrypoint(checkpointer=adapter)
    def workflow(topic: str) -> str:
        return ask(topic).result() + "!"

    return workflow


def test_functional_api_interrupt_has_one_record(adapter: FrameworkAdapter) -> None:
    workflow = _functional(adapter)
    thread = _thread()
    workflow.invoke("tea", config_of(thread))
    assert_agrees(workflow, adapter, thread)
    [pending] = adapter.pending.list(thread)

    claimed = adapter.pending.claim(pending.token)
    with pytest.raises(AlreadyClaimedError):
        adapter.pending.claim(pending.token)
    assert workflow.invoke(Command(resume=claimed.resume_map("yes")), claimed.config) == "yes!"
    assert adapter.pending.list(thread) == []
    assert_agrees(workflow, adapter, thread)


def test_functional_calls_waiting_at_once_are_pending_as_their_caller_raises_them(
    adapter: FrameworkAdapter,
) -> None:
    @task
    def ask(topic: str) -> str:
        return str(interrupt({"topic": topic}))

    @entrypoint(checkpointer=adapter)
    def workflow(topics: list[str]) -> list[str]:
        calls = [ask(topic) for topic in topics]  # all run at once, each interrupts
        return [call.result() for call in calls]

    thread = _thread()
    workflow.invoke(["a", "b", "c"], config_of(thread))
    assert_agrees(workflow, adapter, thread)  # LangGraph lists the first the caller awaits
    answered = 0
    while pending := adapter.pending.list(thread):
        assert len(pending) == 1
        claimed = adapter.pending.claim(pending[0].token)
        workflow.invoke(Command(resume=claimed.resume_map(f"yes-{answered}")), claimed.config)
        answered += 1
        assert_agrees(workflow, adapter, thread)
    assert answered == 3 and workflow.get_state(config_of(thread)).next == ()


def test_records_an_earlier_version_made_for_functional_calls_are_retired_by_the_calls(
    adapter: FrameworkAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Earlier versions listed each waiting call's own interrupt. After an upgrade, the
    calls' next writes retire those records, so the store agrees with LangGraph again and an
    answered call's token stops working."""

    @task
    def ask(topic: str) -> str:
        return str(interrupt({"topic": topic}))

    @entrypoint(checkpointer=adapter)
    def workflow(topics: list[str]) -> list[str]:
        return [call.result() for call in [ask(topic) for topic in topics]]

    thread = _thread()
    with monkeypatch.context() as earlier:  # as an earlier version stored it
        earlier.setattr(interrupts, "is_call_path", lambda path: False)
        workflow.invoke(["a", "b"], config_of(thread))
    stale = {p.value["topic"]: p.token for p in adapter.pending.list(thread)}
    assert sorted(stale) == ["a", "b"]
    [first] = workflow.get_state(config_of(thread)).interrupts
    workflow.invoke(Command(resume={first.id: "yes"}), config_of(thread))
    assert_agrees(workflow, adapter, thread)
    with pytest.raises(UnknownTokenError):
        adapter.pending.get(stale[first.value["topic"]])
    while pending := adapter.pending.list(thread):
        claimed = adapter.pending.claim(pending[0].token)
        workflow.invoke(Command(resume=claimed.resume_map("yes")), claimed.config)
        assert_agrees(workflow, adapter, thread)
    assert workflow.get_state(config_of(thread)).next == ()


# -- 2 and 6. failing resumes keep the interrupt; response_schema is published -------------


class Verdict(pydantic.BaseModel):
    """The answer a reviewer gives."""

    approved: bool
    note: str = ""


class Review(TypedDict, total=False):
    verdict: dict[str, Any]


def _review_graph(adapter: FrameworkAdapter) -> Any:
    failures = [1]  # a note "explode" fails the node once, after interrupt() returned

    def review(state: Review) -> Review:
        verdict = interrupt({"question": "approve?"}, response_schema=Verdict)
        if verdict.note == "explode" and failures[0]:
            failures[0] -= 1
            raise ValueError("the node failed after interrupt() returned")
        return {"verdict": verdict.model_dump()}

    builder = StateGraph(Review)
    builder.add_node("review", review)
    builder.add_edge(START, "review")
    builder.add_edge("review", END)
    return builder.compile(checkpointer=adapter)


def test_response_schema_is_on_the_record(adapter: FrameworkAdapter) -> None:
    graph = _review_graph(adapter)
    thread = _thread()
    graph.invoke({}, config_of(thread))
    [pending] = adapter.pending.list(thread)
    assert pending.response_schema == Verdict.model_json_schema()
    assert adapter.pending.get(pending.token).response_schema == Verdict.model_json_schema()
    assert_agrees(graph, adapter, thread)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ({"approved": "not a bool"}, pydantic.ValidationError),
        ({"approved": True, "note": "explode"}, ValueError),
    ],
    ids=["fails-validation", "node-raises-after-interrupt"],
)
def test_a_failed_resume_keeps_the_interrupt_and_its_token(
    adapter: FrameworkAdapter, answer: dict[str, Any], error: type[Exception]
) -> None:
    graph = _review_graph(adapter)
    thread = _thread()
    graph.invoke({}, config_of(thread))
    [pending] = adapter.pending.list(thread)

    claimed = adapter.pending.claim(pending.token)
    with pytest.raises(error):
        graph.invoke(Command(resume=claimed.resume_map(answer)), claimed.config)
    assert_agrees(graph, adapter, thread)
    assert adapter.pending.get(pending.token).interrupt_id == pending.interrupt_id
    assert claimed.claim_id is not None
    adapter.pending.release(pending.token, claimed.claim_id)

    again = adapter.pending.claim(pending.token)
    result = graph.invoke(Command(resume=again.resume_map({"approved": True})), again.config)
    # LangGraph keeps an answer the node already received (the node raised after it)
    assert result["verdict"]["approved"] is True
    assert adapter.pending.list(thread) == []
    with pytest.raises(UnknownTokenError):
        adapter.pending.get(pending.token)


# -- 3. Send siblings raise again with new values ------------------------------------------


class FanState(TypedDict, total=False):
    items: list[str]
    done: Annotated[list[str], operator.add]


def _fan_graph(adapter: FrameworkAdapter, attempts: dict[str, int]) -> Any:
    def fan(state: FanState) -> list[Send]:
        return [Send("ask", {"items": [item]}) for item in state["items"]]

    def ask(state: FanState) -> FanState:
        item = state["items"][0]
        attempts[item] = attempts.get(item, 0) + 1
        answer = interrupt({"item": item, "attempt": attempts[item]})
        return {"done": [f"{item}:{answer}"]}

    builder = StateGraph(FanState)
    builder.add_node("ask", ask)
    builder.add_conditional_edges(START, fan, ["ask"])
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=adapter)


def test_siblings_raised_again_carry_their_new_values(adapter: FrameworkAdapter) -> None:
    graph = _fan_graph(adapter, {})
    thread = _thread()
    graph.invoke({"items": ["a", "b", "c"]}, config_of(thread))
    assert_agrees(graph, adapter, thread)
    before = {p.value["item"]: p for p in adapter.pending.list(thread)}
    assert {p.value["attempt"] for p in before.values()} == {1}

    first = adapter.pending.claim(before["a"].token)
    graph.invoke(Command(resume=first.resume_map("ok")), first.config)
    assert_agrees(graph, adapter, thread)
    after = {p.value["item"]: p for p in adapter.pending.list(thread)}
    assert sorted(after) == ["b", "c"]
    for item in ("b", "c"):
        assert after[item].value["attempt"] == 2
        assert after[item].token == before[item].token


# -- 4. copy_thread onto a paused thread ---------------------------------------------------


class Ask(TypedDict, total=False):
    topic: str
    answer: str


def _ask_graph(adapter: FrameworkAdapter) -> Any:
    def ask(state: Ask) -> Ask:
        return {"answer": str(interrupt(f"about {state['topic']}?"))}

    builder = StateGraph(Ask)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=adapter)


def test_copy_onto_a_paused_thread_replaces_its_pending(adapter: FrameworkAdapter) -> None:
    graph = _ask_graph(adapter)
    target, source = _thread(), _thread()
    graph.invoke({"topic": "old"}, config_of(target))
    [stale] = adapter.pending.list(target)
    graph.invoke({"topic": "new"}, config_of(source))  # newer checkpoints than the target's

    adapter.copy_thread(source, target)
    assert_agrees(graph, adapter, target)
    with pytest.raises(UnknownTokenError):
        adapter.pending.claim(stale.token)
    [fresh] = adapter.pending.list(target)
    assert fresh.value == "about new?"
    assert fresh.token not in {p.token for p in adapter.pending.list(source)}

    claimed = adapter.pending.claim(fresh.token)
    result = graph.invoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    assert result == {"topic": "new", "answer": "yes"}
    assert_agrees(graph, adapter, target)
    assert_agrees(graph, adapter, source)
    assert len(adapter.pending.list(source)) == 1


@pytest.mark.parametrize("durability", ["sync", "async"])
def test_a_run_resumed_at_an_older_checkpoint_adds_nothing_pending(
    adapter: FrameworkAdapter, durability: Any
) -> None:
    graph = parallel_graph(adapter)
    thread = _thread()
    graph.invoke({"log": []}, config_of(thread), durability=durability)
    paused = graph.get_state(config_of(thread))  # two interrupts at checkpoint M
    fork = graph.update_state(paused.config, {"log": ["forked"]})  # F, newer than M
    graph.invoke(None, fork, durability=durability)  # F pauses on both too
    assert_agrees(graph, adapter, thread)
    at_fork = {p.interrupt_id: p.token for p in adapter.pending.list(thread)}
    left = next(i for i in paused.interrupts if i.value == "left?")
    # answered at M: left finishes there and right raises again at M, which is not the
    # latest checkpoint; LangGraph still reports F's two
    graph.invoke(Command(resume={left.id: "at M"}), paused.config, durability=durability)
    assert_agrees(graph, adapter, thread)
    assert {p.interrupt_id: p.token for p in adapter.pending.list(thread)} == at_fork


def test_an_interrupt_whose_checkpoint_was_never_stored_is_not_pending(
    adapter: FrameworkAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Steps(TypedDict, total=False):
        log: Annotated[list[str], operator.add]

    def first(state: Steps) -> Steps:
        return {"log": ["first"]}

    def ask(state: Steps) -> Steps:
        return {"log": [f"ask:{interrupt('go on?')}"]}

    builder = StateGraph(Steps)
    builder.add_node("first", first)
    builder.add_node("ask", ask)
    builder.add_edge(START, "first")
    builder.add_edge("first", "ask")
    graph = builder.compile(checkpointer=adapter)
    put = adapter.put

    def failing_put(config: Any, checkpoint: Any, metadata: Any, versions: Any) -> Any:
        if metadata.get("step") == 1:  # the checkpoint "ask" runs at: a storage blip
            raise ConnectionError("the put failed")
        return put(config, checkpoint, metadata, versions)

    monkeypatch.setattr(adapter, "put", failing_put)
    thread = _thread()
    # with async durability the step's writes are sent while its put is under way, and
    # they land: the interrupt is written for a checkpoint that is never stored
    with pytest.raises(ConnectionError):
        graph.invoke({"log": []}, config_of(thread), durability="async")
    monkeypatch.undo()
    assert graph.get_state(config_of(thread)).interrupts == ()
    assert_agrees(graph, adapter, thread)
    with pytest.raises(NothingPendingError):
        adapter.pending.claim_next(thread)
    graph.invoke(None, config_of(thread))  # run again from what is stored: asks anew
    assert_agrees(graph, adapter, thread)
    [pending] = adapter.pending.list(thread)
    claimed = adapter.pending.claim(pending.token)
    result = graph.invoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    assert result["log"] == ["first", "ask:yes"]
    assert adapter.pending.list(thread) == []


def test_a_token_is_refused_once_the_thread_moved_past_it(adapter: FrameworkAdapter) -> None:
    graph = _ask_graph(adapter)
    thread = _thread()
    graph.invoke({"topic": "a"}, config_of(thread))
    [pending] = adapter.pending.list(thread)
    graph.update_state(config_of(thread), {"topic": "b"})  # a new checkpoint
    assert_agrees(graph, adapter, thread)
    with pytest.raises(UnknownTokenError):
        adapter.pending.claim(pending.token)


# -- 5. a resumed token of a live thread is unknown, not expired --------------------------


def test_a_resumed_token_is_unknown_while_the_thread_lives(
    make_adapter: Any,
) -> None:
    now = [1_800_000_000_000]
    adapter = make_adapter(ttl_ms=60_000, clock=lambda: now[0])
    graph = _ask_graph(adapter)
    thread = _thread()
    graph.invoke({"topic": "a"}, config_of(thread))
    [pending] = adapter.pending.list(thread)
    claimed = adapter.pending.claim(pending.token)
    now[0] += 59_000
    graph.invoke(Command(resume=claimed.resume_map("yes")), claimed.config)  # extends the TTL
    graph.invoke({"topic": "b"}, config_of(thread))  # the thread lives on, paused again
    now[0] += 2_000  # past the deadline the first token was minted with; the thread lives
    assert len(adapter.pending.list(thread)) == 1
    for lookup in (adapter.pending.get, adapter.pending.claim):
        with pytest.raises(UnknownTokenError) as caught:
            lookup(pending.token)
        assert type(caught.value) is UnknownTokenError


def test_an_unknown_token_on_the_in_memory_backend_says_tokens_stay_in_their_process(
    adapter: FrameworkAdapter,
) -> None:
    """The usual cause on the in-memory backend: the token came from another process (here,
    another adapter); other backends do not claim that cause."""
    thread = _thread()
    _ask_graph(adapter).invoke({"topic": "t"}, config_of(thread))
    [pending] = adapter.pending.list(thread)
    token = pending.token
    other = (
        create_in_memory_framework_adapter(ttl_ms=60_000)
        if adapter.kind == "in-memory"
        else adapter
    )
    if other is adapter:
        claimed = adapter.pending.claim(token)
        _ask_graph(adapter).invoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    with pytest.raises(UnknownTokenError) as caught:
        other.pending.get(token)
    in_memory = "an in-memory adapter knows only the interrupts of the process that made it"
    assert (in_memory in str(caught.value)) == (adapter.kind == "in-memory")
    assert ("KORTYX_REDIS_URL" in str(caught.value)) == (adapter.kind == "in-memory")


# -- 5. two runs of one thread at once -----------------------------------------------------


@pytest.mark.parametrize(
    "finished",
    [("log", ["left:ok"]), ("__scheduled__", None)],
    ids=["a-result", "a-special-write-langgraph-counts-as-one"],
)
def test_a_task_another_run_finished_is_not_pending_when_its_interrupt_comes_late(
    adapter: FrameworkAdapter, finished: tuple[str, Any]
) -> None:
    """Two callers answer the two interrupts of a thread at once: each run re-runs the
    other's task. A task's writes from one run (finished) and its interrupt from the other
    then arrive in either order; LangGraph counts a task with a regular write as finished,
    so its interrupt is not pending, however late it comes."""
    graph = parallel_graph(adapter)
    thread = _thread()
    graph.invoke({"request": "r", "log": []}, config_of(thread))
    assert_agrees(graph, adapter, thread)
    at = graph.get_state(config_of(thread)).config
    left = next(p for p in adapter.pending.list(thread) if p.value == "left?")
    again = [(INTERRUPT, [Interrupt(value="left?", id=left.interrupt_id)])]
    adapter.put_writes(at, [finished], left.task_id)  # one run finished it
    assert_agrees(graph, adapter, thread)
    adapter.put_writes(at, again, left.task_id)  # the other re-raised it, later
    assert_agrees(graph, adapter, thread)
    assert [p.value for p in adapter.pending.list(thread)] == ["right?"]


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_a_task_that_only_failed_elsewhere_is_still_pending_when_raised_again(
    make_adapter: Any, compression: str | None
) -> None:
    """A failure (an error and the node that raised it, for LangGraph's error handlers)
    finishes nothing: the task's interrupt raised again by the other run stays pending.
    Its regular writes, compressed or not, do finish it."""
    try:
        adapter = make_adapter(compression=compression)
    except TypeError:  # the in-memory backend, which compresses nothing
        adapter = make_adapter()
    graph = parallel_graph(adapter)
    thread = _thread()
    graph.invoke({"request": "r", "log": []}, config_of(thread))
    at = graph.get_state(config_of(thread)).config
    left = next(p for p in adapter.pending.list(thread) if p.value == "left?")
    again = [(INTERRUPT, [Interrupt(value="left?", id=left.interrupt_id)])]
    failed = [(ERROR, "the booking service is down"), ("__error_source_node__", "left")]
    adapter.put_writes(at, failed, left.task_id)
    adapter.put_writes(at, again, left.task_id)
    assert_agrees(graph, adapter, thread)
    assert sorted(p.value for p in adapter.pending.list(thread)) == ["left?", "right?"]
    adapter.put_writes(at, [("log", ["left:" + "ok " * 40])], left.task_id)
    adapter.put_writes(at, again, left.task_id)
    assert_agrees(graph, adapter, thread)
    assert [p.value for p in adapter.pending.list(thread)] == ["right?"]
