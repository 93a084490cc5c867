"""What a run or a resume of an agent returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kortyx_langgraph.pending import PendingInterrupt

RunStatus = Literal["completed", "interrupted", "paused"]
"""``"interrupted"`` while a human is asked something; ``"paused"`` when the run stopped
with nodes still to run and nothing asked (a static breakpoint: ``interrupt_before`` or
``interrupt_after``), ``run(None, thread_id=...)`` goes on; ``"completed"`` otherwise."""


@dataclass(frozen=True)
class RunResult:
    """Where a run stopped: its thread, status, state values and pending questions.

    ``interrupts`` are the thread's pending records, each with the ``token`` to hand to a
    human and the ``response_schema`` of the answer it expects; answer one with
    ``agent.resume(token, value)``.
    """

    thread_id: str
    workflow_id: str
    status: RunStatus
    values: Any = field(compare=False)
    interrupts: tuple[PendingInterrupt, ...] = ()
