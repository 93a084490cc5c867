"""What ``replica_acks=1`` costs: the agent loop with and without ``WAIT``, in one run.

``python -m benchmarks.replica_acks [--rounds N] [--threads N] [--steps N]`` starts a
primary with one replica on loopback (the test suite's harness), then runs the agent loop
(one 500-byte message per super-step) on ``InMemorySaver``, on the Redis adapter as it
is, and on the Redis adapter with ``replica_acks=1``, interleaved round by round. It
prints the time per super-step of each and the ratios of the same round, as markdown.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from benchmarks.graphs import agent_input, agent_loop_graph, thread_config
from benchmarks.stats import round_ratio
from kortyx_langgraph import create_redis_framework_adapter
from tests.redis_harness import RedisServer


def _per_step_ms(checkpointer: Any, threads: int, steps: int) -> list[float]:
    """Milliseconds per super-step of each of ``threads`` agent-loop runs."""
    graph = agent_loop_graph(checkpointer, steps)
    times = []
    for _ in range(threads):
        config = thread_config(f"bench-{uuid.uuid4().hex[:8]}", steps)
        started = time.perf_counter()
        graph.invoke(agent_input(), config)
        times.append((time.perf_counter() - started) * 1000 / steps)
    return times


def _wait_synced(replica: RedisServer) -> None:
    deadline = time.monotonic() + 10
    while replica.info("replication").get("master_link_status") != "up":
        if time.monotonic() > deadline:
            raise RuntimeError("the replica never synced")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)

    with RedisServer() as primary:
        replica = RedisServer(extra_args=["--replicaof", "127.0.0.1", str(primary.port)])
        with replica:
            _wait_synced(replica)
            savers: dict[str, Callable[[], Any]] = {
                "InMemorySaver": InMemorySaver,
                "redis": lambda: create_redis_framework_adapter(
                    url=primary.url, prefix=f"bench-{uuid.uuid4().hex[:6]}:"
                ),
                "redis, replica_acks=1": lambda: create_redis_framework_adapter(
                    url=primary.url, prefix=f"bench-{uuid.uuid4().hex[:6]}:", replica_acks=1
                ),
            }
            samples: dict[str, list[list[float]]] = {name: [] for name in savers}
            for number in range(args.rounds):
                for name, make in savers.items():
                    saver = make()
                    _per_step_ms(saver, 2, args.steps)  # warm: connect, load scripts
                    samples[name].append(_per_step_ms(saver, args.threads, args.steps))
                    if hasattr(saver, "close"):
                        saver.close()
                print(f"round {number + 1}/{args.rounds} done", file=sys.stderr)

    base = samples["InMemorySaver"]
    plain = samples["redis"]
    print(f"{args.rounds} rounds x {args.threads} threads x {args.steps} super-steps\n")
    print("| saver | ms per super-step (median) | vs InMemorySaver | vs redis |")
    print("|---|---|---|---|")
    for name, rounds in samples.items():
        median = statistics.median(t for r in rounds for t in r)
        to_base = round_ratio(rounds, base)
        to_plain = round_ratio(rounds, plain)
        assert to_base is not None and to_plain is not None
        print(
            f"| {name} | {median:.3f} | {to_base.value:.2f} ({to_base.low:.2f} to "
            f"{to_base.high:.2f}) | {to_plain.value:.2f} ({to_plain.low:.2f} to "
            f"{to_plain.high:.2f}) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
