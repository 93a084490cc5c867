"""What one script call costs the client: redis-py, the adapter's direct path, and a bare
connection, sync and with asyncio.

``python -m benchmarks.client_cost [--calls 3000] [--rounds 5]`` starts a standalone Redis
and times an ``EVALSHA`` of an empty script (``return 1``), sent one after another, in
each of these ways, in alternating rounds:

- the clients the adapter creates (its own options: timeouts, a blocking pool, no
  redis-py retries), through redis-py's ``execute_command``;
- the same clients through the adapter's direct path (``kortyx_langgraph.redis.direct``),
  which every script call of the adapter takes; with asyncio (Python 3.11.3 and later)
  also with its writes sent through redis-py's ``send_packed_command`` as they were
  before (``benchmarks.async_write`` compares the two in the agent loop), and with its
  connections lent by redis-py's own pool rather than set aside by the adapter's
  (``kortyx_langgraph.redis.pool``);
- a bare connection, an instrument of this study only: one socket, hiredis's packer and
  reader, no pool, no health check, no reconnection; with asyncio, a ``Protocol`` that
  parses replies as they arrive, once with an ``asyncio.timeout`` around each call (what
  a real client needs) and once without.

Each call is timed by wall clock and by this process's CPU clock, which leaves out the
waits for the server: the client's own work per call. The ratio is to the bare
connection of the same kind (sync or asyncio) in the same run: what is left for a
client's own code to take away.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import socket
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import hiredis
import redis.asyncio

from benchmarks.async_write import REDIS_PY, SHIPPED, sent
from benchmarks.backends import Environment
from benchmarks.report import table
from kortyx_langgraph import create_redis_framework_adapter
from kortyx_langgraph.redis import direct

EMPTY_SCRIPT = "return 1"
KEY = "{client-cost}:k"

Samples = dict[str, list[tuple[float, float]]]
"""Per way of sending: ``(wall µs, CPU µs)`` per call, one pair per round."""


class BareSocket:
    """One blocking socket that sends packed commands and reads RESP replies with
    hiredis: nothing a production client needs beyond that."""

    def __init__(self, host: str, port: int) -> None:
        self._sock = socket.create_connection((host, port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = hiredis.Reader()

    def call(self, *args: Any) -> Any:
        """Send one command and return its reply (an error reply as hiredis's
        ``ReplyError``, returned, not raised)."""
        self._sock.sendall(hiredis.pack_command(args))
        while (reply := self._reader.gets()) is False:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self._reader.feed(data)
        return reply

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


class BareProtocol(asyncio.Protocol):
    """An asyncio connection that parses replies in ``data_received`` and answers the
    calls waiting for them in order."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to write to."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        """Answer a waiting call per complete reply."""
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a call given up on still has its reply read
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail every call still waiting."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError("the connection was lost"))

    async def call(self, *args: Any) -> Any:
        """Send one command and wait for its reply."""
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("the connection is closed")
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        self._transport.write(hiredis.pack_command(args))
        return await waiter

    def close(self) -> None:
        """Close the connection."""
        if self._transport is not None:
            self._transport.close()


def timed_sync(call: Callable[[], Any], calls: int) -> tuple[float, float]:
    """µs of wall and CPU time per call of ``call``, ``calls`` times in a row."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        call()
    return (time.perf_counter() - wall) / calls * 1e6, (time.process_time() - cpu) / calls * 1e6


async def timed_async(call: Callable[[], Awaitable[Any]], calls: int) -> tuple[float, float]:
    """:func:`timed_sync` for a coroutine function."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - wall) / calls * 1e6, (time.process_time() - cpu) / calls * 1e6


SYNC = ("redis-py execute_command", "kortyx direct path", "bare socket")
ASYNC = (
    "redis-py execute_command",
    "kortyx direct path, write through send_packed_command",
    "kortyx direct path",
    "kortyx direct path, lent by redis-py's pool",
    "bare protocol + asyncio.timeout",
    "bare protocol",
)


