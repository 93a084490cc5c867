"""Walks over a thread's parent chain: ``DeltaChannel`` history and what ``prune`` must keep.

Both walks follow ``parent_id`` links, never ``list(before=...)``, so on a forked thread only
the ancestors on the path count. The backends feed them records; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from langgraph.checkpoint.base import DeltaChannelHistory, PendingWrite
from langgraph.checkpoint.serde.base import SerializerProtocol

from kortyx_langgraph.core.records import (
    EMPTY_BLOB,
    StoredCheckpoint,
    StoredWrite,
    TypedBytes,
    decode_metadata,
    loads,
)


class ChainLink(NamedTuple):
    """One ancestor: its record, the blobs of the channels asked for, its ordered writes."""

    record: StoredCheckpoint
    blobs: dict[str, TypedBytes | None]
    writes: Sequence[StoredWrite]


def has_value(blob: TypedBytes | None) -> bool:
    """Whether a stored blob holds a value (not missing, not the empty marker)."""
    return blob is not None and blob[0] != EMPTY_BLOB[0]


def delta_channel_history(
    serde: SerializerProtocol, ancestors: Iterable[ChainLink], channels: Sequence[str]
) -> dict[str, DeltaChannelHistory]:
    """``get_delta_channel_history`` over ``ancestors`` (the target's parent first).

    A channel's walk ends at the nearest ancestor holding a value for it (the ``seed``); that
    ancestor's own writes still count, since they produced its child on the path. Writes come
    back oldest first, each checkpoint's in ``writes_sort_key`` order.
    """
    collected: dict[str, list[PendingWrite]] = {channel: [] for channel in channels}
    seeds: dict[str, Any] = {}
    remaining = set(channels)
    for link in ancestors:
        if not remaining:
            break
        ended = {ch: blob for ch in remaining if has_value(blob := link.blobs.get(ch))}
        for write in reversed(link.writes):
            if write.channel in remaining:
                value = loads(serde, write.value, "write")
                collected[write.channel].append((write.task_id, write.channel, value))
        for channel, blob in ended.items():
            seeds[channel] = loads(serde, blob or EMPTY_BLOB, f"value of channel {channel!r}")
        remaining -= ended.keys()
    result: dict[str, DeltaChannelHistory] = {}
    for channel in channels:
        entry: DeltaChannelHistory = {"writes": collected[channel][::-1]}
        if channel in seeds:
            entry["seed"] = seeds[channel]
        result[channel] = entry
    return result


def delta_channels(serde: SerializerProtocol, record: StoredCheckpoint) -> set[str]:
    """The ``DeltaChannel`` names of a checkpoint, read from its metadata (empty if none)."""
    counters = decode_metadata(serde, record).get("counters_since_delta_snapshot") or {}
    return set(counters)


def ancestors_to_keep(
    serde: SerializerProtocol,
    head_id: str,
    fetch: Callable[[str], tuple[StoredCheckpoint, dict[str, TypedBytes | None]] | None],
) -> list[str]:
    """Checkpoint ids ``prune(strategy="keep_latest")`` must keep for the head ``head_id``.

    The head, plus, when the thread uses ``DeltaChannel``, every ancestor up to the nearest
    one holding a snapshot of each delta channel: without them the head's delta channels
    would silently rebuild as empty. ``fetch(id)`` returns a record and its blobs by channel.
    """
    keep = [head_id]
    found = fetch(head_id)
    if found is None:
        return keep
    record, blobs = found
    remaining = {ch for ch in delta_channels(serde, record) if not has_value(blobs.get(ch))}
    current = record.parent_id
    while remaining and current is not None:
        found = fetch(current)
        if found is None:
            break
        keep.append(current)
        record, blobs = found
        remaining = {ch for ch in remaining if not has_value(blobs.get(ch))}
        current = record.parent_id
    return keep
