"""Records <-> the bytes kept in Redis. Pure functions, no I/O.

Formats (all readable by the Lua scripts, which only ever *read* the MessagePack ones):

* records the scripts must read are ``<u32 header length><header><body>``: the header is
  MessagePack holding only strings and numbers (the MessagePack library embedded in Redis
  has no ``bin`` type), the body MessagePack with the binary payloads, never read by Lua.
* checkpoint record: header ``[parent id, run id, [blob suffix, ...], compact]`` (``""`` for
  no parent/run; a suffix is ``<channel>:<version>``, percent-encoded, so the channel and the
  version can be read back from it, or just ``<channel>`` for the same version as the suffix
  before it; ``compact`` is ``1`` when the body leaves its id and channel versions to the
  record around it, and absent in records written before it existed), body ``[type, bytes,
  metadata type, metadata bytes]``. In records written since the first task's writes moved
  into them, the header length has its top bit set and a ``<u32 body length>`` follows the
  header: the writes of the first task that wrote at the checkpoint follow the body, as
  frames (below), and the scripts find them with ``struct`` alone. A suffix followed by
  ``=<value>`` holds the channel's value itself (its stored blob form in unpadded URL-safe
  base64: a string, as the header must be), instead of naming a blob field; records
  written before this form have none.
* blob: ``""`` for LangGraph's "empty" marker, else MessagePack ``[type, bytes]``, or
  ``=<value>`` for a value a put script copied there from a record, or ``?`` for a value
  that a record refers to and no record kept when it was stored (see ``scripts.py``).
* writes of one task at one checkpoint (after its record's body for the first task that
  wrote there, in a ``wr`` field for the others, and for the first one too when its writes
  came before the record, or the record was written before this form): frames ``<u32 key
  length><key><u32 entry length><entry>``, key ``"<task id>\\0<idx>"`` for the first frame
  and ``"<idx>"`` (the same task) for the rest, entry MessagePack ``[channel, type, bytes,
  task_path]``. Frames let a script merge writes without re-encoding binary payloads; a
  checkpoint's writes are one such value per task that wrote there.
* pending interrupt: header ``[interrupt_id, thread_id, checkpoint_id, [task id, ...], thread
  key base, created ms, seq]`` (written by the scripts), body ``[value type, value bytes,
  schema type, schema bytes]``; its claim beside it, ``[claim id, claimed ms, lease ms]``.

The serializer's own payload (``serde.dumps_typed``) is stored as it is, next to its type
string, so a type such as ``msgpack+aes`` round-trips. Nothing is ever unpickled here.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import ormsgpack

from kortyx_langgraph.core.interrupts import CONTROL_CHANNELS, Claim, StoredPending
from kortyx_langgraph.core.records import (
    EMPTY_BLOB,
    StoredCheckpoint,
    StoredWrite,
    TypedBytes,
    copied_run_thread,
)
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


def _split_header(data: bytes, what: str) -> tuple[Any, Any]:
    try:
        (length,) = _U32.unpack_from(data, 0)
    except struct.error as exc:
        raise DeserializationError(f"the stored {what} is truncated") from exc
    return _unpack(data[4 : 4 + length], what), _unpack(data[4 + length :], what)


WANTED = b"?"
"""A blob field's value while no record that keeps it was found (see ``scripts.py``)."""

INLINE = "="
"""Separates a blob suffix in a record header from the value kept beside it."""


def pack_checkpoint(
    record: StoredCheckpoint,
    squeeze: Squeeze = same,
    inline: Mapping[str, bytes] | None = None,
    *,
    with_writes: bool = True,
) -> bytes:
    """The stored form of a checkpoint record (blob suffixes included for the scripts).

    ``inline`` maps channels to stored blob values (:func:`pack_blob`) kept in the record
    itself rather than in blob fields of their own. With ``with_writes`` the header gives
    the body's length, so the scripts may append the first task's writes to the record;
    without, the record has the form of earlier versions.
    """
    return pack_checkpoint_parts(record, squeeze, inline, with_writes=with_writes)[0]


