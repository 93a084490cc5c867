"""``create_agent`` and ``use_interrupt`` on every backend."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, TypedDict

import anyio
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from kortyx_langgraph import (
    AlreadyClaimedError,
    ConfigurationError,
    ExpiredTokenError,
    FrameworkAdapter,
    InvalidAnswerError,
    Option,
    ResumeFailedError,
    RunResult,
    StorageTimeoutError,
    UnknownTokenError,
    UnknownWorkflowError,
    create_agent,
    use_interrupt,
)
from tests.agent_workflows import note_builder, trip_builder
from tests.pending_truth import assert_agrees
from tests.typecheck import mypy_strict


def _agent(adapter: FrameworkAdapter, fail_in_node: int = 0, fail_after: int = 0) -> Any:
    note = note_builder([fail_in_node], [fail_after]).compile()
    return create_agent(
        workflows={"trip": trip_builder(), "note": note},
        default_workflow_id="trip",
        framework_adapter=adapter,
    )


def test_run_pauses_and_resume_by_token_runs_to_the_end(adapter: FrameworkAdapter) -> None:
    agent = _agent(adapter)
    assert agent.framework_adapter is adapter
    paused = agent.run({"city": "Lyon"})
    assert paused.status == "interrupted"
    assert paused.workflow_id == "trip"
    [question] = paused.interrupts
    assert question.value["kind"] == "choice"
    assert question.value["options"][0] == {
        "id": "train",
        "label": "Train",
        "description": "slow, scenic",
    }
    assert question.response_schema == {"enum": ["train", "plane"], "type": "string"}
    assert_agrees(agent.workflows["trip"], adapter, paused.thread_id)

    second = agent.resume(question.token, "train")
    assert second.status == "interrupted"
    [extras] = second.interrupts
    assert extras.token != question.token
    assert extras.response_schema is not None
    assert extras.response_schema["type"] == "array"
    assert extras.response_schema["maxItems"] == 2
    assert extras.response_schema["uniqueItems"] is True  # as the answer is checked
    for unordered in ({"meal", "bag"}, frozenset({"meal"})):
        with pytest.raises(InvalidAnswerError, match="a set has no order"):
            agent.resume(extras.token, unordered)

    done = agent.resume(extras.token, ["meal", "bag"])
    assert done == RunResult(done.thread_id, "trip", "completed", None, ())
    assert done.values["transport"] == "TRAIN"
    assert done.values["extras"] == ["meal", "bag"]  # an option without a value gives its id
    assert done.values["log"] == ["planned", "booked TRAIN with meal+bag"]
    with pytest.raises(UnknownTokenError):
        agent.resume(question.token, "plane")


@pytest.mark.parametrize(
    "answer",
    ["bus", 3, ["train"], None],
    ids=["unknown-option", "wrong-type", "list-for-choice", "nothing"],
)
def test_a_bad_choice_is_refused_and_the_token_stays(
    adapter: FrameworkAdapter, answer: Any
) -> None:
    agent = _agent(adapter)
    [question] = agent.run({"city": "Oslo"}).interrupts
    with pytest.raises(InvalidAnswerError):
        agent.resume(question.token, answer)
    still = adapter.pending.get(question.token)
    assert not still.claimed
    assert agent.resume(question.token, "plane").interrupts[0].value["question"] == "Extras?"


@pytest.mark.parametrize(
    "answer",
    [["bag", "seat", "meal"], ["bag", "bag"], [], ["nope"], "bag"],
    ids=["too-many", "twice", "too-few", "unknown", "not-a-list"],
)
def test_a_bad_multi_choice_is_refused(adapter: FrameworkAdapter, answer: Any) -> None:
    agent = _agent(adapter)
    [question] = agent.run({"city": "Rome"}).interrupts
    [extras] = agent.resume(question.token, "train").interrupts
    with pytest.raises(InvalidAnswerError):
        agent.resume(extras.token, answer)
    assert agent.resume(extras.token, ["seat"]).status == "completed"


def test_a_bad_answer_sent_straight_to_langgraph_is_not_kept(adapter: FrameworkAdapter) -> None:
    """LangGraph validates against the published schema before recording the answer."""
    from langgraph.types import Command

    agent = _agent(adapter)
    paused = agent.run({"city": "Bern"})
    [question] = paused.interrupts
    graph = agent.workflows["trip"]
    with pytest.raises(Exception, match="validation error"):
        graph.invoke(Command(resume=question.resume_map("bus")), question.config)
    assert_agrees(graph, adapter, paused.thread_id)
    assert agent.resume(question.token, "train").status == "interrupted"


def test_a_failed_resume_releases_the_claim(adapter: FrameworkAdapter) -> None:
    agent = _agent(adapter, fail_in_node=1)
    paused = agent.run({}, workflow_id="note")
    assert paused.workflow_id == "note"
    [question] = paused.interrupts
    assert question.response_schema == {"type": "string"}
    with pytest.raises(ResumeFailedError, match="booking service is down") as caught:
        agent.resume(question.token, "window seat")
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert caught.value.token_still_pending
    assert "LangGraph keeps that answer and gives it again" in str(caught.value)
    assert not adapter.pending.get(question.token).claimed
    done = agent.resume(question.token, "ignored: the node already has its answer")
    assert done.status == "completed"
    assert done.workflow_id == "note"
    assert done.values["log"] == ["noted window seat"]


def test_a_question_whose_node_failed_is_asked_anew_once_the_thread_moves_past_it(
    adapter: FrameworkAdapter,
) -> None:
    """The way the docs give to answer differently after the node raised with an answer
    (LangGraph keeps that answer for the token): update the state, run on."""
    agent = _agent(adapter, fail_in_node=1)
    [question] = agent.run({}, workflow_id="note").interrupts
    with pytest.raises(ResumeFailedError):
        agent.resume(question.token, "window seat")
    config: RunnableConfig = {"configurable": {"thread_id": question.thread_id}}
    agent.workflows["note"].update_state(config, {})
    again = agent.run(None, thread_id=question.thread_id, workflow_id="note")
    [asked] = again.interrupts
    assert asked.token != question.token
    with pytest.raises(UnknownTokenError):
        adapter.pending.get(question.token)
    assert agent.resume(asked.token, "aisle").values["log"] == ["noted aisle"]


def test_a_failure_after_the_answer_was_taken_says_so(adapter: FrameworkAdapter) -> None:
    agent = _agent(adapter, fail_after=1)
    [question] = agent.run({}, workflow_id="note").interrupts
    with pytest.raises(ResumeFailedError, match="archive timed out") as caught:
        agent.resume(question.token, "aisle")
    assert not caught.value.token_still_pending
    with pytest.raises(UnknownTokenError):
        adapter.pending.get(question.token)
    retried = agent.run(None, workflow_id="note", thread_id=question.thread_id)
    assert retried.values["log"] == ["noted aisle"]


def test_a_claimed_or_unknown_token_is_never_a_new_run(adapter: FrameworkAdapter) -> None:
    agent = _agent(adapter)
    paused = agent.run({"city": "Riga"})
    [question] = paused.interrupts
    held = adapter.pending.claim(question.token)
    with pytest.raises(AlreadyClaimedError):
        agent.resume(question.token, "train")
    assert held.claim_id is not None
    adapter.pending.release(question.token, held.claim_id)
    forged = question.token[:-4] + "AAAA"
    with pytest.raises(UnknownTokenError):
        agent.resume(forged, "train")
    history = list(agent.workflows["trip"].get_state_history(question.config))
    assert len(history) == 2  # the input and the paused step: nothing else ran


def test_resume_finds_the_workflow_a_thread_runs(adapter: FrameworkAdapter) -> None:
    agent = _agent(adapter)
    trip = agent.run({"city": "Nice"}, thread_id="shared-name-1")
    note = agent.run({}, workflow_id="note", config={"configurable": {"thread_id": "other-2"}})
    assert note.thread_id == "other-2"
    fresh = _agent(adapter)  # another process would know nothing but the token
    assert fresh.workflow_of("other-2") == "note"
    assert fresh.resume(note.interrupts[0].token, "hi").values["log"] == ["noted hi"]
    assert fresh.resume(trip.interrupts[0].token, "plane").workflow_id == "trip"


def test_a_thread_no_agent_ran_is_never_resumed_with_the_default_workflow(
    adapter: FrameworkAdapter,
) -> None:
    agent = _agent(adapter)  # its default workflow, "trip", is not what made the thread
    config: Any = {"configurable": {"thread_id": "plain-1"}}
    note_builder([0], [0]).compile(checkpointer=adapter).invoke({}, config)
    [pending] = adapter.pending.list("plain-1")
    with pytest.raises(UnknownWorkflowError, match="records no workflow"):
        agent.resume(pending.token, "aisle")
    assert not adapter.pending.get(pending.token).claimed  # still pending, not claimed
    with pytest.raises(UnknownWorkflowError):
        agent.workflow_of("never-ran")


def test_stream_passes_modes_through_and_ends_with_the_result(adapter: FrameworkAdapter) -> None:
    agent = _agent(adapter)
    *chunks, result = agent.stream({"city": "Kyiv"}, stream_mode="values")
    assert isinstance(result, RunResult)
    assert result.status == "interrupted"
    assert chunks[0] == {"city": "Kyiv", "log": []}


async def test_async_twins(adapter: FrameworkAdapter) -> None:
    agent = _agent(adapter)
    paused = await agent.arun({"city": "Tartu"})
    [question] = paused.interrupts
    with pytest.raises(InvalidAnswerError):
        await agent.aresume(question.token, "bus")
    second = await agent.aresume(question.token, "train")
    done = await agent.aresume(second.interrupts[0].token, ["seat"])
    assert done.status == "completed"
    items = [item async for item in agent.astream({"city": "Pärnu"}, stream_mode="updates")]
    assert isinstance(items[-1], RunResult)
    assert await agent.aworkflow_of(items[-1].thread_id) == "trip"
    with pytest.raises(UnknownWorkflowError):
        await agent.aworkflow_of("never-ran")


def test_without_an_adapter_the_environment_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["KORTYX_REDIS_URL", "REDIS_URL", "KORTYX_FRAMEWORK_REDIS_URL"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KORTYX_TTL_MS", "120000")
    with create_agent(workflows={"trip": trip_builder()}, default_workflow_id="trip") as agent:
        assert agent.framework_adapter.kind == "in-memory"
        assert agent.framework_adapter.ttl_ms == 120_000
        assert agent.run({"city": "Turku"}).status == "interrupted"


@pytest.mark.redis
def test_without_an_adapter_a_redis_url_selects_redis(
    monkeypatch: pytest.MonkeyPatch, redis_standalone: Any
) -> None:
    monkeypatch.setenv("KORTYX_REDIS_URL", redis_standalone.url)
    with create_agent(workflows={"trip": trip_builder()}, default_workflow_id="trip") as agent:
        assert agent.framework_adapter.kind == "redis"
        paused = agent.run({"city": "Gdansk"})
        agent.framework_adapter.delete_thread(paused.thread_id)


@pytest.mark.parametrize(
    ("kwargs", "variable"),
    [
        ({"workflows": {}, "default_workflow_id": "x"}, "workflows"),
        ({"workflows": {"a": trip_builder()}, "default_workflow_id": "b"}, "default_workflow_id"),
        ({"workflows": {"a": object()}, "default_workflow_id": "a"}, "workflows"),
    ],
)
def test_bad_agent_arguments_are_named(
    adapter: FrameworkAdapter, kwargs: dict[str, Any], variable: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_agent(framework_adapter=adapter, **kwargs)
    assert caught.value.variable == variable


def _one_node_agent(adapter: FrameworkAdapter, ask: Any) -> Any:
    """An agent of one workflow, ``q``: START -> ask -> END."""
    from langgraph.graph import END, START, StateGraph

    from tests.agent_workflows import Trip

    builder = StateGraph(Trip)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return create_agent(
        workflows={"q": builder}, default_workflow_id="q", framework_adapter=adapter
    )


def _recording_agent(adapter: FrameworkAdapter) -> tuple[Any, list[Any]]:
    """An agent whose one node asks, then notes the answer; and the answers its node got
    (a node that ran after the question was answered adds one)."""
    runs: list[Any] = []

    def ask(state: Any) -> Any:
        runs.append(answer := interrupt("ok?"))
        return {"note": str(answer)}

    return _one_node_agent(adapter, ask), runs


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("slider", None, "unknown input kind"),
        ("choice", None, "needs options"),
        ("text", ["a"], "takes no options"),
        ("choice", ["a", "a"], "unique"),
        ("choice", [{"label": "no id"}], "non-empty string id"),
    ],
)
def test_bad_questions_are_refused_in_the_node(
    adapter: FrameworkAdapter, kind: str, options: Any, message: str
) -> None:

    from kortyx_langgraph import use_interrupt
    from tests.agent_workflows import Trip

    def ask(state: Trip) -> Trip:
        return {"note": use_interrupt(kind, "?", options=options)}  # type: ignore[arg-type]

    agent = _one_node_agent(adapter, ask)
    with pytest.raises(ConfigurationError, match=message):
        agent.run({})


@pytest.mark.parametrize(
    ("kind", "question", "extra", "variable"),
    [
        ("choice", "?", {"options": ["", "b"]}, "options"),
        ("choice", "?", {"options": [Option("", "empty")]}, "options"),
        ("choice", "?", {"options": "yes"}, "options"),  # would be options y, e and s
        ("multi-choice", "?", {"options": ["a", "b"], "min_choices": True}, "min_choices"),
        ("multi-choice", "?", {"options": ["a", "b"], "max_choices": 1.5}, "max_choices"),
        ("choice", "?", {"options": ["a", "b"], "min_choices": 2}, "min_choices"),
        ("text", "?", {"max_choices": 1}, "max_choices"),
        ("text", 42, {}, "question"),
        # a lone surrogate, as os.fsdecode leaves for a file name's undecodable bytes
        ("choice", "?", {"options": ["caf\udce9", "tea"]}, "options"),
        ("choice", "?", {"options": [{"id": "a", "label": "caf\udce9"}]}, "options"),
        ("choice", "?", {"options": [Option("a", "A", description="\ud800")]}, "options"),
        ("text", "caf\udce9?", {}, "question"),
    ],
)
def test_a_question_its_own_rules_refuse_is_refused_before_it_is_asked(
    kind: str, question: Any, extra: dict[str, Any], variable: str
) -> None:
    from kortyx_langgraph import use_interrupt

    with pytest.raises(ConfigurationError) as caught:
        use_interrupt(kind, question, **extra)  # type: ignore[arg-type]
    assert caught.value.variable == variable


def test_an_answer_the_serializer_refuses_is_refused_before_anything_runs(
    adapter: FrameworkAdapter,
) -> None:
    agent, runs = _recording_agent(adapter)
    [pending] = agent.run({}).interrupts
    with pytest.raises(InvalidAnswerError, match="cannot be stored"):
        agent.resume(pending.token, object())
    assert runs == [] and adapter.pending.get(pending.token).claimed is False
    assert agent.resume(pending.token, "fine").values["note"] == "fine"


def test_a_run_stopped_at_a_static_breakpoint_is_paused_not_completed(
    adapter: FrameworkAdapter,
) -> None:
    from langgraph.graph import END, START, StateGraph

    from tests.agent_workflows import Trip

    builder = StateGraph(Trip)
    builder.add_node("a", lambda state: {"note": "a"})
    builder.add_node("b", lambda state: {"note": "b"})
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", END)
    graph = builder.compile(checkpointer=adapter, interrupt_before=["b"])
    agent = create_agent(workflows={"q": graph}, default_workflow_id="q", framework_adapter=adapter)
    paused = agent.run({})
    assert (paused.status, paused.values["note"], paused.interrupts) == ("paused", "a", ())
    done = agent.run(None, thread_id=paused.thread_id)
    assert (done.status, done.values["note"]) == ("completed", "b")


def test_an_empty_thread_id_names_a_thread_and_two_different_ones_are_refused(
    adapter: FrameworkAdapter,
) -> None:
    agent = create_agent(
        workflows={"note": note_builder([0], [0])},
        default_workflow_id="note",
        framework_adapter=adapter,
    )
    first = agent.run({}, thread_id="")
    assert first.thread_id == ""
    assert agent.run({}, config={"configurable": {"thread_id": ""}}).thread_id == ""
    with pytest.raises(ConfigurationError) as caught:
        agent.run({}, thread_id="a", config={"configurable": {"thread_id": "b"}})
    assert caught.value.variable == "thread_id"
    assert (
        agent.run({}, thread_id="a", config={"configurable": {"thread_id": "a"}}).thread_id == "a"
    )


@pytest.mark.parametrize("change", ["deleted", "moved on"])
def test_a_thread_that_changes_between_the_claim_and_the_run_runs_nothing(
    adapter: FrameworkAdapter, change: str
) -> None:
    """The thread expires (deleted here) or moves past the question's checkpoint after
    resume claimed the token and before its run reads the thread: the run must not start
    the graph anew, nor answer another checkpoint's question."""
    agent, runs = _recording_agent(adapter)
    [pending] = agent.run({}).interrupts
    graph_of = agent._graph

    def changed_then(workflow_id: str) -> Any:
        graph = graph_of(workflow_id)
        if change == "deleted":
            adapter.delete_thread(pending.thread_id)
        else:
            graph.update_state(pending.config, {"note": "edited"})
        return graph

    agent._graph = changed_then  # type: ignore[method-assign]
    expected = ExpiredTokenError if change == "deleted" else UnknownTokenError
    with pytest.raises(expected) as caught:
        agent.resume(pending.token, "yes")
    assert caught.value.token == pending.token
    assert runs == []  # no node ran


