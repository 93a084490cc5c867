"""Counting the saver operations LangGraph performs, and the time spent inside them.

:func:`attach` wraps the storage methods of one saver *instance* (LangGraph looks them up on
the instance, so the wrappers see every call, from any thread). A wrapper costs well under a
microsecond, and every saver in a comparison gets the same wrappers.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import redis.asyncio.connection
import redis.connection
from langgraph.checkpoint.base import BaseCheckpointSaver

from kortyx_langgraph.redis import direct

TIMED = ("put", "put_writes", "get_tuple")
ATIMED = ("aput", "aput_writes", "aget_tuple")
LISTS = ("list",)
ALISTS = ("alist",)


class OpMeter:
    """Operation counts and seconds spent in timed operations, since the last reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.seconds = 0.0

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.counts = Counter()
            self.seconds = 0.0

    def record(self, name: str, seconds: float = 0.0) -> None:
        """Count one operation ``name`` that took ``seconds``."""
        with self._lock:
            self.counts[name.removeprefix("a")] += 1
            self.seconds += seconds

    @property
    def operations(self) -> int:
        """Operations counted since the last reset."""
        with self._lock:
            return sum(self.counts.values())

    def snapshot(self) -> tuple[int, float]:
        """``(operations, seconds)`` since the last reset."""
        with self._lock:
            return sum(self.counts.values()), self.seconds


_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("_INSIDE", default=False)
"""Set while a timed operation runs: a saver whose async method calls its sync twin
(``InMemorySaver.aput`` calls ``put``) counts one operation, not two."""


def _timed(meter: OpMeter, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _INSIDE.get():
            return method(*args, **kwargs)
        token = _INSIDE.set(True)
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            meter.record(name, time.perf_counter() - start)
            _INSIDE.reset(token)

    return wrapper


def _atimed(meter: OpMeter, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _INSIDE.get():
            return await method(*args, **kwargs)
        token = _INSIDE.set(True)
        start = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            meter.record(name, time.perf_counter() - start)
            _INSIDE.reset(token)

    return wrapper


def _counted_list(meter: OpMeter, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        meter.record(name)
        return method(*args, **kwargs)  # type: ignore[no-any-return]

    return wrapper


def _counted_alist(meter: OpMeter, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        meter.record(name)
        return method(*args, **kwargs)  # type: ignore[no-any-return]

    return wrapper


def attach(saver: BaseCheckpointSaver[Any], meter: OpMeter) -> None:
    """Route ``saver``'s storage methods (sync and async) through ``meter``."""
    wrappers: tuple[tuple[tuple[str, ...], Callable[..., Any]], ...] = (
        (TIMED, _timed),
        (ATIMED, _atimed),
        (LISTS, _counted_list),
        (ALISTS, _counted_alist),
    )
    for names, wrap in wrappers:
        for name in names:
            setattr(saver, name, wrap(meter, name, getattr(saver, name)))


class SendCounter:
    """Counts the requests redis-py writes to a socket (a pipeline is one write, one round
    trip), sync and asyncio, by patching its connection classes for a ``with`` block.

    Sync writes are counted in ``send_packed_command``, and those of the adapter's direct
    path in its own ``_send`` (which writes to the socket first, then hands redis-py what is
    left: one request, counted once). Asyncio ones are counted in the
    connection's ``_send_packed_command``, the write itself, which redis-py's
    ``send_packed_command`` calls when the connection has a socket timeout (always from
    redis-py 8 on) and the adapter's direct path calls without it (``docs/benchmarks.md``,
    "Asyncio writes without a task"). A write of an asyncio connection without a socket
    timeout on redis-py before 8 is not counted; the harness's clients all have one."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def _count(self) -> None:
        with self._lock:
            self.calls += 1

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        """Count the writes made inside the block."""
        sync_class = redis.connection.AbstractConnection
        async_class: Any = redis.asyncio.connection.AbstractConnection
        original: Callable[..., None] = sync_class.send_packed_command
        aoriginal: Callable[..., Awaitable[None]] = async_class._send_packed_command

        sync_send: Callable[[Any, list[bytes]], None] = direct._send
        inside = threading.local()  # in the direct path's send: redis-py's is not a request

        def send_packed_command(conn: Any, command: Any, check_health: bool = True) -> None:
            if not getattr(inside, "sending", False):
                self._count()
            original(conn, command, check_health)

        def direct_send(conn: Any, packed: list[bytes]) -> None:
            self._count()
            inside.sending = True
            try:
                sync_send(conn, packed)
            finally:
                inside.sending = False

        async def awrite(conn: Any, command: Any) -> None:
            self._count()
            await aoriginal(conn, command)

        sync_class.send_packed_command = send_packed_command  # type: ignore[method-assign]
        direct._send = direct_send
        async_class._send_packed_command = awrite
        try:
            yield
        finally:
            sync_class.send_packed_command = original  # type: ignore[method-assign]
            direct._send = sync_send
            async_class._send_packed_command = aoriginal
