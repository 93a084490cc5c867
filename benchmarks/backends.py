"""The savers compared, and the environment that runs them (Redis servers, temp files).

:class:`Environment` starts a standalone Redis server and a 3-master Redis Cluster with the
test suite's harness (free loopback ports, own temp directories), and stops them on exit.
A saver is left out only when what it needs is absent (a Redis binary, a package, a server
URL); :attr:`Environment.skipped` says why.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import shutil
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from benchmarks.cores import CoreSplit, pin_server
from benchmarks.floor import RoundTripSaver, without_scripts
from benchmarks.redisinfo import RedisNodes
from kortyx_langgraph import create_in_memory_framework_adapter, create_redis_framework_adapter
from kortyx_langgraph.redis import RedisFrameworkAdapter

REPO = Path(__file__).resolve().parents[1]
STACK_URL_VARIABLE = "KORTYX_BENCH_REDIS_STACK_URL"
BASELINE = "InMemorySaver"
"""Every ratio is relative to LangGraph's ``InMemorySaver`` measured in the same run."""

Saver = BaseCheckpointSaver[Any]
Opener = Callable[[], AbstractContextManager[Saver]]
AsyncOpener = Callable[[], AbstractAsyncContextManager[Saver]]


@dataclass(frozen=True)
class Backend:
    """One saver under test; ``open()`` gives a fresh, empty instance."""

    name: str
    label: str
    open: Opener
    aopen: AsyncOpener | None = None
    async_label: str | None = None
    nodes: RedisNodes | None = None
    ours: bool = False
    pending: bool = False
    reference: bool = False
    """The no-op saver: LangGraph's own cost with nothing stored."""
    shares: RedisNodes | None = None
    """The servers a reference saver sends to while a kortyx saver is measured on them
    (its commands are counted apart and taken off that saver's figures)."""


class NoOpSaver(BaseCheckpointSaver[Any]):
    """Stores nothing: what a super-step costs in LangGraph alone (a floor, not a saver)."""

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Nothing is ever stored."""
        return None

    def list(self, config: RunnableConfig | None, **kwargs: Any) -> Iterator[CheckpointTuple]:
        """Nothing is ever stored."""
        return iter(())

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Return the config LangGraph expects, store nothing."""
        configurable = config["configurable"]
        return {
            "configurable": {
                "thread_id": configurable["thread_id"],
                "checkpoint_ns": configurable.get("checkpoint_ns", ""),
                "checkpoint_id": checkpoint["id"],
            }
        }

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store nothing."""

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async :meth:`get_tuple`."""
        return None

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async :meth:`put`."""
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async :meth:`put_writes`."""


