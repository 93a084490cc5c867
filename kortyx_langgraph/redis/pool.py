"""The connection pools of the clients the adapter creates: a connection its direct path
gave back whole a moment ago is handed out again without the pool's checks.

redis-py's pool checks every connection it hands out: it polls the socket, and a
connection with data waiting (a reply nobody read, or the end of a connection the server
closed) is reconnected before use. That poll is a system call, and every system call lets
go of the GIL. A saver's calls run on LangGraph's background thread while the graph's next
step runs on another, so taking the GIL back can mean waiting for that thread
(``docs/benchmarks.md``, "Fewer system calls").

:class:`ReadyPool` leaves the check out for a connection that ``redis/direct.py`` gave
back after reading every reply (:func:`settle`) less than :data:`READY_FOR` ago, and for
no other: not one a redis-py command used last, nor one a call failed on. Such a
connection has nothing left to read. What the check would find on it is a connection the
server closed in that second: an idle-client ``timeout`` needs at least a second of
idleness, so only a restart, a failover or ``CLIENT KILL`` can do that. The call then
fails on sending or reading, as it would had the server gone a moment after the check,
redis-py closes that connection, and the adapter's retry policy sends the script again on
another. The first connection that fails makes the pool trust no earlier mark, so a retry
gets either a fresh connection or one the check has seen.

The pool only skips the check where redis-py has one to skip (``ensure_connection``,
redis-py 8.2 and later); elsewhere it is redis-py's :class:`~redis.BlockingConnectionPool`
as it is. With client-side caching, whose invalidations wait on a connection, every
connection is checked. A notice the server pushed (RESP3, such as a maintenance notice) to
a connection handed out unchecked is read before the next reply on it, as on a connection
in use.

The asyncio clients' pools (:class:`ReadyAsyncPool`, and :class:`ReadyAsyncNodePool` for the
per-node clients of a Cluster) keep such a connection aside instead, in a short stack of
their own, and lend it again without going through redis-py's lend at all: its condition,
timeout, health check and metrics cost about 20 µs of CPU per call, a third of a call's
client time (``docs/benchmarks.md``, "Asyncio calls without the pool's lend"). The same
rule decides which connections may wait there (given back whole by the direct path less
than :data:`READY_FOR` ago, no failure since), and a connection is only set aside while no
task waits for the pool: a waiter is handed the connection as before.
"""

from __future__ import annotations

import time
from typing import Any

import redis
import redis.asyncio

READY_FOR = 1.0
"""Seconds a connection given back whole goes without the pool's check (Redis closes an
idle client after ``timeout`` seconds, at least 1)."""

_MARK = "_kortyx_returned_whole"
"""The attribute :func:`settle` sets on a connection given back whole: when, and the pool's
count of failed calls then."""


class ReadyPool(redis.BlockingConnectionPool):
    """A :class:`~redis.BlockingConnectionPool` that hands out a connection given back
    whole less than :data:`READY_FOR` seconds ago without polling its socket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.failures = 0
        """Calls that failed on a connection of this pool; a mark made before the last
        one is not trusted."""

    def ensure_connection(self, connection: Any) -> None:
        """Connect ``connection``; check it as redis-py does unless it is marked ready."""
        mark = connection.__dict__.pop(_MARK, None)
        if (
            mark is not None
            and mark[1] == self.failures
            and time.monotonic() - mark[0] < READY_FOR
            and getattr(self, "cache", None) is None
        ):
            connection.connect()  # nothing to do when it is connected
            return
        super().ensure_connection(connection)


READY_KEPT = 8
"""Connections an asyncio pool keeps aside at most (each still counts against its limit)."""


class _SetAside:
    """What :class:`ReadyAsyncPool` and :class:`ReadyAsyncNodePool` add to redis-py's
    asyncio pool they come before: connections set aside when given back whole, lent again
    without the pool's own lend. A connection set aside is in use as the pool counts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._aside: list[tuple[Any, float, int]] = []
        self._lending = 0  # tasks in the pool's own lend, which may be waiting
        self.failures = 0
        """Calls that failed on a connection of this pool; none set aside before the last
        one is lent again."""
        super().__init__(*args, **kwargs)

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        """The connection set aside last if it is still ready; else the pool's own lend
        (one that is no longer ready goes back to the pool first, which checks it)."""
        pool: Any = super()
        aside = self._aside
        if aside:
            now = time.monotonic()
            while aside:
                connection, when, failures = aside.pop()
                if failures == self.failures and now - when < READY_FOR and _open(connection):
                    return connection
                await pool.release(connection)
        self._lending += 1
        try:
            return await pool.get_connection(*args, **kwargs)
        finally:
            self._lending -= 1

    async def release(self, connection: Any) -> None:
        """Set ``connection`` aside if it was given back whole and no task waits for the
        pool; else give it back to the pool."""
        mark = connection.__dict__.pop(_MARK, None)
        if (
            mark is not None
            and mark[1] == self.failures
            and not self._lending
            and len(self._aside) < READY_KEPT
        ):
            self._aside.append((connection, mark[0], mark[1]))
            return
        pool: Any = super()
        await pool.release(connection)

    async def disconnect(self, *args: Any, **kwargs: Any) -> None:
        """Give back what is set aside, then disconnect as the pool does."""
        await self._give_back()
        pool: Any = super()
        await pool.disconnect(*args, **kwargs)

    async def _give_back(self) -> None:
        aside, self._aside = self._aside, []
        pool: Any = super()
        for connection, _, _ in aside:
            await pool.release(connection)

    def reset(self) -> None:
        """Forget what is set aside, and reset the pool."""
        self._aside = []
        pool: Any = super()
        pool.reset()


def _open(connection: Any) -> bool:
    """Whether an asyncio connection is connected and the server has not ended its stream
    as far as the event loop has read (redis-py's own check, without reading)."""
    reader = getattr(connection, "_reader", None)
    return reader is not None and not reader.at_eof() and reader.exception() is None


class ReadyAsyncPool(_SetAside, redis.asyncio.BlockingConnectionPool):
    """A :class:`redis.asyncio.BlockingConnectionPool` that lends a connection given back
    whole less than :data:`READY_FOR` seconds ago without its own lend."""


class ReadyAsyncNodePool(_SetAside, redis.asyncio.ConnectionPool):
    """:class:`ReadyAsyncPool` for the adapter's per-node clients of an asyncio Cluster (a
    :class:`redis.asyncio.ConnectionPool`, which raises rather than waits at its limit)."""


def settle(pool: Any, connection: Any, *, whole: bool) -> None:
    """Before ``connection`` goes back to ``pool``: mark it ready if every reply on it was
    read (``whole``); otherwise make ``pool`` trust no earlier mark."""
    if not isinstance(pool, ReadyPool | _SetAside):
        return
    if whole:
        connection.__dict__[_MARK] = (time.monotonic(), pool.failures)
    else:
        pool.failures += 1
