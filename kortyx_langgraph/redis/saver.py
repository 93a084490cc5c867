"""The Redis adapter: a LangGraph checkpoint saver in Redis, shared and restart-safe.

Each method builds a flow (``operations.py``) and hands it to the connection's sync or async
driver (``connection.py``); the twins below are one line each and hold no logic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from kortyx_langgraph.core.adapter import FrameworkAdapter, check_prune_strategy
from kortyx_langgraph.memory.store import Clock, wall_clock_ms
from kortyx_langgraph.redis.connection import AsyncClient, RedisConnection, SyncClient
from kortyx_langgraph.redis.layout import DEFAULT_PREFIX
from kortyx_langgraph.redis.operations import Operations
from kortyx_langgraph.redis.pending import RedisPendingStore


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
    ) -> None:
        super().__init__(serde=serde)
        self.ttl_ms = ttl_ms
        self.prefix = prefix
        self._connection = RedisConnection(
            url=url, client=client, cluster=cluster, client_options=client_options or {}
        )
        self._ops = Operations(
            prefix=prefix,
            serde=self.serde,
            ttl_ms=ttl_ms,
            refresh_on_read=refresh_on_read,
            clock=clock,
        )
        self.pending = RedisPendingStore(self._connection, self._ops)

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

    # -- sync ----------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by ``config`` (the latest without ``checkpoint_id``)."""
        return self._connection.drive(self._ops.get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first; ``filter`` is exact match on metadata, then ``limit``."""
        flow = self._ops.list_checkpoints(config, filter=filter, before=before, limit=limit)
        return self._connection.iterate(flow)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the values of its changed channels."""
        return self._connection.drive(self._ops.put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes: special channels overwrite, regular ones insert-if-absent."""
        self._connection.drive(self._ops.put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        """Delete every key of a thread, its pending interrupts included."""
        self._connection.drive(self._ops.delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) created by any of ``run_ids``."""
        self._connection.drive(self._ops.delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's checkpoints, blobs, writes and pending interrupts (new tokens)."""
        self._connection.drive(self._ops.copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``"keep_latest"`` (``DeltaChannel``-safe) or ``"delete"``, per thread."""
        check_prune_strategy(strategy)
        self._connection.drive(self._ops.prune(thread_ids, strategy))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Per-channel writes and seed along the parent chain, walked by the server."""
        return self._connection.drive(self._ops.delta_history(config, channels))

    # -- async ---------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async :meth:`get_tuple`."""
        return await self._connection.adrive(self._ops.get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async :meth:`list`."""
        flow = self._ops.list_checkpoints(config, filter=filter, before=before, limit=limit)
        async for item in self._connection.aiterate(flow):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async :meth:`put`."""
        flow = self._ops.put(config, checkpoint, metadata, new_versions)
        return await self._connection.adrive(flow)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async :meth:`put_writes`."""
        await self._connection.adrive(self._ops.put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        """Async :meth:`delete_thread`."""
        await self._connection.adrive(self._ops.delete_thread(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async :meth:`delete_for_runs`."""
        await self._connection.adrive(self._ops.delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async :meth:`copy_thread`."""
        await self._connection.adrive(self._ops.copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async :meth:`prune`."""
        check_prune_strategy(strategy)
        await self._connection.adrive(self._ops.prune(thread_ids, strategy))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Async :meth:`get_delta_channel_history`."""
        return await self._connection.adrive(self._ops.delta_history(config, channels))