def test_a_storage_error_in_the_resumed_run_is_a_resume_failure(adapter: FrameworkAdapter) -> None:
    failures = [1]

    def ask(state: Any) -> Any:
        answer = interrupt("ok?")
        if failures[0]:
            failures[0] -= 1
            raise StorageTimeoutError("Redis did not answer in time")
        return {"note": str(answer)}

    agent = _one_node_agent(adapter, ask)
    [pending] = agent.run({}).interrupts
    with pytest.raises(ResumeFailedError) as caught:
        agent.resume(pending.token, "yes")
    assert isinstance(caught.value.__cause__, StorageTimeoutError)
    assert caught.value.token_still_pending
    assert agent.resume(pending.token, "yes").values["note"] == "yes"


def test_use_interrupt_outside_a_node_says_where_it_belongs() -> None:
    from kortyx_langgraph import use_interrupt

    with pytest.raises(RuntimeError, match="from inside a graph node") as caught:
        use_interrupt("text", "Why?")
    assert isinstance(caught.value.__cause__, RuntimeError)  # LangGraph's own, kept as cause


async def test_a_cancelled_resume_is_cancelled_and_its_claim_released(
    make_adapter: Any,
) -> None:
    """A task cancelled while its resumed run waits stays cancelled (not a
    ``ResumeFailedError``), and the claim it held is released: the token works again."""
    started = asyncio.Event()

    async def ask(state: dict[str, Any]) -> dict[str, Any]:
        note = use_interrupt("text", "Any note?")
        started.set()
        await asyncio.sleep(30)
        return {"note": note}

    builder: StateGraph[Any] = StateGraph(_Note)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    agent = create_agent(
        workflows={"note": builder}, default_workflow_id="note", framework_adapter=make_adapter()
    )
    [question] = (await agent.arun({})).interrupts
    resuming = asyncio.create_task(agent.aresume(question.token, "hi"))
    await started.wait()
    resuming.cancel()
    with pytest.raises(asyncio.CancelledError):
        await resuming
    assert not agent.framework_adapter.pending.get(question.token).claimed


