"""Records <-> the bytes kept in Redis. Pure functions, no I/O.

Formats (all readable by the Lua scripts, which only ever *read* the MessagePack ones):

* records the scripts must read are ``<u32 header length><header><body>``: the header is
  MessagePack holding only strings and numbers (the MessagePack library embedded in Redis
  has no ``bin`` type), the body MessagePack with the binary payloads, never read by Lua.
* checkpoint record: header ``[parent id, run id, [blob suffix, ...]]`` (``""`` for no
  parent/run; a suffix is ``<channel>:<version>``, percent-encoded, so the channel and the
  version can be read back from it), body ``[type, bytes, metadata type, metadata bytes]``.
* blob: ``""`` for LangGraph's "empty" marker, else MessagePack ``[type, bytes]``.
* writes of one task at one checkpoint: frames ``<u32 key length><key><u32 entry
  length><entry>``, key ``"<task id>\\0<idx>"``, entry MessagePack ``[channel, type, bytes,
  task_path]``. Frames let a script merge writes without re-encoding binary payloads; a
  checkpoint's writes are one such value per task that wrote there.
* pending interrupt: header ``[interrupt_id, thread_id, checkpoint_id, [task id, ...], thread
  key base, created ms, seq]`` (written by the scripts), body ``[value type, value bytes,
  schema type, schema bytes]``; its claim beside it, ``[claim id, claimed ms, lease ms]``.

The serializer's own payload (``serde.dumps_typed``) is stored as it is, next to its type
string, so a type such as ``msgpack+aes`` round-trips. Nothing is ever unpickled here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

import ormsgpack

from kortyx_langgraph.core.interrupts import Claim, StoredPending
from kortyx_langgraph.core.records import EMPTY_BLOB, StoredCheckpoint, StoredWrite, TypedBytes
from kortyx_langgraph.errors import DeserializationError
from kortyx_langgraph.redis.compression import inflate
from kortyx_langgraph.redis.deltas import join_chain
from kortyx_langgraph.redis.layout import blob_suffix, decode

_U32 = struct.Struct(">I")


Squeeze = Callable[[bytes], bytes]
"""What compresses a payload before it is stored (``Compression.squeeze``), if anything."""


def same(data: bytes) -> bytes:
    """No compression: ``data`` as it is."""
    return data


def _unpack(data: bytes, what: str) -> Any:
    try:
        return ormsgpack.unpackb(inflate(data, what))
    except (ormsgpack.MsgpackDecodeError, ValueError, TypeError) as exc:
        raise DeserializationError(f"the stored {what} is corrupted: {exc}") from exc


def _with_header(header: list[Any], body: list[Any], squeeze: Squeeze) -> bytes:
    packed = ormsgpack.packb(header)
    return _U32.pack(len(packed)) + packed + squeeze(ormsgpack.packb(body))


def _split_header(data: bytes, what: str) -> tuple[Any, Any]:
    try:
        (length,) = _U32.unpack_from(data, 0)
    except struct.error as exc:
        raise DeserializationError(f"the stored {what} is truncated") from exc
    return _unpack(data[4 : 4 + length], what), _unpack(data[4 + length :], what)


def pack_checkpoint(record: StoredCheckpoint, squeeze: Squeeze = same) -> bytes:
    """The stored form of a checkpoint record (blob suffixes included for the scripts)."""
    refs = [blob_suffix(channel, version) for channel, version in record.channel_versions.items()]
    return _with_header(
        [record.parent_id or "", record.run_id or "", refs],
        [record.checkpoint[0], record.checkpoint[1], record.metadata[0], record.metadata[1]],
        squeeze,
    )


def unpack_checkpoint(data: bytes) -> StoredCheckpoint:
    """Inverse of :func:`pack_checkpoint`."""
    try:
        (parent, run_id, refs), (ctype, cbytes, mtype, mbytes) = _split_header(data, "checkpoint")
        versions = dict(_split_suffix(suffix) for suffix in refs)
    except (TypeError, ValueError) as exc:
        raise DeserializationError(f"the stored checkpoint has an unknown shape: {exc}") from exc
    return StoredCheckpoint(
        checkpoint=(ctype, cbytes),
        metadata=(mtype, mbytes),
        parent_id=parent or None,
        run_id=run_id or None,
        channel_versions=versions,
    )


def _split_suffix(suffix: str) -> tuple[str, str]:
    """``(channel, version)`` of a blob suffix; the version comes back as its string form."""
    channel, _, version = suffix.partition(":")
    return decode(channel), decode(version)


def pack_blob(blob: TypedBytes, squeeze: Squeeze = same) -> bytes:
    """The stored form of a channel value (``b""`` for the empty marker)."""
    if blob[0] == EMPTY_BLOB[0]:
        return b""
    return squeeze(ormsgpack.packb([blob[0], blob[1]]))


def _unpack_full_blob(data: bytes) -> TypedBytes:
    kind, payload = _unpack(data, "channel value")
    return (kind, payload)


def unpack_blob(data: bytes | list[bytes | None] | None) -> TypedBytes | None:
    """Inverse of :func:`pack_blob`; ``None`` when the blob is missing.

    A list is a delta with its chain, as the scripts return it (see ``deltas.py``).
    """
    if data is None:
        return None
    if isinstance(data, list):
        return join_chain(data, _unpack_full_blob)
    if data == b"":
        return EMPTY_BLOB
    return _unpack_full_blob(data)


def write_key(write: StoredWrite) -> bytes:
    """The key a write is merged under: ``(task_id, idx)``."""
    return f"{write.task_id}\0{write.idx}".encode()


def pack_write(write: StoredWrite, squeeze: Squeeze = same) -> bytes:
    """One write's entry (without its frame)."""
    return squeeze(
        ormsgpack.packb([write.channel, write.value[0], write.value[1], write.task_path])
    )


