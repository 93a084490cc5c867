"""Workload 3, history scale: reads on one thread holding 10, 1,000 and 10,000 checkpoints.

Each history is written straight through ``saver.put`` (a chain of small checkpoints, each
the parent of the next, ids from LangGraph's ``uuid6``), then every read is timed
``history_reps`` times, sizes interleaved so that drift hits every size alike. ``before``
reads start at the middle checkpoint of the chain. On a cluster, all sizes live on one node.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

from benchmarks.backends import Backend, Environment, Saver
from benchmarks.config import Sizes
from benchmarks.stats import sig, summarize
from benchmarks.workloads import Log, describe_error, rotated

QUERIES = (
    "get_tuple (latest)",
    "get_tuple (by id)",
    "list(limit=10)",
    "list(before, limit=10)",
    "list(before, limit=10), thread_id-only config",
)
"""The reads timed. ``list(before)`` is called with ``checkpoint_ns=""`` in the config, as
LangGraph's ``get_state_history`` does; the last one with a config that only names the
thread, as a direct caller might."""

Query = Callable[[], Any]


def run(env: Environment, sizes: Sizes, log: Log) -> dict[str, Any]:
    """Every saver (not the no-op one), every size."""
    results: dict[str, Any] = {}
    for backend in env.backends:
        if backend.reference:
            continue
        log(f"history scale: {backend.name}")
        try:
            results[backend.name] = _one_saver(env, backend, sizes)
        except Exception as exc:
            results[backend.name] = {"label": backend.label, "error": describe_error(exc)}
        env.flush_redis()
    return {
        "params": {"sizes": list(sizes.history_sizes), "reps": sizes.history_reps},
        "backends": results,
    }


def build(saver: Saver, thread_id: str, size: int) -> tuple[list[str], list[float]]:
    """Write a chain of ``size`` checkpoints; returns their ids and each put's ms."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    ids: list[str] = []
    put_ms: list[float] = []
    version: Any = None
    for step in range(size):
        checkpoint = empty_checkpoint()
        checkpoint["id"] = str(uuid6(clock_seq=step))
        version = saver.get_next_version(version, None)
        checkpoint["channel_values"] = {"count": step}
        checkpoint["channel_versions"] = {"count": version}
        metadata: Any = {"source": "loop", "step": step, "parents": {}}
        start = time.perf_counter()
        config = saver.put(config, checkpoint, metadata, {"count": version})
        put_ms.append((time.perf_counter() - start) * 1000)
        ids.append(checkpoint["id"])
    return ids, put_ms


def _queries(saver: Saver, thread_id: str, ids: list[str]) -> dict[str, Query]:
    thread: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    root: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    middle: RunnableConfig = {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": "",
            "checkpoint_id": ids[len(ids) // 2],
        }
    }
    queries: dict[str, Query] = {
        QUERIES[0]: lambda: saver.get_tuple(thread),
        QUERIES[1]: lambda: saver.get_tuple(middle),
        QUERIES[2]: lambda: list(saver.list(thread, limit=10)),
        QUERIES[3]: lambda: list(saver.list(root, before=middle, limit=10)),
        QUERIES[4]: lambda: list(saver.list(thread, before=middle, limit=10)),
    }
    latest = queries[QUERIES[0]]()
    if latest is None or latest.config["configurable"]["checkpoint_id"] != ids[-1]:
        raise RuntimeError("get_tuple did not return the newest checkpoint")
    expected_before = min(10, len(ids) // 2)
    for name in QUERIES[3:]:
        if len(queries[name]()) != expected_before:
            raise RuntimeError(f"{name} returned the wrong number of checkpoints")
    return queries


class _Placement:
    """Keeps every history of one cluster saver on the same node.

    Redis nodes sharing two cores are not equally fast (which core a process lands on
    matters), so on a cluster the histories of different sizes must live on one node for
    their ratio to measure the size and not the node.
    """

    def __init__(self, backend: Backend, saver: Saver) -> None:
        nodes = backend.nodes
        self._nodes = nodes if nodes is not None and len(nodes.urls) > 1 else None
        self._prefix: str = getattr(saver, "prefix", "")
        self._node: int | None = None

    def same_node(self, thread_id: str) -> bool:
        """Whether ``thread_id`` is on the node of the first thread asked about."""
        if self._nodes is None:
            return True
        node = self._nodes.node_holding(self._prefix, thread_id)
        if self._node is None:
            self._node = node
        return node == self._node


def _one_saver(env: Environment, backend: Backend, sizes: Sizes) -> dict[str, Any]:
    with backend.open() as saver:
        built: dict[int, dict[str, Query]] = {}
        put: dict[int, list[float]] = {}
        build_s: dict[int, float] = {}
        placement = _Placement(backend, saver)
        for size in sorted(sizes.history_sizes, reverse=True):
            for attempt in range(64):
                thread_id = env.thread_id(f"history-{size}", attempt)
                start = time.perf_counter()
                ids, put[size] = build(saver, thread_id, size)
                build_s[size] = time.perf_counter() - start
                if placement.same_node(thread_id):
                    break
                saver.delete_thread(thread_id)
            else:
                raise RuntimeError("no thread id landed on the node of the largest history")
            built[size] = _queries(saver, thread_id, ids)
        samples: dict[str, dict[int, list[float]]] = {
            q: {size: [] for size in sizes.history_sizes} for q in QUERIES
        }
        gc.collect()
        for rep in range(sizes.history_reps):
            for size in rotated(sizes.history_sizes, rep):
                for name, query in built[size].items():
                    start = time.perf_counter()
                    query()
                    samples[name][size].append((time.perf_counter() - start) * 1000)
    small, large = min(sizes.history_sizes), max(sizes.history_sizes)
    reads: dict[str, Any] = {}
    for name, by_size in samples.items():
        summaries = {size: summarize(values) for size, values in by_size.items()}
        reads[name] = {
            "ms": {str(size): s.to_json() for size, s in summaries.items()},
            "ratio_largest_to_smallest": sig(summaries[large].median / summaries[small].median, 3),
        }
    put_summaries = {size: summarize(values) for size, values in put.items()}
    return {
        "label": backend.label,
        "reads": reads,
        "put_ms": {str(size): s.to_json() for size, s in put_summaries.items()},
        "put_ratio_largest_to_smallest": sig(
            put_summaries[large].median / put_summaries[small].median, 3
        ),
        "build_s": {str(size): sig(seconds, 3) for size, seconds in build_s.items()},
    }
