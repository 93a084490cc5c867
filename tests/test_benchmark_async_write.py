"""The asyncio write study: each of its ways sends the way it names, and its table reads
each saver against ``InMemorySaver`` of the same rounds."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
import redis
import redis.asyncio.connection

from benchmarks.async_write import (
    AT_ONCE,
    BASELINE,
    REDIS_PY,
    SHIPPED,
    WAYS,
    Samples,
    rows,
    sent,
)
from kortyx_langgraph.redis import direct


@pytest.mark.redis
@pytest.mark.skipif(sys.version_info < (3, 11, 3), reason="one way only before 3.11.3")
def test_each_way_writes_as_it_says(redis_standalone: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    original_send = redis.asyncio.connection.AbstractConnection.send_packed_command
    original_sleep = asyncio.sleep

    async def send_packed_command(self: Any, *args: Any, **kwargs: Any) -> None:
        seen.append("send_packed_command")
        await original_send(self, *args, **kwargs)

    async def sleep(delay: float, *args: Any) -> Any:
        if delay == 0:
            seen.append("turn")
        return await original_sleep(delay, *args)

    monkeypatch.setattr(
        redis.asyncio.connection.AbstractConnection, "send_packed_command", send_packed_command
    )
    monkeypatch.setattr(direct.asyncio, "sleep", sleep)

    async def calls() -> dict[str, list[str]]:
        client = redis.asyncio.Redis.from_url(redis_standalone.url, socket_timeout=5.0)
        found = {}
        try:
            await client.ping()  # connected: what follows sees the calls' writes alone
            for way in WAYS:
                seen.clear()
                with sent(way):
                    assert await direct.acall(client, ("PING",), fast=True) in (True, b"PONG")
                found[way] = list(seen)
        finally:
            await client.aclose()
        return found

    assert asyncio.run(calls()) == {
        BASELINE: ["turn"],
        SHIPPED: ["turn"],
        AT_ONCE: [],
        REDIS_PY: ["send_packed_command"],
    }
    assert direct._TIMEOUT_CONTEXT and direct._TURN_FIRST  # restored after each block


def test_rows_take_the_median_of_the_rounds_and_divide_by_the_baseline() -> None:
    samples: Samples = {
        BASELINE: [0.8, 0.9, 1.0],
        SHIPPED: [1.5, 1.3, 1.4],
        REDIS_PY: [1.6, 2.0, 1.8],
    }
    assert rows(samples, 16, "sync") == [
        ["16", "sync", BASELINE, "0.900", "0.800-1.000", "1.00x"],
        ["16", "sync", SHIPPED, "1.400", "1.300-1.500", "1.56x"],
        ["16", "sync", REDIS_PY, "1.800", "1.600-2.000", "2.00x"],
    ]
