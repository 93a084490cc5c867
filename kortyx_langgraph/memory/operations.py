"""The in-memory backend's operations, as flows that do no I/O (see ``core.flows``).

One lock guards the data (LangGraph calls ``put``/``put_writes`` from background threads);
decoding happens outside it. Records are stored serialized, exactly as the Redis backend
stores them, so both behave the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

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
from kortyx_langgraph.core.flows import Flow, flow
from kortyx_langgraph.core.history import (
    ChainLink,
    ancestors_to_keep,
    delta_channel_history,
    has_value,
)
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
    apply_update,
    check_release,
    decide_claim,
    interrupt_update,
    known_values,
    mint_token,
    missing_token_error,
    parse_token,
    rebuild,
    retire_superseded,
    task_finished,
    to_public,
    updates_from_writes,
)
from kortyx_langgraph.core.records import (
    EncodedPut,
    StoredCheckpoint,
    StoredWrite,
    TypedBytes,
    build_tuple,
    copied,
    dumps,
    emit_matching,
    encode_put,
    encode_writes,
    made_by,
    sorted_writes,
)
from kortyx_langgraph.errors import NothingPendingError
from kortyx_langgraph.memory.store import Namespace, ThreadState, ThreadTable
from kortyx_langgraph.pending import PendingInterrupt

_Row = tuple[str, str, str, StoredCheckpoint, dict[str, TypedBytes | None], list[StoredWrite]]
"""What a read copies out under the lock: thread, namespace, id, record, blobs, writes."""
Fetch = Callable[[str], tuple[StoredCheckpoint, dict[str, TypedBytes | None]] | None]


ONLY_THIS_PROCESS = (
    "; an in-memory adapter knows only the interrupts of the process that made it (to resume "
    "in another process, set KORTYX_REDIS_URL for both)"
)
"""How the in-memory backend ends an "unknown token" message: the usual cause of one."""


@dataclass(frozen=True)
class MemoryOperations:
    """The flows of one in-memory adapter over its thread table."""

    table: ThreadTable
    lock: threading.RLock
    serde: SerializerProtocol
    refresh_on_read: bool

    # -- reads -------------------------------------------------------------------------

    def _row(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str, state: ThreadState
    ) -> _Row | None:
        namespace = state.namespaces.get(checkpoint_ns)
        record = namespace.records.get(checkpoint_id) if namespace else None
        if record is None:
            return None
        blobs = {
            channel: state.blobs.get((checkpoint_ns, channel, version))
            for channel, version in record.channel_versions.items()
        }
        stored = state.writes.get((checkpoint_ns, checkpoint_id))
        writes = sorted_writes(stored.values()) if stored else []
        return thread_id, checkpoint_ns, checkpoint_id, record, blobs, writes

    def _tuple(self, row: _Row, metadata: CheckpointMetadata | None = None) -> CheckpointTuple:
        thread_id, checkpoint_ns, checkpoint_id, record, blobs, writes = row
        return build_tuple(
            self.serde,
            thread_id=thread_id,
            checkpoint_ns=checkpoint_ns,
            checkpoint_id=checkpoint_id,
            record=record,
            values=blobs,
            writes=writes,
            metadata=metadata,
        )

    @flow
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """``get_tuple``: copy the rows out under the lock, decode outside it."""
        thread_id, checkpoint_ns, checkpoint_id = read_address(config, "get_tuple")
        with self.lock:
            state = self.table.find(thread_id, touch=self.refresh_on_read)
            if state is None:
                return None
            if checkpoint_id is None:
                namespace = state.namespaces.get(checkpoint_ns)
                checkpoint_id = namespace.latest if namespace else None
                if checkpoint_id is None:
                    return None
            row = self._row(thread_id, checkpoint_ns, checkpoint_id, state)
        return None if row is None else self._tuple(row)

    def list_checkpoints(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Flow[None]:
        """``list``: newest first; ``filter`` is exact match on metadata, then ``limit``."""
        rows = self._list_rows(config, before=before, limit=None if filter else limit)
        yield from emit_matching(rows, self._tuple, filter, limit)

    def _list_rows(
        self,
        config: RunnableConfig | None,
        *,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> list[_Row]:
        only_ns = namespace_filter(config)
        only_id = None
        before_id = read_before_id(before)
        rows: list[_Row] = []
        if limit is not None and limit <= 0:
            return rows
        with self.lock:
            if config:  # InMemorySaver lists every thread for None and for {} alike
                thread_id, _, only_id = read_address(config, "list")
                state = self.table.find(thread_id, touch=self.refresh_on_read)
                threads = [] if state is None else [(thread_id, state)]
            else:  # by thread id, as the Redis backend lists them
                threads = sorted(self.table.live(), key=lambda item: item[0])
            for thread_id, state in threads:
                if only_ns is None:
                    namespaces = state.namespaces_in_order()
                elif only_ns in state.namespaces:
                    namespaces = [(only_ns, state.namespaces[only_ns])]
                else:
                    continue
                for ns_name, namespace in namespaces:
                    for checkpoint_id in namespace.newest_first(before_id):
                        if only_id is not None and checkpoint_id != only_id:
                            continue
                        row = self._row(thread_id, ns_name, checkpoint_id, state)
                        if row is not None:
                            rows.append(row)
                            if limit is not None and len(rows) >= limit:
                                return rows
        return rows

    @flow
    def delta_history(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """``get_delta_channel_history``: one walk of the parent chain (see ``core``)."""
        if not channels:
            return {}
        thread_id, checkpoint_ns, checkpoint_id = read_address(config, "get_delta_channel_history")
        links: list[ChainLink] = []
        with self.lock:
            state = self.table.find(thread_id)
            namespace = state.namespaces.get(checkpoint_ns) if state else None
            if state is not None and namespace is not None:
                target = namespace.records.get(checkpoint_id or namespace.latest or "")
                current = target.parent_id if target else None
                remaining = set(channels)
                while current is not None and remaining:
                    row = self._row(thread_id, checkpoint_ns, current, state)
                    if row is None:
                        break
                    record, blobs, writes = row[3], row[4], row[5]
                    links.append(ChainLink(record, {c: blobs.get(c) for c in remaining}, writes))
                    remaining = {c for c in remaining if not has_value(blobs.get(c))}
                    current = record.parent_id
        return delta_channel_history(self.serde, links, channels)

    # -- writes ------------------------------------------------------------------------

    @flow
    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the values of its changed channels."""
        thread_id, checkpoint_ns, _ = read_address(config, "put")
        encoded = encode_put(self.serde, config, checkpoint, metadata, new_versions)
        with self.lock:
            state = self.table.for_write(thread_id)
            namespace = state.namespaces.setdefault(checkpoint_ns, Namespace())
            parent = encoded.record.parent_id
            orphan = parent is not None and parent not in namespace.records
            namespace.add(encoded.checkpoint_id, encoded.record)
            for (channel, version), blob in encoded.blobs.items():
                state.blobs[(checkpoint_ns, channel, version)] = blob
            if orphan:
                _keep_unchanged_values(self.serde, state, checkpoint_ns, checkpoint, encoded)
            if checkpoint_ns == ROOT_NS and state.pending:
                before = set(state.pending)
                retire_superseded(state.pending, encoded.checkpoint_id)
                if len(state.pending) != len(before):
                    state.index = None
                    self.table.sync_tokens(thread_id, before, state)
        return checkpoint_config(thread_id, checkpoint_ns, encoded.checkpoint_id)

    @flow
    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        """Store a task's writes: special channels overwrite, regular ones insert-if-absent."""
        thread_id, checkpoint_ns, checkpoint_id = read_write_target(config, "put_writes")
        assert checkpoint_id is not None  # read_write_target guarantees it
        encoded = encode_writes(self.serde, writes, task_id, task_path)
        update = interrupt_update(
            self.serde,
            checkpoint_ns,
            checkpoint_id,
            task_id,
            writes,
            task_path=task_path,
            stored=encoded,
        )
        with self.lock:
            state = self.table.for_write(thread_id)
            stored = state.writes.setdefault((checkpoint_ns, checkpoint_id), {})
            for write in encoded:
                key = (write.task_id, write.idx)
                if write.overwrites or key not in stored:
                    stored[key] = write
            if task_finished(encoded):
                state.finished.setdefault((checkpoint_ns, checkpoint_id), set()).add(task_id)
            if update is not None and update.interrupts is not None:
                root = state.namespaces.get(ROOT_NS)
                if root is not None and root.ids and root.ids[-1] > checkpoint_id:
                    # a run resumed at an older checkpoint (after a fork): LangGraph
                    # reports the latest checkpoint's interrupts alone
                    update = None
            finished = state.finished.get((checkpoint_ns, checkpoint_id), ())
            if update is not None and update.interrupts is not None and task_id in finished:
                # another run of the thread finished the task here first
                update = replace(update, interrupts=None)
            if update is not None:
                self._apply(thread_id, state, update)

    def _apply(self, thread_id: str, state: ThreadState, update: InterruptUpdate) -> None:
        """Apply ``update`` to the records of its task and interrupts alone, found through
        the thread's index (the lock is held)."""
        index = state.pending_index()
        checkpoint_id, task_id = update.checkpoint_id, update.task_id
        ids = [raised.interrupt_id for raised in update.interrupts or ()]
        mine: dict[str, StoredPending] = {}
        for interrupt_id in (*index.waits.get((checkpoint_id, task_id), ()), *ids):
            token = index.by_id.get((checkpoint_id, interrupt_id))
            if token is not None and token in state.pending:
                mine[token] = state.pending[token]
        before = set(mine)
        apply_update(mine, update, **self._making_records(thread_id, state))
        for token in before - mine.keys():
            gone = state.pending.pop(token)
            index.by_id.pop((checkpoint_id, gone.interrupt_id), None)
            self.table.tokens.pop(token, None)
        for token, record in mine.items():
            if token not in before:
                index.by_id[(checkpoint_id, record.interrupt_id)] = token
                self.table.tokens[token] = thread_id
            state.pending[token] = record
        if ids:
            index.waits[(checkpoint_id, task_id)] = tuple(ids)
        else:
            index.waits.pop((checkpoint_id, task_id), None)

    @flow
    def delete_thread(self, thread_id: str) -> None:
        """Delete everything stored for a thread, pending interrupts included."""
        thread_id = read_thread_id(thread_id, "delete_thread")
        with self.lock:
            self.table.drop(thread_id)

    @flow
    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) created by any of ``run_ids`` (in
        their own threads: copies stay, see :func:`~kortyx_langgraph.core.records.made_by`)."""
        wanted = set(run_ids)
        if not wanted:
            return
        with self.lock:
            for thread_id, state in self.table.live():
                doomed = [
                    (ns_name, checkpoint_id)
                    for ns_name, namespace in state.namespaces.items()
                    for checkpoint_id, record in namespace.records.items()
                    if made_by(record, thread_id, wanted)
                ]
                if doomed:
                    self._remove_checkpoints(thread_id, state, doomed)

    def _remove_checkpoints(
        self, thread_id: str, state: ThreadState, doomed: Sequence[tuple[str, str]]
    ) -> None:
        for ns_name, checkpoint_id in doomed:
            state.remove_checkpoint(ns_name, checkpoint_id)
        state.collect_unreferenced_blobs()
        if state.is_empty():
            self.table.drop(thread_id)
        elif any(ns_name == ROOT_NS for ns_name, _ in doomed):
            self._rebuild_pending(thread_id, state)

    def _rebuild_pending(
        self, thread_id: str, state: ThreadState, known: KnownValues | None = None
    ) -> None:
        """Derive the pending set of the thread's latest checkpoint again from its writes
        (keeping the values of the thread's own records and, before them, of ``known``)."""
        namespace = state.namespaces.get(ROOT_NS)
        latest = namespace.latest if namespace else None
        updates = []
        if latest is not None and (stored := state.writes.get((ROOT_NS, latest))):
            kept = {**known_values(state.pending.values()), **(known or {})}
            updates = updates_from_writes(self.serde, latest, stored.values(), kept)
        before = set(state.pending)
        state.index = None
        rebuild(state.pending, latest, updates, **self._making_records(thread_id, state))
        self.table.sync_tokens(thread_id, before, state)

    def _making_records(self, thread_id: str, state: ThreadState) -> dict[str, Any]:
        """What the core's record rules need to make a thread's new records: its id, new
        tokens (routed by its tag, dated by its deadline), the time and the order."""
        tag, deadline = thread_tag(thread_id), state.deadline_ms
        return {
            "thread_id": thread_id,
            "new_token": lambda: mint_token(tag, deadline),
            "now_ms": self.table.now(),
            "next_seq": self.table.next_seq,
        }

    @flow
    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint, blob and write of a thread into another thread.

        Entries the target already had under the same keys are replaced; others are kept.
        The target's pending interrupts are then those of its latest checkpoint: ones it
        already had there keep their tokens, copied ones get new tokens, unclaimed.
        """
        source_id = read_thread_id(source_thread_id, "copy_thread")
        target_id = read_thread_id(target_thread_id, "copy_thread")
        with self.lock:
            source = self.table.find(source_id)
            if source is None or source_id == target_id:
                return
            target = self.table.for_write(target_id)
            for ns_name, namespace in source.namespaces.items():
                copy = target.namespaces.setdefault(ns_name, Namespace())
                for checkpoint_id in namespace.ids:
                    record = namespace.records[checkpoint_id]
                    copy.add(checkpoint_id, copied(record, self.serde, source_id, target_id))
            target.blobs.update(source.blobs)
            for key, writes in source.writes.items():
                target.writes.setdefault(key, {}).update(writes)
            for key, tasks in source.finished.items():
                target.finished.setdefault(key, set()).update(tasks)
            self._rebuild_pending(target_id, target, known_values(source.pending.values()))

    @flow
    def prune(self, thread_ids: Sequence[str], strategy: str) -> None:
        """``prune``: ``keep_latest`` keeps the ``DeltaChannel`` ancestry of each head."""
        ids = [read_thread_id(t, "prune") for t in thread_ids]
        with self.lock:
            for thread_id in ids:
                if strategy == "delete":
                    self.table.drop(thread_id)
                    continue
                state = self.table.find(thread_id)
                if state is None:
                    continue
                doomed: list[tuple[str, str]] = []
                for ns_name, namespace in state.namespaces.items():
                    if namespace.latest is None:
                        continue
                    keep = set(
                        ancestors_to_keep(
                            self.serde, namespace.latest, self._fetcher(state, ns_name)
                        )
                    )
                    doomed.extend((ns_name, cid) for cid in namespace.ids if cid not in keep)
                self._remove_checkpoints(thread_id, state, doomed)

    @staticmethod
    def _fetcher(state: ThreadState, ns_name: str) -> Fetch:
        namespace = state.namespaces[ns_name]

        def fetch(
            checkpoint_id: str,
        ) -> tuple[StoredCheckpoint, dict[str, TypedBytes | None]] | None:
            record = namespace.records.get(checkpoint_id)
            if record is None:
                return None
            blobs = {
                channel: state.blobs.get((ns_name, channel, version))
                for channel, version in record.channel_versions.items()
            }
            return record, blobs

        return fetch

    @flow
    def list_threads(self, limit: int) -> list[str]:
        """Ids of up to ``limit`` live threads that have a checkpoint, in sorted order."""
        with self.lock:
            found = [thread_id for thread_id, state in self.table.live() if state.namespaces]
        return sorted(found)[:limit]

    # -- pending interrupts --------------------------------------------------------------

    def _locate(self, token: str) -> tuple[ThreadState, StoredPending]:
        """The live record for ``token``; call with the lock held."""
        parts = parse_token(token)
        thread_id = self.table.tokens.get(token)
        state = self.table.find(thread_id) if thread_id is not None else None
        record = state.pending.get(token) if state is not None else None
        if state is None or record is None:
            raise missing_token_error(
                token,
                parts,
                self.table.now(),
                thread_alive=self.table.has_tag(parts.tag),
                where=ONLY_THIS_PROCESS,
            )
        return state, record

    @flow
    def pending_list(self, thread_id: str) -> list[PendingInterrupt]:
        """Every interrupt pending on ``thread_id``, oldest first."""
        thread_id = read_thread_id(thread_id, "pending.list")
        with self.lock:
            state = self.table.find(thread_id)
            if state is None:
                return []
            records = sorted(_listed(state), key=lambda r: r.order)
            deadline, now = state.deadline_ms, self.table.now()
        return [to_public(self.serde, record, deadline, now_ms=now) for record in records]

    @flow
    def pending_lookup(
        self, token: str, action: PendingAction, claim_id: str, lease_ms: int
    ) -> PendingInterrupt:
        """``get``, ``claim`` (exactly one caller wins) or ``release`` one token."""
        with self.lock:
            state, record = self._locate(token)
            now = self.table.now()
            if action == "claim":
                _, claim = decide_claim(record, claim_id, now, lease_ms)
                _forget_next(state, record, claim_id)
                record = state.pending[token] = replace(record, claim=claim)
            elif action == "release":
                check_release(record, claim_id, now)
                _forget_next(state, record, None)
                record = state.pending[token] = replace(record, claim=None)
            deadline = state.deadline_ms
        return to_public(self.serde, record, deadline, now_ms=now, own_claim=action == "claim")

    @flow
    def pending_claim_next(self, thread_id: str, claim_id: str, lease_ms: int) -> PendingInterrupt:
        """Claim the oldest unclaimed interrupt of a thread (or renew this claim id's own)."""
        thread_id = read_thread_id(thread_id, "pending.claim_next")
        with self.lock:
            state = self.table.find(thread_id)
            now = self.table.now()
            found = None if state is None else _own_or_oldest_free(state, claim_id, now)
            if state is None or found is None:
                raise NothingPendingError(
                    f"thread {thread_id!r} has no unclaimed pending interrupt"
                )
            _forget_next(state, found, claim_id)
            _, claim = decide_claim(found, claim_id, now, lease_ms)
            record = state.pending[found.token] = replace(found, claim=claim)
            state.next_claims[claim_id] = record.token
            deadline = state.deadline_ms
        return to_public(self.serde, record, deadline, now_ms=now, own_claim=True)


def _keep_unchanged_values(
    serde: SerializerProtocol,
    state: ThreadState,
    checkpoint_ns: str,
    checkpoint: Checkpoint,
    encoded: EncodedPut,
) -> None:
    """For a checkpoint whose parent is gone (the thread expired while its run went on):
    store the value of each channel ``put`` did not send (unchanged since the parent) that
    the thread holds none for, which the step would otherwise be stored without.
    ``checkpoint`` carries every value."""
    values = checkpoint.get("channel_values") or {}
    for channel, version in encoded.record.channel_versions.items():
        if channel in values and (checkpoint_ns, channel, version) not in state.blobs:
            state.blobs[(checkpoint_ns, channel, version)] = dumps(serde, values[channel])


def _own_or_oldest_free(state: ThreadState, claim_id: str, now: int) -> StoredPending | None:
    """The record ``claim_next`` took for ``claim_id`` while that claim holds it (a retry),
    else the oldest listed record that no lease holds."""
    token = state.next_claims.get(claim_id)
    own = state.pending.get(token) if token is not None else None
    if (
        own is not None
        and own.claim is not None
        and own.claim.claim_id == claim_id
        and own.checkpoint_id in state.root_records()
    ):
        return own
    state.next_claims.pop(claim_id, None)
    if len(state.next_claims) > len(state.pending):  # drop those of records gone
        state.next_claims = {c: t for c, t in state.next_claims.items() if t in state.pending}
    stored = state.root_records()
    # records are added as they are made, so the dict is oldest first: the first free one
    # is the one to take, and a claim passes over the held ones only
    for record in state.pending.values():
        if (record.claim is None or not record.claim.holds(now)) and (
            record.checkpoint_id in stored
        ):
            return record
    return None


def _forget_next(state: ThreadState, record: StoredPending, claim_id: str | None) -> None:
    """Forget that ``claim_next`` took ``record`` for the claim that holds it, when that
    claim is replaced by another claim id's or released (``claim_id`` ``None``)."""
    held = record.claim
    if (
        held is not None
        and held.claim_id != claim_id
        and state.next_claims.get(held.claim_id) == record.token
    ):
        del state.next_claims[held.claim_id]


def _listed(state: ThreadState) -> list[StoredPending]:
    """The thread's records whose checkpoint is stored: one whose ``put`` has not landed
    (LangGraph's async durability may send a task's writes first) or failed is not
    pending yet, as ``get_state`` does not see it."""
    stored = state.root_records()
    return [r for r in state.pending.values() if r.checkpoint_id in stored]
