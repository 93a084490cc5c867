"""The asyncio pools of the clients the adapter creates (``redis/pool.py``).

A connection that ``redis/direct.py`` gave back after reading every reply is set aside and
lent again without redis-py's own lend, if less than ``READY_FOR`` has passed and no call
failed since; every other lend is redis-py's, which checks the connection. A connection is
only set aside while no task waits in redis-py's lend, so a waiter is never left waiting
beside an idle connection.

The property drives one pool through random calls, bursts of concurrent calls and closes
by the server, with the pool's clock in the test's hands, and compares the lends redis-py
made with that rule. The other tests block the pool, close connections under a paused run,
and close the adapter.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from langgraph.types import Command
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from kortyx_langgraph import create_redis_framework_adapter
from kortyx_langgraph.redis import direct, pool
from kortyx_langgraph.redis.pool import ReadyAsyncPool
from tests.graphs import approval_graph
from tests.pending_truth import config_of
from tests.pool_support import Clock, quick_retrying
from tests.redis_harness import RedisServer


class _Lends:
    """Counts the lends of redis-py's own asyncio pools (``get_connection``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for cls in (redis.asyncio.BlockingConnectionPool, redis.asyncio.ConnectionPool):
            original = cls.get_connection

            async def counted(pool: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
                self.count += 1
                return await _original(pool, *args, **kw)

            monkeypatch.setattr(cls, "get_connection", counted)


def _clients_of(server: RedisServer) -> int:
    """Client connections of ``server`` other than the one asking."""
    with redis.Redis.from_url(server.url) as admin:
        return len(admin.client_list(_type="normal")) - 1


_ACTIONS = st.lists(
    st.sampled_from(["direct", "redis-py", "closed", "burst", "later", "soon"]),
    min_size=1,
    max_size=12,
)


@pytest.mark.redis
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=_ACTIONS)
@example(actions=["direct", "later", "direct"])
@example(actions=["direct", "soon", "soon", "direct", "direct"])
@example(actions=["closed", "direct", "soon", "redis-py", "direct"])
@example(actions=["burst", "later", "direct", "direct"])
def test_a_connection_skips_the_pools_lend_only_when_set_aside_whole_a_moment_ago(
    server: RedisServer, actions: list[str]
) -> None:
    """Random calls on one pool of two connections: "direct" (redis/direct.py), "redis-py"
    (``execute_command``), "closed" (a direct call, after which the server closes its
    connection and the event loop reads its end), "burst" (three direct calls at once),
    and the pool's clock moving on by ``READY_FOR`` ("later") or a third of it ("soon").

    After one call at a time the rule is exact: the next call skips redis-py's lend if the
    last call was a direct one that read its replies, less than ``READY_FOR`` ago, on a
    connection still open. After a
    burst, which connections are set aside depends on the order the calls end in, so until
    the clock moves on by ``READY_FOR`` only what always holds is checked: every call
    answers, none waits for the pool, and no more than two connections are ever made."""

    async def scenario(lends: _Lends) -> None:
        ready_pool = ReadyAsyncPool.from_url(server.url, max_connections=2, timeout=5)
        client = redis.asyncio.Redis(connection_pool=ready_pool, retry=Retry(NoBackoff(), 0))
        try:
            await run(ready_pool, client, lends)
        finally:
            await client.aclose(close_connection_pool=True)

    async def run(ready_pool: ReadyAsyncPool, client: redis.asyncio.Redis, lends: _Lends) -> None:
        known = True  # whether the model below is exact (not after a burst)
        ready = False  # the last call was a direct one that read its replies
        idle = 0.0  # seconds since
        closed = False  # the server closed the connection of that call
        for action in actions:
            if action in ("later", "soon"):
                step = pool.READY_FOR if action == "later" else pool.READY_FOR / 3
                clock.now += step
                idle += step
                known = known or action == "later"
                continue
            # the end of a closed connection, once the loop has read it, sends it back to
            # redis-py's lend, which connects it again
            skipped = ready and idle < pool.READY_FOR and not closed
            before = lends.count
            if action == "burst":
                replies = await asyncio.gather(
                    *(direct.acall(client, ("ECHO", str(n)), fast=True) for n in range(3))
                )
                assert replies == [b"0", b"1", b"2"]
                known, ready, closed, idle = False, True, False, 0.0
                continue
            if action == "redis-py":
                assert await client.execute_command("ECHO", "x") == b"x"
            elif action == "direct":
                assert await direct.acall(client, ("ECHO", "x"), fast=True) == b"x"
            else:  # another connection kills this one: closed before the kill is answered
                own = await direct.acall(client, ("CLIENT", "ID"), fast=True)
                assert server.command("CLIENT", "KILL", "ID", str(own)) == 1
                await asyncio.sleep(0.01)  # turns of the loop: it reads the end
            if known:
                assert lends.count - before == (0 if skipped else 1), (action, ready, closed)
            ready, closed, idle = action != "redis-py", action == "closed", 0.0
        made = len(ready_pool._in_use_connections) + len(ready_pool._available_connections)
        assert made <= 2
        await ready_pool.disconnect(inuse_connections=False)  # those set aside are idle too
        assert _clients_of(server) == 0

    clock = Clock()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(pool, "time", clock)
        asyncio.run(scenario(_Lends(monkeypatch)))
        assert _clients_of(server) == 0  # every connection closed, those set aside too


