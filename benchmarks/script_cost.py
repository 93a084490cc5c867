"""Where the write scripts' server time goes: the agent loop's saver calls, replayed
against standalone Redis with parts of the ``put`` and ``put_writes`` scripts cut.

``python -m benchmarks.script_cost [--threads 40] [--rounds 8]`` records the saver calls of
agent-loop threads (as ``benchmarks.profiling`` does), then replays them on a fresh
database once per variant and round, in alternation, and reads the server's time per
script call from ``INFO commandstats`` (``usec`` of ``EVALSHA`` and ``EVAL``). The
variants:

- as shipped;
- each write script returning as soon as it starts: what Redis spends to run any script
  with these keys and arguments, helper definitions included;
- without the TTL refresh (five ``PEXPIRE`` per write);
- without the TTL refresh and the pending hash's marker (``mark_alive``).

The cut variants store less than the saver needs; they exist to be timed, never to run a
graph. Replaying on the calling thread keeps the server's time free of the waits for a
core that a loop of LangGraph, its background thread and the server on shared cores adds
(table 1's server µs/op).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from benchmarks.backends import Environment
from benchmarks.profiling import Call, record, replay
from benchmarks.report import table
from kortyx_langgraph.redis import scripts

_PUT_START = "local missing, new, sent = {}, {}, {}\n"
_PUT_WRITES_START = "write_task(0)\n"
_END = "refresh(tonumber(ARGV[1]))\nreturn 1\n"
_MARKED_END = "mark_alive()\n" + _END

Cuts = Mapping[str, Sequence[tuple[str, str]]]
"""Per script (``PUT``, ``PUT_WRITES``): ``(text, replacement)`` pairs applied in order."""

VARIANTS: dict[str, Cuts] = {
    "as shipped": {},
    "returning at once": {
        "PUT": [(_PUT_START, "do return 1 end\n" + _PUT_START)],
        "PUT_WRITES": [(_PUT_WRITES_START, "do return 1 end\n" + _PUT_WRITES_START)],
    },
    "without the TTL refresh": {
        "PUT": [(_END, "return 1\n")],
        "PUT_WRITES": [(_END, "return 1\n")],
    },
    "without the TTL refresh and mark_alive": {
        "PUT": [(_MARKED_END, "return 1\n")],
        "PUT_WRITES": [(_MARKED_END, "return 1\n")],
    },
}


def cut(script: scripts.Script, pairs: Sequence[tuple[str, str]]) -> scripts.Script:
    """``script`` with each ``(text, replacement)`` applied once; a text the script does not
    hold raises ``ValueError`` (the scripts changed, so the variant means nothing)."""
    source = script.source
    for text, replacement in pairs:
        if text not in source:
            raise ValueError(f"the {script.name} script has no {text!r}")
        source = source.replace(text, replacement, 1)
    return scripts.Script(script.name, source, script.writes, script.grouped, script.saves)


@contextlib.contextmanager
def scripts_cut(cuts: Cuts) -> Iterator[None]:
    """The scripts of ``scripts`` replaced by their cut variants while in the block."""
    shipped = {name: getattr(scripts, name) for name in cuts}
    try:
        for name, pairs in cuts.items():
            setattr(scripts, name, cut(shipped[name], pairs))
        yield
    finally:
        for name, script in shipped.items():
            setattr(scripts, name, script)


def _script_calls(client: Any) -> tuple[int, int]:
    """``(calls, usec)`` of ``EVALSHA`` and ``EVAL`` since the last reset."""
    stats = client.info("commandstats")
    found = [stats[k] for k in ("cmdstat_evalsha", "cmdstat_eval") if k in stats]
    return sum(int(s["calls"]) for s in found), sum(int(s["usec"]) for s in found)


def measure(env: Environment, calls: Sequence[Call], rounds: int) -> dict[str, list[float]]:
    """Server µs per script call, per variant and round, on ``env``'s standalone Redis."""
    backend = next(
        b for b in env.backends if b.ours and b.nodes is not None and "cluster" not in b.name
    )
    found: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, cuts in VARIANTS.items():
            with scripts_cut(cuts), backend.open() as saver:
                client = saver.connection.sync_client()
                client.flushall()
                replay(saver, calls[: len(calls) // 10])  # loads the scripts
                client.flushall()
                client.config_resetstat()
                replay(saver, calls)
                count, usec = _script_calls(client)
                client.flushall()
            found[name].append(usec / count)
    return found


def rows(found: Mapping[str, Sequence[float]]) -> list[list[str]]:
    """One table row per variant: median µs per call, its range, and what it saves."""
    shipped = statistics.median(found["as shipped"])
    out = []
    for name, values in found.items():
        median = statistics.median(values)
        out.append(
            [
                name,
                f"{median:.1f}",
                f"{min(values):.1f}-{max(values):.1f}",
                "-" if name == "as shipped" else f"{shipped - median:.1f}",
            ]
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Record, replay every variant and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.script_cost")
    parser.add_argument("--threads", type=int, default=40, help="agent-loop threads to record")
    parser.add_argument("--rounds", type=int, default=8, help="replays per variant")
    args = parser.parse_args(argv)
    calls = record(args.threads)
    with Environment(cluster=False) as env:
        found = measure(env, calls, args.rounds)
    print(
        f"{len(calls)} saver calls of {args.threads} agent-loop threads, replayed "
        f"{args.rounds} times per variant on standalone Redis, in alternation\n"
    )
    headers = ["scripts", "server µs per call (median)", "range", "µs less than as shipped"]
    print(table(headers, rows(found)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
