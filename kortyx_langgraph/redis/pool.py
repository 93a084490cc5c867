"""The connection pools of the clients the adapter creates: a connection its direct path
gave back whole a moment ago is set aside and lent again without the pool's own lend.

redis-py's pools check every connection they lend. The sync pool polls the socket, and a
connection with data waiting (a reply nobody read, or the end of a connection the server
closed) is reconnected before use; that poll is a system call, and every system call lets
go of the GIL, which a saver's calls on LangGraph's background thread may then wait for
while the graph's next step runs (``docs/benchmarks.md``, "Fewer system calls"). The
asyncio pool lends under a condition and a timeout, checks the connection and records its
metrics: about 20 µs of CPU, a third of a small call's client time (``docs/benchmarks.md``,
"Asyncio calls without the pool's lend", and "Sync calls without the pool's lend, with any
redis-py").

These pools keep a connection that ``redis/direct.py`` gave back after reading every reply
(:func:`settle`) aside, in a short stack of their own, and lend it to the next call without
redis-py's lend if it was given back less than :data:`READY_FOR` ago and no call on the
pool failed since. Every other connection goes through redis-py's lend as before: one a
redis-py command used last, an older one, one set aside before a failed call. A connection
set aside has nothing left to read. What the check would find on it is a connection the
server closed in that second: an idle-client ``timeout`` needs at least a second of
idleness, so only a restart, a failover or ``CLIENT KILL`` can do that (an asyncio
connection whose end the event loop has read already goes back to redis-py's lend). The
call then fails on sending or reading, as it would had the server gone a moment after the
check, redis-py closes that connection, and the adapter's retry policy sends the script
again; the failure makes the pool lend nothing set aside before it, so the retry gets a
connection redis-py's lend has checked.

A connection set aside still counts against the pool's limit, and none is set aside while
a thread or task waits in redis-py's lend: a waiter is handed the connection as before.
The sync pool lends nothing set aside in a forked child (redis-py's lend makes the child
its own connections) and sets nothing aside with client-side caching, whose invalidations
wait on a connection. A notice the server pushed (RESP3, such as a maintenance notice) to
a connection set aside is read before the next reply on it, as on a connection in use.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import redis
import redis.asyncio

READY_FOR = 1.0
"""Seconds a connection given back whole may be lent again without redis-py's lend (Redis
closes an idle client after ``timeout`` seconds, at least 1)."""

READY_KEPT = 8
"""Connections a pool keeps aside at most (each still counts against its limit)."""

Aside = list[tuple[Any, float, int]]
"""Connections set aside, the last on top: each with when it was given back and the pool's
count of failed calls then."""


def _take(aside: Aside, failures: int, usable: Any) -> tuple[Any, bool]:
    """Pop the connection set aside last: ``(it, True)`` if it may still be lent unchecked,
    ``(it, False)`` if it must go back to the pool; ``(None, False)`` if none is aside."""
    if not aside:
        return None, False
    connection, when, marked_failures = aside.pop()
    ready = (
        marked_failures == failures and time.monotonic() - when < READY_FOR and usable(connection)
    )
    return connection, ready


def reconnect_asked(connection: Any) -> bool:
    """Whether redis-py marked ``connection`` to be connected again (a server maintenance
    notice, redis-py 7 and later)."""
    should = getattr(connection, "should_reconnect", None)
    return bool(should()) if should is not None else False


def _connected(connection: Any) -> bool:
    return connection._sock is not None and not reconnect_asked(connection)


class ReadyPool(redis.BlockingConnectionPool):
    """A :class:`~redis.BlockingConnectionPool` that lends a connection given back whole
    less than :data:`READY_FOR` seconds ago again without its own lend (no poll)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._aside: Aside = []
        self._aside_lock = threading.Lock()
        self._lending = 0  # threads in the pool's own lend, which may be waiting
        self.failures = 0
        """Calls that failed on a connection of this pool; none set aside before the last
        one is lent again."""
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        """The connection set aside last if it is still ready; else the pool's own lend
        (those no longer ready go back to the pool first, which checks them)."""
        pool: Any = super()
        if self.pid != os.getpid():  # a forked child: redis-py's lend resets the pool
            return pool.get_connection(*args, **kwargs)
        stale: list[Any] = []
        with self._aside_lock:
            found, ready = _take(self._aside, self.failures, _connected)
            while found is not None and not ready:
                stale.append(found)
                found, ready = _take(self._aside, self.failures, _connected)
            if found is None:
                self._lending += 1
        for connection in stale:  # no longer ready: back to the pool, which checks them
            pool.release(connection)
        if found is not None:
            return found
        try:
            return pool.get_connection(*args, **kwargs)
        finally:
            with self._aside_lock:
                self._lending -= 1

    def keep(self, connection: Any) -> bool:
        """Set ``connection``, given back whole, aside unless a thread waits for the pool:
        whether it was (if not, the caller gives it back)."""
        if connection.pid != self.pid or self.pid != os.getpid():  # a forked child
            return False
        if getattr(self, "cache", None) is not None:
            return False
        with self._aside_lock:
            if self._lending or len(self._aside) >= READY_KEPT:
                return False
            self._aside.append((connection, time.monotonic(), self.failures))
        return True

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        """Give back what is set aside, then disconnect as the pool does."""
        pool: Any = super()
        if self.pid == os.getpid():  # in a forked child redis-py's reset forgets it
            with self._aside_lock:
                aside, self._aside = self._aside, []
            for connection, _, _ in aside:
                pool.release(connection)
        pool.disconnect(*args, **kwargs)

    def reset(self) -> None:
        """Forget what is set aside (a forked child's pool starts anew), and reset the
        pool."""
        self._aside = []
        self._aside_lock = threading.Lock()
        self._lending = 0
        pool: Any = super()
        pool.reset()


