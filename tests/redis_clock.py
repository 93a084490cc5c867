"""The server's clock, as tests read it: its time, and the time a key expires at.

Both are read on the server in one step, so they do not drift apart by a round trip.
"""

from __future__ import annotations

from typing import Any

__all__ = ["expiry_ms", "server_ms"]

_NOW = """
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# PEXPIRETIME where the server has it (7.0+); else TIME + PTTL read in the same script
_EXPIRY = """
local ok, at = pcall(redis.call, 'PEXPIRETIME', KEYS[1])
if ok then return at end
local pttl = redis.call('PTTL', KEYS[1])
if pttl < 0 then return pttl end
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + pttl
"""


def server_ms(client: Any) -> int:
    """The server's time in milliseconds since the epoch."""
    return int(client.eval(_NOW, 0))


def expiry_ms(client: Any, key: bytes | str) -> int:
    """When ``key`` expires, in the server's milliseconds since the epoch (-1: never, -2: no
    such key)."""
    return int(client.eval(_EXPIRY, 1, key))
