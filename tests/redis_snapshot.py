"""What is stored under a key prefix, compared by content (not by encoding or field order)."""

from __future__ import annotations

from typing import Any


def stored(client: Any, prefix: str) -> dict[bytes, Any]:
    """Every key under ``prefix``: its type, its content, and whether it expires."""
    state: dict[bytes, Any] = {}
    for key in sorted(client.scan_iter(match=f"{prefix}*", count=1000)):
        kind = client.type(key)
        if kind == b"hash":
            content: Any = client.hgetall(key)
        elif kind == b"zset":
            content = client.zrange(key, 0, -1, withscores=True)
        else:
            content = client.dump(key)
        state[key] = (kind, content, client.pttl(key) > 0)
    return state
