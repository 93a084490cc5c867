"""Workload 5, memory: bytes Redis holds per thread as its history grows.

Threads of 20, 100 and 500 agent super-steps (one ~500-byte message each) are written with
three declarations of the same transcript: plain ``add_messages``; LangGraph's
``DeltaChannel`` (beta) with its default ``snapshot_frequency=100``; and ``DeltaChannel``
with snapshots effectively off (``snapshot_frequency=1_000_000``; LangGraph still forces one
every 5,000 super-steps). Each is measured twice: as the adapter stores it by default, and
with ``compression="zlib"``, whose cost shows in the time per step. The compressed
``DeltaChannel`` states are measured a third time with messages that do not repeat each
other (:data:`REFERENCE`). Bytes are the exact
``MEMORY USAGE`` of every key under the saver's own prefix, divided by the threads written.
The growth exponent between two lengths is ``log(bytes2 / bytes1) / log(steps2 /
steps1)``: 1 is linear, 2 quadratic.

(Bytes per thread after workload 1 are measured there, in the same way.)
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from typing import Any

from benchmarks.backends import Backend, Environment, Opener
from benchmarks.config import Sizes
from benchmarks.graphs import (
    MESSAGE_BYTES,
    AgentState,
    agent_input,
    agent_loop_graph,
    delta_state,
    message_text,
    reference_text,
    thread_config,
)
from benchmarks.stats import sig
from benchmarks.workloads import Log, describe_error

STATES: tuple[tuple[str, str], ...] = (
    ("add_messages", "plain add_messages"),
    ("delta-100", "DeltaChannel, snapshot_frequency=100 (default)"),
    ("delta-off", "DeltaChannel, snapshot_frequency=1,000,000"),
)
COMPRESSED = "+zlib"
"""Suffix of a state measured again with ``compression="zlib"`` (the time/memory trade)."""
REFERENCE = "+reference"
"""Suffix of a compressed ``DeltaChannel`` state measured again with each message cut from
CPython's language reference (:func:`~benchmarks.graphs.reference_text`) rather than from
the harness's one passage of prose, whose messages repeat each other: what compression
makes of the many messages a ``DeltaChannel`` snapshot holds depends on it."""


def _state(key: str) -> type:
    key = key.removesuffix(REFERENCE).removesuffix(COMPRESSED)
    if key == "add_messages":
        return AgentState
    return delta_state(100 if key == "delta-100" else 1_000_000)


def run(env: Environment, sizes: Sizes, log: Log) -> dict[str, Any]:
    """Every state declaration at every history length, on the standalone Redis saver."""
    backend = env.get("kortyx-redis")
    out: dict[str, Any] = {
        "params": {
            "lengths": list(sizes.memory_lengths),
            "threads": sizes.memory_threads,
            "message_bytes": MESSAGE_BYTES,
        },
        "states": {},
    }
    if backend is None or backend.nodes is None:
        out["skipped"] = "the Redis savers did not run"
        return out
    compressed = env.redis_with_adapter_options(backend.name, compression="zlib")
    variants = [(key, label, backend.open) for key, label in STATES]
    if compressed is not None:
        variants += [
            (key + COMPRESSED, f"{label}, compression=zlib", compressed) for key, label in STATES
        ]
        variants += [
            (
                key + COMPRESSED + REFERENCE,
                f"{label}, compression=zlib, messages from the language reference",
                compressed,
            )
            for key, label in STATES
            if key != "add_messages"
        ]
    for key, label, opener in variants:
        rows = []
        for length in sizes.memory_lengths:
            log(f"memory: {label}, {length} steps")
            try:
                rows.append(_measure(env, backend, opener, key, length=length, sizes=sizes))
            except Exception as exc:
                rows.append({"steps": length, "error": describe_error(exc)})
        env.flush_redis()
        out["states"][key] = {"label": label, "rows": rows, "growth": _growth(rows)}
    return out


def _measure(
    env: Environment, backend: Backend, opener: Opener, key: str, *, length: int, sizes: Sizes
) -> dict[str, Any]:
    assert backend.nodes is not None
    with opener() as saver:
        text = reference_text if key.endswith(REFERENCE) else message_text
        graph = agent_loop_graph(saver, length, _state(key), text_source=text)
        run_seconds = 0.0
        get_state_ms: list[float] = []
        for n in range(sizes.memory_threads):
            config = thread_config(env.thread_id(f"mem-{key}-{length}", n), length)
            start = time.perf_counter()
            graph.invoke(agent_input(), config)
            run_seconds += time.perf_counter() - start
            for _ in range(3):
                start = time.perf_counter()
                state = graph.get_state(config)
                get_state_ms.append((time.perf_counter() - start) * 1000)
            if len(state.values["messages"]) != length:
                raise RuntimeError(f"state rebuilt {len(state.values['messages'])} messages")
        keys, by_kind = backend.nodes.memory_by_prefix(saver.prefix)  # type: ignore[attr-defined]
    per_thread = sum(by_kind.values()) / sizes.memory_threads
    message_bytes = length * MESSAGE_BYTES
    return {
        "steps": length,
        "bytes_per_thread": round(per_thread),
        "keys_per_thread": sig(keys / sizes.memory_threads),
        "bytes_per_step": round(per_thread / length),
        "bytes_per_step_by_key": {
            k: round(v / sizes.memory_threads / length) for k, v in sorted(by_kind.items())
        },
        "message_bytes": message_bytes,
        "stored_to_message_ratio": sig(per_thread / message_bytes, 3),
        "ms_per_step": sig(run_seconds * 1000 / (length * sizes.memory_threads), 3),
        "get_state_ms": sig(statistics.median(get_state_ms), 3),
    }


def _growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    good = [r for r in rows if "error" not in r]
    return [
        {
            "from_steps": a["steps"],
            "to_steps": b["steps"],
            "exponent": sig(
                math.log(b["bytes_per_thread"] / a["bytes_per_thread"])
                / math.log(b["steps"] / a["steps"]),
                3,
            ),
        }
        for a, b in itertools.pairwise(good)
    ]
