"""A hundred paused runs outlive the process that paused them, and a restart of Redis.

The figures docs/guarantees.md gives come from these tests: each one pauses ``RUNS``
threads, breaks something (SIGKILL of the app process, a Redis restart with AOF), then
answers every token and counts the runs that completed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from kortyx_langgraph import create_redis_framework_adapter
from tests.graphs import answer_all, approval_graph
from tests.pending_truth import config_of
from tests.redis_harness import RedisServer

pytestmark = pytest.mark.redis

RUNS = 100
REPO = Path(__file__).resolve().parent.parent

PAUSER = """
    import sys, time
    from kortyx_langgraph import create_redis_framework_adapter
    from tests.graphs import answer_all, approval_graph
    url, prefix, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    adapter = create_redis_framework_adapter(url=url, prefix=prefix, ttl_ms=600_000)
    graph = approval_graph(adapter)
    for n in range(runs):
        thread = f"killed-{n}"
        graph.invoke({"request": str(n), "log": []}, {"configurable": {"thread_id": thread}})
        print(adapter.pending.list(thread)[0].token, flush=True)
    print("paused", flush=True)
    time.sleep(600)  # killed here, its clients still open
"""


def test_runs_paused_by_a_process_killed_with_sigkill_resume_in_another(
    redis_standalone: RedisServer,
) -> None:
    prefix = f"kortyx-killed-{uuid.uuid4().hex[:6]}:"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PAUSER), redis_standalone.url, prefix, str(RUNS)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    tokens: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "paused":
                break
            tokens.append(line.strip())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(tokens) == RUNS

    adapter = create_redis_framework_adapter(
        url=redis_standalone.url, prefix=prefix, ttl_ms=600_000
    )
    assert answer_all(adapter, tokens) == RUNS
    adapter.close()


FANNER = """
    import sys, time
    from kortyx_langgraph import create_redis_framework_adapter
    from tests.graphs import fanout_graph
    url, prefix, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3])
    adapter = create_redis_framework_adapter(url=url, prefix=prefix, ttl_ms=600_000)

    def on_item(item):
        print(item, flush=True)
        time.sleep(0.002)

    fanout_graph(adapter, on_item).invoke({"tasks": tasks}, {"configurable": {"thread_id": "fan"}})
    print("finished", flush=True)
"""


def _stored_items(adapter: Any, config: Any) -> set[int] | None:
    stored = adapter.get_tuple(config)
    if stored is None:
        return None
    return {value[0] for _, channel, value in stored.pending_writes if channel == "items"}


def _past_workers(adapter: Any, config: Any, tasks: int) -> bool:
    stored = adapter.get_tuple(config)
    return stored is not None and len(stored.checkpoint["channel_values"].get("items", [])) == tasks


@pytest.mark.parametrize("kill", ["midway through the tasks", "once their writes land"])
def test_a_fan_out_killed_with_sigkill_finishes_in_another_process_with_each_task_once(
    redis_standalone: RedisServer, kill: str
) -> None:
    # The workers' writes are carried (redis/batching/): acknowledged to LangGraph while
    # one call sends them in batches. A kill while they are queued loses some; the run did
    # not return, and running it again runs exactly the tasks whose write is not stored.
    from langgraph.checkpoint.memory import InMemorySaver

    from tests.graphs import fanout_graph

    tasks = 600
    prefix = f"kortyx-fan-{uuid.uuid4().hex[:6]}:"
    adapter = create_redis_framework_adapter(
        url=redis_standalone.url, prefix=prefix, ttl_ms=600_000
    )
    config: Any = {"configurable": {"thread_id": "fan"}}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(FANNER), redis_standalone.url, prefix, str(tasks)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    started = 0
    late = False
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            assert line.strip() != "finished", "the run finished before it was killed"
            started += 1
            if started == tasks // 2 and kill == "midway through the tasks":
                break
            if started == tasks:  # LangGraph sends the writes once the tasks have run
                deadline = time.monotonic() + 60
                while not _stored_items(adapter, config):
                    # a slow poll can find the run past the workers, or even ended
                    late = _past_workers(adapter, config, tasks)
                    if late:
                        break
                    assert time.monotonic() < deadline, "no write was stored"
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL or (late and proc.returncode == 0)

    stored = adapter.get_tuple(config)
    before = _stored_items(adapter, config) or set()
    past = _past_workers(adapter, config, tasks)  # no task is left to run again
    rerun: list[int] = []
    result = fanout_graph(adapter, rerun.append).invoke(
        None if stored else {"tasks": tasks}, config
    )
    adapter.close()
    assert sorted(result["items"]) == list(range(tasks))  # every task's item, once
    # only the missing ones ran; none if the run got past the workers before the kill
    assert sorted(rerun) == ([] if past else sorted(set(range(tasks)) - before))
    # and it is what InMemorySaver keeps for the same run
    baseline = fanout_graph(InMemorySaver()).invoke({"tasks": tasks}, config)
    assert sorted(baseline["items"]) == sorted(result["items"])


def test_runs_paused_before_a_redis_restart_resume_after_it(redis_aof: RedisServer) -> None:
    prefix = f"kortyx-restart-{uuid.uuid4().hex[:6]}:"
    adapter = create_redis_framework_adapter(url=redis_aof.url, prefix=prefix, ttl_ms=600_000)
    graph = approval_graph(adapter)
    tokens = []
    for n in range(RUNS):
        graph.invoke({"request": str(n), "log": []}, config_of(f"restart-{n}"))
        tokens.append(adapter.pending.list(f"restart-{n}")[0].token)
    old_pid = redis_aof.pid
    redis_aof.restart()
    assert redis_aof.pid != old_pid
    # the same adapter: its connections broke with the restart and are made again
    assert answer_all(adapter, tokens) == RUNS
    adapter.close()
