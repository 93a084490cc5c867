"""Where a saver's time goes: replay one agent-loop workload's saver calls under cProfile.

``python -m benchmarks.profiling [--threads 40] [--delta] [--message-bytes 500]`` records the
exact ``get_tuple``, ``put`` and ``put_writes`` calls LangGraph makes for agent-loop threads
(workload 1, default durability; ``--delta`` declares the transcript as a ``DeltaChannel``;
``--message-bytes`` sets the size of each message), then replays them
against each saver on the calling thread, once timed and once under ``cProfile``. Replaying
takes LangGraph out of the picture: what remains is the saver's own cost per super-step,
split into serialization, the Redis round trip, the adapter's Python code and so on. (Under
``invoke`` the saver runs on LangGraph's background thread, where ``cProfile`` does not
look.) Each replay is timed twice over: wall time, and this process's CPU time, which leaves
out the waits for the Redis server (the client's own work). The standalone Redis saver is
replayed once more with the replies Redis gave it recorded and handed back
(:class:`RecordedReplies`): its own Python alone, with no socket, server or group commit.
It also times bare round trips, the floor any Redis saver pays per operation.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import functools
import gc
import hashlib
import pstats
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis
import redis.cluster
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks.backends import Environment, Saver
from benchmarks.graphs import (
    MESSAGE_BYTES,
    AgentState,
    agent_input,
    agent_loop_graph,
    delta_state,
    thread_config,
)
from benchmarks.redis_parser import parser_in_use
from benchmarks.redisinfo import RedisNodes
from benchmarks.report import table
from kortyx_langgraph.redis import direct

Call = tuple[str, tuple[Any, ...], dict[str, Any]]
STEPS = 20

BUCKETS: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    (
        "socket I/O (send, wait for the reply)",
        lambda f, n: f == "~" and any(x in n for x in ("recv", "sendall", "select", "poll")),
    ),
    ("sqlite3", lambda f, n: "sqlite3" in n or "/sqlite3/" in f),
    (
        "serialization (serde, ormsgpack, messages)",
        lambda f, n: (
            "/checkpoint/serde/" in f
            or "ormsgpack" in n
            or "/langchain_core/" in f
            or "/pydantic" in f
        ),
    ),
    ("redis-py client", lambda f, n: "site-packages/redis/" in f),
    ("kortyx_langgraph", lambda f, n: "/kortyx_langgraph/" in f),
    ("LangGraph saver code", lambda f, n: "/langgraph/checkpoint/" in f),
    ("other", lambda f, n: True),
)


def record(
    threads: int, state: type = AgentState, message_bytes: int = MESSAGE_BYTES
) -> list[Call]:
    """The saver calls of ``threads`` agent-loop threads, arguments deep-copied."""
    calls: list[Call] = []
    saver = InMemorySaver()
    for name in ("get_tuple", "put", "put_writes"):
        method = getattr(saver, name)

        def wrapper(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls.append((_name, copy.deepcopy(args), copy.deepcopy(kwargs)))
            return _method(*args, **kwargs)

        setattr(saver, name, wrapper)
    graph = agent_loop_graph(saver, STEPS, state, message_bytes)
    for n in range(threads):
        graph.invoke(agent_input(), thread_config(f"profile-{n}", STEPS))
    return calls


def replay(saver: Saver, calls: Sequence[Call]) -> float:
    """Run ``calls`` against ``saver``; returns the seconds taken."""
    return replay_timed(saver, calls)[0]


def replay_timed(saver: Saver, calls: Sequence[Call]) -> tuple[float, float]:
    """Run ``calls`` against ``saver``; returns the wall seconds and this process's CPU seconds.

    The CPU time leaves out the waits for the Redis server (another process): it is the
    client's own work, which a faster reply parser shrinks, without the round trip's latency,
    which moves a lot from run to run on a shared machine.
    """
    start, cpu = time.perf_counter(), time.process_time()
    for name, args, kwargs in calls:
        getattr(saver, name)(*args, **kwargs)
    return time.perf_counter() - start, time.process_time() - cpu


def buckets(profile: cProfile.Profile) -> dict[str, float]:
    """Own time (``tottime``) per bucket, in seconds."""
    totals = {name: 0.0 for name, _ in BUCKETS}
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _, function), (_, _, own, _, _) in stats.items():
        for name, matches in BUCKETS:
            if matches(filename, function):
                totals[name] += own
                break
    return totals


def top(profile: cProfile.Profile, count: int) -> list[tuple[str, float, int]]:
    """The ``count`` functions with the most own time: ``(where, seconds, calls)``."""
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = [
        (f"{filename.rsplit('site-packages/', 1)[-1]}:{line} {function}", own, calls)
        for (filename, line, function), (_, calls, own, _, _) in stats.items()
    ]
    return sorted(rows, key=lambda r: -r[1])[:count]


PROBES = {
    "EVALSHA `return 1`": "return 1",
    "EVALSHA 5x PEXPIRE (a kortyx TTL refresh)": (
        "for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], 900000) end return 1"
    ),
}


class ReplayDiverged(RuntimeError):
    """A replay with recorded replies asked for a reply that was never recorded."""


_NONE_LEFT = object()


class RecordedReplies:
    """What Redis answered one replay, handed back in the same order to a replay of the same
    calls on a fresh saver: no socket, no server, no group commit; what that replay costs
    is the adapter's own Python (reading configs, encoding, planning deltas, packing
    records, the operation flows) and the serializer's work."""

    def __init__(self) -> None:
        self.replies: list[Any] = []

    @contextlib.contextmanager
    def recording(self, saver: Any) -> Iterator[None]:
        """Keep every reply ``saver``'s connection gets while the block runs."""
        real = saver.connection._send_step

        def send_step(client: Any, step: Any) -> Any:
            reply = real(client, step)
            self.replies.append(reply)
            return reply

        with _sending_with(saver.connection, send_step):
            yield

    @contextlib.contextmanager
    def playing(self, saver: Any) -> Iterator[None]:
        """Answer ``saver``'s requests with the kept replies while the block runs."""
        saver.connection.sync_client()  # made (and its deployment asked) before the replay
        replies = iter(self.replies)

        def send_step(client: Any, step: Any) -> Any:
            reply = next(replies, _NONE_LEFT)
            if reply is _NONE_LEFT:
                raise ReplayDiverged("the replay asked for more than was recorded")
            return reply

        with _sending_with(saver.connection, send_step):
            yield


