"""The in-memory adapter: a LangGraph checkpoint saver held in this process, with a TTL.

For local work and tests: it is neither restart-safe nor shared between processes. Its
operations are flows (``memory/operations.py``) run in place by a
:class:`~kortyx_langgraph.core.flows.LocalEngine`; every saver method comes from
:class:`~kortyx_langgraph.core.adapter.FrameworkAdapter`.
"""

from __future__ import annotations

import threading

from langgraph.checkpoint.serde.base import SerializerProtocol

from kortyx_langgraph.core.adapter import FrameworkAdapter
from kortyx_langgraph.core.flows import LocalEngine
from kortyx_langgraph.memory.operations import MemoryOperations
from kortyx_langgraph.memory.store import Clock, ThreadTable, wall_clock_ms


class InMemoryFrameworkAdapter(FrameworkAdapter):
    """In-process checkpoint saver with a sliding per-thread TTL and a pending store.

    Create it with :func:`~kortyx_langgraph.create_in_memory_framework_adapter`.
    """

    kind = "in-memory"

    def __init__(
        self,
        *,
        ttl_ms: int | None,
        serde: SerializerProtocol | None = None,
        clock: Clock = wall_clock_ms,
        max_threads: int | None = None,
        refresh_on_read: bool = False,
    ) -> None:
        super().__init__(serde=serde)
        self.ttl_ms = ttl_ms
        self._lock = threading.RLock()
        self._table = ThreadTable(ttl_ms=ttl_ms, clock=clock, max_threads=max_threads)
        ops = MemoryOperations(self._table, self._lock, self.serde, refresh_on_read)
        self._attach(ops, LocalEngine())

    def __repr__(self) -> str:
        return (
            f"InMemoryFrameworkAdapter(ttl_ms={self.ttl_ms}, threads={len(self._table)}, "
            f"max_threads={self._table.max_threads})"
        )

    @property
    def thread_count(self) -> int:
        """Threads currently held (expired ones are freed first)."""
        with self._lock:
            self._table.sweep()
            return len(self._table)
