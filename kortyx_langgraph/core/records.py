"""The stored form of checkpoints and writes, and the pure conversions to and from LangGraph's.

Every backend stores the same records: what LangGraph hands the saver goes through the
serializer (``serde.dumps_typed``) into ``(type, bytes)`` pairs here, once, and comes back
out through :func:`build_tuple`. The backends only decide where the records live. Storing
bytes (as LangGraph's ``InMemorySaver`` does) also means a value mutated by the caller after
``put`` cannot change what was stored.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from kortyx_langgraph.core.flows import Emit
from kortyx_langgraph.core.ids import checkpoint_config
from kortyx_langgraph.errors import DeserializationError

TypedBytes = tuple[str, bytes]
"""What ``serde.dumps_typed`` returns: the serializer's type tag and the payload."""

EMPTY_BLOB: TypedBytes = ("empty", b"")
"""Stored for a channel that has a new version but no value (LangGraph's convention)."""

Version = str | int | float
R = TypeVar("R")


def dumps(serde: SerializerProtocol, value: Any) -> TypedBytes:
    """``serde.dumps_typed(value)`` with its payload as plain ``bytes``.

    LangGraph's serializer hands a top-level ``bytes`` or ``bytearray`` value back as the
    payload itself, a subclass included (``class Blob(bytes)``), which msgpack refuses to
    pack and a stored copy would not hold. The type tag still says which it was."""
    kind, payload = serde.dumps_typed(value)
    if payload.__class__ is not bytes:
        payload = bytes(payload)
    return kind, payload


class StoredCheckpoint(NamedTuple):
    """One checkpoint as stored: everything but the channel values, which live in blobs."""

    checkpoint: TypedBytes
    metadata: TypedBytes
    parent_id: str | None
    run_id: str | None
    channel_versions: Mapping[str, Version]
    compact: bool = False
    """The body holds ``None`` for its ``id`` and ``channel_versions``, which are stored once,
    beside it (the checkpoint id, and ``channel_versions`` above); see :func:`build_tuple`."""
    run_thread: str | None = None
    """For a copy (``copy_thread``): the thread whose run ``run_id`` stored it. A run's
    checkpoints are the ones it stored in its own thread: ``delete_for_runs`` leaves copies
    alone (see :func:`made_by`). ``None``: this thread's own run."""


def made_by(record: StoredCheckpoint, thread_id: str, run_ids: Collection[str]) -> bool:
    """Whether ``record``, held by ``thread_id``, was stored there by one of ``run_ids``:
    what ``delete_for_runs`` deletes. A copy of another thread's checkpoint is not, so
    deleting or rolling back a run never changes the threads copied from its thread (as on
    LangGraph's server, which deletes a run's checkpoints in the run's thread only)."""
    return record.run_id in run_ids and record.run_thread in (None, thread_id)


def copied(
    record: StoredCheckpoint, serde: SerializerProtocol, source_id: str, target_id: str
) -> StoredCheckpoint:
    """``record`` of thread ``source_id`` as ``copy_thread`` stores it in ``target_id``: still
    the checkpoint of the run that stored it in its own thread, and with a ``thread_id`` in
    its metadata naming the copy when it named the source (as LangGraph's server copies)."""
    metadata = rethreaded_metadata(serde, record.metadata, source_id, target_id)
    return record._replace(
        run_thread=copied_run_thread(record.run_thread, source_id, target_id),
        metadata=record.metadata if metadata is None else metadata,
    )


def copied_run_thread(run_thread: str | None, source_id: str, target_id: str) -> str | None:
    """The ``run_thread`` of a checkpoint copied from ``source_id`` into ``target_id``: the
    thread its run stored it in, unless that is the target (a copy brought back home)."""
    home = run_thread or source_id
    return None if home == target_id else home


def rethreaded_metadata(
    serde: SerializerProtocol, metadata: TypedBytes, source_id: str, target_id: str
) -> TypedBytes | None:
    """``metadata`` with its ``thread_id`` naming ``target_id``, or ``None`` when it does not
    name ``source_id`` (left as it is)."""
    loaded = serde.loads_typed(metadata)
    if not isinstance(loaded, dict) or loaded.get("thread_id") != source_id:
        return None
    return dumps(serde, {**loaded, "thread_id": target_id})


class StoredWrite(NamedTuple):
    """One pending write as stored; ``(task_id, idx)`` is its key within a checkpoint.

    ``idx`` is the ``WRITES_IDX_MAP`` index for special channels (negative), else the
    write's position in its ``put_writes`` call.
    """

    task_id: str
    idx: int
    channel: str
    value: TypedBytes
    task_path: str

    @property
    def overwrites(self) -> bool:
        """Special writes replace a stored one at the same key; regular ones never do."""
        return self.idx < 0


@dataclass(frozen=True)
class EncodedPut:
    """The records one ``put`` stores: the checkpoint and its new channel blobs."""

    checkpoint_id: str
    record: StoredCheckpoint
    blobs: dict[tuple[str, Version], TypedBytes]
    """``(channel, version) -> value`` for the channels in ``new_versions`` that hold one."""


