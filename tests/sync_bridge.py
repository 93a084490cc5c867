"""A saver whose async methods run the wrapped saver's *sync* methods in a worker thread.

The conformance suite only calls async methods; wrapping an adapter with :func:`sync_bridge`
makes the same suite exercise its sync code path. The suite detects a capability by whether
the saver's class overrides the async method; the bridge has one only where the wrapped
saver overrides the sync one, so detection reports what the sync path really implements.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)


class SyncBridge(BaseCheckpointSaver[str]):
    """Async facade over a saver's sync methods (build it with :func:`sync_bridge`)."""

    def __init__(self, inner: BaseCheckpointSaver[Any]) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.inner.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        items = await asyncio.to_thread(
            lambda: list(self.inner.list(config, filter=filter, before=before, limit=limit))
        )
        for item in items:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.inner.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await asyncio.to_thread(self.inner.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.inner.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self.inner.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await asyncio.to_thread(self.inner.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await asyncio.to_thread(self.inner.prune, thread_ids, strategy=strategy)

    def get_next_version(self, current: Any, channel: None) -> Any:
        return self.inner.get_next_version(current, channel)


BRIDGED = {
    "aget_tuple": "get_tuple",
    "alist": "list",
    "aput": "put",
    "aput_writes": "put_writes",
    "adelete_thread": "delete_thread",
    "adelete_for_runs": "delete_for_runs",
    "acopy_thread": "copy_thread",
    "aprune": "prune",
}
"""Each async method of the bridge and the sync method of the wrapped saver it calls."""


def sync_bridge(inner: BaseCheckpointSaver[Any]) -> SyncBridge:
    """A :class:`SyncBridge` over ``inner`` whose async methods exist only where ``inner``
    implements the sync method they call; the others stay ``BaseCheckpointSaver``'s."""
    kept_as_base = {
        name: getattr(BaseCheckpointSaver, name)
        for name, sync in BRIDGED.items()
        if getattr(type(inner), sync) is getattr(BaseCheckpointSaver, sync)
    }
    bridge_type = type(f"SyncBridgeOf{type(inner).__name__}", (SyncBridge,), kept_as_base)
    return bridge_type(inner)
