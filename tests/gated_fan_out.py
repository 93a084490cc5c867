"""A fan-out whose tasks all wait at a gate, then write at once: what a Cluster test does
to its nodes (a failover, a slot migration) happens while every task's write is yet to
come, and the writes then reach the client together, as group commit sends them.

Every :data:`ASKING`-th task asks for an answer with ``interrupt``; the others write their
item. :func:`check_paused` and :func:`check_resumed` assert what must hold afterwards.
"""

from __future__ import annotations

import asyncio
import operator
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt

from kortyx_langgraph import FrameworkAdapter
from tests.pending_truth import assert_agrees, config_of

TASKS = 48
"""Tasks of the fan-out."""
ASKING = 8
"""Every ``ASKING``-th task (0 included) asks for an answer."""


class FanState(TypedDict, total=False):
    """How many tasks to send, whether some ask, and what each added."""

    items: int
    asking: bool
    results: Annotated[list[str], operator.add]


def _write(arg: dict[str, Any]) -> dict[str, Any]:
    item = arg["item"]
    if arg["asking"] and item % ASKING == 0:
        return {"results": [f"{item}:{interrupt({'item': item})}"]}
    return {"results": [str(item)]}


def _send_all(state: FanState) -> list[Send]:
    asking = state.get("asking", True)
    return [Send("worker", {"item": n, "asking": asking}) for n in range(state["items"])]


class GatedFanOut:
    """The graph, the count of each task's runs, and the gate the tasks of :meth:`run`
    wait at (their first run only: a resumed task goes straight on)."""

    def __init__(self, adapter: FrameworkAdapter, *, colour: str) -> None:
        self.ran: Counter[int] = Counter()
        self._gating = False
        self._arrived = threading.Semaphore(0)
        self._gate = threading.Event()
        self._agate = asyncio.Event()

        def worker(arg: dict[str, Any]) -> dict[str, Any]:
            self.ran[arg["item"]] += 1
            if self._gating and not self._gate.is_set():
                self._arrived.release()
                if not self._gate.wait(60):
                    raise TimeoutError("the gate never opened")
            return _write(arg)

        async def aworker(arg: dict[str, Any]) -> dict[str, Any]:
            self.ran[arg["item"]] += 1
            if self._gating and not self._agate.is_set():
                self._arrived.release()
                await asyncio.wait_for(self._agate.wait(), 60)
            return _write(arg)

        builder = StateGraph(FanState)
        builder.add_node("start", lambda state: {})
        builder.add_node("worker", worker if colour == "sync" else aworker)  # type: ignore[call-overload]
        builder.add_edge(START, "start")
        builder.add_conditional_edges("start", _send_all)
        builder.add_edge("worker", END)
        self.graph: Any = builder.compile(checkpointer=adapter)
        self.colour = colour

    def config(self, thread: str) -> Any:
        """The thread's config, every task at once (no limit below :data:`TASKS`)."""
        return {**config_of(thread), "max_concurrency": TASKS}

    async def invoke(self, value: Any, thread: str) -> Any:
        """``invoke`` or ``ainvoke`` of the graph, by its colour."""
        if self.colour == "sync":
            return await asyncio.to_thread(self.graph.invoke, value, self.config(thread))
        return await self.graph.ainvoke(value, self.config(thread))

    async def start(self, thread: str, items: int = 0) -> list[str]:
        """A first run of ``items`` tasks that do not ask, past the gate: the thread's keys
        exist from here on. What it added to ``results``."""
        first = await self.invoke({"items": items, "asking": False, "results": []}, thread)
        return list(first["results"])

    async def run(self, thread: str, while_waiting: Callable[[], None]) -> None:
        """Send :data:`TASKS` tasks; once all of them wait at the gate, call
        ``while_waiting`` (on a thread of its own), then open the gate. The count of runs
        starts again from here."""
        self.ran.clear()
        self._gating = True

        def when_all_wait() -> None:
            for _ in range(TASKS):
                if not self._arrived.acquire(timeout=60):
                    raise TimeoutError("not every task reached the gate")
            while_waiting()

        if self.colour == "sync":

            def then_open() -> None:
                try:
                    when_all_wait()
                finally:
                    self._gate.set()

            opener = threading.Thread(target=then_open)
            opener.start()
            try:
                await self.invoke({"items": TASKS, "asking": True}, thread)
            finally:
                opener.join()
            return
        running: Awaitable[Any] = asyncio.ensure_future(
            self.invoke({"items": TASKS, "asking": True}, thread)
        )
        try:
            await asyncio.to_thread(when_all_wait)
        finally:
            self._agate.set()
        await running


def expected_results(answer: str, before: list[str]) -> list[str]:
    """What the resumed fan-out's ``results`` hold after ``before``, sorted."""
    return sorted(
        [*before, *(f"{n}:{answer}" if n % ASKING == 0 else str(n) for n in range(TASKS))]
    )


def check_paused(fan_out: GatedFanOut, adapter: FrameworkAdapter, thread: str) -> dict[str, str]:
    """Every task ran once, and the pending store lists what LangGraph lists; returns the
    resume map that answers every interrupt ``"ok"``."""
    assert fan_out.ran == Counter(range(TASKS))
    assert_agrees(fan_out.graph, adapter, thread)
    interrupts = fan_out.graph.get_state(config_of(thread)).interrupts
    assert len(interrupts) == len(range(0, TASKS, ASKING))
    return {i.id: "ok" for i in interrupts}


async def check_resumed(
    fan_out: GatedFanOut,
    adapter: FrameworkAdapter,
    thread: str,
    resume: dict[str, str],
    before: list[str],
) -> None:
    """Each interrupt is claimed by its token (as a worker that answers it would); then,
    resumed, every task's write is in the state once, after the ``results`` of the runs
    ``before``, and only the tasks that asked ran again; nothing is left pending."""
    for record in adapter.pending.list(thread):
        claimed = await adapter.pending.aclaim(record.token)
        assert claimed.interrupt_id in resume
    result = await fan_out.invoke(Command(resume=resume), thread)
    assert sorted(result["results"]) == expected_results("ok", before)
    assert fan_out.ran == Counter({n: 2 if n % ASKING == 0 else 1 for n in range(TASKS)})
    assert adapter.pending.list(thread) == []
