"""The Redis adapter: a LangGraph checkpoint saver in Redis, shared and restart-safe.

Its operations are flows (``redis/operations.py``) run by a :class:`RedisConnection`
(``redis/connection.py``); every saver method comes from
:class:`~kortyx_langgraph.core.adapter.FrameworkAdapter`.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from kortyx_langgraph.core.adapter import FrameworkAdapter
from kortyx_langgraph.memory.store import Clock, wall_clock_ms
from kortyx_langgraph.redis.compression import Compression, read_compression
from kortyx_langgraph.redis.connection import AsyncClient, RedisConnection, SyncClient
from kortyx_langgraph.redis.layout import DEFAULT_PREFIX
from kortyx_langgraph.redis.operations import RedisOperations
from kortyx_langgraph.redis.replication import DEFAULT_REPLICA_ACK_TIMEOUT_MS, ReplicaAcks
from kortyx_langgraph.redis.retry import RetryPolicy


class RedisFrameworkAdapter(FrameworkAdapter):
    """Checkpoint saver on plain Redis (6.2+, no modules) or Redis Cluster.

    Create it with :func:`~kortyx_langgraph.create_redis_framework_adapter`.
    """

    kind = "redis"

    def __init__(
        self,
        *,
        url: str | None = None,
        client: SyncClient | AsyncClient | None = None,
        ttl_ms: int | None,
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
    ) -> None:
        super().__init__(serde=serde)
        self.ttl_ms = ttl_ms
        self.prefix = prefix
        self._connection = RedisConnection(
            url=url,
            client=client,
            cluster=cluster,
            client_options=client_options or {},
            retry=retry,
            replica_acks=ReplicaAcks(replica_acks, replica_ack_timeout_ms),
        )
        ops = RedisOperations(
            prefix=prefix,
            serde=self.serde,
            ttl_ms=ttl_ms,
            refresh_on_read=refresh_on_read,
            clock=clock,
            compression=read_compression(compression),
        )
        self._attach(ops, self._connection)

    def __repr__(self) -> str:
        return (
            f"RedisFrameworkAdapter({self._connection.where}, prefix={self.prefix!r}, "
            f"ttl_ms={self.ttl_ms})"
        )

    @property
    def connection(self) -> RedisConnection:
        """The adapter's connection (clients, cluster mode)."""
        return self._connection

    def close(self) -> None:
        """Close the clients the adapter opened; a client passed in stays open."""
        self._connection.close()

    async def aclose(self) -> None:
        """Async :meth:`close` (also closes this event loop's async client)."""
        await self._connection.aclose()