def _harness() -> ModuleType:
    """The test suite's Redis harness (``tests/redis_harness.py``)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import tests.redis_harness as harness

    return harness


class Environment:
    """Redis servers, a temp directory, and the :class:`Backend` list built on them."""

    def __init__(self, *, cluster: bool = True, cores: CoreSplit | None = None) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.want_cluster = cluster
        self.cores = cores
        """With ``--pin-cores``: the core every server it starts runs on (and the cores
        of the benchmark process, which pins itself)."""
        self.backends: list[Backend] = []
        self.skipped: dict[str, str] = {}
        self.redis_server_bin: str | None = None
        self._stack = contextlib.ExitStack()
        self._counter = itertools.count(1)
        self._tmp: Path | None = None
        self._redis: list[tuple[str, str, str, RedisNodes]] = []

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> Environment:
        try:
            self._tmp = Path(tempfile.mkdtemp(prefix="kortyx-bench-"))
            self._stack.callback(shutil.rmtree, self._tmp, True)
            self._build()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    # -- helpers for workloads -----------------------------------------------------------

    def prefix(self) -> str:
        """A Redis key prefix no other saver instance of this run uses."""
        return f"kbench-{self.run_id}-{next(self._counter)}:"

    def thread_id(self, kind: str, n: int) -> str:
        """A thread id unique to this run (the Redis Stack baseline may share a server)."""
        return f"{kind}-{self.run_id}-{n}"

    def flush_redis(self) -> None:
        """Empty the Redis servers this run started (between workloads)."""
        for backend in self.backends:
            if backend.ours and backend.nodes is not None:
                backend.nodes.flush()

    def pin_server(self, pid: int | None) -> None:
        """Put the server process ``pid`` on the servers' core, with ``--pin-cores``."""
        if self.cores is not None and pid is not None:
            pin_server(pid, self.cores)

    def get(self, name: str) -> Backend | None:
        """The backend called ``name``, if it runs."""
        return next((b for b in self.backends if b.name == name), None)

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        self.backends.append(
            Backend(
                "kortyx-memory",
                "kortyx in-memory (TTL 15 min)",
                open=lambda: contextlib.nullcontext(create_in_memory_framework_adapter()),
                aopen=lambda: _anull(create_in_memory_framework_adapter()),
                ours=True,
                pending=True,
            )
        )
        self._add_redis()
        self.backends.append(
            Backend(
                BASELINE,
                "LangGraph InMemorySaver",
                open=lambda: contextlib.nullcontext(InMemorySaver()),
                aopen=lambda: _anull(InMemorySaver()),
            )
        )
        self._add_sqlite()
        self._add_stack()
        self.backends.append(
            Backend(
                "no-op",
                "no-op saver (LangGraph alone)",
                open=lambda: contextlib.nullcontext(NoOpSaver()),
                aopen=lambda: _anull(NoOpSaver()),
                reference=True,
            )
        )

    def _add_redis(self) -> None:
        harness = _harness()
        try:
            self.redis_server_bin, _ = harness.find_redis_binaries()
        except RuntimeError as exc:
            for name in ("kortyx-redis", "kortyx-redis-cluster"):
                self.skipped[name] = f"redis-server not found: {exc}"
            return
        server = self._stack.enter_context(harness.RedisServer())
        self.pin_server(server.pid)
        deployments = [
            ("kortyx-redis", "kortyx Redis (standalone, TTL 15 min)", server.url, [server.url])
        ]
        if self.want_cluster:
            cluster = self._stack.enter_context(harness.RedisCluster())
            for node in cluster.nodes:
                self.pin_server(node.pid)
            urls = [node.url for node in cluster.nodes]
            deployments.append(
                (
                    "kortyx-redis-cluster",
                    "kortyx Redis Cluster (3 masters, TTL 15 min)",
                    cluster.url,
                    urls,
                )
            )
        else:
            self.skipped["kortyx-redis-cluster"] = "left out with --no-cluster"
        for name, label, url, node_urls in deployments:
            nodes = RedisNodes(node_urls)
            self._stack.callback(nodes.close)
            self._redis.append((name, label, url, nodes))
            self.backends.append(
                Backend(
                    name,
                    label,
                    open=self._redis_opener(url),
                    aopen=self._redis_aopener(url),
                    nodes=nodes,
                    ours=True,
                    pending=True,
                )
            )

    def floor_savers(self) -> list[Backend]:
        """Per kortyx Redis saver, its in-invoke floor: ``InMemorySaver`` plus one bare
        round trip per operation through that saver's client (:class:`RoundTripSaver`,
        ``"<saver>-floor"``), and the saver with its scripts replaced by an empty one
        (:func:`without_scripts`, ``"<saver>-no-scripts"``)."""
        kinds: tuple[tuple[str, str, Callable[[RedisFrameworkAdapter], Saver]], ...] = (
            ("floor", "InMemorySaver + 1 bare round trip per op", RoundTripSaver),
            (
                "no-scripts",
                "kortyx Redis with empty scripts (same keys and arguments)",
                without_scripts,
            ),
        )
        out = []
        for name, _, url, nodes in self._redis:
            where = "Redis Cluster" if "cluster" in name else "standalone Redis"
            for suffix, label, make in kinds:
                out.append(
                    Backend(
                        f"{name}-{suffix}",
                        f"{label}, {where}",
                        open=self._floor_opener(url, make),
                        shares=nodes,
                        reference=True,
                    )
                )
        return out

    def _floor_opener(self, url: str, make: Callable[[RedisFrameworkAdapter], Saver]) -> Opener:
        @contextlib.contextmanager
        def open_() -> Iterator[Saver]:
            adapter = create_redis_framework_adapter(url=url, prefix=self.prefix())
            try:
                yield make(adapter)
            finally:
                adapter.close()

        return open_

    def redis_with_options(self, options: dict[str, Any], note: str) -> list[Backend]:
        """The kortyx Redis savers again, their clients created with ``options``."""
        return [
            Backend(
                f"{name} ({note})",
                f"{label}, {note}",
                open=self._redis_opener(url, options),
                aopen=self._redis_aopener(url, options),
                nodes=nodes,
                ours=True,
                pending=True,
            )
            for name, label, url, nodes in self._redis
        ]

    def redis_with_adapter_options(self, name: str, **options: Any) -> Opener | None:
        """An opener of the kortyx Redis saver ``name`` made with extra factory arguments
        (``compression="zlib"``), or ``None`` when that saver does not run."""
        for known, _, url, _ in self._redis:
            if known == name:
                return self._redis_opener(url, adapter_options=options)
        return None

    def _redis_opener(
        self,
        url: str,
        options: dict[str, Any] | None = None,
        adapter_options: dict[str, Any] | None = None,
    ) -> Opener:
        @contextlib.contextmanager
        def open_() -> Iterator[Saver]:
            adapter = create_redis_framework_adapter(
                url=url, prefix=self.prefix(), client_options=options, **(adapter_options or {})
            )
            try:
                yield adapter
            finally:
                adapter.close()

        return open_

    def _redis_aopener(self, url: str, options: dict[str, Any] | None = None) -> AsyncOpener:
        @contextlib.asynccontextmanager
        async def aopen() -> AsyncIterator[Saver]:
            adapter = create_redis_framework_adapter(
                url=url, prefix=self.prefix(), client_options=options
            )
            try:
                yield adapter
            finally:
                await adapter.aclose()

        return aopen

    def _sqlite_path(self) -> Path:
        assert self._tmp is not None
        return self._tmp / f"checkpoints-{next(self._counter)}.sqlite"

    def _add_sqlite(self) -> None:
        @contextlib.contextmanager
        def open_() -> Iterator[Saver]:
            path = self._sqlite_path()
            conn = sqlite3.connect(path, check_same_thread=False)
            try:
                yield SqliteSaver(conn)
            finally:
                conn.close()
                _remove_sqlite(path)

        aopen: AsyncOpener | None = None
        async_label: str | None = None
        if importlib.util.find_spec("aiosqlite") is None:
            self.skipped["SqliteSaver (asyncio)"] = (
                "aiosqlite is not installed (AsyncSqliteSaver needs it)"
            )
        else:
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            @contextlib.asynccontextmanager
            async def aopen_() -> AsyncIterator[Saver]:
                path = self._sqlite_path()
                try:
                    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
                        yield saver
                finally:
                    _remove_sqlite(path)

            aopen, async_label = aopen_, "AsyncSqliteSaver"
        self.backends.append(
            Backend(
                "SqliteSaver",
                "LangGraph SqliteSaver (file)",
                open=open_,
                aopen=aopen,
                async_label=async_label,
            )
        )

    def _add_stack(self) -> None:
        name = "langgraph-redis"
        url = os.environ.get(STACK_URL_VARIABLE, "").strip()
        if not url:
            self.skipped[name] = (
                f"{STACK_URL_VARIABLE} is not set; langgraph-checkpoint-redis needs Redis Stack "
                "(RedisJSON and RediSearch), which these workloads do not start (the anchor "
                "workload, --only anchor, starts its own)"
            )
            return
        if importlib.util.find_spec("langgraph.checkpoint.redis") is None:
            self.skipped[name] = "langgraph-checkpoint-redis is not installed"
            return
        from langgraph.checkpoint.redis import RedisSaver
        from langgraph.checkpoint.redis.aio import AsyncRedisSaver

        @contextlib.contextmanager
        def open_() -> Iterator[Saver]:
            with RedisSaver.from_conn_string(url) as saver:
                saver.setup()
                yield saver

        @contextlib.asynccontextmanager
        async def aopen() -> AsyncIterator[Saver]:
            async with AsyncRedisSaver.from_conn_string(url) as saver:
                await saver.asetup()
                yield saver

        self.backends.append(
            Backend(name, "langgraph-checkpoint-redis RedisSaver", open=open_, aopen=aopen)
        )


@contextlib.asynccontextmanager
async def _anull(saver: Saver) -> AsyncIterator[Saver]:
    yield saver


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            os.remove(f"{path}{suffix}")