def iter_frames(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """``(key, entry)`` frames of a stored writes value."""
    view = memoryview(data)
    pos = 0
    try:
        while pos < len(view):
            (key_len,) = _U32.unpack_from(view, pos)
            pos += 4
            key = bytes(view[pos : pos + key_len])
            pos += key_len
            (entry_len,) = _U32.unpack_from(view, pos)
            pos += 4
            entry = bytes(view[pos : pos + entry_len])
            pos += entry_len
            yield key, entry
    except struct.error as exc:
        raise DeserializationError(f"the stored writes are truncated: {exc}") from exc


def frame(key: bytes, entry: bytes) -> bytes:
    """One frame, as the merge script writes it (used by copy and tests)."""
    return _U32.pack(len(key)) + key + _U32.pack(len(entry)) + entry


def unpack_writes(data: bytes | list[bytes] | None) -> list[StoredWrite]:
    """Every write of a checkpoint, from its stored writes values (one per task that wrote,
    as the scripts return them), in storage order."""
    if not data:
        return []
    writes = []
    for value in [data] if isinstance(data, bytes) else data:
        for key, entry in iter_frames(value):
            task_id, _, idx = key.decode().rpartition("\0")
            channel, kind, payload, task_path = _unpack(entry, "write")
            writes.append(StoredWrite(task_id, int(idx), channel, (kind, payload), task_path))
    return writes


def pending_body(value: TypedBytes, schema: TypedBytes) -> bytes:
    """The body of a stored pending interrupt; the scripts write the header around it."""
    return ormsgpack.packb([value[0], value[1], schema[0], schema[1]])


def unpack_pending(token: str, data: bytes, claim: bytes | None) -> StoredPending:
    """A stored pending interrupt, with the claim stored beside it (``None``: none)."""
    header, body = _split_header(data, "pending interrupt")
    try:
        interrupt_id, thread_id, checkpoint_id, task_ids, _, created_ms, seq = header
        kind, payload, schema_kind, schema = body
    except (TypeError, ValueError) as exc:
        raise DeserializationError("the stored pending interrupt is corrupted") from exc
    return StoredPending(
        token=token,
        interrupt_id=interrupt_id,
        thread_id=thread_id,
        checkpoint_id=checkpoint_id,
        task_ids=tuple(task_ids) if isinstance(task_ids, list) else (),
        value=(kind, payload),
        schema=(schema_kind, schema),
        created_at_ms=int(created_ms),
        seq=int(seq),
        claim=None if claim is None else unpack_claim(claim),
    )


def unpack_claim(data: bytes) -> Claim:
    """A stored claim: MessagePack ``[claim id, claimed at ms, lease until ms]``."""
    try:
        claim_id, claimed_at, lease_until = _unpack(data, "claim")
        return Claim(str(claim_id), int(claimed_at), int(lease_until))
    except (TypeError, ValueError) as exc:
        raise DeserializationError("the stored claim is corrupted") from exc


def as_text(value: bytes | str) -> str:
    """Redis replies are bytes (the clients are not told to decode); ids are UTF-8."""
    return value.decode() if isinstance(value, bytes) else value
