"""The three ways to get an adapter: in-memory, Redis, or whichever the environment selects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from kortyx_langgraph.core.adapter import FrameworkAdapter
from kortyx_langgraph.env import REDIS_URL_VARIABLES, TTL_VARIABLES, resolve_framework_settings
from kortyx_langgraph.errors import ConfigurationError
from kortyx_langgraph.memory import InMemoryFrameworkAdapter
from kortyx_langgraph.memory.store import Clock, wall_clock_ms
from kortyx_langgraph.redis import RedisFrameworkAdapter
from kortyx_langgraph.redis.compression import Compression
from kortyx_langgraph.redis.connection import AsyncClient, SyncClient
from kortyx_langgraph.redis.layout import DEFAULT_PREFIX, check_prefix
from kortyx_langgraph.redis.replication import DEFAULT_REPLICA_ACK_TIMEOUT_MS
from kortyx_langgraph.redis.retry import RetryPolicy
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


def create_redis_framework_adapter(
    *,
    url: str | None = None,
    client: SyncClient | AsyncClient | None = None,
    ttl_ms: int | None = DEFAULT_TTL_MS,
    prefix: str = DEFAULT_PREFIX,
    serde: SerializerProtocol | None = None,
    cluster: bool | None = None,
    refresh_on_read: bool = False,
    client_options: dict[str, Any] | None = None,
    clock: Clock = wall_clock_ms,
    retry: RetryPolicy | None = None,
    replica_acks: int = 0,
    replica_ack_timeout_ms: int = DEFAULT_REPLICA_ACK_TIMEOUT_MS,
    compression: Compression | str | None = None,
) -> RedisFrameworkAdapter:
    """A Redis-backed adapter: survives restarts and deploys, shared by every app instance.

    Args:
        url: ``redis://``, ``rediss://`` (TLS), ``unix://`` (or ``valkey://``) URL, with
            ``user:password@`` for ACLs. Nothing connects until the first operation.
        client: An existing redis-py client instead of ``url`` (``Redis``, ``RedisCluster``
            or their asyncio twins, with ``decode_responses=False``). The adapter never
            closes a client it was given.
        ttl_ms: How long a thread is kept after its last write (default 15 minutes); every
            key the adapter writes expires. ``None`` keeps threads forever.
        prefix: Prepended to every key (must not contain ``{`` or ``}``).
        serde: Serializer for stored values (default: LangGraph's ``JsonPlusSerializer``).
        cluster: Force Redis Cluster mode on or off; by default the server is asked.
        refresh_on_read: Also extend a thread's TTL when it is read.
        client_options: Keyword arguments for the redis-py clients created from ``url``,
            over the adapter's explicit defaults (``socket_connect_timeout`` and
            ``socket_timeout`` 5 s, ``max_connections`` 64, ``pool_timeout`` 20 s,
            redis-py's own retries off).
        clock: Current time in ms (timestamps of pending interrupts).
        retry: How often an operation whose connection failed is sent again (default
            :class:`RetryPolicy`: 3 attempts, jittered backoff from 50 ms up to 1 s).
        replica_acks: Wait after every write until this many replicas acknowledged it
            (``WAIT``, in the same round trip); fewer within ``replica_ack_timeout_ms``
            raise ``ReplicationError``. 0 (the default) does not wait.
        replica_ack_timeout_ms: How long a write waits for its replicas (default 1 s).
        compression: ``"zlib"`` (or a :class:`Compression` with its own level and size
            threshold) stores checkpoint bodies, channel values and pending writes
            deflated when that makes them smaller. ``None`` (the default) stores them as
            they are. Either way, data written with the other setting stays readable.
    """
    return RedisFrameworkAdapter(
        url=url,
        client=client,
        ttl_ms=resolve_ttl_ms(ttl_ms),
        prefix=check_prefix(prefix),
        serde=serde,
        cluster=cluster,
        refresh_on_read=refresh_on_read,
        client_options=client_options,
        clock=clock,
        retry=retry,
        replica_acks=replica_acks,
        replica_ack_timeout_ms=replica_ack_timeout_ms,
        compression=compression,
    )


_FROM_ENV = {"ttl_ms": ", then ".join(TTL_VARIABLES), "url": ", then ".join(REDIS_URL_VARIABLES)}


def create_framework_adapter_from_env(
    env: Mapping[str, str] | None = None, **kwargs: Any
) -> FrameworkAdapter:
    """The adapter the environment selects (``os.environ`` unless ``env`` is given).

    Redis when the first non-blank of ``KORTYX_REDIS_URL``, ``REDIS_URL``,
    ``KORTYX_FRAMEWORK_REDIS_URL`` is set, otherwise in-memory. The TTL comes from
    ``KORTYX_FRAMEWORK_TTL_MS``, else ``KORTYX_TTL_MS``, else 15 minutes. Extra keyword
    arguments go to the chosen factory (``ttl_ms`` and ``url`` come from the environment
    and are refused here). A bad value raises ``ConfigurationError`` naming the variable.
    """
    for taken in ("ttl_ms", "url"):
        if taken in kwargs:
            raise ConfigurationError(
                f"{taken} comes from the environment here ({_FROM_ENV[taken]}); set it "
                "there, or call create_redis_framework_adapter or "
                "create_in_memory_framework_adapter directly",
                variable=taken,
            )
    settings = resolve_framework_settings(env)
    if settings.backend == "redis":
        return create_redis_framework_adapter(
            url=settings.redis_url, ttl_ms=settings.ttl_ms, **kwargs
        )
    return create_in_memory_framework_adapter(ttl_ms=settings.ttl_ms, **kwargs)
