"""What n parallel tasks that each wait for a human cost, paused and resumed, against
``InMemorySaver``.

``python -m benchmarks.interrupt_fanout [--tasks 500,1000,2000,4000] [--repeats 3] [--quick]``
runs one graph: ``fan`` sends n ``ask`` tasks, each of which calls ``interrupt()``. The run
pauses with n interrupts pending (n ``put_writes`` at one checkpoint, each bringing one
interrupt), then one ``Command(resume={id: answer, ...})`` answers all of them (n more
``put_writes``, each retiring one) and ``join`` checks that every answer arrived. Between
the two, the adapters' workers take all n by ``pending.claim_next``, each claim held
(timed apart: "claims"). Savers:
``InMemorySaver`` (the baseline), the in-memory adapter, and the Redis adapter on a
``redis-server`` of its own. Per size and saver the run of median wall time is reported
(``--repeats`` runs, savers in turn), with the Redis server's script time from
``INFO commandstats``, and the growth exponent between the smallest and the largest size
(``log(t(largest) / t(smallest)) / log(largest / smallest)``: 1 is linear, 2 quadratic).
"""

from __future__ import annotations

import argparse
import math
import operator
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import redis
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt

from benchmarks.backends import _harness
from kortyx_langgraph import create_in_memory_framework_adapter, create_redis_framework_adapter

BASELINE = "InMemorySaver"


class _State(TypedDict, total=False):
    tasks: int
    answers: Annotated[list[str], operator.add]
    joined: int


def graph(checkpointer: Any) -> Any:
    """``fan`` -> n ``ask`` tasks, each waiting for an answer -> ``join``."""

    def fan(state: _State) -> list[Send]:
        return [Send("ask", {"tasks": n}) for n in range(state["tasks"])]

    def ask(state: _State) -> _State:
        return {"answers": [str(interrupt({"item": state["tasks"]}))]}

    def join(state: _State) -> _State:
        return {"joined": len(state["answers"])}

    builder = StateGraph(_State)
    builder.add_node("ask", ask)
    builder.add_node("join", join)
    builder.add_conditional_edges(START, fan, ["ask"])
    builder.add_edge("ask", "join")
    builder.add_edge("join", END)
    return builder.compile(checkpointer=checkpointer)


@dataclass(frozen=True)
class Run:
    """One pause and resume of ``tasks`` tasks on one saver."""

    saver: str
    tasks: int
    pause_s: float
    resume_s: float
    server_s: float | None
    claims_s: float | None = None
    """All n interrupts taken by ``pending.claim_next`` (the adapters only)."""
    claims_server_s: float | None = None

    @property
    def seconds(self) -> float:
        """Pause and resume together."""
        return self.pause_s + self.resume_s


def measure(name: str, checkpointer: Any, tasks: int, probe: Any = None) -> Run:
    """Pause ``tasks`` tasks on ``checkpointer``, then answer them all in one resume."""
    compiled = graph(checkpointer)
    config: Any = {"configurable": {"thread_id": f"fan-{uuid.uuid4().hex}"}}
    before = _script_usec(probe)
    started = time.perf_counter()
    paused = compiled.invoke({"tasks": tasks, "answers": []}, config)
    pause_s = time.perf_counter() - started
    waiting = paused["__interrupt__"]
    if len(waiting) != tasks:
        raise RuntimeError(f"{name}: {tasks} tasks paused with {len(waiting)} interrupts")
    answers = {i.id: f"yes-{i.value['item']}" for i in waiting}
    server_s = _script_usec(probe) - before
    claims_s = claims_server_s = None
    if hasattr(checkpointer, "pending"):
        claims_s, claims_server_s = _claim_all(checkpointer, config, tasks, probe)
    before = _script_usec(probe)
    started = time.perf_counter()
    done = compiled.invoke(Command(resume=answers), config)
    resume_s = time.perf_counter() - started
    if done.get("joined") != tasks or sorted(done["answers"]) != sorted(answers.values()):
        raise RuntimeError(f"{name}: {tasks} tasks joined {done.get('joined')} answers")
    server = None if probe is None else (server_s + _script_usec(probe) - before) / 1e6
    return Run(name, tasks, pause_s, resume_s, server, claims_s, claims_server_s)


def _claim_all(adapter: Any, config: Any, tasks: int, probe: Any) -> tuple[float, float | None]:
    """Take every interrupt of the thread by ``claim_next``, each claim held, as a fleet
    of workers that each took one and is still answering would: ``(wall s, server s)``."""
    thread_id = config["configurable"]["thread_id"]
    before = _script_usec(probe)
    started = time.perf_counter()
    taken = {adapter.pending.claim_next(thread_id).token for _ in range(tasks)}
    wall = time.perf_counter() - started
    if len(taken) != tasks:
        raise RuntimeError(f"claim_next took {len(taken)} distinct interrupts of {tasks}")
    return wall, None if probe is None else (_script_usec(probe) - before) / 1e6


