"""The benchmark harness's --message-bytes and --pin-cores options, and the hiredis
comparison's table."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks import cores
from benchmarks.backends import REPO
from benchmarks.config import FULL
from benchmarks.graphs import MESSAGE_BYTES, agent_input, agent_loop_graph, thread_config
from benchmarks.parser_compare import summarize
from benchmarks.run import _parse


@pytest.mark.parametrize("size", [MESSAGE_BYTES, 64, 20_000])
def test_agent_loop_messages_have_the_asked_size(size: int) -> None:
    graph = agent_loop_graph(InMemorySaver(), 3, message_bytes=size)
    result = graph.invoke(agent_input(), thread_config("t", 3))
    assert [len(m.content) for m in result["messages"]] == [size] * 3
    assert len({m.content for m in result["messages"]}) == 3


def test_message_bytes_option_is_parsed_and_checked() -> None:
    assert _parse([]).message_bytes is None
    assert _parse(["--message-bytes", "16384"]).message_bytes == 16384
    assert FULL.message_bytes == MESSAGE_BYTES
    with pytest.raises(SystemExit):
        _parse(["--message-bytes", "0"])


_TWO_THREADS = (
    "import threading, time; threading.Thread(target=time.sleep, args=(60,)).start(); "
    "time.sleep(60)"
)


def test_pin_cores_puts_every_thread_of_a_server_on_a_core_of_its_own() -> None:
    try:
        split = cores.split()
    except cores.PinningUnavailable:  # one core: the option is refused, with the reason
        with pytest.raises(SystemExit):
            _parse(["--pin-cores"])
        return
    assert _parse(["--pin-cores"]).cores == split
    assert split.client and split.server not in split.client
    server = subprocess.Popen([sys.executable, "-c", _TWO_THREADS])
    try:
        threads = f"/proc/{server.pid}/task"
        deadline = time.monotonic() + 10
        while len(os.listdir(threads)) < 2:
            assert time.monotonic() < deadline, "the stand-in server did not start its thread"
            time.sleep(0.01)
        cores.pin_server(server.pid, split)
        assert {tid: os.sched_getaffinity(int(tid)) for tid in os.listdir(threads)} == {
            tid: {split.server} for tid in os.listdir(threads)
        }
    finally:
        server.kill()
        server.wait()
    # the benchmark process keeps the other cores, for the threads it has and will start
    pinned = subprocess.run(
        [sys.executable, "-c", "import os; from benchmarks import cores; "
         "cores.pin_self(cores.split()); print(sorted(os.sched_getaffinity(0)))"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert pinned.stdout.strip() == str(sorted(split.client))


def _run(redis_ratio: float, saver_ms: float) -> dict[str, Any]:
    """The parts of one harness JSON that the agent-loop rows of the comparison read."""
    row = {"ratio": {"value": redis_ratio}, "saver_ms_per_step": saver_ms}
    base = {"saver_ms_per_step": 0.1, "ms_per_step": {"median": 0.5}}
    return {"agent_loop": {"durability": {"sync": {"kortyx-redis": row, "InMemorySaver": base}}}}


def test_parser_comparison_pairs_the_runs_of_each_round() -> None:
    runs = {
        "small": {
            "hiredis": [_run(2.0, 0.8), _run(2.2, 0.9)],
            "python": [_run(2.5, 1.0), _run(2.0, 1.0)],
        },
        "large": {"hiredis": [], "python": []},
    }
    rows = {row[0]: row[1:] for row in summarize(runs)}
    # round 1: 2.0 / 2.5 = 0.8; round 2: 2.2 / 2.0 = 1.1; median 0.95
    assert rows["small: agent loop step, sync: Redis x InMemorySaver"] == [
        "2.10x (2.00x-2.20x)",
        "2.25x (2.00x-2.50x)",
        "0.950 (0.800-1.100)",
    ]
    # time in saver over InMemorySaver's: 8x and 9x with, 10x without
    assert rows["small: agent loop, sync: time in saver, Redis x InMemorySaver"][2] == (
        "0.850 (0.800-0.900)"
    )
    # metrics a run did not measure (async, HITL...) and the empty large runs give no row
    assert "small: agent loop step, async: Redis x InMemorySaver" not in rows
    assert not [name for name in rows if name.startswith("large")]
