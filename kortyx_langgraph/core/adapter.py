"""What every framework adapter has in common, whatever stores its data.

:class:`FrameworkAdapter` is the ``BaseCheckpointSaver`` users compile graphs with. Every
``BaseCheckpointSaver`` method, sync and async, is written here once, as a one-line call:
build the backend's flow for the operation (:class:`Operations`), hand it to the backend's
:class:`~kortyx_langgraph.core.flows.Engine`. A backend supplies those two objects and
nothing else, so the twins cannot drift apart.
"""

from __future__ import annotations

import builtins
import dataclasses
import random
from collections.abc import AsyncIterator, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from kortyx_langgraph.core.flows import Engine, Flow
from kortyx_langgraph.core.lifetime import Closing
from kortyx_langgraph.core.pending_store import PendingStore
from kortyx_langgraph.errors import ConfigurationError, ExpiredTokenError, UnknownTokenError
from kortyx_langgraph.pending import PendingInterrupt

if TYPE_CHECKING:
    from typing import Self

PRUNE_STRATEGIES: tuple[str, ...] = ("keep_latest", "delete")
VERSION_COUNTER_DIGITS = 12
PendingAction = Literal["get", "claim", "release"]
DEFAULT_THREAD_LIMIT = 1000
"""How many threads :meth:`FrameworkAdapter.list_threads` returns at most by default."""


