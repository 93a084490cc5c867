"""What every framework adapter has in common, whatever stores its data.

:class:`FrameworkAdapter` is the ``BaseCheckpointSaver`` users compile graphs with. It adds
the Kortyx surface (``kind``, ``ttl_ms``, ``pending``, ``close``/``aclose``, context
managers) and the channel-version scheme; each backend supplies the storage methods.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from types import TracebackType
from typing import ClassVar, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from typing_extensions import Self

from kortyx_langgraph.pending import PendingInterruptStore

PruneStrategy = Literal["keep_latest", "delete"]
PRUNE_STRATEGIES: tuple[str, ...] = ("keep_latest", "delete")


class FrameworkAdapter(BaseCheckpointSaver[str], ABC):
    """A LangGraph checkpoint saver with a TTL and a pending-interrupt side store.

    Pass it to ``graph.compile(checkpointer=adapter)``. Both the sync and the async
    ``BaseCheckpointSaver`` methods work on the same object.
    """

    kind: ClassVar[str]
    """``"in-memory"`` or ``"redis"``."""

    ttl_ms: int | None
    """How long a thread lives after its last write, in ms; ``None`` means forever."""

    pending: PendingInterruptStore
    """The pending-interrupt side store of this adapter."""

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Next channel version: a zero-padded counter plus a random tie-breaker.

        Same scheme as LangGraph's ``InMemorySaver``: versions sort as strings, and two
        forks of one thread never mint equal versions for different values.
        """
        if current is None:
            counter = 0
        elif isinstance(current, int):
            counter = current
        else:
            counter = int(str(current).split(".", 1)[0])
        return f"{counter + 1:032}.{random.random():016}"

    @abstractmethod
    def close(self) -> None:
        """Release what the adapter owns (connections it opened); idempotent."""

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def check_prune_strategy(strategy: str) -> None:
    """Refuse an unknown ``prune`` strategy before anything is deleted."""
    if strategy not in PRUNE_STRATEGIES:
        from kortyx_langgraph.errors import ConfigurationError

        raise ConfigurationError(
            f"unknown prune strategy {strategy!r}; use one of {', '.join(PRUNE_STRATEGIES)}",
            variable="strategy",
        )