def _script_usec(probe: Any) -> float:
    if probe is None:
        return 0.0
    stats = probe.info("commandstats")
    return float(sum(stats.get(f"cmdstat_{c}", {}).get("usec", 0) for c in ("evalsha", "eval")))


@contextmanager
def savers(url: str) -> Iterator[list[tuple[str, Callable[[], Any], Any]]]:
    """``(name, make a fresh checkpointer, Redis probe or None)`` for each saver."""
    probe = redis.Redis.from_url(url)
    made: list[Any] = []

    def redis_adapter() -> Any:
        adapter = create_redis_framework_adapter(
            url=url, prefix=f"fan-{uuid.uuid4().hex[:8]}:", ttl_ms=600_000
        )
        made.append(adapter)
        return adapter

    try:
        yield [
            (BASELINE, InMemorySaver, None),
            ("kortyx in-memory", create_in_memory_framework_adapter, None),
            ("kortyx Redis", redis_adapter, probe),
        ]
    finally:
        for adapter in made:
            adapter.close()
        probe.close()


def run(url: str, sizes: list[int], repeats: int) -> list[Run]:
    """The median run (by wall time) of each saver at each size; savers take turns."""
    medians: list[Run] = []
    with savers(url) as entries:
        for name, make, probe in entries:  # untimed: scripts loaded, imports done
            measure(name, make(), 10, probe)
        for size in sizes:
            runs: dict[str, list[Run]] = {name: [] for name, _, _ in entries}
            for repeat in range(repeats):
                turn = entries[repeat % len(entries) :] + entries[: repeat % len(entries)]
                for name, make, probe in turn:
                    runs[name].append(measure(name, make(), size, probe))
            for name, _, _ in entries:
                ordered = sorted(runs[name], key=lambda r: r.seconds)
                medians.append(ordered[len(ordered) // 2])
    return medians


def growth(rows: list[Run], saver: str, value: Callable[[Run], float | None]) -> float | None:
    """The growth exponent of ``value`` between the smallest and the largest size."""
    mine = sorted((r.tasks, value(r)) for r in rows if r.saver == saver)
    (small, first), (large, last) = mine[0], mine[-1]
    if not first or not last or large == small:
        return None
    return math.log(last / first) / math.log(large / small)


def report(rows: list[Run]) -> str:
    """A Markdown table (each saver against ``InMemorySaver`` at the same size) and the
    growth exponents."""
    base = {r.tasks: r for r in rows if r.saver == BASELINE}
    lines = [
        "| tasks | saver | pause s | resume s | total s | x InMemorySaver | server s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        server = "" if row.server_s is None else f"{row.server_s:.2f}"
        lines.append(
            f"| {row.tasks:,} | {row.saver} | {row.pause_s:.2f} | {row.resume_s:.2f} "
            f"| {row.seconds:.2f} | {row.seconds / base[row.tasks].seconds:.2f} | {server} |"
        )
    lines += ["", "| saver | exponent, total | exponent, server |", "|---|---|---|"]
    for saver in dict.fromkeys(r.saver for r in rows):
        total = growth(rows, saver, lambda r: r.seconds)
        server = growth(rows, saver, lambda r: r.server_s)
        lines.append(f"| {saver} | {_exp(total)} | {_exp(server)} |")
    lines += [
        "",
        "| tasks | saver | claims s | µs per claim | claims server s | µs per claim, server |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.claims_s is None:
            continue
        server = row.claims_server_s
        lines.append(
            f"| {row.tasks:,} | {row.saver} | {row.claims_s:.2f} "
            f"| {row.claims_s / row.tasks * 1e6:.0f} | {'' if server is None else f'{server:.2f}'} "
            f"| {'' if server is None else f'{server / row.tasks * 1e6:.0f}'} |"
        )
    lines += ["", "| saver | exponent, claims | exponent, claims server |", "|---|---|---|"]
    for saver in dict.fromkeys(r.saver for r in rows if r.claims_s is not None):
        total = growth(rows, saver, lambda r: r.claims_s)
        server = growth(rows, saver, lambda r: r.claims_server_s)
        lines.append(f"| {saver} | {_exp(total)} | {_exp(server)} |")
    return "\n".join(lines)


def _exp(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> None:
    """Run the study and print its tables."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", default="500,1000,2000,4000", help="comma-separated sizes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="sizes 20 and 40, one run each")
    args = parser.parse_args(argv)
    sizes = [20, 40] if args.quick else [int(n) for n in args.tasks.split(",")]
    repeats = 1 if args.quick else args.repeats
    if min(sizes) < 1 or repeats < 1:
        parser.error("sizes and --repeats must be positive")
    with _harness().RedisServer() as server:
        rows = run(server.url, sizes, repeats)
    print(report(rows))


if __name__ == "__main__":
    main()
