"""Workload 6, fan-out: one super-step of n parallel tasks, each writing one small value.

A ``fan`` node routes to ``[Send("worker", i) for i in range(n)]``; every ``worker`` task
appends ``[i]`` to a list channel reduced with ``operator.add``, and ``join`` runs once
after all of them and checks that the list holds exactly n items. The n tasks of the worker
super-step each hand the saver one ``put_writes``, so what a saver does per pending write,
and how that grows with the writes already stored for the same checkpoint, shows up here
and nowhere else in the harness.

Every size runs twice: with ``invoke`` (the savers' sync methods) and with ``ainvoke``
(their async methods, on one event loop per saver; ``AsyncSqliteSaver`` for
``SqliteSaver``). Each saver runs ``fanout_repeats`` invokes per size and path (3 in the
full run, 1 in ``--quick``), the savers in an order that rotates with every run, sizes from
the smallest up; the run of median wall time is reported. For the Redis savers the server's
``INFO commandstats`` is read before and after every invoke: the ``usec`` of EVALSHA and
EVAL is the time Redis spent running the scripts, and the top-level commands give the round
trips per saver operation. The growth exponent between the smallest and the largest size is
``log(t(largest) / t(smallest)) / log(largest / smallest)``: 1 is linear, 2 quadratic.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import statistics
import time
from typing import Any

from benchmarks.backends import BASELINE, Backend, Environment
from benchmarks.config import Sizes
from benchmarks.graphs import Graph, thread_config
from benchmarks.meter import OpMeter, SendCounter, attach
from benchmarks.redisinfo import command_delta
from benchmarks.stats import sig
from benchmarks.workloads import Log, describe_error, rotated, write_depth
from benchmarks.workloads.agent_loop import redis_accounting
from tests.langgraph_app.fanout import build as build_fanout

WARMUP_TASKS = 10
"""Tasks of the untimed ``invoke`` each saver runs first (scripts cached, connections open)."""


def fanout_graph(checkpointer: Any) -> Graph:
    """``fan`` sends one ``worker`` task per item; ``join`` counts what they wrote (the
    fan-out the LangGraph server tests serve, ``tests/langgraph_app/fanout.py``)."""
    return build_fanout().compile(checkpointer=checkpointer)


COLOURS = ("invoke", "ainvoke")
"""The sync path, then the asyncio one (the savers' async methods, ``AsyncSqliteSaver`` for
``SqliteSaver``); each is compared with ``InMemorySaver`` on the same path."""


def run(env: Environment, sizes: Sizes, log: Log) -> dict[str, Any]:
    """``invoke`` (in ``backends``) and ``ainvoke`` (in ``async.backends``) per saver and
    size; savers take turns at each size."""
    out: dict[str, Any] = {"params": {"tasks": list(sizes.fanout_tasks)}}
    for colour in COLOURS:
        backends = [b for b in env.backends if colour == "invoke" or b.aopen is not None]
        measured = _run_colour(env, sizes, log, backends, colour)
        if colour == "invoke":
            out["backends"] = measured
        else:
            out["async"] = {"backends": measured}
    out["write_depth"] = write_depth.run(env, sizes, log)
    return out


def _run_colour(
    env: Environment, sizes: Sizes, log: Log, backends: list[Backend], colour: str
) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {b.name: {} for b in backends}
    errors: dict[str, str] = {}
    savers: dict[str, _Runner] = {}
    for backend in backends:
        try:
            savers[backend.name] = _Runner(env, backend, colour)
        except Exception as exc:
            errors[backend.name] = describe_error(exc)
    try:
        for position, tasks in enumerate(sizes.fanout_tasks):
            runs: dict[str, list[dict[str, Any]]] = {b.name: [] for b in backends}
            for repeat in range(sizes.fanout_repeats):
                log(f"fan-out, {colour}: {tasks:,} tasks, run {repeat + 1}/{sizes.fanout_repeats}")
                for backend in rotated(backends, position + repeat):
                    if backend.name in errors:
                        continue
                    gc.collect()
                    try:
                        runs[backend.name].append(savers[backend.name].measure(tasks))
                    except Exception as exc:
                        errors[backend.name] = describe_error(exc)
                env.flush_redis()
            for name, measured in runs.items():
                if measured and name not in errors:
                    rows[name][str(tasks)] = _median_run(measured)
    finally:
        for runner in savers.values():
            runner.close()
    base = rows.get(BASELINE, {})
    out: dict[str, Any] = {}
    for backend in backends:
        label = backend.label if colour == "invoke" else backend.async_label or backend.label
        if backend.name in errors:
            out[backend.name] = {"label": label, "error": errors[backend.name]}
            continue
        out[backend.name] = _collect(label, backend, rows[backend.name], base, sizes)
    return out


class _Runner:
    """One open saver instance with its graph and operation meter; ``ainvoke`` runs on an
    event loop of its own that lives as long as the saver."""

    def __init__(self, env: Environment, backend: Backend, colour: str = "invoke") -> None:
        self.env = env
        self.backend = backend
        self.invokes = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._acontext: Any = None
        self._context: Any = None
        try:
            if colour == "invoke":
                self._context = backend.open()
                saver = self._context.__enter__()
            else:
                assert backend.aopen is not None
                self._loop = asyncio.new_event_loop()
                self._acontext = backend.aopen()
                saver = self._loop.run_until_complete(self._acontext.__aenter__())
            self.meter = OpMeter()
            attach(saver, meter=self.meter)
            self.graph = fanout_graph(saver)
            self._invoke(WARMUP_TASKS)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the saver (and its event loop)."""
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None
        if self._loop is not None:
            try:
                if self._acontext is not None:
                    self._loop.run_until_complete(self._acontext.__aexit__(None, None, None))
            finally:
                self._loop.close()
                self._loop = None

    def _invoke(self, tasks: int) -> float:
        self.invokes += 1
        path = "invoke" if self._loop is None else "ainvoke"
        thread_id = self.env.thread_id(f"fanout-{path}-{self.backend.name}", self.invokes)
        given = {"tasks": tasks, "items": []}
        config = thread_config(thread_id)
        start = time.perf_counter()
        if self._loop is None:
            result = self.graph.invoke(given, config)
        else:
            result = self._loop.run_until_complete(self.graph.ainvoke(given, config))
        seconds = time.perf_counter() - start
        if result.get("joined") != tasks or len(result["items"]) != tasks:
            raise RuntimeError(
                f"{tasks} tasks joined {result.get('joined')} items ({len(result['items'])} kept)"
            )
        if sorted(result["items"]) != list(range(tasks)):
            raise RuntimeError(f"{tasks} tasks joined the wrong items")
        return seconds

    def measure(self, tasks: int) -> dict[str, Any]:
        """Seconds of one ``invoke`` of ``tasks`` tasks, and what Redis did for it."""
        nodes = self.backend.nodes
        before = nodes.command_calls() if nodes is not None else None
        cpu_before = nodes.cpu_seconds() if nodes is not None else 0.0
        self.meter.reset()
        sends = SendCounter()
        with sends.counting() if nodes is not None else contextlib.nullcontext():
            seconds = self._invoke(tasks)
        operations = self.meter.operations
        row: dict[str, Any] = {
            "seconds": sig(seconds),
            "operations": operations,
            "operations_by_name": dict(self.meter.counts),
        }
        if nodes is not None and before is not None:
            delta = command_delta(before, nodes.command_calls())
            row["server_s"] = sig(delta.script_usec / 1e6)
            row["server_cpu_s"] = sig(nodes.cpu_seconds() - cpu_before)
            row["redis"] = redis_accounting(delta, operations=operations, units=tasks)
            # a pipeline of scripts is one request: concurrent put_writes share them
            row["redis"]["client_round_trips_per_operation"] = (
                sig(sends.calls / operations) if operations else None
            )
        return row


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall time (its counts stay consistent), with every run's time;
    the server's script time is the median over the runs on its own (a run's wall time
    says little about its few milliseconds of server time)."""
    ordered = sorted(runs, key=lambda row: row["seconds"])
    row = dict(ordered[len(ordered) // 2])
    row["runs_s"] = [r["seconds"] for r in runs]
    server = [r["server_s"] for r in runs if r.get("server_s") is not None]
    if server:
        row["server_s"] = sig(statistics.median(server))
        row["server_runs_s"] = server
        cpu = [r["server_cpu_s"] for r in runs if r.get("server_cpu_s") is not None]
        row["server_cpu_s"] = sig(statistics.median(cpu)) if cpu else None
        row["redis"] = dict(row["redis"])
        row["redis"]["server_us_per_operation"] = sig(row["server_s"] * 1e6 / row["operations"])
    return row


def growth(rows: dict[str, dict[str, Any]], key: str) -> float | None:
    """``log(v(largest) / v(smallest)) / log(largest / smallest)`` of ``rows[size][key]``."""
    values = {int(size): row.get(key) for size, row in rows.items()}
    good = sorted((size, value) for size, value in values.items() if value)
    if len(good) < 2:
        return None
    (small, first), (large, last) = good[0], good[-1]
    return sig(math.log(last / first) / math.log(large / small), 3)


def _collect(
    label: str,
    backend: Backend,
    rows: dict[str, dict[str, Any]],
    base: dict[str, dict[str, Any]],
    sizes: Sizes,
) -> dict[str, Any]:
    for size, row in rows.items():
        baseline = base.get(size)
        if baseline and baseline.get("seconds"):
            row["ratio"] = sig(row["seconds"] / baseline["seconds"], 3)
        row["ms_per_task"] = sig(row["seconds"] * 1000 / int(size), 3)
    out: dict[str, Any] = {
        "label": label,
        "by_tasks": rows,
        "growth": {
            "from_tasks": min(sizes.fanout_tasks),
            "to_tasks": max(sizes.fanout_tasks),
            "wall": growth(rows, "seconds"),
        },
    }
    if backend.nodes is not None:
        out["growth"]["server"] = growth(rows, "server_s")
        out["growth"]["server_cpu"] = growth(rows, "server_cpu_s")
        steady = [
            row["redis"]["steady_round_trips_per_operation"]
            for row in rows.values()
            if row.get("redis") and row["redis"].get("steady_round_trips_per_operation")
        ]
        out["steady_round_trips_per_operation"] = max(steady) if steady else None
    return out