@contextlib.contextmanager
def _sending_with(connection: Any, send_step: Callable[[Any, Any], Any]) -> Iterator[None]:
    """``connection`` hands each request of a flow to ``send_step`` while the block runs."""
    connection._send_step = send_step
    try:
        yield
    finally:
        del connection._send_step


def own_python(
    saver_opener: Any, calls: Sequence[Call], rounds: int = 3
) -> tuple[float, float, cProfile.Profile]:
    """Replays of ``calls`` on savers from ``saver_opener`` answered with recorded replies
    (:class:`RecordedReplies`): median wall and CPU seconds, and a profile of one more."""
    recorded = RecordedReplies()
    with saver_opener() as saver, recorded.recording(saver):
        replay(saver, calls)
    walls, cpus = [], []
    for _ in range(rounds):
        gc.collect()
        with saver_opener() as saver, recorded.playing(saver):
            wall, cpu = replay_timed(saver, calls)
        walls.append(wall)
        cpus.append(cpu)
    profile = cProfile.Profile()
    with saver_opener() as saver, recorded.playing(saver):
        profile.enable()
        replay(saver, calls)
        profile.disable()
    return statistics.median(walls), statistics.median(cpus), profile


def round_trip_floor(urls: Sequence[str], cluster: bool, count: int = 2000) -> list[list[str]]:
    """Client-side median µs and server µs per call of a bare PING and of small scripts."""
    client: Any = (
        redis.cluster.RedisCluster.from_url(urls[0]) if cluster else redis.Redis.from_url(urls[0])
    )
    nodes = RedisNodes(urls)
    keys = [f"{{floor}}:{n}" for n in range(5)]
    rows = []
    try:
        for key in keys:
            client.set(key, b"x" * 100)
        probes: dict[str, Callable[[], Any]] = {"PING": client.ping}
        for name, source in PROBES.items():
            sha = hashlib.sha1(source.encode()).hexdigest()
            client.script_load(source)  # on every primary of a cluster
            probes[name] = functools.partial(client.evalsha, sha, len(keys), *keys)
            # as an adapter sends its scripts: down a pooled connection of the client, or
            # of the primary holding the keys' slot on a Cluster (the keys share one)
            node = direct.primary_client(client, keys[0]) if cluster else client
            if node is not None and direct.sends_directly(node):
                probes[f"{name}, down a pooled connection"] = functools.partial(
                    direct.call,
                    node,
                    ("EVALSHA", sha, len(keys), *keys),
                    fast=direct.packer(node),
                )
        for name, probe in probes.items():
            before = nodes.command_calls()
            samples = []
            for _ in range(count):
                start = time.perf_counter()
                probe()
                samples.append((time.perf_counter() - start) * 1e6)
            after = nodes.command_calls()
            command = "ping" if name == "PING" else "evalsha"
            calls = after[command] - before.get(command, 0)
            spent = after[f"{command}:usec"] - before.get(f"{command}:usec", 0)
            rows.append([name, f"{statistics.median(samples):.0f}", f"{spent / calls:.1f}"])
        client.delete(*keys)
    finally:
        client.close()
        nodes.close()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Record, replay and print the breakdown for every saver."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiling")
    parser.add_argument("--threads", type=int, default=40, help="agent-loop threads to record")
    parser.add_argument("--top", type=int, default=12, help="functions listed per saver")
    parser.add_argument(
        "--delta",
        action="store_true",
        help="declare the transcript as a DeltaChannel (snapshots off) instead of add_messages",
    )
    parser.add_argument(
        "--message-bytes",
        type=int,
        default=MESSAGE_BYTES,
        metavar="N",
        help=f"size of each agent-loop message (default {MESSAGE_BYTES})",
    )
    args = parser.parse_args(argv)
    state = delta_state(1_000_000) if args.delta else AgentState
    calls = record(args.threads, state, args.message_bytes)
    steps = args.threads * STEPS
    print(
        f"{len(calls)} saver calls for {steps} agent super-steps ({args.threads} threads, "
        f"{args.message_bytes}-byte messages), redis-py parser {parser_in_use()}\n"
    )
    summary = []
    details = []

    def report(label: str, seconds: float, cpu: float, profile: cProfile.Profile) -> None:
        spent = buckets(profile)
        total = sum(spent.values())
        summary.append(
            [
                label,
                f"{seconds * 1000 / steps:.3f}",
                f"{cpu * 1000 / steps:.3f}",
                *(f"{100 * spent[name] / total:.0f}%" for name, _ in BUCKETS),
            ]
        )
        rows = [
            [where, f"{own * 1000 / steps:.4f}", str(n)] for where, own, n in top(profile, args.top)
        ]
        details.append(f"### {label}\n\n" + table(["function", "own ms/step", "calls"], rows))

    with Environment() as env:
        for backend in env.backends:
            if backend.reference:
                continue
            with backend.open() as saver:
                replay(saver, calls[: len(calls) // 10])  # warm-up: scripts, connections
            timings, cpu_times = [], []
            for _ in range(3):
                gc.collect()
                with backend.open() as saver:
                    wall, cpu = replay_timed(saver, calls)
                    timings.append(wall)
                    cpu_times.append(cpu)
            profile = cProfile.Profile()
            with backend.open() as saver, contextlib.ExitStack():
                profile.enable()
                replay(saver, calls)
                profile.disable()
            report(backend.label, statistics.median(timings), statistics.median(cpu_times), profile)
            if backend.name == "kortyx-redis":
                report(f"{backend.label}, its own Python", *own_python(backend.open, calls))
        floors = [
            [backend.label, *row]
            for backend in env.backends
            if backend.ours and backend.nodes is not None
            for row in round_trip_floor(backend.nodes.urls, "cluster" in backend.name)
        ]
    print("Round-trip floor with redis-py, one command at a time:\n")
    print(table(["deployment", "command", "client µs (median)", "server µs/call"], floors))
    print()
    headers = [
        "saver",
        "saver ms/step (replay, median of 3)",
        "client CPU ms/step (same replays)",
        *(name for name, _ in BUCKETS),
    ]
    print("Share of own time under cProfile:\n")
    print(table(headers, summary))
    print()
    print("\n\n".join(details))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
