"""The published conformance suite against the Redis adapter: standalone and Cluster,
through the async methods and through the sync ones."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver

from kortyx_langgraph import create_redis_framework_adapter
from tests.conformance import assert_conformant
from tests.conftest import redis_url_for
from tests.sync_bridge import sync_bridge

pytestmark = pytest.mark.redis


@pytest.mark.parametrize("backend", ["redis", "redis-cluster"])
@pytest.mark.parametrize("path", ["async", "sync"])
async def test_redis_adapter_passes_conformance(
    request: pytest.FixtureRequest, backend: str, path: str
) -> None:
    url = redis_url_for(request, backend)

    async def factory() -> AsyncGenerator[BaseCheckpointSaver, None]:
        adapter = create_redis_framework_adapter(
            url=url, ttl_ms=60_000, prefix=f"kortyx-conf-{uuid.uuid4().hex[:12]}:"
        )
        yield adapter if path == "async" else sync_bridge(adapter)
        await adapter.aclose()

    await assert_conformant(f"{backend} ({path})", factory)
