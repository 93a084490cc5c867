"""Growing lists stored as deltas: a new version of a list channel that only appends to the
previous one is stored as the appended items plus a reference to that previous version.

Without this, a ``messages`` channel (``add_messages``) stores the whole conversation again
at every step, and a thread's size grows with the square of its length. With it, each
version costs about the size of what it added. Pure code; no I/O.

How it works, for values the serializer stored as a MessagePack array (LangGraph's default
serializer does so for lists), or as a ``DeltaChannel`` snapshot of one (the extension type
:data:`SNAPSHOT_EXT` around the array; a read puts it back around the joined list):

* :class:`DeltaPlanner` remembers, per (thread, namespace, channel), the last version this
  process wrote: its blob field, item count, byte length and the value itself (a digest of
  its items instead, for the values past a byte budget). When the next version's items
  start with exactly those bytes, it is written as a delta.
* The client sends the delta alone. The put script stores it only if the base blob still
  exists (``prune`` may have removed it); otherwise it writes nothing and says so, and the
  client sends the full values in a second call. So a delta is never written against a
  missing base, whichever process wrote the base, and a fork that does not extend the
  remembered version simply gets a full value.
* Chains are at most :data:`MAX_CHAIN` deltas long, so a read joins a bounded number of
  pieces; the scripts return a delta with its chain, and :func:`join_chain` rebuilds the list.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NamedTuple

import ormsgpack

from kortyx_langgraph.errors import DeserializationError
from kortyx_langgraph.redis.compression import inflate

MAX_CHAIN = 64
"""Deltas in a row before a full value is stored again."""
REMEMBERED = 10_000
"""(thread, namespace, channel) entries the planner keeps, least recently written first out."""
HELD_BYTES = 32 * 1024 * 1024
"""Bytes of written list values the planner keeps to compare the next version with in
place; past it, it keeps digests of the least recently written ones instead."""
DELTA_MARK = b"~"
_U32 = struct.Struct(">I")


def array_header(payload: bytes | memoryview) -> tuple[int, int] | None:
    """``(item count, header length)`` of a MessagePack array, or ``None`` for other values."""
    if not payload:
        return None
    first = payload[0]
    if 0x90 <= first <= 0x9F:
        return first & 0x0F, 1
    if first == 0xDC and len(payload) >= 3:
        return int.from_bytes(payload[1:3], "big"), 3
    if first == 0xDD and len(payload) >= 5:
        return int.from_bytes(payload[1:5], "big"), 5
    return None


SNAPSHOT_EXT = 7
"""The MessagePack extension type LangGraph's serializer gives a ``DeltaChannel`` snapshot
(``EXT_DELTA_SNAPSHOT``): the channel's whole list, wrapped."""
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
_EXT = {0xC7: 1, 0xC8: 2, 0xC9: 4}


class ListShape(NamedTuple):
    """Where a stored list's items are: ``item_count`` items from byte ``start`` to the end;
    ``snapshot`` when the list is a ``DeltaChannel`` snapshot (the extension around it)."""

    item_count: int
    start: int
    snapshot: bool


def list_shape(payload: bytes | memoryview) -> ListShape | None:
    """The :class:`ListShape` of a MessagePack array, or of a ``DeltaChannel`` snapshot of
    one; ``None`` for other values."""
    if not payload:
        return None
    first, offset = payload[0], 0
    if first in _FIXEXT:
        size, offset = _FIXEXT[first], 2
    elif first in _EXT and len(payload) > 1 + _EXT[first]:
        width = _EXT[first]
        size, offset = int.from_bytes(payload[1 : 1 + width], "big"), 2 + width
    if offset:
        if payload[offset - 1] != SNAPSHOT_EXT or len(payload) != offset + size:
            return None
        found = array_header(payload[offset:])
        return None if found is None else ListShape(found[0], offset + found[1], True)
    found = array_header(payload)
    return None if found is None else ListShape(found[0], found[1], False)