@pytest.mark.parametrize("streaming", [False, True], ids=["aresume", "aresume_stream"])
async def test_a_resume_cancelled_by_anyio_releases_its_claim(
    make_adapter: Any, streaming: bool
) -> None:
    """Starlette and FastAPI cancel a request's work with anyio, whose cancel scope cancels
    every await inside it again, the release's too: the claim must still be released."""
    started = asyncio.Event()

    async def ask(state: dict[str, Any]) -> dict[str, Any]:
        note = use_interrupt("text", "Any note?")
        started.set()
        await asyncio.sleep(2)  # LangGraph lets a node cancelled by anyio finish
        return {"note": note}

    builder: StateGraph[Any] = StateGraph(_Note)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    adapter = make_adapter()
    agent = create_agent(
        workflows={"note": builder}, default_workflow_id="note", framework_adapter=adapter
    )
    [question] = (await agent.arun({})).interrupts

    async def resume() -> None:
        if streaming:
            async with contextlib.aclosing(agent.aresume_stream(question.token, "hi")) as items:
                async for _ in items:
                    pass
        else:
            await agent.aresume(question.token, "hi")

    async with anyio.create_task_group() as group:
        group.start_soon(resume)
        await started.wait()
        group.cancel_scope.cancel()
    for _ in range(100):  # the release runs on in a task of its own
        if not (await adapter.pending.aget(question.token)).claimed:
            break
        await asyncio.sleep(0.02)
    assert not (await adapter.pending.aget(question.token)).claimed
    assert (await agent.aresume(question.token, "again")).status == "completed"