def measure(url: str, calls: int, rounds: int) -> tuple[Samples, Samples]:
    """Sync and asyncio samples against the Redis at ``url``."""
    parts = urlparse(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    adapter = create_redis_framework_adapter(url=url)
    try:
        sync_samples = _measure_sync(adapter, host, port, calls, rounds)
        async_samples = asyncio.run(_measure_async(adapter, host, port, calls, rounds))
    finally:
        adapter.close()
    return sync_samples, async_samples


def _measure_sync(adapter: Any, host: str, port: int, calls: int, rounds: int) -> Samples:
    client = adapter.connection.sync_client()
    sha = client.script_load(EMPTY_SCRIPT)
    fast = direct.packer(client)
    bare = BareSocket(host, port)
    command = ("EVALSHA", sha, 1, KEY)
    ways: dict[str, Callable[[], Any]] = {
        SYNC[0]: lambda: client.execute_command(*command),
        SYNC[1]: lambda: direct.call(client, command, fast=fast),
        SYNC[2]: lambda: bare.call(*command),
    }
    try:
        for call in ways.values():  # each sends the right thing, and warms up
            if call() != 1:
                raise RuntimeError("the empty script did not return 1")
        samples: Samples = {}
        for _ in range(rounds):
            for name, call in ways.items():
                samples.setdefault(name, []).append(timed_sync(call, calls))
        return samples
    finally:
        bare.close()


async def _measure_async(adapter: Any, host: str, port: int, calls: int, rounds: int) -> Samples:
    client = await adapter.connection.async_client()
    sha = await client.script_load(EMPTY_SCRIPT)
    fast = direct.packer(client)
    _, bare = await asyncio.get_running_loop().create_connection(BareProtocol, host, port)
    command = ("EVALSHA", sha, 1, KEY)

    async def bare_with_timeout() -> Any:
        async with asyncio.timeout(5.0):
            return await bare.call(*command)

    # the adapter's pool sets a connection given back whole aside and lends it again
    # itself (redis/pool.py); the same options in redis-py's own pool lend every time
    own: Any = client.connection_pool
    lent = redis.asyncio.Redis(
        connection_pool=redis.asyncio.BlockingConnectionPool(
            connection_class=own.connection_class,
            max_connections=own.max_connections,
            timeout=own.timeout,
            **own.connection_kwargs,
        )
    )
    ways: dict[str, Callable[[], Awaitable[Any]]] = {
        ASYNC[0]: lambda: client.execute_command(*command),
        ASYNC[1]: lambda: direct.acall(client, command, fast=fast),
        ASYNC[2]: lambda: direct.acall(client, command, fast=fast),
        ASYNC[3]: lambda: direct.acall(lent, command, fast=fast),
        ASYNC[4]: bare_with_timeout,
        ASYNC[5]: lambda: bare.call(*command),
    }
    if not direct._TIMEOUT_CONTEXT:  # before 3.11.3 it is the direct path's own way
        del ways[ASYNC[1]]
    try:
        # the direct path's writes go through send_packed_command for ASYNC[1]'s batches
        writes = {name: REDIS_PY if name == ASYNC[1] else SHIPPED for name in ways}
        for name, call in ways.items():
            with sent(writes[name]):
                if await call() != 1:
                    raise RuntimeError("the empty script did not return 1")
        samples: Samples = {}
        for _ in range(rounds):
            for name, call in ways.items():
                with sent(writes[name]):
                    samples.setdefault(name, []).append(await timed_async(call, calls))
        return samples
    finally:
        bare.close()
        await lent.aclose(close_connection_pool=True)
        await adapter.aclose()


def rows(samples: Samples, kind: str, baseline: str) -> list[list[str]]:
    """Per way: median wall and CPU µs per call over the rounds, and each ÷ the
    baseline's."""
    medians = {
        name: (statistics.median(w for w, _ in found), statistics.median(c for _, c in found))
        for name, found in samples.items()
    }
    base_wall, base_cpu = medians[baseline]
    return [
        [
            kind,
            name,
            f"{wall:.1f}",
            f"{cpu:.1f}",
            f"{wall / base_wall:.2f}x",
            f"{cpu / base_cpu:.2f}x",
        ]
        for name, (wall, cpu) in medians.items()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.client_cost")
    parser.add_argument("--calls", type=int, default=3000, help="calls per way and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, the ways alternating")
    args = parser.parse_args(argv)
    with Environment(cluster=False) as env:
        backend = next(b for b in env.backends if b.ours and b.nodes is not None)
        assert backend.nodes is not None
        sync_samples, async_samples = measure(backend.nodes.urls[0], args.calls, args.rounds)
    print(
        f"EVALSHA of an empty script, {args.calls} calls in a row per way and round, "
        f"{args.rounds} rounds, standalone Redis; µs per call, medians over the rounds\n"
    )
    headers = ["client", "way", "wall µs", "CPU µs", "wall ÷ bare", "CPU ÷ bare"]
    found = rows(sync_samples, "sync", SYNC[2]) + rows(async_samples, "asyncio", ASYNC[5])
    print(table(headers, found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
