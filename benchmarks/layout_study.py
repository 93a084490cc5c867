"""What other stored layouts would hold for a ``DeltaChannel`` thread, measured on copies.

``python -m benchmarks.layout_study [--steps 500] [--threads 4] [--quick]`` writes threads
of the memory workload (one ~500-byte message per super-step, the transcript a
``DeltaChannel`` with snapshots off) through the Redis adapter, with and without
``compression="zlib"``, on a ``redis-server`` of its own: once as the adapter stores them,
and once as it stored them before records kept small channel values and the first task's
writes (``inline_bytes=0``, ``writes_in_record=False``). Then, for every thread as stored,
it writes copies of the thread's hashes under other keys, rearranged as a candidate layout
would store them, and compares the exact ``MEMORY USAGE`` (``SAMPLES 0``) of the copies
with that of the thread as the adapter stores it, in the same run:

* **B, the index as a list**: the ``idx`` sorted set becomes a list of the same members.

No code reads that layout: the figures bound what the change would save before its cost in
code is paid (the scripts would need to read it, and a way to read the layout paused
threads were stored in). Each TTL is set as the adapter sets it. Options A (small values in
the record) and C (the first task's writes in the record) of the first study are now how
the adapter stores threads.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from benchmarks.backends import _harness
from benchmarks.graphs import (
    MESSAGE_BYTES,
    agent_input,
    agent_loop_graph,
    delta_state,
    thread_config,
)
from kortyx_langgraph import create_redis_framework_adapter

TTL_MS = 15 * 60 * 1000
BEFORE = "before (values and writes in fields of their own)"
"""The row of the threads stored as before records kept small values."""
OPTIONS = {"B": "the index as a list"}


@dataclass
class Stored:
    """One thread's keys as the adapter stored them."""

    cp: dict[bytes, bytes]
    blob: dict[bytes, bytes]
    wr: dict[bytes, bytes]
    members: list[bytes]


def _read(client: redis.Redis, base: bytes) -> Stored:
    return Stored(
        cp=client.hgetall(base + b":cp"),
        blob=client.hgetall(base + b":blob"),
        wr=client.hgetall(base + b":wr"),
        members=client.zrange(base + b":idx", 0, -1),
    )


def rearranged(stored: Stored, options: Iterable[str]) -> tuple[Stored, bool]:
    """``stored`` as layouts ``options`` would hold it; and whether the index is a list."""
    return stored, "B" in set(options)


def _usage(client: redis.Redis, key: bytes) -> int:
    return int(client.memory_usage(key, samples=0) or 0)


def _write_copy(client: redis.Redis, base: bytes, tag: str, copy: Stored, as_list: bool) -> int:
    """Write ``copy`` under ``base:<tag>:...``; the bytes Redis holds for it."""
    keys = []
    for name, fields in (("cp", copy.cp), ("blob", copy.blob), ("wr", copy.wr)):
        if fields:
            key = base + f":{tag}:{name}".encode()
            client.hset(key, mapping=fields)  # type: ignore[arg-type]
            keys.append(key)
    index = base + f":{tag}:idx".encode()
    if as_list:
        client.rpush(index, *copy.members)
    else:
        client.zadd(index, dict.fromkeys(copy.members, 0))
    keys.append(index)
    for key in keys:
        client.pexpire(key, TTL_MS)
    total = sum(_usage(client, key) for key in keys)
    client.delete(*keys)
    return total


def measure(
    client: redis.Redis, url: str, *, steps: int, threads: int, zlib: bool
) -> dict[str, int]:
    """Bytes per thread of every combination of the options (``""``: as stored)."""
    totals: dict[str, int] = {}
    for kept in (0, None):  # 0: records keep no values (as before); None: as the adapter does
        adapter = create_redis_framework_adapter(
            url=url, compression="zlib" if zlib else None, prefix=f"study-{int(zlib)}-{kept}:"
        )
        if kept is not None:  # as stored before: no values or writes in records
            adapter._ops = dataclasses.replace(
                adapter._ops, inline_bytes=kept, writes_in_record=False
            )
        graph = agent_loop_graph(adapter, steps, delta_state(1_000_000))
        for n in range(threads):
            config = thread_config(f"study-{n}", steps)
            graph.invoke(agent_input(), config)
            (cp_key,) = client.keys(f"study-{int(zlib)}-{kept}:*:study-{n}:cp")
            base = cp_key[: -len(b":cp")]
            own = sum(_usage(client, base + s) for s in (b":cp", b":blob", b":wr", b":idx"))
            if kept is not None:
                totals[BEFORE] = totals.get(BEFORE, 0) + own
                continue
            totals[""] = totals.get("", 0) + own
            stored = _read(client, base)
            for size in range(1, len(OPTIONS) + 1):
                for combo in itertools.combinations(OPTIONS, size):
                    tag = "".join(combo)
                    copy, as_list = rearranged(stored, combo)
                    usage = _write_copy(client, base, tag, copy, as_list)
                    totals[tag] = totals.get(tag, 0) + usage
        adapter.close()
    return {tag: total // threads for tag, total in totals.items()}


def report(results: dict[bool, dict[str, int]], steps: int, threads: int) -> str:
    """The markdown table of :func:`measure`'s results."""
    lines = [
        f"{threads} threads x {steps} super-steps, one {MESSAGE_BYTES}-byte message per step, "
        f"`DeltaChannel` with snapshots off; bytes per super-step (`MEMORY USAGE`, every key "
        f"of the thread) and their ratio to the message bytes. "
        + "; ".join(f"{tag}: {what}" for tag, what in OPTIONS.items())
        + ".",
        "",
        "| layout | bytes/step | x message bytes | with zlib: bytes/step | x message bytes |",
        "|---|---|---|---|---|",
    ]
    for tag in results[False]:
        name = tag if tag == BEFORE else " + ".join(["as stored", *tag])
        cells = []
        for zlib in (False, True):
            per_step = results[zlib][tag] / steps
            cells += [f"{per_step:,.0f}", f"{per_step / MESSAGE_BYTES:.2f}x"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the study and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="1 thread of 20 steps")
    args = parser.parse_args(argv)
    steps, threads = (20, 1) if args.quick else (args.steps, args.threads)
    with _harness().RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        results: dict[bool, dict[str, Any]] = {
            zlib: measure(client, server.url, steps=steps, threads=threads, zlib=zlib)
            for zlib in (False, True)
        }
        client.close()
    print(report(results, steps, threads))


if __name__ == "__main__":
    main()
