"""The in-memory backend: for local work and tests (not restart-safe, not shared)."""

from kortyx_langgraph.memory.saver import InMemoryFrameworkAdapter

__all__ = ["InMemoryFrameworkAdapter"]
