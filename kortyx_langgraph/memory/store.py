"""The in-memory adapter's data: one :class:`ThreadState` per thread, in a TTL-ordered table.

A thread expires as a whole. Every write moves the thread to the end of an ``OrderedDict``
and sets its deadline to now + TTL, so the table is always ordered by deadline and expired
threads are popped from its front in O(1) each: memory held by expired threads is freed on
the next write, whatever thread it touches, with no background task. An optional
``max_threads`` bound evicts the least recently written threads first.
"""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from kortyx_langgraph.core.ids import ROOT_NS, thread_tag
from kortyx_langgraph.core.interrupts import StoredPending
from kortyx_langgraph.core.records import StoredCheckpoint, StoredWrite, TypedBytes, Version

Clock = Callable[[], int]
"""Returns the current time in milliseconds since the epoch."""


def wall_clock_ms() -> int:
    """The default clock: wall time in milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass
class Namespace:
    """Checkpoints of one (thread, namespace), with their ids kept sorted for range reads."""

    ids: list[str] = field(default_factory=list)
    records: dict[str, StoredCheckpoint] = field(default_factory=dict)

    def add(self, checkpoint_id: str, record: StoredCheckpoint) -> None:
        """Store or replace a checkpoint; ids arrive mostly in order, so insertion is cheap."""
        if checkpoint_id not in self.records:
            if not self.ids or self.ids[-1] < checkpoint_id:
                self.ids.append(checkpoint_id)
            else:
                bisect.insort(self.ids, checkpoint_id)
        self.records[checkpoint_id] = record

    def remove(self, checkpoint_id: str) -> None:
        """Forget a checkpoint (its writes and blobs are the thread's business)."""
        if self.records.pop(checkpoint_id, None) is not None:
            del self.ids[bisect.bisect_left(self.ids, checkpoint_id)]

    def newest_first(self, before: str | None = None) -> Iterator[str]:
        """Ids from newest to oldest, only those strictly below ``before`` when given."""
        end = len(self.ids) if before is None else bisect.bisect_left(self.ids, before)
        for position in range(end - 1, -1, -1):
            yield self.ids[position]

    @property
    def latest(self) -> str | None:
        """The newest checkpoint id, or ``None`` when empty."""
        return self.ids[-1] if self.ids else None


WriteKey = tuple[str, int]
"""``(task_id, idx)``: a write's key within its checkpoint."""


@dataclass
class PendingIndex:
    """Where a write finds its own task's records among a thread's pending ones, so that
    its cost does not grow with the interrupts waiting beside it."""

    by_id: dict[tuple[str, str], str] = field(default_factory=dict)
    """``(checkpoint id, interrupt id) -> token``."""
    waits: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    """``(checkpoint id, task id) -> the interrupt ids the task waits for there``."""

    @classmethod
    def of(cls, records: dict[str, StoredPending]) -> PendingIndex:
        """The index of ``token -> record``."""
        index = cls()
        for token, record in records.items():
            index.by_id[(record.checkpoint_id, record.interrupt_id)] = token
            for task_id in record.task_ids:
                key = (record.checkpoint_id, task_id)
                index.waits[key] = (*index.waits.get(key, ()), record.interrupt_id)
        return index


@dataclass
class ThreadState:
    """Everything stored for one thread; expires as a whole."""

    deadline_ms: int | None
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    blobs: dict[tuple[str, str, Version], TypedBytes] = field(default_factory=dict)
    """``(namespace, channel, version) -> value``: stored once, shared by checkpoints."""
    writes: dict[tuple[str, str], dict[WriteKey, StoredWrite]] = field(default_factory=dict)
    """``(namespace, checkpoint id) -> writes``; may exist before its checkpoint does."""
    pending: dict[str, StoredPending] = field(default_factory=dict)
    """``token -> pending interrupt`` of the top-level graph."""
    finished: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """``(namespace, checkpoint id) -> the tasks with a write that finishes them there``."""
    index: PendingIndex | None = None
    """Of ``pending``; ``None`` once something but ``put_writes`` changed it (made again
    from it when next needed)."""
    next_claims: dict[str, str] = field(default_factory=dict)
    """``claim id -> token`` of the record ``claim_next`` took for it, which a retry with
    that claim id gets again (checked against the record's claim when read)."""

    def root_records(self) -> Mapping[str, StoredCheckpoint]:
        """The top-level graph's checkpoints by id. A pending record is listed only once
        its checkpoint is here: LangGraph's async durability may send a task's writes
        before the ``put``, and ``get_state`` does not see them until it lands."""
        root = self.namespaces.get(ROOT_NS)
        return root.records if root is not None else {}

    def pending_index(self) -> PendingIndex:
        """The index of ``pending``, made first if it is not there."""
        if self.index is None:
            self.index = PendingIndex.of(self.pending)
        return self.index

    def namespaces_in_order(self) -> list[tuple[str, Namespace]]:
        """The root namespace first, then the others by their first checkpoint id: the
        order ``list`` without a namespace reads them in, on either backend."""
        return sorted(
            self.namespaces.items(),
            key=lambda item: (item[0] != "", item[1].ids[0] if item[1].ids else "", item[0]),
        )

    def collect_unreferenced_blobs(self) -> None:
        """Drop blobs no remaining checkpoint points at (after deleting checkpoints)."""
        used = {
            (ns_name, channel, version)
            for ns_name, namespace in self.namespaces.items()
            for record in namespace.records.values()
            for channel, version in record.channel_versions.items()
        }
        self.blobs = {key: blob for key, blob in self.blobs.items() if key in used}

    def remove_checkpoint(self, checkpoint_ns: str, checkpoint_id: str) -> None:
        """Forget one checkpoint and its writes (blobs: see above; pending: the caller's)."""
        namespace = self.namespaces.get(checkpoint_ns)
        if namespace is not None:
            namespace.remove(checkpoint_id)
            if not namespace.records:
                del self.namespaces[checkpoint_ns]
        self.writes.pop((checkpoint_ns, checkpoint_id), None)
        self.finished.pop((checkpoint_ns, checkpoint_id), None)

    def is_empty(self) -> bool:
        """No checkpoint and no write left."""
        return not self.namespaces and not self.writes


class ThreadTable:
    """Live threads by id, ordered by deadline, plus the token -> thread index.

    Not thread-safe by itself: the adapter holds its lock around every call.
    """

    def __init__(self, *, ttl_ms: int | None, clock: Clock, max_threads: int | None) -> None:
        self.ttl_ms = ttl_ms
        self.clock = clock
        self.max_threads = max_threads
        self._threads: OrderedDict[str, ThreadState] = OrderedDict()
        self.tokens: dict[str, str] = {}
        """``token -> thread id`` for every pending interrupt of a live thread."""
        self._seq = 0

    def next_seq(self) -> int:
        """A number that grows with every pending record made: orders same-ms records."""
        self._seq += 1
        return self._seq

    def has_tag(self, tag: str) -> bool:
        """Whether a live thread has the thread tag ``tag`` (tells expired from unknown)."""
        return any(thread_tag(thread_id) == tag for thread_id, _ in self.live())

    def __len__(self) -> int:
        return len(self._threads)

    def now(self) -> int:
        """The clock's current time in ms."""
        return self.clock()

    def _deadline(self) -> int | None:
        return None if self.ttl_ms is None else self.clock() + self.ttl_ms

    def find(self, thread_id: str, *, touch: bool = False) -> ThreadState | None:
        """The live thread, or ``None``; an expired one is freed on the spot."""
        state = self._threads.get(thread_id)
        if state is None:
            return None
        if state.deadline_ms is not None and state.deadline_ms <= self.clock():
            self.drop(thread_id)
            return None
        if touch:
            self.touch(thread_id, state)
        return state

    def for_write(self, thread_id: str) -> ThreadState:
        """The thread to write to, created if needed; its deadline slides to now + TTL."""
        self.sweep()
        state = self.find(thread_id)
        if state is None:
            state = ThreadState(deadline_ms=self._deadline())
            self._threads[thread_id] = state
            self._evict_over_bound()
        else:
            self.touch(thread_id, state)
        return state

    def touch(self, thread_id: str, state: ThreadState) -> None:
        """Extend a thread to now + TTL and move it to the back of the expiry order."""
        state.deadline_ms = self._deadline()
        self._threads.move_to_end(thread_id)

    def drop(self, thread_id: str) -> None:
        """Free a thread and its tokens."""
        state = self._threads.pop(thread_id, None)
        if state is not None:
            for token in state.pending:
                self.tokens.pop(token, None)

    def sweep(self) -> int:
        """Free every expired thread; returns how many. O(1) per freed thread."""
        if self.ttl_ms is None:
            return 0
        now = self.clock()
        freed = 0
        while self._threads:
            thread_id, state = next(iter(self._threads.items()))
            if state.deadline_ms is None or state.deadline_ms > now:
                break
            self.drop(thread_id)
            freed += 1
        return freed

    def sync_tokens(self, thread_id: str, before: set[str], state: ThreadState) -> None:
        """Update the token index after ``state.pending`` changed from the ``before`` tokens."""
        for token in before - state.pending.keys():
            self.tokens.pop(token, None)
        for token in state.pending.keys() - before:
            self.tokens[token] = thread_id

    def _evict_over_bound(self) -> None:
        while self.max_threads is not None and len(self._threads) > self.max_threads:
            self.drop(next(iter(self._threads)))

    def live(self) -> list[tuple[str, ThreadState]]:
        """Every live thread (expired ones are freed first)."""
        self.sweep()
        return list(self._threads.items())
