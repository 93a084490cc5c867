"""Optional compression of the payloads the Redis adapter stores. Pure code; no I/O.

With ``compression="zlib"`` the bodies the scripts never read (a checkpoint record's body,
a channel value, one pending write, the items of a list delta) are stored deflated when
that makes them smaller. A compressed value starts with ``0xC1``, a byte MessagePack never
uses, so every reader recognises it whatever the adapter's own setting: turning
compression on or off never makes stored data unreadable. Headers the Lua scripts read
stay as they are.

Two forms follow the mark, told apart by the next byte:

* ``0x01``: raw deflate with the preset dictionary :data:`~.zdict.ZDICT_V1` (what is
  written now);
* ``0x78``: a zlib stream without a dictionary (the first byte of every zlib stream this
  module wrote before the dictionary existed; still read).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from kortyx_langgraph.errors import ConfigurationError, DeserializationError
from kortyx_langgraph.redis.zdict import ZDICT_V1

MARK = b"\xc1"
"""First byte of a compressed value (never used by MessagePack, nor by a delta's ``~``)."""
_WITH_ZDICT_V1 = MARK + b"\x01"
"""What starts a value deflated with :data:`ZDICT_V1`."""
_RAW_DEFLATE = -15
"""``wbits`` of raw deflate: no zlib header or checksum (the dictionary form has neither)."""


@dataclass(frozen=True)
class Compression:
    """zlib at ``level`` for payloads of at least ``min_bytes`` (smaller ones gain little)."""

    level: int = 1
    min_bytes: int = 32

    def __post_init__(self) -> None:
        if type(self.level) is not int or not 1 <= self.level <= 9:
            raise ConfigurationError(
                f"Compression level must be an int from 1 to 9, got {self.level!r}",
                variable="compression",
            )
        if type(self.min_bytes) is not int or self.min_bytes < 0:
            raise ConfigurationError(
                f"Compression min_bytes must be an int >= 0, got {self.min_bytes!r}",
                variable="compression",
            )

    def squeeze(self, data: bytes) -> bytes:
        """``data`` deflated behind :data:`MARK`, or as it is when that is not smaller."""
        if len(data) < self.min_bytes:
            return data
        deflate = zlib.compressobj(self.level, zlib.DEFLATED, _RAW_DEFLATE, zdict=ZDICT_V1)
        packed = _WITH_ZDICT_V1 + deflate.compress(data) + deflate.flush()
        return packed if len(packed) < len(data) else data


def inflate(data: bytes, what: str) -> bytes:
    """``data`` as it was before :meth:`Compression.squeeze`."""
    if data[:1] != MARK:
        return data
    try:
        if data[:2] != _WITH_ZDICT_V1:
            return zlib.decompress(data[1:])
        inflater = zlib.decompressobj(_RAW_DEFLATE, zdict=ZDICT_V1)
        out = inflater.decompress(data[2:]) + inflater.flush()
    except zlib.error as exc:
        raise DeserializationError(f"the stored {what} is corrupted: {exc}") from exc
    if not inflater.eof or inflater.unused_data:
        raise DeserializationError(
            f"the stored {what} is corrupted: its compressed data ends early"
        )
    return out


def read_compression(value: Any) -> Compression | None:
    """The ``compression`` argument: ``None`` (off), ``"zlib"`` or a :class:`Compression`."""
    if value is None or isinstance(value, Compression):
        return value
    if value == "zlib":
        return Compression()
    raise ConfigurationError(
        f"compression must be None, 'zlib' or a Compression, got {value!r}",
        variable="compression",
    )