class Operations(Protocol):
    """A backend's operations, each returning the flow that performs it."""

    @property
    def serde(self) -> SerializerProtocol: ...

    def get_tuple(self, config: RunnableConfig) -> Flow[CheckpointTuple | None]: ...

    def list_checkpoints(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Flow[None]: ...

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Flow[RunnableConfig]: ...

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> Flow[None]: ...

    def delete_thread(self, thread_id: str) -> Flow[None]: ...

    def delete_for_runs(self, run_ids: Sequence[str]) -> Flow[None]: ...

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> Flow[None]: ...

    def prune(self, thread_ids: Sequence[str], strategy: str) -> Flow[None]: ...

    def delta_history(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> Flow[Mapping[str, DeltaChannelHistory]]: ...

    def list_threads(self, limit: int) -> Flow[list[str]]: ...

    def pending_list(self, thread_id: str) -> Flow[list[PendingInterrupt]]: ...

    def pending_lookup(
        self, token: str, action: PendingAction, claim_id: str, lease_ms: int
    ) -> Flow[PendingInterrupt]: ...

    def pending_claim_next(
        self, thread_id: str, claim_id: str, lease_ms: int
    ) -> Flow[PendingInterrupt]: ...


def check_thread_limit(limit: object) -> int:
    """Refuse a ``list_threads`` limit that is not a positive whole number."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigurationError(
            f"limit must be a positive whole number, not {limit!r}", variable="limit"
        )
    return limit


def check_prune_strategy(strategy: str) -> None:
    """Refuse an unknown ``prune`` strategy before anything is deleted."""
    if strategy not in PRUNE_STRATEGIES:
        raise ConfigurationError(
            f"unknown prune strategy {strategy!r}; use one of {', '.join(PRUNE_STRATEGIES)}",
            variable="strategy",
        )


class FrameworkAdapter(Closing, BaseCheckpointSaver[str]):
    """A LangGraph checkpoint saver with a TTL and a pending-interrupt side store.

    Pass it to ``graph.compile(checkpointer=adapter)``. Both the sync and the async
    ``BaseCheckpointSaver`` methods work on the same object.
    """

    kind: ClassVar[str]
    """``"in-memory"`` or ``"redis"``."""

    ttl_ms: int | None
    """How long a thread lives after its last write, in ms; ``None`` means forever."""

    pending: PendingStore
    """The pending-interrupt side store of this adapter."""

    _ops: Operations
    _engine: Engine

    def _attach(self, ops: Operations, engine: Engine) -> None:
        """Called by the backend's constructor once its operations and engine exist."""
        self._ops = ops
        self._engine = engine
        self.pending = PendingStore(ops, engine)

    def close(self) -> None:
        """Release what the adapter owns (connections it opened); idempotent."""

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> Self:
        """A shallow clone whose serializer has a derived msgpack allowlist.

        LangGraph calls it when a graph is compiled with this adapter, with the types of the
        graph's state. The clone shares the storage (and connections) and uses the new
        serializer in every saver operation. It also shares this adapter's pending store,
        which from then on reads with those types too: ``adapter.pending`` serves every
        graph compiled with the adapter, and lists an interrupt's value as the graph's
        ``get_state`` does (a model of the state schema, not a dict, under
        ``LANGGRAPH_STRICT_MSGPACK``).
        """
        clone = cast("Self", super().with_allowlist(extra_allowlist))
        if clone is not self:
            ops = dataclasses.replace(self._ops, serde=clone.serde)  # type: ignore[type-var]
            clone._attach(ops, self._engine)
            self.pending.allow(extra_allowlist)
            clone.pending = self.pending
        return clone

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Next channel version: a zero-padded counter and a random tie-breaker.

        ``"000000000007.3f9a0c21be"``: versions sort as strings, and two forks of one thread
        never mint the same version for different values (blobs are keyed by version). The
        23 characters, against 49 for LangGraph's ``InMemorySaver`` scheme, matter: a version
        is stored several times per checkpoint. A longer counter already in use is kept.
        """
        if current is None:
            counter, width = 0, VERSION_COUNTER_DIGITS
        elif isinstance(current, int):
            counter, width = current, VERSION_COUNTER_DIGITS
        else:
            digits = str(current).split(".", 1)[0]
            counter, width = int(digits), max(VERSION_COUNTER_DIGITS, len(digits))
        # Python's own generator (reseeded in a forked child), as LangGraph's savers use:
        # the tie-breaker needs to differ between forks, not to be secret, and ``secrets``
        # asks the kernel every time, a system call that lets go of the GIL on the thread
        # running the graph (docs/benchmarks.md, "Fewer system calls")
        return f"{counter + 1:0{width}}.{random.getrandbits(40):010x}"

    # -- BaseCheckpointSaver, sync -------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by ``config`` (the latest one without ``checkpoint_id``)."""
        return _as_resumed(config, self._engine.run(self._ops.get_tuple(config)))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first; ``filter`` is exact match on metadata, then ``limit``."""
        flow = self._ops.list_checkpoints(config, filter=filter, before=before, limit=limit)
        return self._engine.iterate(flow)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the values of its changed channels."""
        return self._engine.run(self._ops.put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes: special channels overwrite, regular ones insert-if-absent."""
        self._engine.run(self._ops.put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        """Delete everything stored for a thread, pending interrupts included."""
        self._engine.run(self._ops.delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) created by any of ``run_ids``."""
        self._engine.run(self._ops.delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread's checkpoints, values, writes and pending interrupts (new tokens).

        Entries the target already had under the same keys are replaced; others are kept.
        """
        self._engine.run(self._ops.copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``"keep_latest"``: keep each namespace's newest checkpoint (and, for threads using
        ``DeltaChannel``, the ancestors its delta channels rebuild from); ``"delete"``: drop
        the threads."""
        check_prune_strategy(strategy)
        self._engine.run(self._ops.prune(thread_ids, strategy))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Per-channel writes and seed along the parent chain, in one pass."""
        return self._engine.run(self._ops.delta_history(config, channels))

    # -- administration ------------------------------------------------------------------

    def list_threads(self, *, limit: int = DEFAULT_THREAD_LIMIT) -> builtins.list[str]:
        """Ids of up to ``limit`` threads that have a checkpoint, sorted.

        An administrative scan, not for a run's path. In memory it reads the thread table.
        On Redis it is one ``SCAN`` over the prefix's checkpoint hashes (on every primary of
        a Cluster), stopped as soon as ``limit`` threads are found: ``SCAN`` walks the
        database's keys in pages, so its cost grows with the keys it visits, at most the
        whole database. When more than ``limit`` threads exist, which ones come back is
        unspecified; ask for ``limit + 1`` to learn whether more exist.
        """
        return self._engine.run(self._ops.list_threads(check_thread_limit(limit)))

    async def alist_threads(self, *, limit: int = DEFAULT_THREAD_LIMIT) -> builtins.list[str]:
        """Async :meth:`list_threads`."""
        return await self._engine.arun(self._ops.list_threads(check_thread_limit(limit)))

    # -- BaseCheckpointSaver, async: the same flows, run by the async engine -------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async :meth:`get_tuple`."""
        return _as_resumed(config, await self._engine.arun(self._ops.get_tuple(config)))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async :meth:`list`."""
        flow = self._ops.list_checkpoints(config, filter=filter, before=before, limit=limit)
        async for item in self._engine.aiterate(flow):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async :meth:`put`."""
        return await self._engine.arun(self._ops.put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async :meth:`put_writes`."""
        await self._engine.arun(self._ops.put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        """Async :meth:`delete_thread`."""
        await self._engine.arun(self._ops.delete_thread(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async :meth:`delete_for_runs`."""
        await self._engine.arun(self._ops.delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async :meth:`copy_thread`."""
        await self._engine.arun(self._ops.copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async :meth:`prune`."""
        check_prune_strategy(strategy)
        await self._engine.arun(self._ops.prune(thread_ids, strategy))

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Async :meth:`get_delta_channel_history`."""
        return await self._engine.arun(self._ops.delta_history(config, channels))


RESUME_CHECKPOINT_KEY = "__kortyx_resume_checkpoint"
"""A ``configurable`` key of a resume run (``agent.resume``): the id of the checkpoint its
question was asked at. A run reads its top-level checkpoint once, first; when that is not
this one (the thread expired or moved on after the claim), the read raises instead of
letting LangGraph start the graph anew or answer another checkpoint's question."""


def _as_resumed(config: RunnableConfig, found: CheckpointTuple | None) -> CheckpointTuple | None:
    """``found``, unless ``config`` is a resume run's and ``found`` is not its checkpoint."""
    configurable = config.get("configurable") or {}
    wanted = configurable.get(RESUME_CHECKPOINT_KEY)
    if wanted is None or configurable.get("checkpoint_ns", ""):
        return found
    if found is None:
        raise ExpiredTokenError(
            "the thread expired (or was deleted) after the interrupt was claimed; nothing ran"
        )
    if found.config["configurable"]["checkpoint_id"] != wanted:
        raise UnknownTokenError(
            "the thread moved past the checkpoint the interrupt was asked at after it was "
            "claimed; nothing ran"
        )
    return found