def pack_checkpoint_parts(
    record: StoredCheckpoint,
    squeeze: Squeeze = same,
    inline: Mapping[str, bytes] | None = None,
    *,
    with_writes: bool = True,
    suffixes: Mapping[str, str] | None = None,
) -> tuple[bytes, bytes]:
    """``(stored form, its header)``: :func:`pack_checkpoint` and the header that
    :func:`split_record` would find in it, without splitting it again. ``suffixes`` maps
    each channel to its blob suffix when the caller has them already."""
    refs = _refs(record, inline or {}, suffixes)
    header: list[Any] = [record.parent_id or "", _run(record.run_id, record.run_thread), refs]
    if record.compact:
        header.append(1)
    body = squeeze(
        ormsgpack.packb(
            [record.checkpoint[0], record.checkpoint[1], record.metadata[0], record.metadata[1]]
        )
    )
    packed = ormsgpack.packb(header)
    if not with_writes:
        return _U32.pack(len(packed)) + packed + body, packed
    return _U32.pack(len(packed) | WITH_WRITES) + packed + _U32.pack(len(body)) + body, packed


def _run(run_id: str | None, run_thread: str | None) -> Any:
    """A header's run field: the run id, or for a copy ``[run id, the run's thread]``."""
    if run_id and run_thread is not None:
        return [run_id, run_thread]
    return run_id or ""


def copied_record(
    data: bytes,
    source_id: str,
    target_id: str,
    metadata: Callable[[TypedBytes], TypedBytes | None],
    squeeze: Squeeze = same,
) -> bytes:
    """A stored record of thread ``source_id`` as ``copy_thread`` stores it in ``target_id``
    (:func:`~kortyx_langgraph.core.records.copied`): its run field names the run's own
    thread, and ``metadata`` may give its metadata anew (``None``: kept). The rest (blob
    references, kept values, the writes after the body) is copied as it is."""
    header_bytes, body, writes = split_record(data)
    header = _unpack(header_bytes, "checkpoint")
    try:
        run_id, run_thread = header[1] if isinstance(header[1], list) else (header[1], None)
        header[1] = _run(run_id, copied_run_thread(run_thread, source_id, target_id))
        ctype, cbytes, mtype, mbytes = _unpack(body, "checkpoint")
    except (TypeError, ValueError, IndexError) as exc:
        raise DeserializationError(f"the stored checkpoint has an unknown shape: {exc}") from exc
    remade = metadata((mtype, mbytes))
    if remade is not None:
        body = squeeze(ormsgpack.packb([ctype, cbytes, remade[0], remade[1]]))
    packed = ormsgpack.packb(header)
    if not _U32.unpack_from(data, 0)[0] & WITH_WRITES:
        return _U32.pack(len(packed)) + packed + body
    return _U32.pack(len(packed) | WITH_WRITES) + packed + _U32.pack(len(body)) + body + writes


WITH_WRITES = 0x8000_0000
"""Set in a record's header length when the body's length follows the header."""


def split_record(data: bytes) -> tuple[bytes, bytes, bytes]:
    """A stored record as ``(header, body, writes of the first task kept after the body)``."""
    try:
        (length,) = _U32.unpack_from(data, 0)
        start = 4 + (length & ~WITH_WRITES)
        if not length & WITH_WRITES:
            return data[4:start], data[start:], b""
        (body_length,) = _U32.unpack_from(data, start)
    except struct.error as exc:
        raise DeserializationError("the stored checkpoint is truncated") from exc
    end = start + 4 + body_length
    if end > len(data):
        raise DeserializationError("the stored checkpoint is truncated")
    return data[4:start], data[start + 4 : end], data[end:]


def _record_parts(data: bytes) -> tuple[Any, Any]:
    header, body, _ = split_record(data)
    return _unpack(header, "checkpoint"), _unpack(body, "checkpoint")


def _refs(
    record: StoredCheckpoint, inline: Mapping[str, bytes], suffixes: Mapping[str, str] | None
) -> list[str]:
    """The blob suffixes of a record, a version written once for a run of channels at it,
    each followed by its value when the record keeps it."""
    refs: list[str] = []
    last: str | None = None
    for channel, version in record.channel_versions.items():
        suffix = blob_suffix(channel, version) if suffixes is None else suffixes[channel]
        name, _, at = suffix.partition(":")
        ref = name if at == last else suffix
        value = inline.get(channel)
        refs.append(ref if value is None else ref + INLINE + _to_text(value))
        last = at
    return refs


