"""Paths inside the Redis scripts and their sending that ordinary runs rarely take: the
``EVALSHA`` -> ``EVAL`` fallback, long argument lists, the expiry time a script reports, and
Cluster mode chosen by hand."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.cluster
from langgraph.checkpoint.base import empty_checkpoint

from kortyx_langgraph import (
    ConfigurationError,
    RedisFrameworkAdapter,
    create_redis_framework_adapter,
)
from kortyx_langgraph.redis import scripts
from tests.graphs import approval_graph, counter_graph
from tests.redis_clock import expiry_ms, server_ms
from tests.redis_harness import RedisCluster, RedisServer

pytestmark = pytest.mark.redis


def _cfg(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


@pytest.fixture
def standalone(redis_standalone: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_standalone.url)
    yield client
    client.close()


@pytest.fixture
def adapters() -> Iterator[list[RedisFrameworkAdapter]]:
    made: list[RedisFrameworkAdapter] = []
    yield made
    for adapter in made:
        adapter.close()


def _adapter(made: list[RedisFrameworkAdapter], url: str, **kwargs: Any) -> RedisFrameworkAdapter:
    kwargs.setdefault("prefix", f"kortyx-test-{uuid.uuid4().hex[:12]}:")
    kwargs.setdefault("ttl_ms", 60_000)
    adapter = create_redis_framework_adapter(url=url, **kwargs)
    made.append(adapter)
    return adapter


def _noscript_replies(client: redis.Redis) -> int:
    """How many NOSCRIPT errors the server has answered (``INFO errorstats``)."""
    stat = client.info("errorstats").get("errorstat_NOSCRIPT", {})
    if isinstance(stat, str):  # older redis-py leaves "count=N,..." unparsed
        stat = dict(part.split("=", 1) for part in stat.split(","))
    return int(stat.get("count", 0))


# -- EVALSHA -> EVAL ----------------------------------------------------------------------


def test_the_same_adapter_keeps_working_after_the_script_cache_is_flushed(
    redis_standalone: RedisServer, standalone: redis.Redis, adapters: list[RedisFrameworkAdapter]
) -> None:
    adapter = _adapter(adapters, redis_standalone.url)
    graph = counter_graph(adapter)
    graph.invoke({"log": []}, _cfg("t"))  # every script loaded: later calls send EVALSHA
    refused = _noscript_replies(standalone)
    standalone.script_flush()
    graph.invoke({"log": []}, _cfg("t"))
    assert _noscript_replies(standalone) > refused, "EVALSHA was not refused: nothing tested"
    assert graph.get_state(_cfg("t")).values["log"] == ["step0", "step1"]


async def test_the_same_adapter_keeps_working_async_after_the_script_cache_is_flushed(
    redis_standalone: RedisServer, standalone: redis.Redis, adapters: list[RedisFrameworkAdapter]
) -> None:
    adapter = _adapter(adapters, redis_standalone.url)
    graph = counter_graph(adapter)
    await graph.ainvoke({"log": []}, _cfg("t"))
    refused = _noscript_replies(standalone)
    standalone.script_flush()
    await graph.ainvoke({"log": []}, _cfg("t"))
    assert _noscript_replies(standalone) > refused, "EVALSHA was not refused: nothing tested"
    state = await graph.aget_state(_cfg("t"))
    assert state.values["log"] == ["step0", "step1"]
    await adapter.aclose()


# -- long argument lists --------------------------------------------------------------------


def test_a_thread_with_more_fields_than_lua_can_unpack_at_once(
    redis_standalone: RedisServer, adapters: list[RedisFrameworkAdapter]
) -> None:
    # Lua's unpack() refuses more than about 8,000 values: reading a checkpoint's 8,100
    # channels (HMGET) and copying them (HSET, 16,200 arguments) go in chunks
    adapter = _adapter(adapters, redis_standalone.url)
    channels = {f"c{n}": n for n in range(8_100)}
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = dict(channels)
    versions = {name: adapter.get_next_version(None, None) for name in channels}
    checkpoint["channel_versions"] = dict(versions)
    config = {"configurable": {"thread_id": "src", "checkpoint_ns": ""}}
    adapter.put(config, checkpoint, {}, versions)
    stored = adapter.get_tuple(_cfg("src"))
    assert stored is not None
    assert stored.checkpoint["channel_values"] == channels
    adapter.copy_thread("src", "dst")
    copied = adapter.get_tuple(_cfg("dst"))
    assert copied is not None
    assert copied.checkpoint["id"] == checkpoint["id"]
    assert copied.checkpoint["channel_values"] == channels


# -- expiry time -----------------------------------------------------------------------------


def test_expires_at_is_the_servers_expiry_time_of_the_thread(
    redis_standalone: RedisServer, standalone: redis.Redis, adapters: list[RedisFrameworkAdapter]
) -> None:
    # Redis 7 reads PEXPIRETIME; Redis 6.2 has none and adds PTTL to the server's TIME
    adapter = _adapter(adapters, redis_standalone.url, ttl_ms=600_000)
    before = server_ms(standalone)
    approval_graph(adapter).invoke({"request": "x", "log": []}, _cfg("t"))
    after = server_ms(standalone)
    [pending] = adapter.pending.list("t")
    assert pending.expires_at is not None
    expires_ms = round(pending.expires_at.timestamp() * 1000)
    # one millisecond either side: TIME and PTTL round separately
    assert before + 600_000 - 1 <= expires_ms <= after + 600_000 + 1, (before, expires_ms, after)
    [cp_key] = standalone.keys(f"{adapter.prefix}*:cp")
    # the server's own expiry time of the thread's keys (to the ms on 7.0+: PEXPIRETIME)
    assert abs(expires_ms - expiry_ms(standalone, cp_key)) <= 1
    if int(standalone.info("server")["redis_version"].split(".")[0]) >= 7:
        assert expires_ms == expiry_ms(standalone, cp_key)


def test_the_expiry_time_scripts_report_does_not_move_between_reads(
    standalone: redis.Redis,
) -> None:
    # Redis 6.2 has no PEXPIRETIME: a TIME and a PTTL that fell either side of a millisecond
    # once made a pending interrupt's expires_at differ by 1 ms between two reads
    key = f"kortyx-test-{uuid.uuid4().hex[:12]}"
    standalone.set(key, b"x", px=600_000)
    distinct = (
        scripts._HEAD
        + """
