"""Workload sizes of the full run and of the ``--quick`` smoke run."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.graphs import MESSAGE_BYTES


@dataclass(frozen=True)
class Sizes:
    """How much each workload does; the defaults are the full run (8 to 9.5 minutes on 2 cores)."""

    agent_threads: int = 200
    agent_rounds: int = 10
    agent_steps: int = 20
    message_bytes: int = MESSAGE_BYTES
    """Size of each agent-loop message (workload 1)."""
    durabilities: tuple[str, ...] = ("async", "sync")
    warmup_threads: int = 3
    hitl_threads: int = 1000
    hitl_rounds: int = 10
    history_sizes: tuple[int, ...] = (10, 1_000, 10_000)
    history_reps: int = 200
    concurrency_threads: int = 64
    concurrency_reps: int = 10
    memory_lengths: tuple[int, ...] = (20, 100, 500)
    memory_threads: int = 3
    fanout_tasks: tuple[int, ...] = (500, 1_000, 2_000, 4_000)
    fanout_repeats: int = 3
    """Parallel tasks of the fan-out super-step (workload 6), one ``invoke`` per size."""
    long_thread_steps: int = 1_000
    """Agent super-steps (one message each) of every long thread (workload 7)."""
    long_threads: int = 3

    @property
    def agent_per_round(self) -> int:
        """Agent-loop threads each saver runs per round."""
        return max(1, self.agent_threads // self.agent_rounds)

    @property
    def hitl_per_round(self) -> int:
        """Paused-and-resumed threads each saver runs per round."""
        return max(1, self.hitl_threads // self.hitl_rounds)


FULL = Sizes()
QUICK = Sizes(
    agent_threads=30,
    agent_rounds=3,
    warmup_threads=1,
    hitl_threads=90,
    hitl_rounds=3,
    history_reps=30,
    concurrency_reps=1,
    memory_lengths=(20, 100),
    memory_threads=1,
    fanout_tasks=(50, 100),
    fanout_repeats=1,
    long_thread_steps=50,
    long_threads=1,
)
