"""The checkpointer entry point for a LangGraph server (``langgraph dev``, the Agent Server).

In ``langgraph.json``::

    "checkpointer": {"path": "kortyx_langgraph.server.checkpointer"}

The server calls :func:`checkpointer` and enters the context manager it returns once per
event-loop thread that needs a checkpointer; it exits it at shutdown, which closes the Redis
clients the adapter opened. The adapter is the one the environment selects (see
:func:`~kortyx_langgraph.create_framework_adapter_from_env`). With the in-memory backend
every entry in a process gets the same adapter, so all of the server's event loops see the
same threads. When our TTL is shorter than
the server keeps its thread records, a warning is logged at start (see
:mod:`kortyx_langgraph.server_ttl`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from kortyx_langgraph.core.adapter import FrameworkAdapter
from kortyx_langgraph.env import resolve_framework_settings
from kortyx_langgraph.errors import ConfigurationError
from kortyx_langgraph.factory import create_framework_adapter_from_env
from kortyx_langgraph.server_ttl import server_thread_ttl_from_env, ttl_mismatch

logger = logging.getLogger(__name__)

_memory_lock = threading.Lock()
_memory_adapters: dict[str, FrameworkAdapter] = {}


def _adapter_from_env() -> FrameworkAdapter:
    """A new Redis adapter per entry; one in-memory adapter per process."""
    if resolve_framework_settings().backend == "redis":
        return create_framework_adapter_from_env()
    with _memory_lock:
        if "in-memory" not in _memory_adapters:
            _memory_adapters["in-memory"] = create_framework_adapter_from_env()
        return _memory_adapters["in-memory"]


def check_server_ttl(env: Mapping[str, str] | None = None) -> str | None:
    """The TTL mismatch between our settings and the server's, read from ``env``.

    Returns the warning text, or ``None`` when our TTL outlives the server's thread records.
    Our own settings must be valid (``ConfigurationError`` otherwise); server settings this
    module cannot read give a warning, not an error, since the server decides about them.
    """
    source: Mapping[str, str] = os.environ if env is None else env
    ours = resolve_framework_settings(source).ttl_ms
    try:
        server = server_thread_ttl_from_env(source)
    except ConfigurationError as exc:
        return f"could not compare ttl_ms={ours} with the server's thread TTL: {exc}"
    return ttl_mismatch(ours, server)


@asynccontextmanager
async def checkpointer() -> AsyncIterator[FrameworkAdapter]:
    """The adapter the environment selects, closed when the server shuts down.

    Logs a warning (logger ``kortyx_langgraph.server``) when the server may keep a thread
    longer than the adapter keeps its checkpoints.
    """
    mismatch = check_server_ttl()
    adapter = _adapter_from_env()
    if mismatch is not None:
        logger.warning("kortyx-langgraph: %s", mismatch)
    logger.info("kortyx-langgraph checkpointer: %s", resolve_framework_settings().describe())
    async with adapter:
        yield adapter


__all__ = ["check_server_ttl", "checkpointer"]