local seen, n = {}, 0
for _ = 1, tonumber(ARGV[1]) do
  local at = deadline(KEYS[1])
  if not seen[at] then seen[at] = true; n = n + 1 end
end
return {n, deadline(KEYS[1])}
"""
    )
    # 20,000 reads in one script span many milliseconds, so many chances to straddle one
    count, at = standalone.eval(distinct, 1, key, 20_000)
    assert count == 1
    assert abs(at - expiry_ms(standalone, key)) <= 1
    standalone.delete(key)


# -- Cluster mode chosen by hand --------------------------------------------------------------


def test_a_standalone_adapter_on_a_cluster_node_is_a_configuration_error(
    redis_cluster: RedisCluster, adapters: list[RedisFrameworkAdapter]
) -> None:
    adapter = _adapter(adapters, redis_cluster.url, cluster=False)
    graph = counter_graph(adapter)
    # the seed node serves a third of the slots: some of these threads live elsewhere (MOVED)
    with pytest.raises(ConfigurationError, match="pass cluster=True"):
        for n in range(20):
            graph.invoke({"log": []}, _cfg(f"t{n}"))


def test_cluster_true_works_where_the_server_hides_its_mode(
    redis_cluster: RedisCluster, adapters: list[RedisFrameworkAdapter]
) -> None:
    # a user who may not run INFO (as on some managed services) cannot be asked whether
    # the server is a cluster node; the adapter then takes it for a standalone server
    user = f"noinfo{uuid.uuid4().hex[:6]}"
    for node in redis_cluster.nodes:
        node.command("ACL", "SETUSER", user, "on", ">pw", "~*", "&*", "+@all", "-info")
    try:
        url = f"redis://{user}:pw@127.0.0.1:{redis_cluster.ports[0]}/0"
        guessed = counter_graph(_adapter(adapters, url))
        with pytest.raises(ConfigurationError, match="pass cluster=True"):
            for n in range(20):
                guessed.invoke({"log": []}, _cfg(f"t{n}"))
        forced = _adapter(adapters, url, cluster=True)
        graph = counter_graph(forced)
        for n in range(20):
            graph.invoke({"log": []}, _cfg(f"t{n}"))
        assert isinstance(forced.connection.sync_client(), redis.cluster.RedisCluster)
        assert {graph.get_state(_cfg(f"t{n}")).values["log"][0] for n in range(20)} == {"step0"}
    finally:
        for node in redis_cluster.nodes:
            node.command("ACL", "DELUSER", user)