def _to_text(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _from_text(text: bytes) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DeserializationError("a channel value kept in a record is corrupted") from exc


def unpack_checkpoint(data: bytes) -> StoredCheckpoint:
    """Inverse of :func:`pack_checkpoint`."""
    try:
        header, (ctype, cbytes, mtype, mbytes) = _record_parts(data)
        parent, run, refs = header[:3]
        run_id, run_thread = run if isinstance(run, list) else (run, None)
        versions = _versions(refs)
        compact = header[3:] == [1]
    except (TypeError, ValueError) as exc:
        raise DeserializationError(f"the stored checkpoint has an unknown shape: {exc}") from exc
    return StoredCheckpoint(
        checkpoint=(ctype, cbytes),
        metadata=(mtype, mbytes),
        parent_id=parent or None,
        run_id=run_id or None,
        channel_versions=versions,
        compact=compact,
        run_thread=run_thread,
    )


def _versions(refs: list[str]) -> dict[str, str]:
    """``channel -> version`` of a record's blob suffixes; versions come back as strings."""
    versions: dict[str, str] = {}
    last = ""
    for ref in refs:
        channel, colon, version = ref.partition(INLINE)[0].partition(":")
        if colon:
            last = decode(version)
        versions[decode(channel)] = last
    return versions


def unpack_inline(data: bytes) -> dict[str, bytes]:
    """The stored blob values a checkpoint record keeps itself, by channel."""
    header = _unpack(split_record(data)[0], "checkpoint")
    try:
        names = _versions(header[2])
        return {
            channel: _from_text(ref.partition(INLINE)[2].encode())
            for channel, ref in zip(names, header[2], strict=True)
            if INLINE in ref
        }
    except (TypeError, ValueError) as exc:
        raise DeserializationError(f"the stored checkpoint has an unknown shape: {exc}") from exc


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
    if data[:1] == INLINE.encode():
        data = _from_text(data[1:])
    if data == b"":
        return EMPTY_BLOB
    return _unpack_full_blob(data)


def write_key(write: StoredWrite) -> bytes:
    """The key a write is merged under: ``(task_id, idx)``."""
    return f"{write.task_id}\0{write.idx}".encode()


def pack_write(write: StoredWrite, squeeze: Squeeze = same) -> bytes:
    """One write's entry (without its frame). A control write's is never compressed: the
    put_writes script reads its channel (``task_finished``)."""
    entry = ormsgpack.packb([write.channel, write.value[0], write.value[1], write.task_path])
    return entry if write.channel in CONTROL_CHANNELS else squeeze(entry)


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
    """One frame, as the merge script writes it (used by tests)."""
    return _U32.pack(len(key)) + key + _U32.pack(len(entry)) + entry


def task_frames(writes: Sequence[StoredWrite], squeeze: Squeeze = same) -> tuple[int, bytes]:
    """One task's writes as the merge script stores them, with how many frames: one per
    ``(task, idx)`` key in the order of its first write, the first frame naming the task.
    A later write to a key replaces the earlier only for a special write (``idx < 0``), as
    the script merges a call into stored writes."""
    kept: dict[int, StoredWrite] = {}
    for write in writes:
        if write.idx not in kept or write.overwrites:
            kept[write.idx] = write
    parts = [
        frame(write_key(w) if i == 0 else str(w.idx).encode(), pack_write(w, squeeze))
        for i, w in enumerate(kept.values())
    ]
    return len(parts), b"".join(parts)


def unpack_writes(data: bytes | list[bytes] | None) -> list[StoredWrite]:
    """Every write of a checkpoint, from its stored writes values (one per task that wrote,
    as the scripts return them), in storage order."""
    if not data:
        return []
    writes = []
    for value in [data] if isinstance(data, bytes) else data:
        task_id = ""
        for key, entry in iter_frames(value):
            owner, named, idx = key.decode().rpartition("\0")
            task_id = owner if named else task_id
            channel, kind, payload, task_path = _unpack(entry, "write")
            writes.append(StoredWrite(task_id, int(idx), channel, (kind, payload), task_path))
    return writes


def replied_writes(record: bytes, data: list[bytes] | None) -> list[StoredWrite]:
    """The writes of a checkpoint as a read script returns them beside its record: an empty
    first value stands for the writes that follow the record (:func:`split_record`)."""
    if data and data[0] == b"":
        data = [split_record(record)[2], *data[1:]]
    return unpack_writes(data)


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
