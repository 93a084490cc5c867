"""The client-cost study: its bare connections answer as a Redis client does, and its
table is read against the bare connection of the same kind."""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
import pytest
import redis

from benchmarks.client_cost import BareProtocol, BareSocket, Samples, rows

pytestmark = pytest.mark.redis


def test_the_bare_socket_answers_as_redis_py_does(redis_standalone: Any) -> None:
    client = redis.Redis.from_url(redis_standalone.url)
    bare = BareSocket(redis_standalone.host, redis_standalone.port)
    try:
        assert bare.call("SET", "{bare}:a", b"\x00\xff" * 40_000) == b"OK"  # several reads
        assert bare.call("GET", "{bare}:a") == client.get("{bare}:a")
        assert bare.call("EVAL", "return {1, 'x'}", 0) == client.eval("return {1, 'x'}", 0)
        assert isinstance(bare.call("NOSUCHCOMMAND"), hiredis.ReplyError)
        assert bare.call("PING") == b"PONG"  # the error reply was read whole
    finally:
        bare.close()
        client.delete("{bare}:a")
        client.close()


def test_the_bare_protocol_answers_each_call_in_order(redis_standalone: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        _, bare = await loop.create_connection(
            BareProtocol, redis_standalone.host, redis_standalone.port
        )
        try:
            replies = await asyncio.gather(*(bare.call("ECHO", str(n)) for n in range(50)))
            assert replies == [str(n).encode() for n in range(50)]
            # a call given up on still has its reply read: the next call gets its own
            slow = asyncio.ensure_future(bare.call("EVAL", "return redis.call('TIME')", 0))
            await asyncio.sleep(0)
            slow.cancel()
            assert await asyncio.wait_for(bare.call("ECHO", "after"), 5) == b"after"
            assert isinstance(await bare.call("NOSUCHCOMMAND"), hiredis.ReplyError)
        finally:
            bare.close()
        with pytest.raises(ConnectionError):
            await bare.call("PING")

    asyncio.run(main())


def test_rows_take_the_median_of_the_rounds_and_divide_by_the_bare_connection() -> None:
    samples: Samples = {
        "client": [(30.0, 20.0), (50.0, 40.0), (40.0, 30.0)],
        "bare": [(20.0, 10.0), (20.0, 10.0), (25.0, 12.0)],
    }
    assert rows(samples, "sync", "bare") == [
        ["sync", "client", "40.0", "30.0", "2.00x", "3.00x"],
        ["sync", "bare", "20.0", "10.0", "1.00x", "1.00x"],
    ]
