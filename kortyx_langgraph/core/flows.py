"""Operations as *flows*, and the engine protocol that runs them.

A flow is a generator: it yields the I/O it needs (a backend-specific request) and receives
the reply, yields :class:`Emit` for each result of a listing, and returns the operation's
result. The logic of an operation is written once, as a flow; an :class:`Engine` runs it,
sync or async. This is how the sync and async methods of every adapter share one
implementation (the style of h11 and httpx): the base adapter's twins are one line each.

The in-memory backend does no I/O, so its flows yield nothing but :class:`Emit`, and
:class:`LocalEngine` runs them directly.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any, NamedTuple, ParamSpec, Protocol, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

Flow = Generator[Any, Any, T]
"""Yields requests (or :class:`Emit`), receives replies, returns the result."""


class Emit(NamedTuple):
    """A listing flow's result, handed to the caller as it is produced."""

    item: Any


def flow(fn: Callable[P, T]) -> Callable[P, Flow[T]]:
    """Turn a function that needs no I/O into a flow (a generator that yields nothing)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Flow[T]:
        return fn(*args, **kwargs)
        yield  # pragma: no cover - makes this a generator function

    return wrapper


class Engine(Protocol):
    """Runs flows: the only part of an adapter that differs between sync and async."""

    def run(self, flow: Flow[T]) -> T:
        """Run ``flow`` to its result, blocking."""
        ...

    async def arun(self, flow: Flow[T]) -> T:
        """Run ``flow`` to its result on the running event loop."""
        ...

    def iterate(self, flow: Flow[None]) -> Iterator[Any]:
        """Run a listing flow, yielding what it emits."""
        ...

    def aiterate(self, flow: Flow[None]) -> AsyncIterator[Any]:
        """Run a listing flow asynchronously, yielding what it emits."""
        ...


class LocalEngine:
    """Engine for flows that do no I/O: both colours run them in place."""

    def run(self, flow: Flow[T]) -> T:
        """Run ``flow``; it must not yield requests."""
        try:
            step = next(flow)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        raise TypeError(f"a local flow yielded a request: {step!r}")

    async def arun(self, flow: Flow[T]) -> T:
        """Same as :meth:`run`."""
        return self.run(flow)

    def iterate(self, flow: Flow[None]) -> Iterator[Any]:
        """Yield what the flow emits."""
        for step in flow:
            if not isinstance(step, Emit):
                raise TypeError(f"a local flow yielded a request: {step!r}")
            yield step.item

    async def aiterate(self, flow: Flow[None]) -> AsyncIterator[Any]:
        """Same as :meth:`iterate`."""
        for item in self.iterate(flow):
            yield item