@pytest.mark.redis
def test_a_task_waiting_for_the_pool_gets_the_connection_a_direct_call_gives_back(
    server: RedisServer,
) -> None:
    """One connection: a direct call holds it (a blocking pop that times out), a redis-py
    command waits for it in redis-py's lend. The direct call must give it to the waiter,
    not set it aside, or the waiter would wait out the pool's timeout and fail."""

    async def scenario() -> None:
        ready_pool = ReadyAsyncPool.from_url(server.url, max_connections=1, timeout=5)
        client = redis.asyncio.Redis(connection_pool=ready_pool)
        key = f"k-{uuid.uuid4().hex[:8]}"
        holding = asyncio.create_task(direct.acall(client, ("BLPOP", key, "0.3"), fast=True))
        await asyncio.sleep(0.05)  # the pop is sent: the one connection is in use
        waiting = asyncio.create_task(client.execute_command("PING"))
        assert await holding is None  # timed out, replies read: a connection given back whole
        assert await waiting is True  # PONG
        assert ready_pool._aside == []  # handed to the waiter
        # with no task waiting, the next direct call's connection is set aside
        assert await direct.acall(client, ("PING",), fast=True) == b"PONG"
        assert len(ready_pool._aside) == 1
        await client.aclose(close_connection_pool=True)

    asyncio.run(scenario())
    assert _clients_of(server) == 0


