"""The Redis adapter's pending-interrupt store: each call is one script on the token's hash."""

from __future__ import annotations

import builtins

from kortyx_langgraph.pending import PendingInterrupt
from kortyx_langgraph.redis import scripts
from kortyx_langgraph.redis.connection import RedisConnection
from kortyx_langgraph.redis.operations import Operations


class RedisPendingStore:
    """``adapter.pending`` of the Redis adapter; see :mod:`kortyx_langgraph.pending`.

    A token names its thread's hash tag, so a lookup goes straight to the one key (and the
    one Cluster node) that holds it. ``claim`` is a single script: of any number of callers,
    in any number of processes, exactly one wins.
    """

    def __init__(self, connection: RedisConnection, operations: Operations) -> None:
        self._connection = connection
        self._ops = operations

    def __repr__(self) -> str:
        return f"RedisPendingStore({self._connection.where})"

    def get(self, token: str) -> PendingInterrupt:
        """The pending interrupt for ``token``, claimed or not."""
        return self._connection.drive(self._ops.pending_lookup(token, scripts.PENDING_GET))

    def list(self, thread_id: str) -> builtins.list[PendingInterrupt]:
        """Every interrupt pending on ``thread_id``, oldest first."""
        return self._connection.drive(self._ops.pending_list(thread_id))

    def claim(self, token: str) -> PendingInterrupt:
        """Take the interrupt; exactly one of any number of concurrent claims succeeds."""
        return self._connection.drive(self._ops.pending_lookup(token, scripts.PENDING_CLAIM))

    def release(self, token: str) -> PendingInterrupt:
        """Undo a claim so that the interrupt can be claimed again."""
        return self._connection.drive(self._ops.pending_lookup(token, scripts.PENDING_RELEASE))

    async def aget(self, token: str) -> PendingInterrupt:
        """Async :meth:`get`."""
        return await self._connection.adrive(self._ops.pending_lookup(token, scripts.PENDING_GET))

    async def alist(self, thread_id: str) -> builtins.list[PendingInterrupt]:
        """Async :meth:`list`."""
        return await self._connection.adrive(self._ops.pending_list(thread_id))

    async def aclaim(self, token: str) -> PendingInterrupt:
        """Async :meth:`claim`."""
        flow = self._ops.pending_lookup(token, scripts.PENDING_CLAIM)
        return await self._connection.adrive(flow)

    async def arelease(self, token: str) -> PendingInterrupt:
        """Async :meth:`release`."""
        flow = self._ops.pending_lookup(token, scripts.PENDING_RELEASE)
        return await self._connection.adrive(flow)