class _SetAside:
    """What :class:`ReadyAsyncPool` and :class:`ReadyAsyncNodePool` add to redis-py's
    asyncio pool they come before. One event loop uses a pool, so no lock is needed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._aside: Aside = []
        self._lending = 0  # tasks in the pool's own lend, which may be waiting
        self.failures = 0
        """Calls that failed on a connection of this pool; none set aside before the last
        one is lent again."""
        super().__init__(*args, **kwargs)

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        """The connection set aside last if it is still ready; else the pool's own lend
        (those no longer ready go back to the pool first)."""
        pool: Any = super()
        while self._aside:  # one at a time: a task cancelled here leaves the rest aside
            found, ready = _take(self._aside, self.failures, _open)
            if ready:
                return found
            await pool.release(found)  # no longer ready: back to the pool, which checks it
        self._lending += 1
        try:
            return await pool.get_connection(*args, **kwargs)
        finally:
            self._lending -= 1

    def keep(self, connection: Any) -> bool:
        """Set ``connection``, given back whole, aside unless a task waits for the pool:
        whether it was (if not, the caller gives it back)."""
        if self._lending or len(self._aside) >= READY_KEPT:
            return False
        self._aside.append((connection, time.monotonic(), self.failures))
        return True

    async def disconnect(self, *args: Any, **kwargs: Any) -> None:
        """Give back what is set aside, then disconnect as the pool does."""
        pool: Any = super()
        aside, self._aside = self._aside, []
        for connection, _, _ in aside:
            await pool.release(connection)
        await pool.disconnect(*args, **kwargs)

    def reset(self) -> None:
        """Forget what is set aside, and reset the pool."""
        self._aside = []
        pool: Any = super()
        pool.reset()


def _open(connection: Any) -> bool:
    """Whether an asyncio connection is connected, the server has not ended its stream as
    far as the event loop has read (redis-py's own check, without reading), and redis-py
    has not marked it to be connected again."""
    reader = getattr(connection, "_reader", None)
    return (
        reader is not None
        and not reader.at_eof()
        and reader.exception() is None
        and not reconnect_asked(connection)
    )


class ReadyAsyncPool(_SetAside, redis.asyncio.BlockingConnectionPool):
    """A :class:`redis.asyncio.BlockingConnectionPool` that lends a connection given back
    whole less than :data:`READY_FOR` seconds ago again without its own lend."""


class ReadyAsyncNodePool(_SetAside, redis.asyncio.ConnectionPool):
    """:class:`ReadyAsyncPool` for the adapter's per-node clients of an asyncio Cluster (a
    :class:`redis.asyncio.ConnectionPool`, which raises rather than waits at its limit)."""


def settle(pool: Any, connection: Any, *, whole: bool) -> bool:
    """When the direct path is done with ``connection``: set it aside in ``pool`` if every
    reply on it was read (``whole``), else make ``pool`` lend nothing set aside before.
    Whether the pool kept it; if not, the caller gives it back (``pool.release``)."""
    if not isinstance(pool, ReadyPool | _SetAside):
        return False
    if whole:
        return pool.keep(connection)
    pool.failures += 1
    return False
