"""100 concurrent ``resume`` calls, two per token, from four processes: each post-interrupt
node runs exactly once (Redis standalone and Cluster)."""

from __future__ import annotations

import multiprocessing
import random
import uuid
from typing import Any

import pytest

from tests.agent_race import RaceSetup, client_for, make_agent, race
from tests.conftest import redis_url_for

pytestmark = pytest.mark.redis

TOKENS = 50
PROCESSES = 4


@pytest.mark.parametrize("backend", ["redis", "redis-cluster"])
def test_racing_resumes_run_each_node_once(request: pytest.FixtureRequest, backend: str) -> None:
    url = redis_url_for(request, backend)
    cluster = backend == "redis-cluster"
    run = uuid.uuid4().hex[:8]
    prefix, counter = f"kortyx-race-{run}:", f"kortyx-race-count-{run}:"
    agent = make_agent(url, cluster, prefix, counter)
    paused = [agent.run({}) for _ in range(TOKENS)]
    tokens = [p.interrupts[0].token for p in paused]

    calls = tokens * 2
    random.Random(7).shuffle(calls)
    shares = [calls[i::PROCESSES] for i in range(PROCESSES)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    queue = context.Queue()
    workers = [
        context.Process(
            target=race, args=(RaceSetup(url, cluster, prefix, counter), share, barrier, queue)
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    totals = {key: sum(r[key] for r in results) for key in results[0]}
    assert totals["won"] == TOKENS
    assert totals["claimed"] + totals["gone"] == TOKENS
    client: Any = client_for(url, cluster)
    try:
        runs = [int(client.get(f"{counter}{{{p.thread_id}}}") or 0) for p in paused]
    finally:
        client.close()
    assert runs == [1] * TOKENS
    for p in paused:
        assert agent.framework_adapter.pending.list(p.thread_id) == []
    agent.framework_adapter.close()
