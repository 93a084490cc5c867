"""Every pending-store script is safe to send twice, and a client's retry of a claim wins.

A Redis client that times out does not know whether its command ran; redis-py then sends
it again (the Cluster client does so by default). These tests send each pending script
twice, exactly as the adapter built it, and compare with sending it once; then they make
a real client time out in the middle of a claim and retry it.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from kortyx_langgraph import (
    AlreadyClaimedError,
    FrameworkAdapter,
    create_redis_framework_adapter,
)
from kortyx_langgraph.core.flows import Flow
from kortyx_langgraph.redis.operations import Call
from tests.conftest import redis_url_for
from tests.pending_truth import config_of
from tests.test_pending_cases import _fan_graph

pytestmark = pytest.mark.redis


def _paused(adapter: FrameworkAdapter, items: int = 2) -> str:
    thread = f"t-{uuid.uuid4().hex}"
    _fan_graph(adapter, {}).invoke({"items": [f"i{n}" for n in range(items)]}, config_of(thread))
    return thread


def _twice(client: Any, flow: Flow[Any]) -> tuple[Any, Any]:
    """Send the flow's one script call twice; the flow decodes the second reply."""
    call = flow.send(None)
    assert isinstance(call, Call)
    first = client.eval(call.script.source, len(call.keys), *call.keys, *call.args)
    second = client.eval(call.script.source, len(call.keys), *call.keys, *call.args)
    with pytest.raises(StopIteration) as done:
        flow.send(second)
    return first, done.value.value


def test_claim_sent_twice_is_one_claim(redis_pair: tuple[FrameworkAdapter, Any]) -> None:
    adapter, client = redis_pair
    thread = _paused(adapter)
    token = adapter.pending.list(thread)[0].token
    ops = adapter._ops
    _, claimed = _twice(client, ops.pending_lookup(token, "claim", "claim-1", 60_000))
    assert claimed.claim_id == "claim-1"
    assert claimed.claimed_at == adapter.pending.get(token).claimed_at
    with pytest.raises(AlreadyClaimedError):
        adapter.pending.claim(token)
    assert [p.token for p in adapter.pending.list(thread) if p.claimed] == [token]


def test_claim_next_sent_twice_claims_one_interrupt(
    redis_pair: tuple[FrameworkAdapter, Any],
) -> None:
    adapter, client = redis_pair
    thread = _paused(adapter, items=3)
    ops = adapter._ops
    _, claimed = _twice(client, ops.pending_claim_next(thread, "worker-1", 60_000))
    assert claimed.claim_id == "worker-1"
    assert [p.token for p in adapter.pending.list(thread) if p.claimed] == [claimed.token]


def test_release_sent_twice_is_one_release(redis_pair: tuple[FrameworkAdapter, Any]) -> None:
    adapter, client = redis_pair
    thread = _paused(adapter)
    token = adapter.pending.list(thread)[0].token
    held = adapter.pending.claim(token)
    assert held.claim_id is not None
    _, released = _twice(client, adapter._ops.pending_lookup(token, "release", held.claim_id, 0))
    assert not released.claimed
    assert adapter.pending.claim(token).claimed


def test_reads_sent_twice_answer_the_same(redis_pair: tuple[FrameworkAdapter, Any]) -> None:
    adapter, client = redis_pair
    thread = _paused(adapter)
    token = adapter.pending.list(thread)[0].token
    ops = adapter._ops
    _, got = _twice(client, ops.pending_lookup(token, "get", "unused", 0))
    assert got == adapter.pending.get(token)
    _, listed = _twice(client, ops.pending_list(thread))
    assert listed == adapter.pending.list(thread)


_SPIN = "for _ = 1, tonumber(ARGV[1]) do end return 1"


def _spins_for(node: Any, ms: int) -> int:
    """How many empty loop turns keep ``node`` busy for about ``ms`` (measured here: a
    script's ``TIME`` does not advance on every server, so the loop is counted)."""
    turns = 2_000_000
    started = time.perf_counter()
    node.eval(_SPIN, 0, turns)
    took_ms = max((time.perf_counter() - started) * 1000, 1.0)
    return int(turns * ms / took_ms)


def _primaries(client: Any) -> list[Any]:
    if isinstance(client, redis.cluster.RedisCluster):
        return [client.get_redis_connection(n) for n in client.get_primaries()]
    return [client]


def _stall(nodes: list[Any], turns: list[int]) -> None:
    """Keep each node busy for its counted turns (as a slow command, or ``DEBUG SLEEP``,
    would): commands that arrive meanwhile wait unread, then run."""
    stalls = [
        threading.Thread(target=node.eval, args=(_SPIN, 0, n))
        for node, n in zip(nodes, turns, strict=True)
    ]
    for stall in stalls:
        stall.start()
    for stall in stalls:
        stall.join()


def test_a_client_retry_after_a_timeout_wins_its_own_claim(
    request: pytest.FixtureRequest, redis_pair: tuple[FrameworkAdapter, Any]
) -> None:
    """The server stalls; the client times out and retries; both attempts run, in order.

    The stall is a busy script on another connection, so the claim waits unread in the
    server's socket buffer, exactly as behind ``DEBUG SLEEP``.

    Before claims had ids the retry found the interrupt claimed (by the first attempt) and
    raised ``AlreadyClaimedError``, leaving an interrupt claimed by nobody.
    """
    adapter, admin = redis_pair
    thread = _paused(adapter)
    token = adapter.pending.list(thread)[0].token
    options = {
        "socket_timeout": 0.3,
        "retry": Retry(NoBackoff(), 2),
        "retry_on_error": [redis.exceptions.TimeoutError],  # older redis-py needs it said
    }
    is_cluster = isinstance(admin, redis.cluster.RedisCluster)
    retrying: Any = (
        redis.cluster.RedisCluster.from_url(
            redis_url_for(request, "redis-cluster"),
            socket_timeout=0.3,
            retry=Retry(NoBackoff(), 2),
        )
        if is_cluster
        else redis.Redis.from_url(redis_url_for(request, "redis"), **options)
    )
    flaky = create_redis_framework_adapter(
        client=retrying,
        ttl_ms=60_000,
        prefix=adapter.prefix,  # type: ignore[attr-defined]
    )
    flaky.pending.get(token)  # connect and load the scripts before the stall
    nodes = _primaries(admin)
    turns = [_spins_for(node, 700) for node in nodes]
    stall = threading.Thread(target=_stall, args=(nodes, turns))
    stall.start()
    try:
        threading.Event().wait(0.1)
        claimed = flaky.pending.claim(token, claim_id="patient-worker")
    finally:
        stall.join()
        flaky.close()
        retrying.close()
    assert claimed.claim_id == "patient-worker"
    with pytest.raises(AlreadyClaimedError):
        adapter.pending.claim(token)
    assert [p.token for p in adapter.pending.list(thread) if p.claimed] == [token]