@pytest.mark.parametrize("call", ["aresume", "aresume_stream", "resume"])
async def test_a_claim_applied_but_stopped_before_its_reply_is_released(
    make_adapter: Any, call: str
) -> None:
    """A cancellation (or Ctrl-C) that lands after the claim reached storage and before its
    reply was read: the claim holds, and only the agent knows the id it made for it."""
    adapter = make_adapter()
    agent = create_agent(
        workflows={"note": _note_graph()}, default_workflow_id="note", framework_adapter=adapter
    )
    [question] = (await agent.arun({})).interrupts
    pending = adapter.pending
    claim, aclaim = pending.claim, pending.aclaim

    def claimed_then_stopped(*args: Any, **kwargs: Any) -> Any:
        claim(*args, **kwargs)
        raise KeyboardInterrupt

    async def aclaimed_then_cancelled(*args: Any, **kwargs: Any) -> Any:
        await aclaim(*args, **kwargs)
        raise asyncio.CancelledError

    pending.claim, pending.aclaim = claimed_then_stopped, aclaimed_then_cancelled
    try:
        if call == "resume":
            with pytest.raises(KeyboardInterrupt):
                agent.resume(question.token, "hi")
        elif call == "aresume":
            with pytest.raises(asyncio.CancelledError):
                await agent.aresume(question.token, "hi")
        else:
            with pytest.raises(asyncio.CancelledError):
                async for _ in agent.aresume_stream(question.token, "hi"):
                    pass
    finally:
        pending.claim, pending.aclaim = claim, aclaim
    for _ in range(100):  # the release may run on in a task of its own
        if not (await adapter.pending.aget(question.token)).claimed:
            break
        await asyncio.sleep(0.02)
    assert not (await adapter.pending.aget(question.token)).claimed
    assert (await agent.aresume(question.token, "again")).values["note"] == "again"


