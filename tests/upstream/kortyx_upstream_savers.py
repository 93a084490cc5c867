"""The ``sync_checkpointer`` / ``async_checkpointer`` fixtures of LangGraph's own test suite,
bound to kortyx-langgraph's adapters.

``prepare.py`` appends an import of this module's fixtures to the end of upstream's
``tests/conftest.py``; rebinding the two names there replaces upstream's fixtures for every
test that asks for them. ``KORTYX_UPSTREAM_BACKENDS`` (comma-separated, default all) picks the
parameters: ``memory`` (in-memory adapter), ``redis`` (a standalone server) and ``cluster``
(a 3-master Redis Cluster); test ids carry ``kortyx_<backend>`` for the sync fixture and
``kortyx_<backend>_async`` for the async one. The servers are real ``redis-server`` processes
on loopback, started once per test process by ``tests/redis_harness.py`` and stopped at the
end.

Every test gets a fresh adapter; Redis adapters get a key prefix no other test uses. Nothing
here calls ``uuid.uuid4``: upstream tests replace it with a counter and compare the ids.

Each adapter makes one read before the test starts, so that its client is connected (on a
Cluster: has learnt the slot map) as an application's long-lived adapter would be. A few
upstream tests time their stream chunks, and a cold Cluster client's first call can take
longer than their tolerance.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kortyx_langgraph import (
    FrameworkAdapter,
    create_in_memory_framework_adapter,
    create_redis_framework_adapter,
)

BACKENDS = ("memory", "redis", "cluster")
TTL_MS = 600_000
_ROOT = Path(__file__).resolve().parents[2]
_prefixes = itertools.count()
_run_tag = secrets.token_hex(3)
_WARM_UP: Any = {"configurable": {"thread_id": "kortyx-warm-up"}}
"""A read of a thread no test writes: connects the adapter's client before the test."""


def _load_redis_harness() -> ModuleType:
    """Import the project's ``tests/redis_harness.py`` under a name of its own.

    Upstream's tests are a package named ``tests`` too, so ours cannot be imported by name.
    """
    name = "kortyx_redis_harness"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _ROOT / "tests" / "redis_harness.py")
    if spec is None or spec.loader is None:
        raise ImportError("cannot load tests/redis_harness.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def selected_backends() -> list[str]:
    """The backends named by ``KORTYX_UPSTREAM_BACKENDS``; an unknown name is an error."""
    raw = os.environ.get("KORTYX_UPSTREAM_BACKENDS", ",".join(BACKENDS))
    names = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown or not names:
        raise pytest.UsageError(
            f"KORTYX_UPSTREAM_BACKENDS={raw!r}: choose from {', '.join(BACKENDS)}"
        )
    return names


_SYNC_PARAMS = [pytest.param(name, id=f"kortyx_{name}") for name in selected_backends()]
_ASYNC_PARAMS = [pytest.param(name, id=f"kortyx_{name}_async") for name in selected_backends()]


@pytest.fixture(scope="session")
def kortyx_redis_standalone() -> Iterator[Any]:
    """A standalone ``redis-server`` for this test process."""
    with _load_redis_harness().RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def kortyx_redis_cluster() -> Iterator[Any]:
    """A 3-master Redis Cluster for this test process."""
    with _load_redis_harness().RedisCluster() as cluster:
        yield cluster


def _new_adapter(request: pytest.FixtureRequest) -> FrameworkAdapter:
    backend: str = request.param
    if backend == "memory":
        return create_in_memory_framework_adapter(ttl_ms=TTL_MS)
    server = request.getfixturevalue(
        "kortyx_redis_cluster" if backend == "cluster" else "kortyx_redis_standalone"
    )
    prefix = f"lg-{_run_tag}-{os.getpid()}-{next(_prefixes)}:"
    return create_redis_framework_adapter(url=server.url, prefix=prefix, ttl_ms=TTL_MS)


@pytest.fixture(params=_SYNC_PARAMS)
def sync_checkpointer(request: pytest.FixtureRequest) -> Iterator[FrameworkAdapter]:
    """A fresh adapter of one backend for a sync upstream test."""
    adapter = _new_adapter(request)
    try:
        adapter.get_tuple(_WARM_UP)
        yield adapter
    finally:
        adapter.close()


@pytest.fixture(params=_ASYNC_PARAMS)
async def async_checkpointer(request: pytest.FixtureRequest) -> AsyncIterator[FrameworkAdapter]:
    """A fresh adapter of one backend for an async upstream test."""
    adapter = _new_adapter(request)
    try:
        await adapter.aget_tuple(_WARM_UP)
        yield adapter
    finally:
        await adapter.aclose()


__all__ = [
    "async_checkpointer",
    "kortyx_redis_cluster",
    "kortyx_redis_standalone",
    "sync_checkpointer",
]