def _snapshot_of(array: bytes) -> bytes:
    """``array`` wrapped as a ``DeltaChannel`` snapshot, as the serializer writes one."""
    return ormsgpack.packb(ormsgpack.Ext(SNAPSHOT_EXT, array))


def make_array_header(count: int) -> bytes:
    """The MessagePack header of an array of ``count`` items."""
    if count < 16:
        return bytes([0x90 | count])
    if count < 1 << 16:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


def pack_delta(
    base_field: str,
    added: int,
    items: bytes | memoryview,
    squeeze: Callable[[bytes], bytes] | None = None,
    *,
    snapshot: bool = False,
) -> bytes:
    """The stored form of a delta (the scripts read the base field from its header). With
    ``squeeze`` the items may be stored compressed; a third header item says so. With
    ``snapshot`` the joined list is a ``DeltaChannel`` snapshot; a fourth item says so."""
    body = bytes(items)
    header: list[object] = [base_field, added]
    if squeeze is not None and (squeezed := squeeze(body)) is not body:
        header.append(1)
        body = squeezed
    if snapshot:
        header += [0] * (3 - len(header)) + [SNAPSHOT_EXT]
    packed = ormsgpack.packb(header)
    return DELTA_MARK + _U32.pack(len(packed)) + packed + body


def _unpack_delta(data: bytes) -> tuple[int, bytes, bool]:
    """``(items added, the items, whether the joined list is a snapshot)``."""
    (length,) = _U32.unpack_from(data, 1)
    header = ormsgpack.unpackb(data[5 : 5 + length])
    items = data[5 + length :]
    if len(header) > 2 and header[2]:
        items = inflate(items, "list delta")
    return int(header[1]), items, len(header) > 3 and header[3] == SNAPSHOT_EXT


def join_chain(chain: Sequence[bytes | None], unpack_full: object) -> tuple[str, bytes]:
    """Rebuild a list value from ``[newest delta, ..., oldest delta, full value]``.

    ``unpack_full`` turns the full value into ``(type, payload)``.
    """
    full = chain[-1]
    if full is None or not callable(unpack_full):
        raise DeserializationError("a stored list delta has lost its base value")
    kind, payload = unpack_full(full)
    shape = list_shape(payload)
    if shape is None:
        raise DeserializationError("a stored list delta is based on a value that is no list")
    count, snapshot = shape.item_count, shape.snapshot
    pieces = [memoryview(payload)[shape.start :]]
    for delta in reversed(chain[:-1]):
        if delta is None or not delta.startswith(DELTA_MARK):
            raise DeserializationError("a stored list delta chain is broken")
        added, items, snapshot = _unpack_delta(delta)
        count += added
        pieces.append(memoryview(items))
    array = make_array_header(count) + b"".join(pieces)
    return kind, _snapshot_of(array) if snapshot else array


class Remembered(NamedTuple):
    """The last version of one channel this process wrote: its blob field, item count and
    the items' byte length, and either the value itself (``payload``, its items from byte
    ``start``) or, once the planner's byte budget let go of it, a digest of its items."""

    field: str
    item_count: int
    length: int
    depth: int
    payload: bytes | None = None
    start: int = 0
    digest: bytes = b""

    def extended_by(self, payload: bytes, start: int) -> bool:
        """Whether ``payload``'s items from byte ``start`` begin with exactly these items."""
        if self.payload is not None:  # compared in place: no copy, no hash
            return payload.startswith(memoryview(self.payload)[self.start :], start)
        view = memoryview(payload)[start : start + self.length]
        return hashlib.sha256(view).digest() == self.digest

    def digested(self) -> Remembered:
        """The same entry with a digest of its items in place of the value."""
        if self.payload is None:
            return self
        items = memoryview(self.payload)[self.start :]
        return self._replace(payload=None, start=0, digest=hashlib.sha256(items).digest())


