"""``create_agent``: an app's workflows, one framework adapter, and resume by token.

The agent compiles each workflow with the adapter as its checkpointer, runs them on
threads, and answers pending interrupts with nothing but a token: ``resume(token, value)``
claims the token, finds the thread and the workflow it runs, resumes it, and releases the
claim if the resumed run raises, so a human can answer again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Iterator, Mapping
from typing import Any, NoReturn, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.errors import is_invalid_resume
from langgraph.pregel import Pregel
from langgraph.types import Command, StateSnapshot

from kortyx_langgraph.agent.human_input import HumanInputRequest
from kortyx_langgraph.agent.result import RunResult, RunStatus
from kortyx_langgraph.core.adapter import RESUME_CHECKPOINT_KEY, FrameworkAdapter
from kortyx_langgraph.core.interrupts import new_claim_id
from kortyx_langgraph.core.lifetime import Closing
from kortyx_langgraph.errors import (
    ConfigurationError,
    InvalidAnswerError,
    KortyxError,
    ResumeError,
    ResumeFailedError,
    StorageError,
    ThreadExpiredError,
    UnknownWorkflowError,
)
from kortyx_langgraph.factory import create_framework_adapter_from_env
from kortyx_langgraph.pending import PendingInterrupt

Graph = Pregel[Any, Any, Any, Any]
"""A compiled LangGraph graph (a ``StateGraph`` compiled, or a functional ``entrypoint``)."""

WORKFLOW_METADATA_KEY = "kortyx_workflow_id"
"""Checkpoint metadata naming the workflow a thread runs (kept with the thread, same TTL)."""


def _compiled(workflow_id: str, workflow: Any, adapter: FrameworkAdapter) -> Graph:
    if isinstance(workflow, Pregel):
        return workflow.copy(update={"checkpointer": adapter})
    if callable(getattr(workflow, "compile", None)):
        compiled = workflow.compile(checkpointer=adapter)
        if isinstance(compiled, Pregel):
            return compiled
    raise ConfigurationError(
        f"workflow {workflow_id!r} must be a StateGraph builder or a compiled graph, "
        f"got {type(workflow).__name__}",
        variable="workflows",
    )


class Agent(Closing):
    """Runs an app's LangGraph workflows on one adapter; see :func:`create_agent`."""

    def __init__(
        self,
        workflows: Mapping[str, Graph],
        default_workflow_id: str,
        adapter: FrameworkAdapter,
        *,
        owns_adapter: bool,
    ) -> None:
        self._graphs = dict(workflows)
        self.default_workflow_id = default_workflow_id
        self._adapter = adapter
        self._owns_adapter = owns_adapter

    def __repr__(self) -> str:
        return (
            f"Agent(workflows={sorted(self._graphs)}, default={self.default_workflow_id!r}, "
            f"framework_adapter={self._adapter!r})"
        )

    @property
    def framework_adapter(self) -> FrameworkAdapter:
        """The adapter every workflow of this agent checkpoints to."""
        return self._adapter

    @property
    def workflows(self) -> dict[str, Graph]:
        """The compiled workflows by id."""
        return dict(self._graphs)

    # -- shared steps --------------------------------------------------------------------

    def _graph(self, workflow_id: str) -> Graph:
        graph = self._graphs.get(workflow_id)
        if graph is None:
            raise UnknownWorkflowError(
                f"no workflow {workflow_id!r}; this agent has {sorted(self._graphs)}"
            )
        return graph

    def _config(
        self, workflow_id: str, thread_id: str, config: RunnableConfig | None = None
    ) -> RunnableConfig:
        base: dict[str, Any] = dict(config or {})
        configurable = {**(base.get("configurable") or {}), "thread_id": thread_id}
        metadata = {**(base.get("metadata") or {}), WORKFLOW_METADATA_KEY: workflow_id}
        return {**base, "configurable": configurable, "metadata": metadata}  # type: ignore[typeddict-item]

    def _start(
        self, workflow_id: str | None, thread_id: str | None, config: RunnableConfig | None
    ) -> tuple[str, Graph, RunnableConfig]:
        workflow_id = workflow_id or self.default_workflow_id
        graph = self._graph(workflow_id)
        given = (config or {}).get("configurable", {}).get("thread_id")
        if thread_id is not None and given is not None and str(given) != str(thread_id):
            raise ConfigurationError(
                f"thread_id={thread_id!r} and config's thread_id {given!r} name different "
                "threads; give one of them",
                variable="thread_id",
            )
        named = thread_id if thread_id is not None else given
        # "" names a thread, as it does for LangGraph; only None asks for a new one
        thread = str(named) if named is not None else f"thread-{uuid.uuid4().hex}"
        return workflow_id, graph, self._config(workflow_id, thread, config)

    def _resume_config(
        self, workflow_id: str, claimed: PendingInterrupt, config: RunnableConfig | None
    ) -> RunnableConfig:
        """The caller's ``config`` for the run that answers ``claimed``, on its thread."""
        given = (config or {}).get("configurable", {})
        for key, want in (
            ("thread_id", claimed.thread_id),
            ("checkpoint_ns", ""),
            ("checkpoint_id", claimed.checkpoint_id),
        ):
            if key in given and str(given[key]) != want:
                raise ConfigurationError(
                    f"config's {key} {given[key]!r} is not the claimed interrupt's "
                    f"({want!r}); a resume runs on the thread the token belongs to",
                    variable="config",
                )
        return self._config(workflow_id, claimed.thread_id, config)

    def _recorded_workflow(self, metadata: Mapping[str, Any] | None) -> str | None:
        value = (metadata or {}).get(WORKFLOW_METADATA_KEY)
        return value if isinstance(value, str) else None

    @staticmethod
    def _thread_config(thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}

    def _result(
        self,
        workflow_id: str,
        config: RunnableConfig,
        state: StateSnapshot,
        pending: list[PendingInterrupt],
    ) -> RunResult:
        if state.created_at is None:  # LangGraph refuses a run of a thread with none
            raise ThreadExpiredError(
                f"the run ended and thread {config['configurable']['thread_id']!r} holds no "
                "checkpoint: it expired (a step took longer than the time the thread had "
                f"left; ttl_ms={self._adapter.ttl_ms}) or was deleted while the run went on, "
                "and what the run wrote last was not kept, a question it paused on included. "
                "Give the thread a TTL longer than the slowest step"
            )
        status: RunStatus = "interrupted" if pending else "paused" if state.next else "completed"
        return RunResult(
            thread_id=config["configurable"]["thread_id"],
            workflow_id=workflow_id,
            status=status,
            values=state.values,
            interrupts=tuple(pending),
        )

    def _checked(self, claimed: PendingInterrupt, value: Any) -> None:
        """Refuse an answer that does not fit the question, or that cannot be stored (the
        run would fail on it after the node ran, with nothing of it kept)."""
        request = HumanInputRequest.from_value(claimed.value)
        if request is not None:
            request.check(value)
        try:
            self._adapter.serde.dumps_typed(value)
        except Exception as exc:
            raise InvalidAnswerError(
                f"the answer cannot be stored ({type(exc).__name__}: {exc}); answer with "
                "values the checkpointer's serializer takes (JSON-like data, pydantic models, "
                "dataclasses...)",
                token=claimed.token,
            ) from None

    # -- sync ------------------------------------------------------------------------------

    def _claim(self, token: str, lease_ms: int | None, claim_id: str | None) -> PendingInterrupt:
        """Claim ``token`` under ``claim_id`` (one is made when none is given). A claim
        stopped before its reply was read (``KeyboardInterrupt``; with asyncio, a
        cancellation) may have been applied, and its caller never learns its id: it is
        released under that id before the stop goes on."""
        claim_id = new_claim_id() if claim_id is None else claim_id
        try:
            return self._adapter.pending.claim(token, lease_ms=lease_ms, claim_id=claim_id)
        except Exception:
            raise
        except BaseException:
            self._release(token, claim_id)
            raise

    def _release(self, token: str, claim_id: str) -> bool | StorageError:
        """Release after a failed resume: whether the interrupt still waits for an answer,
        or the storage error that kept the release from being confirmed."""
        try:
            self._adapter.pending.release(token, claim_id)
        except ResumeError:
            return False  # answered (or gone): nothing is held any more
        except StorageError as exc:
            return exc
        return True

    def _finish(self, workflow_id: str, graph: Graph, config: RunnableConfig) -> RunResult:
        """The result of a run: the thread's latest state (not the checkpoint a
        ``checkpoint_id`` in the run's config started from) and its pending interrupts."""
        thread_id = config["configurable"]["thread_id"]
        state = graph.get_state(self._thread_config(thread_id))
        pending = self._adapter.pending.list(thread_id)
        return self._result(workflow_id, config, state, pending)

    def run(
        self,
        input: Any,
        *,
        workflow_id: str | None = None,
        thread_id: str | None = None,
        config: RunnableConfig | None = None,
        **invoke_kwargs: Any,
    ) -> RunResult:
        """Run a workflow (the default one unless ``workflow_id``) until it ends or pauses.

        Without ``thread_id`` (here or in ``config``) a fresh thread is made. The rest of
        LangGraph's ``graph.invoke`` arguments (``context``, ``durability``...) pass through.
        """
        workflow_id, graph, run_config = self._start(workflow_id, thread_id, config)
        graph.invoke(input, run_config, **invoke_kwargs)
        return self._finish(workflow_id, graph, run_config)

    def stream(
        self,
        input: Any,
        *,
        workflow_id: str | None = None,
        thread_id: str | None = None,
        config: RunnableConfig | None = None,
        **stream_kwargs: Any,
    ) -> Iterator[Any]:
        """LangGraph's ``graph.stream`` (``stream_mode`` and the rest pass through); the
        last item is the :class:`RunResult`."""
        workflow_id, graph, run_config = self._start(workflow_id, thread_id, config)
        yield from graph.stream(input, run_config, **stream_kwargs)
        yield self._finish(workflow_id, graph, run_config)

    def workflow_of(self, thread_id: str) -> str:
        """The id of the workflow ``thread_id`` runs, as recorded with the thread;
        ``UnknownWorkflowError`` if it records none (no agent ran it, or it expired)."""
        for saved in self._adapter.list(self._thread_config(thread_id)):
            if recorded := self._recorded_workflow(saved.metadata):
                return recorded
        raise _no_workflow(thread_id)

    def resume(
        self,
        token: str,
        value: Any,
        *,
        lease_ms: int | None = None,
        claim_id: str | None = None,
        config: RunnableConfig | None = None,
        **invoke_kwargs: Any,
    ) -> RunResult:
        """Answer the pending interrupt of ``token`` with ``value`` and run on.

        Claims the token first (``AlreadyClaimedError`` if another caller holds it,
        ``UnknownTokenError``/``ExpiredTokenError`` if it is gone: never a new run). An
        answer that does not fit a :func:`use_interrupt` question raises
        ``InvalidAnswerError`` before anything runs; a resumed run that raises becomes
        ``ResumeFailedError``. Either way the claim is released and the token still works.

        ``claim_id`` names the claim (a request id, say; one is made when none is given).
        When storage does not confirm the claim or its release (``WriteOutcomeUnknownError``,
        or a ``ResumeFailedError`` whose ``claim_released`` is false), the error carries the
        claim's id: calling again with ``claim_id=error.claim_id`` is recognised as the same
        claim, where another id is refused with ``AlreadyClaimedError`` until the lease
        (``lease_ms``) ends.

        The resumed run takes ``config`` (callbacks, tags, ``recursion_limit``...) and
        LangGraph's other ``graph.invoke`` arguments (``context``, ``durability``...), as
        :meth:`run` does: a run is not given them again when it goes on.
        """
        claimed = self._claim(token, lease_ms, claim_id)
        return _last(self._resumed(claimed, value, config, invoke_kwargs, streaming=False))

    def resume_stream(
        self,
        token: str,
        value: Any,
        *,
        lease_ms: int | None = None,
        claim_id: str | None = None,
        config: RunnableConfig | None = None,
        **stream_kwargs: Any,
    ) -> Iterator[Any]:
        """:meth:`resume`, streamed: yields what LangGraph's ``graph.stream`` yields for
        the resumed run (``stream_mode`` and the rest pass through), then the
        :class:`RunResult`. The token is claimed when the first item is asked for; a
        stream closed before its end stops the run and releases the claim."""
        claimed = self._claim(token, lease_ms, claim_id)
        yield from self._resumed(claimed, value, config, stream_kwargs, streaming=True)

    def _resumed(
        self,
        claimed: PendingInterrupt,
        value: Any,
        config: RunnableConfig | None,
        run_kwargs: dict[str, Any],
        *,
        streaming: bool,
    ) -> Iterator[Any]:
        """Run the thread of ``claimed`` on with ``value`` (streamed or invoked), then the
        result; a run that raises or is stopped releases the claim first."""
        token, claim_id = claimed.token, claimed.claim_id
        assert claim_id is not None  # claim() always returns the holder's id
        try:
            self._checked(claimed, value)
            workflow_id = self.workflow_of(claimed.thread_id)
            graph = self._graph(workflow_id)
            run_config = self._resume_config(workflow_id, claimed, config)
            answer: Command[Any] = Command(resume=claimed.resume_map(value))
            resuming = _resuming(run_config, claimed)
            if streaming:
                yield from graph.stream(answer, resuming, **run_kwargs)
            else:
                graph.invoke(answer, resuming, **run_kwargs)
        except BaseException as exc:
            released = self._release(token, claim_id)
            _raise_resume_error(exc, token, claim_id, released)
        result = self._finish(workflow_id, graph, run_config)
        if any(p.token == token for p in result.interrupts):
            self._adapter.pending.release(token, claim_id)
        yield result

    # -- async -----------------------------------------------------------------------------

    async def _aclaim(
        self, token: str, lease_ms: int | None, claim_id: str | None
    ) -> PendingInterrupt:
        """Async :meth:`_claim`: a cancelled claim is released in a task of its own, which
        the cancellation does not stop."""
        claim_id = new_claim_id() if claim_id is None else claim_id
        try:
            return await self._adapter.pending.aclaim(token, lease_ms=lease_ms, claim_id=claim_id)
        except Exception:
            raise
        except BaseException:
            await self._arelease(token, claim_id)
            raise

    async def _arelease(self, token: str, claim_id: str) -> bool | StorageError:
        """Async :meth:`_release`."""
        try:
            await _shielded(self._adapter.pending.arelease(token, claim_id))
        except ResumeError:
            return False
        except StorageError as exc:
            return exc
        return True

    async def _afinish(self, workflow_id: str, graph: Graph, config: RunnableConfig) -> RunResult:
        """Async :meth:`_finish`."""
        thread_id = config["configurable"]["thread_id"]
        state = await graph.aget_state(self._thread_config(thread_id))
        pending = await self._adapter.pending.alist(thread_id)
        return self._result(workflow_id, config, state, pending)

    async def arun(
        self,
        input: Any,
        *,
        workflow_id: str | None = None,
        thread_id: str | None = None,
        config: RunnableConfig | None = None,
        **invoke_kwargs: Any,
    ) -> RunResult:
        """Async :meth:`run`."""
        workflow_id, graph, run_config = self._start(workflow_id, thread_id, config)
        await graph.ainvoke(input, run_config, **invoke_kwargs)
        return await self._afinish(workflow_id, graph, run_config)

    async def astream(
        self,
        input: Any,
        *,
        workflow_id: str | None = None,
        thread_id: str | None = None,
        config: RunnableConfig | None = None,
        **stream_kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Async :meth:`stream`."""
        workflow_id, graph, run_config = self._start(workflow_id, thread_id, config)
        async for chunk in graph.astream(input, run_config, **stream_kwargs):
            yield chunk
        yield await self._afinish(workflow_id, graph, run_config)

    async def aworkflow_of(self, thread_id: str) -> str:
        """Async :meth:`workflow_of`."""
        async for saved in self._adapter.alist(self._thread_config(thread_id)):
            if recorded := self._recorded_workflow(saved.metadata):
                return recorded
        raise _no_workflow(thread_id)

    async def aresume(
        self,
        token: str,
        value: Any,
        *,
        lease_ms: int | None = None,
        claim_id: str | None = None,
        config: RunnableConfig | None = None,
        **invoke_kwargs: Any,
    ) -> RunResult:
        """Async :meth:`resume`."""
        claimed = await self._aclaim(token, lease_ms, claim_id)
        resumed = self._aresumed(claimed, value, config, invoke_kwargs, streaming=False)
        return await _alast(resumed)

    async def aresume_stream(
        self,
        token: str,
        value: Any,
        *,
        lease_ms: int | None = None,
        claim_id: str | None = None,
        config: RunnableConfig | None = None,
        **stream_kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Async :meth:`resume_stream`."""
        claimed = await self._aclaim(token, lease_ms, claim_id)
        resumed = self._aresumed(claimed, value, config, stream_kwargs, streaming=True)
        async with contextlib.aclosing(resumed):  # closed early: the run stops, the claim goes
            async for item in resumed:
                yield item

    async def _aresumed(
        self,
        claimed: PendingInterrupt,
        value: Any,
        config: RunnableConfig | None,
        run_kwargs: dict[str, Any],
        *,
        streaming: bool,
    ) -> AsyncGenerator[Any, None]:
        """Async :meth:`_resumed`."""
        token, claim_id = claimed.token, claimed.claim_id
        assert claim_id is not None
        try:
            self._checked(claimed, value)
            workflow_id = await self.aworkflow_of(claimed.thread_id)
            graph = self._graph(workflow_id)
            run_config = self._resume_config(workflow_id, claimed, config)
            answer: Command[Any] = Command(resume=claimed.resume_map(value))
            resuming = _resuming(run_config, claimed)
            if streaming:
                async for chunk in graph.astream(answer, resuming, **run_kwargs):
                    yield chunk
            else:
                await graph.ainvoke(answer, resuming, **run_kwargs)
        except BaseException as exc:
            released = await self._arelease(token, claim_id)
            _raise_resume_error(exc, token, claim_id, released)
        result = await self._afinish(workflow_id, graph, run_config)
        if any(p.token == token for p in result.interrupts):
            await _shielded(self._adapter.pending.arelease(token, claim_id))
        yield result

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the adapter if the agent made it (from the environment)."""
        if self._owns_adapter:
            self._adapter.close()

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        if self._owns_adapter:
            await self._adapter.aclose()


_T = TypeVar("_T")

_RELEASING: set[asyncio.Future[Any]] = set()
"""Releases under way in tasks of their own (asyncio keeps only weak references to tasks)."""


async def _shielded(release: Coroutine[Any, Any, _T]) -> _T:
    """Await ``release`` (a claim's release) in a task of its own, which a cancellation of
    the caller does not stop. asyncio cancels a task once, and the release after it ran;
    anyio (under Starlette and FastAPI) cancels every await in a cancelled scope again, and
    the release was cancelled with it, leaving the claim held until its lease ended. The
    caller still sees its cancellation; the release goes on."""
    task = asyncio.ensure_future(release)
    _RELEASING.add(task)
    task.add_done_callback(_RELEASING.discard)
    return await asyncio.shield(task)


def _last(items: Iterator[RunResult]) -> RunResult:
    """The last of ``items`` (a resume that does not stream yields its result alone)."""
    return list(items)[-1]


async def _alast(items: AsyncIterator[RunResult]) -> RunResult:
    """Async :func:`_last`."""
    return [item async for item in items][-1]


def _no_workflow(thread_id: str) -> UnknownWorkflowError:
    """A thread that records no workflow: run by a graph of its own, not by an agent, or
    its checkpoints expired."""
    return UnknownWorkflowError(
        f"thread {thread_id!r} records no workflow: no agent ran it (or its checkpoints "
        "expired); resume its interrupts with the graph that ran it"
    )


def _resuming(config: RunnableConfig, claimed: PendingInterrupt) -> RunnableConfig:
    """``config`` for the run that answers ``claimed``: it runs only from the checkpoint
    the question was asked at (see ``RESUME_CHECKPOINT_KEY``)."""
    configurable = {**config["configurable"], RESUME_CHECKPOINT_KEY: claimed.checkpoint_id}
    return {**config, "configurable": configurable}


def _raise_resume_error(
    exc: BaseException, token: str, claim_id: str, released: bool | StorageError
) -> NoReturn:
    """Raise what a failed resume raises: a cancellation or an exit as it is (the claim
    was released, or tried), ours as they are, the run's as a typed error; either as a
    ``ResumeFailedError`` when the claim could not be released."""
    if not isinstance(exc, Exception):  # CancelledError, KeyboardInterrupt, SystemExit...
        raise exc
    if isinstance(released, StorageError):
        raise ResumeFailedError(
            f"the resumed run raised {type(exc).__name__}: {exc}; releasing the claim "
            f"failed too ({type(released).__name__}: {released}), so the claim may still "
            "hold the interrupt until its lease ends: resume again with "
            "claim_id=error.claim_id (recognised as the same claim), or release it with "
            "adapter.pending.release(token, error.claim_id)",
            token=token,
            token_still_pending=True,
            claim_id=claim_id,
            claim_released=False,
        ) from exc
    if isinstance(exc, ResumeError) and exc.token is None:
        exc.token = token  # raised where the token is not known (the run's first read)
    if isinstance(exc, KortyxError) and not isinstance(exc, StorageError):
        raise exc  # the claim's, the answer's or the workflow's: nothing of the run stands
    if is_invalid_resume(exc):
        raise InvalidAnswerError(
            f"the answer does not fit the interrupt's response_schema: {exc}", token=token
        ) from exc
    then = (
        "the interrupt is still pending: resuming its token again runs the node again; if "
        "the node received the answer before it failed, LangGraph keeps that answer and "
        "gives it again (a different one is ignored)"
        if released
        else "the answer was taken and a later step failed; retry the thread with "
        "run(None, thread_id=..., workflow_id=...)"
    )
    raise ResumeFailedError(
        f"the resumed run raised {type(exc).__name__}: {exc}; the claim was released and {then}",
        token=token,
        token_still_pending=released,
        claim_id=claim_id,
    ) from exc


def create_agent(
    *,
    workflows: Mapping[str, Any],
    default_workflow_id: str,
    framework_adapter: FrameworkAdapter | None = None,
) -> Agent:
    """An :class:`Agent` running ``workflows`` (ids to ``StateGraph`` builders or compiled
    graphs), each compiled with the adapter as its checkpointer.

    Without ``framework_adapter`` it uses :func:`create_framework_adapter_from_env` (and
    closes it with the agent); either way ``agent.framework_adapter`` is the one in use.
    """
    if not workflows:
        raise ConfigurationError("create_agent needs at least one workflow", variable="workflows")
    if default_workflow_id not in workflows:
        raise ConfigurationError(
            f"default_workflow_id {default_workflow_id!r} is not one of {sorted(workflows)}",
            variable="default_workflow_id",
        )
    owns = framework_adapter is None
    adapter = framework_adapter or create_framework_adapter_from_env()
    graphs = {wid: _compiled(wid, w, adapter) for wid, w in workflows.items()}
    return Agent(graphs, default_workflow_id, adapter, owns_adapter=owns)


__all__ = ["WORKFLOW_METADATA_KEY", "Agent", "create_agent"]