def _note_graph() -> StateGraph[Any]:
    def ask(state: dict[str, Any]) -> dict[str, Any]:
        return {"note": use_interrupt("text", "Any note?")}

    builder: StateGraph[Any] = StateGraph(_Note)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder


class _Note(TypedDict, total=False):
    note: str


class _Who(TypedDict, total=False):
    user: str


def _context_agent(adapter: FrameworkAdapter) -> Any:
    """One question, then a node that reports who it ran for: the run's ``context`` and a
    ``configurable`` value of its config (a resumed run has only what its resume passes)."""

    def ask(state: _Note) -> _Note:
        return {"note": use_interrupt("text", "Any note?")}

    def report(state: _Note, runtime: Runtime[_Who], config: RunnableConfig) -> _Note:
        seen = (runtime.context or {}).get("user"), config["configurable"].get("tenant")
        return {"note": f"{state['note']} for {seen[0]} of {seen[1]}"}

    builder: StateGraph[Any] = StateGraph(_Note, context_schema=_Who)
    builder.add_node("ask", ask)
    builder.add_node("report", report)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "report")
    builder.add_edge("report", END)
    return create_agent(
        workflows={"note": builder}, default_workflow_id="note", framework_adapter=adapter
    )


def test_run_and_resume_pass_context_and_config_to_the_run(adapter: FrameworkAdapter) -> None:
    agent = _context_agent(adapter)
    tenant: RunnableConfig = {"configurable": {"tenant": "acme"}}
    paused = agent.run({}, context={"user": "ana"}, config=tenant)
    [question] = paused.interrupts
    done = agent.resume(question.token, "hi", context={"user": "ana"}, config=tenant)
    assert done.values["note"] == "hi for ana of acme"
    # without them the resumed run has neither (the run does not keep them)
    [question] = agent.run({}, context={"user": "ana"}, config=tenant).interrupts
    assert agent.resume(question.token, "hi").values["note"] == "hi for None of None"


