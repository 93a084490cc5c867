"""Every Redis adapter operation as a *flow* (see ``core.flows``): pure code that yields
what to send.

A flow yields :class:`Call` (run a script) or :class:`Scan` (list our keys) and receives the
reply; a listing flow also yields ``Emit`` with each result. Building keys and arguments and
decoding replies happens here, once; sync and async differ only in the engine that sends
(``connection.py``). Most flows yield exactly one :class:`Call`: one round trip per
operation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from kortyx_langgraph.core.adapter import PendingAction
from kortyx_langgraph.core.flows import Flow
from kortyx_langgraph.core.history import ChainLink, ancestors_to_keep, delta_channel_history
from kortyx_langgraph.core.ids import (
    ROOT_NS,
    checkpoint_config,
    namespace_filter,
    read_address,
    read_before_id,
    read_thread_id,
    read_write_target,
    thread_tag,
)
from kortyx_langgraph.core.interrupts import (
    InterruptUpdate,
    KnownValues,
    StoredPending,
    claimed_error,
    interrupt_update,
    known_values,
    mint_token,
    missing_token_error,
    parse_token,
    to_public,
    updates_from_writes,
)
from kortyx_langgraph.core.records import (
    StoredCheckpoint,
    TypedBytes,
    build_tuple,
    dumps,
    emit_matching,
    encode_put,
    encode_writes,
    rethreaded_metadata,
    sorted_writes,
)
from kortyx_langgraph.errors import (
    ClaimMismatchError,
    DeserializationError,
    NothingPendingError,
)
from kortyx_langgraph.pending import PendingInterrupt
from kortyx_langgraph.redis import codec, scripts
from kortyx_langgraph.redis.compression import Compression
from kortyx_langgraph.redis.deltas import NO_DELTA, BlobPlan, DeltaPlanner
from kortyx_langgraph.redis.kept import KeptValues, Remembered
from kortyx_langgraph.redis.layout import (
    ThreadKeys,
    blob_suffix,
    checkpoint_key_pattern,
    checkpoint_member,
    encode,
    namespace_range,
    pending_key,
    split_member,
    thread_id_of_cp_key,
    thread_keys,
)

INLINE_BYTES = 32
"""The largest stored channel value (bytes) a checkpoint record keeps itself, rather than in
a blob field of its own: a field costs Redis about 90 bytes beyond its value, and values
this small (counters, flags, LangGraph's ``branch:to:<node>`` triggers) usually change at
every step, so the record that introduced them is the only one that refers to them."""


class PlannedBlob(NamedTuple):
    """One new channel value a ``put`` stores in a blob field."""

    field: str
    blob: TypedBytes
    plan: BlobPlan
    packed: bytes | None
    """Its full stored form, if already made (a delta's is made only if it must be sent)."""


def _blob_args(
    planned: Sequence[PlannedBlob], squeeze: codec.Squeeze, *, deltas: bool
) -> list[Any]:
    """The put script's per-blob arguments: field, base field, and the delta (when there is
    a base field) or the full value."""
    args: list[Any] = []
    for item in planned:
        if deltas and item.plan.base_field:
            args += [item.field, item.plan.base_field, item.plan.delta]
        else:
            packed = item.packed
            if packed is None:
                packed = codec.pack_blob(item.blob, squeeze)
            args += [item.field, "", packed]
    return args


def _unchanged_values(
    serde: Any,
    checkpoint: Checkpoint,
    sent: Mapping[tuple[str, Any], TypedBytes],
    versions: Mapping[str, Any],
    ns: str,
) -> list[PlannedBlob]:
    """The values of the channels ``put`` did not send (unchanged since the parent), as
    blobs to store in full: ``checkpoint`` carries every channel's value."""
    values = checkpoint.get("channel_values") or {}
    return [
        PlannedBlob(
            f"{ns}:{blob_suffix(channel, version)}",
            dumps(serde, values[channel]),
            NO_DELTA,
            None,
        )
        for channel, version in versions.items()
        if channel in values and (channel, version) not in sent
    ]


def _copies_of_kept(
    parent: Remembered | None,
    ns: str,
    *,
    versions: Mapping[str, Any],
    suffixes: Mapping[str, str],
    inline: Mapping[str, bytes],
    sent: Mapping[tuple[str, Any], TypedBytes],
) -> list[tuple[str, bytes]] | None:
    """If this process stored the parent's record (``parent``), it knows where every
    unchanged channel's value is: the (field, value) pairs the parent kept that must now go
    to the blob hash (``kept.py``); ``None`` when it does not know, and the script looks."""
    if parent is None:
        return None
    copies = []
    for channel, version in versions.items():
        if channel in inline or (channel, version) in sent:
            continue
        suffix = suffixes[channel]
        there = parent.refs.get(channel)
        if there is None or there[0] != suffix:
            return None  # not the parent's version: the script looks for it
        if there[1]:
            copies.append((f"{ns}:{suffix}", there[1]))
    return copies


PRESENT: TypedBytes = ("present", b"")
"""Stands for a stored value whose content ``prune`` does not need to decode."""

_PENDING_SCRIPTS = {
    "get": scripts.PENDING_GET,
    "claim": scripts.PENDING_CLAIM,
    "release": scripts.PENDING_RELEASE,
}

LIST_PAGE = 100
"""Checkpoints fetched per round trip when ``list`` has no smaller limit (or filters)."""


def _page(filter: dict[str, Any] | None, remaining: int | None) -> int:
    """Checkpoints to ask for in one ``list`` round trip."""
    return LIST_PAGE if filter or remaining is None else min(remaining, LIST_PAGE)


class Call(NamedTuple):
    """Run ``script`` with ``keys`` and ``args``; the flow receives the reply."""

    script: scripts.Script
    keys: Sequence[str]
    args: Sequence[Any]
    carry: bool = False
    """Whether the caller may go on before it is sent, when a call of its thread is in flight
    (a grouped write that no one waits on to order LangGraph's own steps;
    ``redis/batching/``)."""
    slot: tuple[str, str] | None = None
    """What a grouped write writes (checkpoint member, task id): a later call writing it
    again makes up for a failed one."""
    after: str | None = None
    """For a checkpoint save: the member of the checkpoint it builds on (its parent), which
    a failed carried write to it keeps the save from going past."""


class Scan(NamedTuple):
    """List every key matching ``pattern`` (on every primary of a Cluster).

    With ``limit``, the scan stops as soon as that many keys are found.
    """

    pattern: str
    limit: int | None = None


Request = Call | Scan
"""What a Redis flow yields to its engine (besides ``Emit`` for listing results)."""


@dataclass(frozen=True)
class RedisOperations:
    """The flows of one Redis adapter: its key prefix, serializer, TTL and clock."""

    prefix: str
    serde: SerializerProtocol
    ttl_ms: int | None
    refresh_on_read: bool
    clock: Any
    compression: Compression | None = None
    deltas: DeltaPlanner = field(default_factory=DeltaPlanner)
    kept: KeptValues = field(default_factory=KeptValues)
    inline_bytes: int = INLINE_BYTES
    """Channel values up to this size are kept in the checkpoint record (0: none are)."""
    writes_in_record: bool = True
    """Whether records let the scripts keep the first task's writes after their body
    (``False``: records of the form earlier versions wrote)."""

    # -- helpers -------------------------------------------------------------------------

    @property
    def _squeeze(self) -> codec.Squeeze:
        return codec.same if self.compression is None else self.compression.squeeze

    @property
    def _ttl(self) -> int:
        return self.ttl_ms or 0

    @property
    def _read_ttl(self) -> int:
        return self._ttl if self.refresh_on_read else 0

    def _keys(self, thread_id: str) -> ThreadKeys:
        return thread_keys(self.prefix, thread_id)

    def _tuple(self, thread_id: str, entry: Sequence[Any]) -> CheckpointTuple:
        member, raw_record, raw_blobs, raw_writes = entry
        checkpoint_ns, checkpoint_id = split_member(codec.as_text(member))
        record = codec.unpack_checkpoint(raw_record)
        blobs = {}
        for channel, raw in zip(record.channel_versions, raw_blobs or [], strict=False):
            try:
                blobs[channel] = codec.unpack_blob(raw)
            except DeserializationError as exc:  # say where: the thread stays unreadable
                raise DeserializationError(
                    f"thread {thread_id!r}, checkpoint {checkpoint_id!r}, channel "
                    f"{channel!r}: {exc}"
                ) from exc
        return build_tuple(
            self.serde,
            thread_id=thread_id,
            checkpoint_ns=checkpoint_ns,
            checkpoint_id=checkpoint_id,
            record=record,
            values=blobs,
            writes=sorted_writes(codec.replied_writes(raw_record, raw_writes)),
        )

    # -- reads ---------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> Flow[CheckpointTuple | None]:
        """``get_tuple``: one script call fetches the checkpoint, its blobs and writes."""
        thread_id, checkpoint_ns, checkpoint_id = read_address(config, "get_tuple")
        member = checkpoint_member(checkpoint_ns, checkpoint_id) if checkpoint_id else ""
        upper, lower = namespace_range(checkpoint_ns)
        reply = yield Call(
            scripts.GET_TUPLE, self._keys(thread_id), [self._read_ttl, member, upper, lower]
        )
        return self._tuple(thread_id, reply) if reply else None

    def list_checkpoints(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Flow[None]:
        """``list``: newest first, one round trip per page of checkpoints."""
        if limit is not None and limit <= 0:
            return
        if not config:  # InMemorySaver lists every thread for None and for {} alike
            thread_ids = yield from self._all_thread_ids()
        else:
            thread_ids = [read_address(config, "list").thread_id]
        remaining = limit
        for thread_id in thread_ids:
            remaining = yield from self._list_thread(
                thread_id, config, filter=filter, before=before, limit=remaining
            )
            if remaining == 0:
                return

    def _all_thread_ids(self, limit: int | None = None) -> Flow[list[str]]:
        keys = yield Scan(checkpoint_key_pattern(self.prefix), limit)
        found = {thread_id_of_cp_key(self.prefix, codec.as_text(key)) for key in keys}
        return sorted(t for t in found if t is not None)

    def list_threads(self, limit: int) -> Flow[list[str]]:
        """Ids of up to ``limit`` threads that have a checkpoint: one ``SCAN`` of the
        prefix's checkpoint hashes (on every primary), stopped once ``limit`` are found."""
        return (yield from self._all_thread_ids(limit))

    def _list_thread(
        self,
        thread_id: str,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Flow[int | None]:
        only_ns = namespace_filter(config)
        only_id = read_address(config, "list").checkpoint_id if config else None
        before_id = read_before_id(before)
        keys = self._keys(thread_id)
        if only_id is not None:
            if before_id is not None and only_id >= before_id:
                return limit
            # Checkpoint ids are unique, so the root namespace (or the one named) is tried
            # first; only an id found nowhere there costs a look through every namespace.
            namespace = only_ns if only_ns is not None else ROOT_NS
            upper, lower = namespace_range(namespace)
            member = checkpoint_member(namespace, only_id)
            reply = yield Call(scripts.GET_TUPLE, keys, [self._read_ttl, member, upper, lower])
            entries = [reply] if reply else []
            if not reply and only_ns is None:
                entries = yield from self._entries_with_id(keys, only_id)
            return (yield from self._emit(thread_id, entries, filter, limit))
        if only_ns is None:
            return (yield from self._list_every_namespace(thread_id, filter, before_id, limit))
        remaining = limit
        upper, lower = namespace_range(only_ns, before_id)
        cursor: str | None = upper
        while cursor is not None and remaining != 0:
            reply = yield Call(
                scripts.LIST, keys, [self._read_ttl, cursor, lower, _page(filter, remaining)]
            )
            next_cursor, entries = reply
            cursor = codec.as_text(next_cursor) if next_cursor else None
            remaining = yield from self._emit(thread_id, entries, filter, remaining)
        return remaining

    def _list_every_namespace(
        self,
        thread_id: str,
        filter: dict[str, Any] | None,
        before_id: str | None,
        limit: int | None,
    ) -> Flow[int | None]:
        """``list`` without a namespace: each namespace in the order of its first
        checkpoint, as ``InMemorySaver`` keeps them, each newest first."""
        keys, remaining = self._keys(thread_id), limit
        cursor: list[Any] = ["0", "", "", ""]
        before = encode(before_id) if before_id is not None else ""
        while remaining != 0:
            page = _page(filter, remaining)
            most = -1 if filter or remaining is None else remaining
            reply = yield Call(
                scripts.LIST_ALL, keys, [self._read_ttl, *cursor, before, page, most]
            )
            next_cursor, entries = reply
            remaining = yield from self._emit(thread_id, entries, filter, remaining)
            if not next_cursor:
                break
            cursor = ["1", *next_cursor]
        return remaining

    def _entries_with_id(self, keys: ThreadKeys, checkpoint_id: str) -> Flow[list[Any]]:
        reply = yield Call(scripts.LIST, keys, [self._read_ttl, "+", "-", 1_000_000])
        return [e for e in reply[1] if split_member(codec.as_text(e[0]))[1] == checkpoint_id]

    def _emit(
        self,
        thread_id: str,
        entries: Sequence[Any],
        filter: dict[str, Any] | None,
        remaining: int | None,
    ) -> Flow[int | None]:
        return (
            yield from emit_matching(
                entries, lambda entry: self._tuple(thread_id, entry), filter, remaining
            )
        )

    def delta_history(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> Flow[Mapping[str, DeltaChannelHistory]]:
        """``get_delta_channel_history``: the server walks the parent chain in one call."""
        if not channels:
            return {}
        thread_id, checkpoint_ns, checkpoint_id = read_address(config, "get_delta_channel_history")
        member = checkpoint_member(checkpoint_ns, checkpoint_id) if checkpoint_id else ""
        upper, lower = namespace_range(checkpoint_ns)
        reply = yield Call(
            scripts.DELTA_HISTORY, self._keys(thread_id), [member, upper, lower, *channels]
        )
        links = []
        for raw in reply:
            record = codec.unpack_checkpoint(raw[0])
            blobs = {
                codec.as_text(raw[i]): codec.unpack_blob(raw[i + 1]) for i in range(2, len(raw), 2)
            }
            writes = sorted_writes(codec.replied_writes(raw[0], raw[1]))
            links.append(ChainLink(record, blobs, writes))
        return delta_channel_history(self.serde, links, channels)

    # -- writes --------------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Flow[RunnableConfig]:
        """``put``: checkpoint record, index entry and new blobs, in one script call.

        A list that only grew is sent as its delta alone, so a step costs what it added, not
        the length of the thread. If the version a delta extends is gone (pruned), the script
        writes nothing and a second call sends every value in full: the only case where
        ``put`` takes two round trips.
        """
        thread_id, checkpoint_ns, parent_id = read_address(config, "put")
        encoded = encode_put(self.serde, config, checkpoint, metadata, new_versions)
        ns = encode(checkpoint_ns)
        squeeze = self._squeeze
        versions = encoded.record.channel_versions
        inline: dict[str, bytes] = {}
        planned: list[PlannedBlob] = []
        for (channel, version), blob in encoded.blobs.items():
            name = f"{ns}:{blob_suffix(channel, version)}"
            plan = self.deltas.plan((thread_id, checkpoint_ns, channel), name, *blob, squeeze)
            packed = None if plan.base_field else codec.pack_blob(blob, squeeze)
            if (
                packed is not None
                and len(packed) <= self.inline_bytes
                and not plan.grows
                and versions.get(channel) == version
            ):
                inline[channel] = packed
            else:
                planned.append(PlannedBlob(name, blob, plan, packed))
        # a new version without a value: kept as the empty value, so the script knows the
        # channel changed (rather than looking for an unchanged value to refer to)
        for channel, version in new_versions.items() if self.inline_bytes else ():
            if versions.get(channel) == version and (channel, version) not in encoded.blobs:
                inline[channel] = b""
        after = checkpoint_member(checkpoint_ns, parent_id) if parent_id else None
        kept_key = (thread_id, checkpoint_ns)
        parent = self.kept.recall(kept_key, parent_id) if parent_id else None
        suffixes = {c: blob_suffix(c, v) for c, v in versions.items()}
        copies = _copies_of_kept(
            parent, ns, versions=versions, suffixes=suffixes, inline=inline, sent=encoded.blobs
        )
        record, header = codec.pack_checkpoint_parts(
            encoded.record, squeeze, inline, with_writes=self.writes_in_record, suffixes=suffixes
        )
        head: list[Any] = [
            self._ttl,
            checkpoint_member(checkpoint_ns, encoded.checkpoint_id),
            record,
            thread_id,
            encoded.checkpoint_id if checkpoint_ns == ROOT_NS else "",
            after if parent and copies is not None else "",
            parent.header if parent and copies is not None else b"",
            1,
            len(copies or ()),
            *(item for pair in (copies or ()) for item in pair),
        ]
        keys = self._keys(thread_id)
        args = head + _blob_args(planned, squeeze, deltas=True)
        reply = yield Call(scripts.PUT, keys, args, after=after)
        if isinstance(reply, list):
            # a delta's base is gone, or an unchanged channel's value (the thread expired
            # while the run went on): send every value in full, unchanged ones too
            head[7] = 0
            every = planned + _unchanged_values(self.serde, checkpoint, encoded.blobs, versions, ns)
            args = head + _blob_args(every, squeeze, deltas=False)
            yield Call(scripts.PUT, keys, args, after=after)
        refs = {c: (suffix, inline.get(c)) for c, suffix in suffixes.items()}
        self.kept.remember(kept_key, Remembered(encoded.checkpoint_id, refs, header))
        return checkpoint_config(thread_id, checkpoint_ns, encoded.checkpoint_id)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> Flow[None]:
        """``put_writes``: merged into the task's writes at the checkpoint with
        ``WRITES_IDX_MAP`` semantics, and the pending interrupts updated, in one script call.

        Only the task's own field is read and rewritten, so the call costs the same however
        many other tasks already wrote there (a fan-out of thousands of ``Send`` tasks)."""
        thread_id, checkpoint_ns, checkpoint_id = read_write_target(config, "put_writes")
        assert checkpoint_id is not None  # read_write_target guarantees it
        keys = self._keys(thread_id)
        encoded = encode_writes(self.serde, writes, task_id, task_path)
        count, frames = codec.task_frames(encoded, self._squeeze)
        args: list[Any] = [
            self._ttl,
            checkpoint_member(checkpoint_ns, checkpoint_id),
            thread_id,
            task_id,
            encode(task_id),
            count,
            frames,
        ]
        update = interrupt_update(
            self.serde,
            checkpoint_ns,
            checkpoint_id,
            task_id,
            writes,
            task_path=task_path,
            stored=encoded,
        )
        args += [keys.base, checkpoint_id, 0 if update is None else 1]
        if update is not None:
            args += self._update_args(thread_id, update)
        # Writes to LangGraph's own channels (interrupts, errors, resumes, tasks) are
        # waited for: LangGraph orders what comes next after them.
        carry = not any(channel.startswith("__") for channel, _ in writes)
        slot = (args[1], task_id)
        yield Call(scripts.PUT_WRITES, keys, args, carry, slot)

    def _update_args(self, thread_id: str, update: InterruptUpdate) -> list[Any]:
        """One update as the scripts' ``read_update`` takes it, with a fresh token for each
        interrupt (used only if the interrupt is new)."""
        if update.interrupts is None:
            return [update.task_id, "d", 0]
        tag = thread_tag(thread_id)
        deadline = None if self.ttl_ms is None else self.clock() + self.ttl_ms
        args: list[Any] = [update.task_id, "i", len(update.interrupts)]
        for raised in update.interrupts:
            args += [
                raised.interrupt_id,
                mint_token(tag, deadline),
                codec.pending_body(raised.value, raised.schema),
            ]
        return args

    def _rebuild_pending(self, thread_id: str, known: KnownValues | None = None) -> Flow[None]:
        """Derive the pending set of the thread's latest checkpoint again from its writes:
        one read of that checkpoint, one script that applies the result if it is still the
        latest. The interrupts of ``known`` records keep their stored values."""
        keys = self._keys(thread_id)
        upper, lower = namespace_range(ROOT_NS)
        entry = yield Call(scripts.GET_TUPLE, keys, [0, "", upper, lower])
        checkpoint_id, updates = "", []
        if entry:
            checkpoint_id = split_member(codec.as_text(entry[0]))[1]
            writes = codec.replied_writes(entry[1], entry[3])
            updates = updates_from_writes(self.serde, checkpoint_id, writes, known)
        args: list[Any] = [thread_id, keys.base, checkpoint_id, len(updates)]
        for update in updates:
            args += self._update_args(thread_id, update)
        yield Call(scripts.REBUILD_PENDING, keys, args)

    def delete_thread(self, thread_id: str) -> Flow[None]:
        """``delete_thread``: every key of the thread and its pending interrupts."""
        thread_id = read_thread_id(thread_id, "delete_thread")
        yield Call(scripts.DELETE_THREAD, self._keys(thread_id), [thread_id])

    def delete_for_runs(self, run_ids: Sequence[str]) -> Flow[None]:
        """``delete_for_runs``: one script call per thread, over every thread we hold."""
        wanted = [str(r) for r in run_ids]
        if not wanted:
            return
        for thread_id in (yield from self._all_thread_ids()):
            stale = yield Call(
                scripts.DELETE_CHECKPOINTS, self._keys(thread_id), [thread_id, "r", *wanted]
            )
            if stale:
                yield from self._rebuild_pending(thread_id)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> Flow[None]:
        """``copy_thread``: read the source in one call, write the target in another.

        The two threads may live on different Cluster nodes, so the copy is two atomic
        steps; the target never holds half of a checkpoint.
        """
        source = read_thread_id(source_thread_id, "copy_thread")
        target = read_thread_id(target_thread_id, "copy_thread")
        if source == target:
            return
        members, cps, blobs, wrs = yield Call(scripts.READ_THREAD, self._keys(source), [source])
        if not members:
            return
        # the records made so far keep their values in the copy, the source's first
        kept = known_values((yield from self._stored_pending(target)))
        kept.update(known_values((yield from self._stored_pending(source))))

        def metadata(stored: TypedBytes) -> TypedBytes | None:
            return rethreaded_metadata(self.serde, stored, source, target)

        cps = [
            codec.copied_record(item, source, target, metadata, self._squeeze) if i % 2 else item
            for i, item in enumerate(cps)
        ]
        yield Call(
            scripts.WRITE_THREAD,
            self._keys(target),
            [
                self._ttl,
                len(members),
                len(cps) // 2,
                len(blobs) // 2,
                len(wrs) // 2,
                *members,
                *cps,
                *blobs,
                *wrs,
            ],
        )
        yield from self._rebuild_pending(target, kept)

    def prune(self, thread_ids: Sequence[str], strategy: str) -> Flow[None]:
        """``prune``: ``delete`` drops threads; ``keep_latest`` reads each thread once,
        decides what ``DeltaChannel`` history to keep, and deletes the rest in one call."""
        for thread_id in [read_thread_id(t, "prune") for t in thread_ids]:
            keys = self._keys(thread_id)
            if strategy == "delete":
                yield Call(scripts.DELETE_THREAD, keys, [thread_id])
                continue
            members, cps, blobs, _ = yield Call(scripts.READ_THREAD, keys, [thread_id])
            doomed = self._prune_victims(members, cps, blobs)
            if doomed:
                yield Call(scripts.DELETE_CHECKPOINTS, keys, [thread_id, "m", *doomed])

    def _prune_victims(
        self, members: Sequence[bytes], cps: Sequence[bytes], blobs: Sequence[bytes]
    ) -> list[str]:
        records = {codec.as_text(cps[i]): cps[i + 1] for i in range(0, len(cps), 2)}
        blob_values = {codec.as_text(blobs[i]): blobs[i + 1] for i in range(0, len(blobs), 2)}
        by_ns: dict[str, list[str]] = {}
        for raw in members:
            member = codec.as_text(raw)
            by_ns.setdefault(split_member(member)[0], []).append(member)
        doomed = []
        for checkpoint_ns, ns_members in by_ns.items():
            ns = encode(checkpoint_ns)

            def fetch(
                checkpoint_id: str, checkpoint_ns: str = checkpoint_ns, ns: str = ns
            ) -> tuple[StoredCheckpoint, dict[str, TypedBytes | None]] | None:
                raw = records.get(checkpoint_member(checkpoint_ns, checkpoint_id))
                if raw is None:
                    return None
                record = codec.unpack_checkpoint(raw)
                kept = codec.unpack_inline(raw)
                # only whether a value is there matters here, not the value
                return record, {
                    channel: PRESENT
                    if kept.get(channel, blob_values.get(f"{ns}:{blob_suffix(channel, version)}"))
                    not in (None, b"", codec.WANTED)
                    else None
                    for channel, version in record.channel_versions.items()
                }

            head = split_member(max(ns_members))[1]
            keep = {
                checkpoint_member(checkpoint_ns, c)
                for c in ancestors_to_keep(self.serde, head, fetch)
            }
            doomed += [m for m in ns_members if m not in keep]
        return doomed

    # -- pending interrupts --------------------------------------------------------------

    def _public(
        self, record: StoredPending, expires_ms: int, now_ms: int, *, own_claim: bool = False
    ) -> PendingInterrupt:
        expires = None if int(expires_ms) < 0 else int(expires_ms)
        return to_public(self.serde, record, expires, now_ms=int(now_ms), own_claim=own_claim)

    def pending_list(self, thread_id: str) -> Flow[list[PendingInterrupt]]:
        """Every interrupt pending on a thread, oldest first."""
        thread_id = read_thread_id(thread_id, "pending.list")
        expires, records, now = yield from self._listed_pending(thread_id)
        return [self._public(r, expires, now) for r in records]

    def _listed_pending(self, thread_id: str) -> Flow[tuple[int, list[StoredPending], int]]:
        """``(expiry, records oldest first, server time)`` of a thread's pending set."""
        expires, rows, now = yield Call(scripts.PENDING_LIST, self._keys(thread_id), [thread_id])
        records = [
            codec.unpack_pending(codec.as_text(token), raw, claim or None)
            for token, raw, claim in rows
        ]
        records.sort(key=lambda r: r.order)
        return expires, records, now

    def _stored_pending(self, thread_id: str) -> Flow[list[StoredPending]]:
        """A thread's pending records as stored."""
        return (yield from self._listed_pending(thread_id))[1]

    def pending_lookup(
        self, token: str, action: PendingAction, claim_id: str, lease_ms: int
    ) -> Flow[PendingInterrupt]:
        """``get``/``claim``/``release`` of one token: one call on the token's hash.

        Every one is safe to send twice: a repeated claim with the same claim id renews it,
        a repeated release finds the record free.
        """
        parts = parse_token(token)
        args: list[Any] = [token]
        if action != "get":
            args.append(claim_id)
        if action == "claim":
            args.append(lease_ms)
        reply = yield Call(_PENDING_SCRIPTS[action], [pending_key(self.prefix, parts.tag)], args)
        if not reply[0]:
            raise missing_token_error(token, parts, self.clock(), thread_alive=bool(int(reply[1])))
        raw, claim, expires, status, now = reply
        record = codec.unpack_pending(token, raw, claim or None)
        status = codec.as_text(status)
        if status == "taken":
            raise claimed_error(record)
        if status == "mismatch":
            raise ClaimMismatchError(
                "this pending interrupt is claimed by another caller; only its claim id can "
                "release it",
                token=token,
            )
        return self._public(record, expires, now, own_claim=action == "claim")

    def pending_claim_next(
        self, thread_id: str, claim_id: str, lease_ms: int
    ) -> Flow[PendingInterrupt]:
        """Claim the oldest unclaimed interrupt of a thread: one call on its keys."""
        thread_id = read_thread_id(thread_id, "pending.claim_next")
        reply = yield Call(
            scripts.PENDING_CLAIM_NEXT, self._keys(thread_id), [thread_id, claim_id, lease_ms]
        )
        if not reply:
            raise NothingPendingError(f"thread {thread_id!r} has no unclaimed pending interrupt")
        token, raw, claim, expires, now = reply
        record = codec.unpack_pending(codec.as_text(token), raw, claim)
        return self._public(record, expires, now, own_claim=True)
