"""The sync connection pool of the clients the adapter creates: a connection its direct
path gave back whole a moment ago is handed out again without a poll of its socket.

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
"""

from __future__ import annotations

import time
from typing import Any

import redis

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


def settle(pool: Any, connection: Any, *, whole: bool) -> None:
    """Before ``connection`` goes back to ``pool``: mark it ready if every reply on it was
    read (``whole``); otherwise make ``pool`` check every connection until marked again."""
    if not isinstance(pool, ReadyPool):
        return
    if whole:
        connection.__dict__[_MARK] = (time.monotonic(), pool.failures)
    else:
        pool.failures += 1
