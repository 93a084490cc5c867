"""What the tests of the adapter's connection pools (``redis/pool.py``) share: a clock
they move by hand, and an adapter that sends a failed script once more at once."""

from __future__ import annotations

import uuid

from kortyx_langgraph import RedisFrameworkAdapter, RetryPolicy, create_redis_framework_adapter
from tests.redis_harness import RedisServer

__all__ = ["Clock", "quick_retrying"]


class Clock:
    """Stands for the ``time`` module of ``redis/pool.py``: ``monotonic()`` is ``now``,
    which the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        """The clock's time, in seconds."""
        return self.now


def quick_retrying(server: RedisServer) -> RedisFrameworkAdapter:
    """An adapter of ``server`` that sends a failed script once more, almost at once."""
    return create_redis_framework_adapter(
        url=server.url,
        ttl_ms=60_000,
        prefix=f"kortyx-pool-{uuid.uuid4().hex[:8]}:",
        retry=RetryPolicy(attempts=2, backoff_base_ms=1, backoff_cap_ms=2),
    )