class BlobPlan(NamedTuple):
    """Whether ``put`` can send one blob as a delta (``base_field`` empty: no), and whether
    the blob is a list the planner remembers (``grows``): the next version may be stored as
    a delta of it, so the value itself must stay where a delta can name it, a blob field."""

    base_field: str
    delta: bytes
    grows: bool = False


NO_DELTA = BlobPlan("", b"")
WHOLE_LIST = BlobPlan("", b"", grows=True)
"""A list sent whole: the planner remembers it, so the next version may be a delta of it."""


class DeltaPlanner:
    """Decides, per blob written, whether it can be stored as a delta; thread-safe.

    It keeps the last list value written per channel (a reference to the serialized bytes,
    not a copy), so the next version is compared with it in place. Past ``held_bytes`` in
    all, the values written least recently are let go of and a digest kept instead, which
    the next version is hashed to compare with: the budget never changes a plan, only what
    it costs to make one.
    """

    def __init__(self, capacity: int = REMEMBERED, held_bytes: int = HELD_BYTES) -> None:
        self._capacity = capacity
        self._held_bytes = held_bytes
        self._lock = threading.Lock()
        self._last: OrderedDict[tuple[str, str, str], Remembered] = OrderedDict()
        """Per key, least recently written first."""
        self._held: OrderedDict[tuple[str, str, str], int] = OrderedDict()
        """The keys whose entry holds its value, with its size, least recently written
        first."""
        self._held_total = 0

    def plan(
        self,
        key: tuple[str, str, str],
        field: str,
        kind: str,
        payload: bytes,
        squeeze: Callable[[bytes], bytes] | None = None,
    ) -> BlobPlan:
        """Plan the blob ``field`` of ``key`` = (thread, namespace, channel); ``squeeze``
        may compress the delta's items."""
        shape = list_shape(payload) if kind == "msgpack" else None
        if shape is None:
            return NO_DELTA
        count, start = shape.item_count, shape.start
        length = len(payload) - start
        with self._lock:
            previous = self._last.get(key)
        plan = WHOLE_LIST
        depth = 0
        if (
            previous is not None
            and previous.field != field
            and previous.depth < MAX_CHAIN
            and count >= previous.item_count
            and length >= previous.length
            and previous.extended_by(payload, start)
        ):
            plan = BlobPlan(
                previous.field,
                pack_delta(
                    previous.field,
                    count - previous.item_count,
                    memoryview(payload)[start + previous.length :],
                    squeeze,
                    snapshot=shape.snapshot,
                ),
                grows=True,
            )
            depth = previous.depth + 1
        entry = Remembered(field, count, length, depth, payload, start)
        if type(payload) is not bytes or len(payload) > self._held_bytes:
            entry = entry.digested()  # a buffer that may change, or more than the budget
        self._remember(key, entry)
        return plan

    def _remember(self, key: tuple[str, str, str], entry: Remembered) -> None:
        """Keep ``entry`` as ``key``'s; then let go of the values past the byte budget."""
        letting_go = []
        with self._lock:
            self._last[key] = entry
            self._last.move_to_end(key)
            self._release(key)
            if entry.payload is not None:
                self._held[key] = len(entry.payload)
                self._held_total += len(entry.payload)
            while len(self._last) > self._capacity:
                self._release(self._last.popitem(last=False)[0])
            while self._held_total > self._held_bytes:
                oldest, size = self._held.popitem(last=False)
                self._held_total -= size
                letting_go.append((oldest, self._last[oldest]))
        for oldest, held in letting_go:  # hashed outside the lock
            digested = held.digested()
            with self._lock:
                if self._last.get(oldest) is held:  # not written again meanwhile
                    self._last[oldest] = digested

    def _release(self, key: tuple[str, str, str]) -> None:
        """``key``'s entry no longer counts against the byte budget (lock held)."""
        size = self._held.pop(key, None)
        if size is not None:
            self._held_total -= size