async def test_arun_and_aresume_pass_context_and_config_to_the_run(
    adapter: FrameworkAdapter,
) -> None:
    agent = _context_agent(adapter)
    tenant: RunnableConfig = {"configurable": {"tenant": "acme"}}
    [question] = (await agent.arun({}, context={"user": "bo"}, config=tenant)).interrupts
    done = await agent.aresume(question.token, "yo", context={"user": "bo"}, config=tenant)
    assert done.values["note"] == "yo for bo of acme"


@pytest.mark.parametrize(
    ("key", "value"),
    [("thread_id", "another-thread"), ("checkpoint_ns", "sub"), ("checkpoint_id", "1ef-other")],
)
def test_a_resume_config_naming_another_place_is_refused_and_the_token_stays(
    adapter: FrameworkAdapter, key: str, value: str
) -> None:
    agent = _context_agent(adapter)
    [question] = agent.run({}).interrupts
    with pytest.raises(ConfigurationError, match=key):
        agent.resume(question.token, "hi", config={"configurable": {key: value}})
    assert not adapter.pending.get(question.token).claimed
    # its own values are no conflict
    own: RunnableConfig = {"configurable": {"thread_id": question.thread_id}}
    assert agent.resume(question.token, "hi", config=own).status == "completed"


def test_resume_stream_streams_the_resumed_run_then_gives_the_result(
    adapter: FrameworkAdapter,
) -> None:
    agent = _agent(adapter)
    [question] = agent.run({"city": "Oslo"}).interrupts
    *chunks, second = agent.resume_stream(question.token, "plane", stream_mode="updates")
    assert isinstance(second, RunResult) and second.status == "interrupted"
    assert all("__interrupt__" in chunk for chunk in chunks)  # the node asked again
    with pytest.raises(UnknownTokenError):
        adapter.pending.get(question.token)
    [extras] = second.interrupts
    *chunks, done = agent.resume_stream(extras.token, ["bag"], stream_mode="updates")
    assert done.status == "completed"
    assert [next(iter(chunk)) for chunk in chunks] == ["plan", "book"]
    assert done.values["log"] == ["planned", "booked PLANE with bag"]