def encode_put(
    serde: SerializerProtocol,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
) -> EncodedPut:
    """Serialize one ``put`` call: the checkpoint without its values, metadata, and blobs."""
    body: dict[str, Any] = dict(checkpoint)
    values: dict[str, Any] = body.pop("channel_values", None) or {}
    versions = dict(checkpoint.get("channel_versions") or {})
    # The id and the versions are stored beside the body anyway; the body keeps their places
    # (so the dict reads back in its own key order) but not a second copy. Only string
    # versions come back exactly from a stored blob reference, so others stay in the body.
    compact = isinstance(body.get("channel_versions"), dict) and all(
        isinstance(version, str) for version in versions.values()
    )
    if compact:
        body["id"] = None
        body["channel_versions"] = None
    full_metadata = get_checkpoint_metadata(config, metadata)
    run_id = full_metadata.get("run_id")
    # A channel with a new version but no value (cleared, or a DeltaChannel's sentinel) gets
    # no blob at all: a missing blob reads exactly like LangGraph's "empty" marker.
    blobs = {
        (channel, version): dumps(serde, values[channel])
        for channel, version in new_versions.items()
        if channel in values
    }
    record = StoredCheckpoint(
        checkpoint=dumps(serde, body),
        metadata=dumps(serde, full_metadata),
        parent_id=config.get("configurable", {}).get("checkpoint_id") or None,
        run_id=run_id if isinstance(run_id, str) else None,
        channel_versions=versions,
        compact=compact,
    )
    return EncodedPut(checkpoint_id=checkpoint["id"], record=record, blobs=blobs)


def encode_writes(
    serde: SerializerProtocol,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
) -> list[StoredWrite]:
    """Serialize one ``put_writes`` call, keyed by ``WRITES_IDX_MAP`` semantics."""
    return [
        StoredWrite(
            task_id,
            WRITES_IDX_MAP.get(channel, position),
            channel,
            dumps(serde, value),
            task_path,
        )
        for position, (channel, value) in enumerate(writes)
    ]


def loads(serde: SerializerProtocol, value: TypedBytes, what: str) -> Any:
    """Deserialize one stored value; a failure becomes a typed :class:`DeserializationError`."""
    try:
        return serde.loads_typed(value)
    except Exception as exc:
        raise DeserializationError(
            f"could not decode the stored {what} (serializer type {value[0]!r}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def sorted_writes(writes: Iterable[StoredWrite]) -> list[StoredWrite]:
    """Writes in ``writes_sort_key`` order ``(task_path, task_id, idx)``, as LangGraph needs."""
    return sorted(writes, key=lambda w: writes_sort_key(w.task_path, w.task_id, w.idx))


def decode_writes(serde: SerializerProtocol, writes: Iterable[StoredWrite]) -> list[PendingWrite]:
    """Deserialize already ordered writes into LangGraph's ``(task_id, channel, value)``."""
    return [(w.task_id, w.channel, loads(serde, w.value, "write")) for w in writes]


def decode_values(
    serde: SerializerProtocol, blobs: Mapping[str, TypedBytes | None]
) -> dict[str, Any]:
    """Channel name -> value, leaving out channels whose blob is empty or missing."""
    return {
        channel: loads(serde, blob, f"value of channel {channel!r}")
        for channel, blob in blobs.items()
        if blob is not None and blob[0] != EMPTY_BLOB[0]
    }


def build_tuple(
    serde: SerializerProtocol,
    *,
    thread_id: str,
    checkpoint_ns: str,
    checkpoint_id: str,
    record: StoredCheckpoint,
    values: Mapping[str, TypedBytes | None],
    writes: Iterable[StoredWrite],
    metadata: CheckpointMetadata | None = None,
) -> CheckpointTuple:
    """Assemble the ``CheckpointTuple`` LangGraph reads; ``writes`` must already be ordered."""
    body = loads(serde, record.checkpoint, "checkpoint")
    if record.compact:
        body["id"] = checkpoint_id
        body["channel_versions"] = dict(record.channel_versions)
    elif not isinstance(body, dict) or body.get("channel_versions") is None:
        # a body that leaves its versions to its record, in a record that does not say so:
        # a form of a development snapshot (5 December 2026) that this version cannot read
        raise DeserializationError(
            f"the stored checkpoint {checkpoint_id!r} has a form this version does not read "
            "(written by an earlier development version; drain its paused threads before "
            "upgrading)"
        )
    body["channel_values"] = decode_values(serde, values)
    parent = record.parent_id
    return CheckpointTuple(
        config=checkpoint_config(thread_id, checkpoint_ns, checkpoint_id),
        checkpoint=body,
        metadata=metadata if metadata is not None else decode_metadata(serde, record),
        parent_config=checkpoint_config(thread_id, checkpoint_ns, parent) if parent else None,
        pending_writes=decode_writes(serde, writes),
    )


def decode_metadata(serde: SerializerProtocol, record: StoredCheckpoint) -> CheckpointMetadata:
    """The checkpoint's metadata, freshly deserialized (callers may mutate it)."""
    metadata: CheckpointMetadata = loads(serde, record.metadata, "metadata")
    return metadata


def emit_matching(
    rows: Iterable[R],
    to_tuple: Callable[[R], CheckpointTuple],
    wanted: Mapping[str, Any] | None,
    limit: int | None,
) -> Generator[Emit, Any, int | None]:
    """Emit ``list`` results in order: metadata ``filter`` first, then ``limit``.

    Returns (through ``StopIteration``) how many of ``limit`` are left, ``None`` without one.
    """
    remaining = limit
    for row in rows:
        if remaining == 0:
            break
        item = to_tuple(row)
        if not metadata_matches(item.metadata, wanted):
            continue
        yield Emit(item)
        if remaining is not None:
            remaining -= 1
    return remaining


def metadata_matches(metadata: Mapping[str, Any], wanted: Mapping[str, Any] | None) -> bool:
    """``list(filter=...)`` semantics: every key's value equal to the wanted one (exact match).

    As in LangGraph's ``InMemorySaver``, a missing key reads as ``None``.
    """
    if not wanted:
        return True
    return all(metadata.get(key) == value for key, value in wanted.items())