@pytest.mark.redis
async def test_a_failed_call_makes_the_pool_lend_nothing_set_aside_before_it(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready_pool = ReadyAsyncPool.from_url(
        server.url, max_connections=2, timeout=5, socket_timeout=1.0
    )
    client = redis.asyncio.Redis(connection_pool=ready_pool, retry=Retry(NoBackoff(), 0))
    # two calls that each hold a connection a while, so that both connections are in use
    # at once (two PINGs may well share one) and both are set aside; each is answered
    # after 0.1 s, well inside the socket timeout even on a busy machine
    empty = f"k-{uuid.uuid4().hex[:8]}"
    await asyncio.gather(
        *(direct.acall(client, ("BLPOP", empty, "0.1"), fast=True) for _ in range(2))
    )
    assert len(ready_pool._aside) == 2
    lends = _Lends(monkeypatch)
    with pytest.raises(redis.exceptions.TimeoutError):  # the last set aside: a call times out
        await direct.acall(client, ("BLPOP", f"k-{uuid.uuid4().hex[:8]}", "3"), fast=True)
    assert lends.count == 0
    # the other one was set aside before that failure: redis-py lends it
    assert await direct.acall(client, ("PING",), fast=True) == b"PONG"
    assert lends.count == 1
    await client.aclose(close_connection_pool=True)


@pytest.mark.redis
async def test_a_paused_run_resumes_by_token_with_ainvoke_after_the_server_closed_every_connection(
    server: RedisServer,
) -> None:
    adapter = quick_retrying(server)
    graph = approval_graph(adapter)
    thread = f"t-{uuid.uuid4().hex[:8]}"
    await graph.ainvoke({"request": "r", "log": []}, config_of(thread))
    client = await adapter.connection.async_client()
    assert client is not None and isinstance(client.connection_pool, ReadyAsyncPool)
    kill = ("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    [pending] = await adapter.pending.alist(thread)
    server.command(*kill)  # the connections set aside just now are closed
    claimed = await adapter.pending.aclaim(pending.token, claim_id="worker-1")
    server.command(*kill)
    result = await graph.ainvoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    assert result["log"] == ["asked", "done:yes"]
    server.command(*kill)
    assert await adapter.pending.alist(thread) == []
    state = await graph.aget_state(config_of(thread))
    assert state.values["log"] == ["asked", "done:yes"]
    await adapter.aclose()
    assert _clients_of(server) == 0


@pytest.mark.redis
async def test_the_adapter_lends_from_ready_pools_on_standalone_and_cluster(
    redis_pair: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter, _ = redis_pair
    graph = approval_graph(adapter)
    thread = f"t-{uuid.uuid4().hex[:8]}"
    await graph.ainvoke({"request": "r", "log": []}, config_of(thread))
    client = await adapter.connection.async_client()
    assert client is not None
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        of_loop = adapter.connection._node_clients.get(asyncio.get_running_loop(), {})
        pools = [node.connection_pool for node in of_loop.values()]
        # a waiting pool, as the sync Cluster client's (redis-py's asyncio ones raise)
        assert pools and all(isinstance(p, ReadyAsyncPool) for p in pools)
    else:
        assert isinstance(client.connection_pool, ReadyAsyncPool)
    lends = _Lends(monkeypatch)
    for _ in range(5):  # one after another: each lends what the last set aside
        assert await adapter.aget_tuple(config_of(thread)) is not None
    assert lends.count <= 1
    await adapter.aclose()  # this loop's clients (the fixture closes the sync ones)


@pytest.mark.redis
async def test_asyncio_calls_on_a_cluster_wait_for_a_free_connection_of_a_small_pool(
    redis_cluster: Any,
) -> None:
    # redis-py's asyncio Cluster client raises "Too many connections" at its limit at once;
    # the adapter's node pools wait up to pool_timeout, as the sync client's do
    adapter = create_redis_framework_adapter(
        url=redis_cluster.url,
        ttl_ms=60_000,
        prefix=f"kortyx-small-{uuid.uuid4().hex[:6]}:",
        client_options={"max_connections": 2, "pool_timeout": 10},
    )
    graph = approval_graph(adapter)

    async def pause_and_resume(n: int) -> list[str]:
        thread = f"t-{n}-{uuid.uuid4().hex[:6]}"
        await graph.ainvoke({"request": str(n), "log": []}, config_of(thread))
        [pending] = await adapter.pending.alist(thread)
        claimed = await adapter.pending.aclaim(pending.token)
        result = await graph.ainvoke(Command(resume=claimed.resume_map("yes")), claimed.config)
        return list(result["log"])

    results = await asyncio.gather(*(pause_and_resume(n) for n in range(30)))
    assert results == [["asked", "done:yes"]] * 30
    await adapter.aclose()
    adapter.close()


@pytest.mark.redis
async def test_a_connection_redis_py_marked_to_reconnect_is_not_lent_from_the_stack(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As with the sync pool: a connection set aside, then marked by redis-py to be
    connected again (``should_reconnect``; set by hand here), goes to redis-py's lend."""
    ready_pool = ReadyAsyncPool.from_url(server.url, max_connections=2, timeout=5)
    client = redis.asyncio.Redis(connection_pool=ready_pool)
    assert await direct.acall(client, ("PING",), fast=True) == b"PONG"
    [(conn, _, _)] = ready_pool._aside
    conn.should_reconnect = lambda: True
    lends = _Lends(monkeypatch)
    assert await direct.acall(client, ("PING",), fast=True) == b"PONG"
    assert lends.count == 1
    await client.aclose(close_connection_pool=True)
