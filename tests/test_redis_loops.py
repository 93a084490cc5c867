"""One adapter used from many event loops (``asyncio.run`` after ``asyncio.run``, as a sync
framework, a task queue or tests with a loop each do): what it made for a loop that has
closed is let go of, so the connections it holds stay as few as one loop needs."""

from __future__ import annotations

import asyncio
import gc
import uuid
import warnings
from typing import Any

import pytest
import redis

from kortyx_langgraph import create_redis_framework_adapter
from tests.graphs import approval_graph
from tests.pending_truth import config_of
from tests.redis_harness import RedisServer

pytestmark = pytest.mark.redis

LOOPS = 8


def _named(urls: list[str], name: str) -> int:
    """Connections named ``name`` over the servers at ``urls``."""
    total = 0
    for url in urls:
        with redis.Redis.from_url(url) as admin:
            total += sum(1 for c in admin.client_list() if c.get("name") == name)
    return total


def _urls(deployment: Any) -> list[str]:
    nodes = getattr(deployment, "nodes", None)
    return [node.url for node in nodes] if nodes else [deployment.url]


@pytest.mark.parametrize("where", ["standalone", "cluster"])
def test_the_connections_of_closed_loops_are_let_go_of(
    where: str, server: RedisServer, redis_cluster: Any
) -> None:
    deployment = server if where == "standalone" else redis_cluster
    urls = _urls(deployment)
    name = f"loops-{uuid.uuid4().hex[:8]}"
    adapter = create_redis_framework_adapter(
        url=urls[0],
        ttl_ms=60_000,
        prefix=f"kortyx-loops-{uuid.uuid4().hex[:6]}:",
        client_options={"client_name": name},
    )
    graph = approval_graph(adapter)

    async def one_run(n: int) -> int:
        thread = f"t-{n}"
        await graph.ainvoke({"request": "r", "log": []}, config_of(thread))
        assert len(await adapter.pending.alist(thread)) == 1
        return _named(urls, name)

    held = []
    for n in range(LOOPS):
        held.append(asyncio.run(one_run(n)))
    gc.collect()
    # what one loop needs, not what every loop so far needed
    assert max(held) == max(held[:2])
    assert len(adapter.connection._async) == 1
    adapter.close()  # the last loop has closed too
    gc.collect()
    assert _named(urls, name) == 0


def test_letting_go_of_a_closed_loops_connections_warns_of_nothing(server: RedisServer) -> None:
    """Its sockets are closed here and asyncio's transports told so: neither reports itself
    unclosed when collected (with ``python -X dev``, every test of a suite with a loop each
    did)."""
    adapter = create_redis_framework_adapter(
        url=server.url, prefix=f"kortyx-loops-{uuid.uuid4().hex[:6]}:"
    )
    # what earlier tests in this process left for the collector is not this adapter's
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(adapter.pending.alist("t"))
        adapter.close()
        gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