def test_a_resume_stream_that_fails_or_is_closed_early_releases_the_claim(
    adapter: FrameworkAdapter,
) -> None:
    agent = _agent(adapter, fail_in_node=1)
    [question] = agent.run({}, workflow_id="note").interrupts
    with pytest.raises(ResumeFailedError, match="booking service is down"):
        list(agent.resume_stream(question.token, "aisle"))
    assert not adapter.pending.get(question.token).claimed
    # closed after the resumed task started, before it finished: the run stops
    stream = agent.resume_stream(question.token, "aisle", stream_mode="tasks")
    first = next(stream)
    assert first["name"] == "ask" and "result" not in first
    assert adapter.pending.get(question.token).claimed
    stream.close()
    assert not adapter.pending.get(question.token).claimed
    assert agent.resume(question.token, "aisle").status == "completed"


async def test_aresume_stream_streams_and_releases_the_claim_when_closed_early(
    adapter: FrameworkAdapter,
) -> None:
    agent = _agent(adapter)
    [question] = (await agent.arun({"city": "Riga"})).interrupts
    stream = agent.aresume_stream(question.token, "train", stream_mode="tasks")
    first = await stream.__anext__()
    assert first["name"] == "plan" and "result" not in first
    await stream.aclose()
    assert not adapter.pending.get(question.token).claimed
    items = [item async for item in agent.aresume_stream(question.token, "train")]
    assert isinstance(items[-1], RunResult) and items[-1].status == "interrupted"
    [extras] = items[-1].interrupts  # the node asks its next question
    assert extras.token != question.token and extras.value["kind"] == "multi-choice"


