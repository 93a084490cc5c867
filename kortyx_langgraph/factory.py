"""The three ways to get an adapter: in-memory, Redis, or whichever the environment selects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from kortyx_langgraph.core.adapter import FrameworkAdapter
from kortyx_langgraph.env import resolve_framework_settings
from kortyx_langgraph.errors import BackendUnavailableError, ConfigurationError
from kortyx_langgraph.memory import InMemoryFrameworkAdapter
from kortyx_langgraph.memory.store import Clock, wall_clock_ms
from kortyx_langgraph.settings import DEFAULT_TTL_MS, resolve_ttl_ms


def create_in_memory_framework_adapter(
    *,
    ttl_ms: int | None = DEFAULT_TTL_MS,
    serde: SerializerProtocol | None = None,
    max_threads: int | None = None,
    refresh_on_read: bool = False,
    clock: Clock = wall_clock_ms,
) -> InMemoryFrameworkAdapter:
    """An in-process adapter, for local work and tests (not restart-safe, not shared).

    Args:
        ttl_ms: How long a thread is kept after its last write, in milliseconds (default 15
            minutes). ``None`` keeps threads forever and must be asked for explicitly.
        serde: Serializer for stored values (default: LangGraph's ``JsonPlusSerializer``).
        max_threads: Keep at most this many threads, evicting the least recently written.
        refresh_on_read: Also extend a thread's TTL when it is read.
        clock: Current time in ms; tests pass a clock they can advance.
    """
    if max_threads is not None and (
        isinstance(max_threads, bool) or not isinstance(max_threads, int) or max_threads <= 0
    ):
        raise ConfigurationError(
            f"max_threads must be a positive int or None, got {max_threads!r}",
            variable="max_threads",
        )
    return InMemoryFrameworkAdapter(
        ttl_ms=resolve_ttl_ms(ttl_ms),
        serde=serde,
        max_threads=max_threads,
        refresh_on_read=refresh_on_read,
        clock=clock,
    )


def create_redis_framework_adapter(**kwargs: Any) -> FrameworkAdapter:
    """A Redis-backed adapter (restart-safe, shared by every app instance).

    Not available in this release: the Redis backend is under construction.
    """
    raise BackendUnavailableError(
        "the Redis backend is not available in this release yet; unset the Redis URL "
        "variables (or call create_in_memory_framework_adapter) to use the in-memory backend"
    )


def create_framework_adapter_from_env(
    env: Mapping[str, str] | None = None, **kwargs: Any
) -> FrameworkAdapter:
    """The adapter the environment selects (``os.environ`` unless ``env`` is given).

    Redis when the first non-blank of ``KORTYX_REDIS_URL``, ``REDIS_URL``,
    ``KORTYX_FRAMEWORK_REDIS_URL`` is set, otherwise in-memory. The TTL comes from
    ``KORTYX_FRAMEWORK_TTL_MS``, else ``KORTYX_TTL_MS``, else 15 minutes. Extra keyword
    arguments go to the chosen factory. A bad value raises ``ConfigurationError``
    naming the variable.
    """
    settings = resolve_framework_settings(env)
    if settings.backend == "redis":
        return create_redis_framework_adapter(
            url=settings.redis_url, ttl_ms=settings.ttl_ms, **kwargs
        )
    return create_in_memory_framework_adapter(ttl_ms=settings.ttl_ms, **kwargs)
