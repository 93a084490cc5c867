"""The published conformance suite against the in-memory adapter, async and sync paths."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from langgraph.checkpoint.base import BaseCheckpointSaver

from kortyx_langgraph import create_in_memory_framework_adapter
from tests.conformance import assert_conformant
from tests.sync_bridge import SyncBridge


async def test_in_memory_adapter_passes_conformance_through_async_methods() -> None:
    async def factory() -> AsyncGenerator[BaseCheckpointSaver, None]:
        yield create_in_memory_framework_adapter(ttl_ms=60_000)

    await assert_conformant("in-memory (async)", factory)


async def test_in_memory_adapter_passes_conformance_through_sync_methods() -> None:
    async def factory() -> AsyncGenerator[BaseCheckpointSaver, None]:
        yield SyncBridge(create_in_memory_framework_adapter(ttl_ms=60_000))

    await assert_conformant("in-memory (sync)", factory)