def test_the_result_is_the_threads_latest_state_whatever_checkpoint_the_run_started_from(
    adapter: FrameworkAdapter,
) -> None:
    """A config naming a checkpoint (time travel, or the token's own on a resume): the
    result shows what the run did, and a checkpoint id the thread does not have (LangGraph
    runs from the start then) is no expired thread."""
    agent = _context_agent(adapter)
    [question] = agent.run({}).interrupts
    own: RunnableConfig = {"configurable": {"checkpoint_id": question.checkpoint_id}}
    done = agent.resume(question.token, "hi", config=own)
    assert (done.status, done.values["note"]) == ("completed", "hi for None of None")
    # replayed from the question's checkpoint: a fork of the thread, asking again
    later = agent.run(None, thread_id=done.thread_id, config=own)
    [again] = later.interrupts
    assert later.status == "interrupted" and again.token != question.token
    assert "note" not in later.values  # the fork's state, not the checkpoint it left from
    unknown: RunnableConfig = {"configurable": {"checkpoint_id": "1f0-not-stored"}}
    fresh = agent.run({}, config=unknown)
    assert fresh.status == "interrupted" and len(fresh.interrupts) == 1


_TYPED_ANSWERS = """
from typing import Any

from kortyx_langgraph import use_interrupt


def node(state: dict[str, Any]) -> dict[str, Any]:
    note: str = use_interrupt("text", "Any note?")
    extras: list[str] = use_interrupt("multi-choice", "Extras?", options=["a", "b"])
    picked: int = use_interrupt("choice", "Which?", options=["1", "2"])  # an option's value
    wrong: int = use_interrupt("text", "How many?")
    return {"note": note, "extras": extras, "picked": picked, "wrong": wrong}
"""


def test_use_interrupt_is_typed_by_kind_for_mypy(tmp_path: Path) -> None:
    done = mypy_strict(tmp_path, _TYPED_ANSWERS)
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    # a text answer is a str, so only the line that takes it as an int is refused
    assert len(errors) == 1, done.stdout + done.stderr
    assert "app.py:11:" in errors[0] and 'has type "str"' in errors[0], errors
