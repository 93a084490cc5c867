"""The bounded map of what this process wrote last."""

from __future__ import annotations

from kortyx_langgraph.redis.recent import Recent


def test_the_least_recently_written_entry_goes_first() -> None:
    recent: Recent[str, int] = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    recent.put("a", 3)  # written again: now the most recent
    recent.put("c", 4)
    assert (recent.get("a"), recent.get("b"), recent.get("c")) == (3, None, 4)
