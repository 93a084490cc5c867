"""The published conformance suite against the in-memory adapter, async and sync paths."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver

from kortyx_langgraph import InMemoryFrameworkAdapter, create_in_memory_framework_adapter
from tests.conformance import assert_conformant
from tests.sync_bridge import sync_bridge


async def test_in_memory_adapter_passes_conformance_through_async_methods() -> None:
    async def factory() -> AsyncGenerator[BaseCheckpointSaver, None]:
        yield create_in_memory_framework_adapter(ttl_ms=60_000)

    await assert_conformant("in-memory (async)", factory)


async def test_in_memory_adapter_passes_conformance_through_sync_methods() -> None:
    async def factory() -> AsyncGenerator[BaseCheckpointSaver, None]:
        yield sync_bridge(create_in_memory_framework_adapter(ttl_ms=60_000))

    await assert_conformant("in-memory (sync)", factory)


class _NoSyncCopy(InMemoryFrameworkAdapter):
    """An adapter whose sync ``copy_thread`` is the base class's (not implemented)."""

    copy_thread = BaseCheckpointSaver.copy_thread


async def test_the_sync_path_reports_a_capability_its_sync_method_lacks() -> None:
    async def factory() -> AsyncGenerator[BaseCheckpointSaver, None]:
        yield sync_bridge(_NoSyncCopy(ttl_ms=60_000))

    with pytest.raises(AssertionError, match=r"capabilities not implemented: \['copy_thread'\]"):
        await assert_conformant("no sync copy_thread (sync)", factory)
