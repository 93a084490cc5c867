"""The one place that talks to Redis: clients, the engine that runs flows, error translation.

:class:`RedisConnection` is the Redis backend's :class:`~kortyx_langgraph.core.flows.Engine`:
its ``run``/``iterate`` (sync) and ``arun``/``aiterate`` (async) are the only code that
differs between the two colours. Clients are created from the URL on first use: a sync
one, and one async client per event loop (an asyncio connection belongs to the loop that
opened it, and applications do run ``asyncio.run`` more than once). Cluster mode is
detected from the server unless the caller says. Clients passed in by the caller are used
as they are and never closed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
import redis.exceptions

from kortyx_langgraph.core.flows import Emit, Flow
from kortyx_langgraph.errors import (
    ConfigurationError,
    DeserializationError,
    KortyxError,
    StorageCapabilityError,
    StorageConnectionError,
    StorageError,
    StorageOutOfMemoryError,
    StorageUnavailableError,
    WriteOutcomeUnknownError,
)
from kortyx_langgraph.redis import direct, loops, merged, scripts
from kortyx_langgraph.redis.batching import AsyncGroupCommit, GroupCommit
from kortyx_langgraph.redis.client_options import (
    DEFAULT_POOL_TIMEOUT_S,
    adapter_client_options,
    cluster_options,
    pool_options,
)
from kortyx_langgraph.redis.operations import Call, Scan
from kortyx_langgraph.redis.pool import ReadyAsyncNodePool, ReadyAsyncPool, ReadyPool
from kortyx_langgraph.redis.replication import (
    ReplicaAcks,
    ascript_and_wait,
    is_redirect,
    script_and_wait,
)
from kortyx_langgraph.redis.retry import (
    Attempts,
    RetryPolicy,
    is_read_only,
    read_only_error,
    tls_hint,
)
from kortyx_langgraph.settings import (
    check_client_options,
    check_redis_url,
    redact_url,
    redis_py_url,
)

T = TypeVar("T")
R = TypeVar("R", redis.Redis, redis.asyncio.Redis)

SyncClient = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster


def _route(client: SyncClient | AsyncClient, keys: Sequence[str]) -> dict[str, Any]:
    """Where a Cluster client sends a script: the primary of its first key's slot (every key
    of a script shares it). Said up front, the client skips hashing every key on every call;
    a redirection (``MOVED``, ``ASK``) is still followed by the client. Empty for the rest.

    Only for the clients the adapter creates: redis-py does not retry a command sent to a
    named node, and those clients retry nothing anyway (the adapter's ``RetryPolicy`` does),
    where a client passed in keeps the retries it was configured with."""
    if not keys or not isinstance(
        client, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster
    ):
        return {}
    try:
        node = client.nodes_manager.get_node_from_slot(direct.slot_of(keys[0]))
    except _FAILURES:
        return {}  # no map of the slot yet: the client finds the node itself
    return {"target_nodes": node}


_FAILURES = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException, OSError)
"""What a send can raise besides our own errors (redis-py's Cluster errors are not all
``RedisError``s)."""


def _is_cluster_client(client: SyncClient | AsyncClient) -> bool:
    return isinstance(client, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster))


def _lost_node(client: SyncClient | AsyncClient, exc: BaseException) -> bool:
    """Whether ``exc`` says a Cluster client could not reach the node it sent to, or that
    the node serves the slot no more and cannot say who does (``CLUSTERDOWN``: a node
    removed from the Cluster, ``redis-cli --cluster del-node``, that still runs)."""
    cluster = (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster)
    lost = (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.ClusterDownError,
        OSError,
    )
    return isinstance(client, cluster) and isinstance(exc, lost)


_REDIRECTS = 5
"""Sends of one acknowledged write while its slot keeps moving (a failover under way)."""


def _still_redirected(step: Call) -> redis.exceptions.ClusterError:
    """What an acknowledged write raises when its slot's node kept redirecting it (``ASK``
    while the slot migrates, ``MOVED`` while a failover settles): nothing ran, and the
    retry policy sends it again (``redis/retry.py``), as redis-py's own give-up is."""
    return redis.exceptions.ClusterError(
        f"{step.script.name} was redirected {_REDIRECTS} times in a row: its slot is moving"
    )


_SEND_AGAIN = object()
"""An acknowledged write that must be sent again (``NOSCRIPT``, or ``MOVED``/``ASK``)."""
_CORRUPT = "CORRUPT "
"""How a script's error reply says a stored record could not be read."""


CLIENT_COMMANDS = frozenset({"EVAL", "EVALSHA", "SCAN", "PING", "INFO"})
"""The commands the adapter sends itself: its scripts (``EVALSHA``, ``EVAL`` after
``NOSCRIPT``), ``SCAN`` for the operations across threads, and ``INFO``/``PING`` when it
starts (whether the server is a Cluster)."""

NEEDED_COMMANDS = " ".join(
    f"+{name.lower()}" for name in sorted(CLIENT_COMMANDS | scripts.SCRIPT_COMMANDS)
)
"""The commands an ACL user of the adapter needs (``~<prefix>*`` for the keys; on a Cluster
redis-py's client also needs ``+cluster|slots +command``): what the client sends and every
command its scripts run, each by name (categories such as ``+@write`` also grant keyless
commands such as ``FLUSHALL``, which key patterns do not bound)."""

_UNAVAILABLE = {
    "MISCONF": "it cannot persist to disk and stops writes until it can (see its log, the "
    "dir and the disk; stop-writes-on-bgsave-error)",
    "NOREPLICAS": "it has fewer replicas in sync than min-replicas-to-write asks for",
    "BUSY": "another client's script is running (SCRIPT KILL or FUNCTION KILL ends it)",
}
"""Error replies for a state of the server's own, by their code: what it means."""

_UNAVAILABLE_CODE = re.compile(r"\b(MISCONF|NOREPLICAS|BUSY)\b")
"""The code at the start of the reply, or after a script's prefix (Redis 6.2 wraps the
error of a command a script ran)."""

_REFUSED_BY_ACL = ("noperm", "no permissions", "the user executing the script can't")
"""How Redis words an ACL refusal, of a command or a key, sent alone or inside a script."""


def refused_by_acl(text: str) -> bool:
    """Whether an error reply's ``text`` is an ACL refusal, of a command or a key."""
    return any(marker in text.lower() for marker in _REFUSED_BY_ACL)


def translate(exc: BaseException, where: str) -> KortyxError | None:
    """The typed error for a redis-py exception from Redis at ``where`` (``None``: not a
    Redis failure)."""
    if isinstance(exc, redis.exceptions.AuthenticationError):
        text = str(exc).lower()
        unauthenticated = (
            "noauth" in text
            or "authentication required" in text
            or ("already authenticated" in text)
        )
        if unauthenticated and "***@" not in where and "password=" not in where:
            return StorageConnectionError(
                f"Redis at {where} needs a password (requirepass or an ACL user) and the URL "
                f"gives none: use redis://:<password>@... or redis://<user>:<password>@... "
                f"({exc})"
            )
        return StorageConnectionError(f"Redis at {where} refused the credentials: {exc}")
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)):
        return StorageConnectionError(f"cannot reach Redis at {where}: {exc}{tls_hint(where, exc)}")
    if isinstance(exc, redis.exceptions.ResponseError):
        text = str(exc)
        if is_redirect(exc):
            return ConfigurationError(
                f"Redis at {where} is a Redis Cluster node but the adapter was set up for a "
                "standalone server; pass cluster=True (or leave cluster unset)",
                variable="cluster",
            )
        if is_read_only(exc):
            return read_only_error(where, "not retried", exc)
        if text.startswith("OOM") or "maxmemory" in text:
            return StorageOutOfMemoryError(
                f"Redis at {where} is out of memory (maxmemory reached) and refused the write; "
                "nothing was written. Give Redis more memory; keep maxmemory-policy noeviction "
                f"so that paused runs are never evicted ({text})"
            )
        code = _UNAVAILABLE_CODE.search(text)
        unavailable = _UNAVAILABLE[code.group(1)] if code else None
        if unavailable:
            return StorageUnavailableError(
                f"Redis at {where} refused the command: {unavailable}; nothing was written ({text})"
            )
        if _CORRUPT in text:
            # Scripts raise "CORRUPT <detail>"; Redis 6.2 puts the script's name before it,
            # 7.0+ its position after it.
            detail = text.split(_CORRUPT, 1)[1].split(" script: ", 1)[0]
            return DeserializationError(f"Redis at {where}: {detail}")
        if refused_by_acl(text):
            return StorageCapabilityError(
                f"Redis at {where} refused this user a command or a key the adapter needs "
                f"({text}). An ACL user needs the keys of the adapter's prefix and "
                f"{NEEDED_COMMANDS}: its operations are Lua scripts, and Redis does not always "
                "say which command a script was refused (kortyx-langgraph doctor does)"
            )
        if any(marker in text.lower() for marker in ("unknown command", "scripting", "disabled")):
            return StorageCapabilityError(
                f"Redis at {where} refused a command the adapter needs (Lua scripting with "
                f"EVAL/EVALSHA, hashes, sorted sets): {text}"
            )
        return StorageError(f"Redis at {where} answered with an error: {text}")
    if isinstance(exc, redis.exceptions.RedisClusterException) and "cannot be connected" in str(
        exc
    ):
        return StorageConnectionError(f"cannot reach Redis Cluster at {where}: {exc}")
    if isinstance(exc, (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)):
        return StorageError(f"Redis at {where} failed: {type(exc).__name__}: {exc}")
    return None


@contextlib.contextmanager
def translated_errors(where: str) -> Iterator[None]:
    """Turn redis-py exceptions into this package's typed errors, naming ``where``."""
    try:
        yield
    except _FAILURES as exc:
        error = translate(exc, where)
        if error is None:
            raise
        raise error from None


async def _ais_cluster(probe: Any) -> bool:
    """:func:`_is_cluster` with an asyncio client."""
    try:
        info = await probe.info("cluster")
    except redis.exceptions.ResponseError:
        await probe.ping()  # INFO refused: assume standalone
        return False
    return bool(info.get("cluster_enabled"))


_LIVE: weakref.WeakSet[RedisConnection] = weakref.WeakSet()
"""Every connection of this process, reset in a forked child (see ``_reset_in_child``)."""


def _after_fork_in_child() -> None:
    for connection in list(_LIVE):
        connection._reset_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _is_cluster(info: Any, ping: Any) -> bool:
    """Ask a server whether it runs in cluster mode (``INFO cluster``).

    A server that refuses ``INFO`` (some managed services restrict it) is taken for a
    standalone one once it answers ``PING``; pass ``cluster=True`` to say otherwise.
    """
    try:
        return bool(info("cluster").get("cluster_enabled"))
    except redis.exceptions.ResponseError:
        ping()
        return False


def _check_binary(client: Any) -> None:
    try:
        encoder = client.get_encoder()
    except AttributeError:
        encoder = client.connection_pool.get_encoder()
    if getattr(encoder, "decode_responses", False):
        raise ConfigurationError(
            "the Redis client decodes responses to str; create it with "
            "decode_responses=False (values are stored as bytes)",
            variable="client",
        )


class RedisConnection:
    """Clients and drivers of one adapter."""

    def __init__(
        self,
        *,
        url: str | None,
        client: SyncClient | AsyncClient | None,
        cluster: bool | None,
        client_options: dict[str, Any],
        retry: RetryPolicy | None = None,
        replica_acks: ReplicaAcks | None = None,
    ) -> None:
        if url is None and client is None:
            raise ConfigurationError("pass url= or client= to the Redis adapter", variable="url")
        if url is not None and client is not None:
            raise ConfigurationError("pass either url= or client=, not both", variable="client")
        self._url = check_redis_url(url) if url is not None else None
        self.where = redact_url(self._url) if self._url else type(client).__name__
        self._given_options = dict(check_client_options(client_options))
        self.retry = retry if retry is not None else RetryPolicy()
        self.replica_acks = replica_acks if replica_acks and replica_acks.count else None
        # per event loop, a plain asyncio client of each Cluster node, by node name
        self._node_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, redis.asyncio.Redis]
        ] = weakref.WeakKeyDictionary()
        if not isinstance(self.retry, RetryPolicy):
            raise ConfigurationError(
                f"retry must be a RetryPolicy, got {type(retry).__name__}", variable="retry"
            )
        self._lock = threading.Lock()
        self._loops_lock = threading.Lock()
        self._sync: SyncClient | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._given_async: AsyncClient | None = None
        self._loaded: set[tuple[int, str]] = set()
        # Set once a client that sends down pooled connections (redis/direct.py) is
        # created here (a standalone one, or a sync Cluster one): whether hiredis packs.
        self._direct_fast: bool | None = None
        self._group = GroupCommit(self._resolve, self._abandoned)
        self._agroups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGroupCommit] = (
            weakref.WeakKeyDictionary()
        )
        self.cluster = cluster
        if isinstance(client, (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)):
            _check_binary(client)
            self._given_async = client
            self.cluster = isinstance(client, redis.asyncio.cluster.RedisCluster)
        elif isinstance(client, (redis.Redis, redis.cluster.RedisCluster)):
            _check_binary(client)
            self._sync = client
            self.cluster = isinstance(client, redis.cluster.RedisCluster)
        elif client is not None:
            raise ConfigurationError(
                f"client must be a redis-py Redis or RedisCluster (sync or asyncio), "
                f"got {type(client).__name__}",
                variable="client",
            )
        self.owns_clients = self._url is not None
        self._inherited: list[Any] = []
        _LIVE.add(self)

    def _reset_in_child(self) -> None:
        """In a child forked from this process: drop what the parent's other threads held
        or had in flight, since no thread here will ever settle it. The group commit's
        queues and the writes it owed (a read of the same thread would wait for them
        forever), the locks (one held at the fork is never released here), and the
        clients of event loops (a loop object used again here would read replies meant for
        the parent on the sockets they share: new clients get connections of their own).
        Those clients are kept, unused, rather than collected, so that their sockets are
        neither shut down under the parent nor reported as unclosed."""
        self._lock = threading.Lock()
        self._loops_lock = threading.Lock()
        self._group = GroupCommit(self._resolve, self._abandoned)
        self._inherited += [*self._async.values(), *self._node_clients.values()]
        self._async = weakref.WeakKeyDictionary()
        self._node_clients = weakref.WeakKeyDictionary()
        self._async_locks = weakref.WeakKeyDictionary()
        self._agroups = weakref.WeakKeyDictionary()

    def _directed(self, client: R) -> R:
        """``client`` (standalone, created here), marked to take ``redis/direct.py``."""
        if direct.sends_directly(client):
            self._direct_fast = direct.packer(client)
        return client

    def __repr__(self) -> str:
        mode = {None: "auto", True: "cluster", False: "standalone"}[self.cluster]
        return f"RedisConnection({self.where}, {mode})"

    # -- clients -------------------------------------------------------------------------

    # A client's first contact with the server (is it a Cluster? the slot map) goes through
    # the retry policy as every operation does: an adapter made while Redis restarts waits
    # for it as an adapter that is already connected does.

    def _setting_up(self, operation: str, attempt: Callable[[], T]) -> T:
        attempts = Attempts(self.retry)
        while True:
            try:
                return attempt()
            except _FAILURES as exc:
                delay = attempts.after(exc)
                if delay is None:
                    raise self._failed(exc, operation, attempts) from None
            time.sleep(delay)

    async def _asetting_up(self, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        attempts = Attempts(self.retry)
        while True:
            try:
                return await attempt()
            except _FAILURES as exc:
                delay = attempts.after(exc)
                if delay is None:
                    raise self._failed(exc, operation, attempts) from None
            await asyncio.sleep(delay)

    def _failed(
        self, exc: BaseException, operation: str, attempts: Attempts, *, writes: bool = False
    ) -> KortyxError:
        """The typed error for ``operation`` once ``attempts`` gave up after ``exc``."""
        error = attempts.error(exc, where=self.where, operation=operation, writes=writes)
        if error is None:
            error = translate(exc, self.where)
        assert error is not None  # only redis-py errors and OSError reach here
        return error

    def _detect_cluster_sync(self) -> bool:
        if self.cluster is None:
            assert self._url is not None
            options = adapter_client_options(
                self._given_options, asynchronous=False, cluster=False, url=self._url
            )
            options.pop("max_connections", None)
            options.pop("pool_timeout", None)
            probe = redis.Redis.from_url(redis_py_url(self._url), **options)
            try:
                self.cluster = self._setting_up(
                    "INFO cluster", lambda: _is_cluster(probe.info, probe.ping)
                )
            finally:
                probe.close()
        return self.cluster

    async def _detect_cluster_async(self) -> bool:
        if self.cluster is None:
            assert self._url is not None
            options = adapter_client_options(
                self._given_options, asynchronous=True, cluster=False, url=self._url
            )
            options.pop("max_connections", None)
            options.pop("pool_timeout", None)
            probe = redis.asyncio.Redis.from_url(redis_py_url(self._url), **options)
            try:
                self.cluster = await self._asetting_up("INFO cluster", lambda: _ais_cluster(probe))
            finally:
                await probe.aclose()
        return self.cluster

    def sync_client(self) -> SyncClient:
        """The sync client, created from the URL on first use."""
        if self._sync is None:
            if self._url is None:
                raise ConfigurationError(
                    "this adapter was given an asyncio client; call the async methods "
                    "(aget_tuple, ainvoke, ...) or pass url= so it can open a sync client too",
                    variable="client",
                )
            with self._lock:
                if self._sync is None:
                    url = redis_py_url(self._url)
                    cluster = self._detect_cluster_sync()
                    options = adapter_client_options(
                        self._given_options, asynchronous=False, cluster=cluster, url=self._url
                    )
                    # Callers wait for a free connection (up to pool_timeout seconds) instead
                    # of failing with "Too many connections" when LangGraph's background
                    # writers and many runs peak together.
                    if cluster:
                        self._sync = self._setting_up(  # it reads the slot map now
                            "CLUSTER SLOTS",
                            lambda: redis.cluster.RedisCluster.from_url(
                                url,
                                connection_pool_class=ReadyPool,
                                **pool_options(options),
                            ),
                        )
                        self._direct_fast = direct.hiredis_packs(options)
                    else:
                        pool = ReadyPool.from_url(url, **pool_options(options))
                        self._sync = self._directed(redis.Redis(connection_pool=pool))
        return self._sync

    async def async_client(self) -> AsyncClient | None:
        """The async client of the running loop; ``None`` means "use the sync one in a thread"."""
        if self._given_async is not None:
            if isinstance(self._given_async, redis.asyncio.cluster.RedisCluster):
                # a no-op once initialized
                await self._asetting_up("CLUSTER SLOTS", self._given_async.initialize)
            return self._given_async
        if self._url is None:
            return None
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is not None:
            return client
        self._forget_closed_loops()
        # Many coroutines may ask at once; only one creates the loop's client.
        lock = self._async_locks.setdefault(loop, asyncio.Lock())
        async with lock:
            client = self._async.get(loop)
            if client is None:
                url = redis_py_url(self._url)
                is_cluster = await self._detect_cluster_async()
                options = adapter_client_options(
                    self._given_options, asynchronous=True, cluster=is_cluster, url=self._url
                )
                if is_cluster:
                    cluster = redis.asyncio.cluster.RedisCluster.from_url(
                        url, **cluster_options(options)
                    )
                    # Learn the topology now: left to the first commands, concurrent
                    # first calls each start it and disconnect one another's connections.
                    await self._asetting_up("CLUSTER SLOTS", cluster.initialize)
                    self._direct_fast = direct.hiredis_packs(options)
                    client = cluster
                else:
                    apool = ReadyAsyncPool.from_url(url, **pool_options(options))
                    client = self._directed(redis.asyncio.Redis(connection_pool=apool))
                self._async[loop] = client
        return client

    # -- sending -------------------------------------------------------------------------

    # A script's first call on a client is sent with EVAL, which also caches it on the
    # server: one round trip instead of EVALSHA, NOSCRIPT, EVAL. Later calls send EVALSHA
    # and fall back to EVAL if the server lost its cache (restart, failover, new node).

    def _send(self, client: SyncClient, step: Call | Scan) -> Any:
        if isinstance(step, Scan):
            return list(islice(client.scan_iter(match=step.pattern, count=1000), step.limit))
        script, keys, args = step.script, step.keys, step.args
        if script.writes and self.replica_acks is not None:
            return self._send_acknowledged(client, step, self.replica_acks)
        loaded = (id(client), script.sha)
        if loaded in self._loaded:
            try:
                return self.command(client, "EVALSHA", script.sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                pass
        reply = self.command(client, "EVAL", script.source, len(keys), *keys, *args)
        self._loaded.add(loaded)
        return reply

    def command(self, client: SyncClient, *args: Any) -> Any:
        """One command (a script call) with ``client``. A client created here sends it
        down a pooled connection (``redis/direct.py``): its own, or on a Cluster the slot's
        primary's, handing a redirected call to the Cluster client. Else, and for a client
        passed in, through ``execute_command`` (told the node on a Cluster client created
        here)."""
        fast = self._direct_fast
        if fast is not None:
            if not isinstance(client, redis.cluster.RedisCluster):
                return direct.call(client, args, fast=fast)
            node = direct.primary_client(client, args[3]) if args[2] else None
            if node is not None:
                try:
                    return direct.call(node, args, fast=fast)
                except direct.REDIRECTED:
                    pass  # not run there: the client follows the redirection
        route = _route(client, args[3 : 3 + args[2]]) if self.owns_clients else {}
        sender: Any = client  # redis-py's sync Cluster client has no annotations here
        return sender.execute_command(*args, **route)

    # replica_acks (redis/replication.py): the write script and WAIT go down one
    # connection of the primary that holds the thread's slot. A Cluster client is asked
    # which node that is; a redirection (the slot moved) refreshes its map and goes again.

    def _send_acknowledged(self, client: SyncClient, step: Call, acks: ReplicaAcks) -> Any:
        for _ in range(_REDIRECTS):
            node: Any = client
            if isinstance(client, redis.cluster.RedisCluster):
                primary = client.get_node_from_key(step.keys[0])  # type: ignore[no-untyped-call]
                node = client.get_redis_connection(primary)
            loaded = (id(node), step.script.sha)
            replies = script_and_wait(
                node, step.script, step.keys, step.args, acks, by_sha=loaded in self._loaded
            )
            outcome = self._acknowledged(replies, step, loaded, acks)
            if outcome is not _SEND_AGAIN:
                return outcome
            if isinstance(client, redis.cluster.RedisCluster):
                client.nodes_manager.initialize()
        raise _still_redirected(step)

    async def _asend_acknowledged(self, client: AsyncClient, step: Call, acks: ReplicaAcks) -> Any:
        for _ in range(_REDIRECTS):
            node: Any = client
            if isinstance(client, redis.asyncio.cluster.RedisCluster):
                node = self._async_node_client(client, step.keys[0])
            loaded = (id(node), step.script.sha)
            replies = await ascript_and_wait(
                node, step.script, step.keys, step.args, acks, by_sha=loaded in self._loaded
            )
            outcome = self._acknowledged(replies, step, loaded, acks)
            if outcome is not _SEND_AGAIN:
                return outcome
            if isinstance(client, redis.asyncio.cluster.RedisCluster):
                await client.nodes_manager.initialize()
        raise _still_redirected(step)

    def _acknowledged(
        self, replies: list[Any], step: Call, loaded: tuple[int, str], acks: ReplicaAcks
    ) -> Any:
        """The script's reply once its replicas acknowledged it, or ``_SEND_AGAIN`` when the
        pair must go again: the node lost its script cache, or the slot moved."""
        reply, acked = replies
        if isinstance(reply, redis.exceptions.NoScriptError):
            self._loaded.discard(loaded)
            return _SEND_AGAIN
        if is_redirect(reply):
            return _SEND_AGAIN
        if isinstance(reply, Exception):
            raise reply
        self._loaded.add(loaded)
        if isinstance(acked, Exception):
            raise acked
        acks.check(acked, where=self.where, operation=step.script.name)
        return reply

    def _async_node_client(
        self, client: redis.asyncio.cluster.RedisCluster, key: str
    ) -> redis.asyncio.Redis:
        """A plain asyncio client of the primary holding ``key``'s slot (the asyncio
        Cluster client has no per-node client to send down or pipeline on), with the
        node's connection options and limit. On a Cluster client made here its pool makes
        a caller wait up to ``pool_timeout`` for a free connection, as the sync client's
        do (redis-py's asyncio node pools raise at once); on one passed in, it raises as
        that client's would."""
        node = client.nodes_manager.get_node_from_slot(direct.slot_of(key))
        loop = asyncio.get_running_loop()
        of_loop = self._node_clients.get(loop)
        if of_loop is None:
            of_loop = self._node_clients[loop] = {}
        found = of_loop.get(node.name)
        if found is None:
            waits: dict[str, Any] = {}
            pool_class: type[ReadyAsyncPool | ReadyAsyncNodePool] = ReadyAsyncNodePool
            if self.owns_clients:
                pool_class = ReadyAsyncPool
                waits["timeout"] = self._given_options.get("pool_timeout", DEFAULT_POOL_TIMEOUT_S)
            pool = pool_class(
                connection_class=node.connection_class,
                max_connections=node.max_connections,
                **waits,
                **node.connection_kwargs,
            )
            found = of_loop[node.name] = redis.asyncio.Redis(connection_pool=pool)
        return found

    async def _asend(self, client: AsyncClient, step: Call | Scan) -> Any:
        if isinstance(step, Scan):
            found: list[Any] = []
            async for key in client.scan_iter(match=step.pattern, count=1000):
                found.append(key)
                if step.limit is not None and len(found) >= step.limit:
                    break
            return found
        script, keys, args = step.script, step.keys, step.args
        if script.writes and self.replica_acks is not None:
            return await self._asend_acknowledged(client, step, self.replica_acks)
        loaded = (id(client), script.sha)
        if loaded in self._loaded:
            try:
                return await self.acommand(client, "EVALSHA", script.sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                pass
        reply = await self.acommand(client, "EVAL", script.source, len(keys), *keys, *args)
        self._loaded.add(loaded)
        return reply

    async def acommand(self, client: AsyncClient, *args: Any) -> Any:
        """:meth:`command` with an asyncio client. On a Cluster client created here, down
        a connection of the slot's primary's own client (:meth:`_async_node_client`)."""
        fast = self._direct_fast
        if fast is not None:
            if isinstance(client, redis.asyncio.Redis):
                return await direct.acall(client, args, fast=fast)
            node = self._async_primary(client, args[3]) if args[2] else None
            if node is not None:
                try:
                    return await direct.acall(node, args, fast=fast)
                except direct.REDIRECTED:
                    pass  # not run there: the client follows the redirection
        route = _route(client, args[3 : 3 + args[2]]) if self.owns_clients else {}
        return await client.execute_command(*args, **route)

    def _async_primary(
        self, client: redis.asyncio.cluster.RedisCluster, key: str
    ) -> redis.asyncio.Redis | None:
        """:meth:`_async_node_client`, or ``None`` while the client has no map of ``key``'s
        slot (it finds the node itself then)."""
        try:
            return self._async_node_client(client, key)
        except _FAILURES:  # the slot is not covered (SlotNotCoveredError)
            return None

    # Every send goes through the retry policy (redis/retry.py): a connection failure is
    # sent again after a backoff, up to the policy's attempts; then, or for any other
    # failure, the typed error is raised.

    def _give_up(self, exc: BaseException, step: Call | Scan, attempts: Attempts) -> KortyxError:
        operation = "scan" if isinstance(step, Scan) else step.script.name
        writes = isinstance(step, Call) and step.script.writes
        return self._failed(exc, operation, attempts, writes=writes)

    # After a connection failure the next attempt must not go to the same dead node: the
    # clients the adapter creates are told the node (_route), and redis-py 8.2 refreshes
    # its slot map at most once a second, longer than the policy's first backoffs. So a
    # Cluster client's map is read again before the next attempt (a failover moved the
    # slot to a promoted replica); a refresh that fails leaves the old map.

    # A replica's READONLY (a failover demoted the node) is met the same way: a Cluster
    # client reads its map again, a standalone one drops its connections so that the next
    # attempt connects anew (a host name that follows failovers now reaches the primary).

    def _refresh_slots(self, client: SyncClient, exc: BaseException) -> None:
        if not self.owns_clients:
            return
        if _lost_node(client, exc) or (_is_cluster_client(client) and is_read_only(exc)):
            cluster: Any = client
            with contextlib.suppress(*_FAILURES):
                cluster.nodes_manager.initialize()
        elif is_read_only(exc):
            client.connection_pool.disconnect()  # type: ignore[union-attr]

    async def _arefresh_slots(self, client: AsyncClient, exc: BaseException) -> None:
        if not self.owns_clients:
            return
        if _lost_node(client, exc) or (_is_cluster_client(client) and is_read_only(exc)):
            cluster: Any = client
            with contextlib.suppress(*_FAILURES):
                await cluster.nodes_manager.initialize()
        elif is_read_only(exc):
            await client.connection_pool.disconnect()  # type: ignore[union-attr]

    def _send_retrying(self, client: SyncClient, step: Call | Scan) -> Any:
        attempts = None  # made on the first failure only: this is every operation's path
        while True:
            try:
                return self._send(client, step)
            except _FAILURES as exc:
                attempts = attempts or Attempts(self.retry)
                delay = attempts.after(exc)
                if delay is None:
                    raise self._give_up(exc, step, attempts) from None
                failure = exc
            time.sleep(delay)
            self._refresh_slots(client, failure)

    async def _asend_retrying(self, client: AsyncClient, step: Call | Scan) -> Any:
        attempts = None  # made on the first failure only: this is every operation's path
        while True:
            try:
                return await self._asend(client, step)
            except _FAILURES as exc:
                attempts = attempts or Attempts(self.retry)
                delay = attempts.after(exc)
                if delay is None:
                    raise self._give_up(exc, step, attempts) from None
                failure = exc
            await asyncio.sleep(delay)
            await self._arefresh_slots(client, failure)

    # Concurrent put_writes of one thread share a pipeline (redis/batching/): a fan-out
    # of n Send tasks costs far fewer than n round trips. Not with replica_acks, whose
    # writes each wait for their own WAIT.

    def _grouped(self, step: Call | Scan) -> bool:
        return isinstance(step, Call) and step.script.grouped and self.replica_acks is None

    def _send_step(self, client: SyncClient, step: Call | Scan) -> Any:
        if isinstance(step, Scan):
            return self._send_retrying(client, step)
        if not self._grouped(step):
            if step.script.saves:  # after the writes carried for its thread, not past a lost one
                send_one = functools.partial(self._send_retrying, client)
                return self._group.save(step.keys, step, send_one, step.after)
            self._group.wait_settled(step.keys)  # the writes carried for its thread first
            return self._send_retrying(client, step)
        return self._group.send(
            step.keys[0],
            step,
            functools.partial(self._send_retrying, client),
            functools.partial(self._send_pipeline, client),
            step.keys,
            carry=step.carry,
            slot=step.slot,
        )

    async def _asend_step(self, client: AsyncClient, step: Call | Scan) -> Any:
        if isinstance(step, Call):  # writes carried for its thread under invoke go first
            if self._group.owes(step.keys):
                await asyncio.to_thread(self._group.wait_settled, step.keys)
            if step.script.saves:  # and a save does not go past one that failed
                if self._group.rewrite_pending(step.keys[0], step.after):
                    await self._awaited_rewrite(step.keys[0], step.after)
                self._group.check_save(step.keys[0], step.after)
        if not self._grouped(step):
            return await self._asend_retrying(client, step)
        assert isinstance(step, Call)
        loop = asyncio.get_running_loop()
        group = self._agroups.get(loop)
        if group is None:
            group = AsyncGroupCommit(self._resolve, self._abandoned, self._written)
            self._agroups[loop] = group
        return await group.send(
            step.keys[0],
            step,
            functools.partial(self._asend_retrying, client),
            functools.partial(self._asend_pipeline, client),
        )

    async def _awaited_rewrite(self, key: str, after: str | None) -> None:
        """An asyncio save waits, as a thread's does in the group commit, up to
        ``REWRITE_WAIT_S`` for a failed write to its checkpoint to be written again."""
        deadline = time.monotonic() + self._group.REWRITE_WAIT_S
        while self._group.rewrite_pending(key, after) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    def _written(self, step: Call) -> None:
        """A grouped asyncio write that succeeded makes up for a failed write of its slot
        carried under ``invoke``."""
        if step.slot is not None:
            self._group.written(step.keys[0], step.slot)

    def _send_pipeline(self, client: SyncClient, steps: Sequence[Call]) -> list[Any]:
        """The scripts in one pipeline on one connection of the thread's node (all of
        ``steps`` are one thread's); a reply or an exception per step."""
        node: Any = client
        if isinstance(client, redis.cluster.RedisCluster):
            # the slot map's primary, by the cached slot of the thread's keys; without a
            # map of that slot the client finds the node (or raises) as before
            node = direct.primary_client(client, steps[0].keys[0])
            if node is None:
                primary = client.get_node_from_key(steps[0].keys[0])  # type: ignore[no-untyped-call]
                node = client.get_redis_connection(primary)
        runs = merged.plan(steps)
        sent = merged.commands(steps, runs, functools.partial(self._has_script, node))
        if self._direct_fast is not None:  # a client created here (redis/direct.py)
            answers = direct.call_many(node, sent, fast=self._direct_fast)
        else:
            pipe = node.pipeline(transaction=False)
            for command in sent:
                pipe.execute_command(*command)
            answers = list(pipe.execute(raise_on_error=False))
        return self._merged_replies(node, runs, answers)

    async def _asend_pipeline(self, client: AsyncClient, steps: Sequence[Call]) -> list[Any]:
        """:meth:`_send_pipeline` with the event loop's client."""
        node: Any = client
        if isinstance(client, redis.asyncio.cluster.RedisCluster):
            node = self._async_node_client(client, steps[0].keys[0])
        runs = merged.plan(steps)
        sent = merged.commands(steps, runs, functools.partial(self._has_script, node))
        if self._direct_fast is not None:  # a client created here (redis/direct.py)
            answers = await direct.acall_many(node, sent, fast=self._direct_fast)
        else:
            pipe = node.pipeline(transaction=False)
            for command in sent:
                pipe.execute_command(*command)
            answers = list(await pipe.execute(raise_on_error=False))
        return self._merged_replies(node, runs, answers)

    def _has_script(self, node: object, sha: str) -> bool:
        return (id(node), sha) in self._loaded

    def _merged_replies(self, node: object, runs: list[list[int]], answers: list[Any]) -> list[Any]:
        """Each step's reply (``redis/merged.py``); note whether ``node`` has the merged
        script now."""
        loaded = (id(node), scripts.PUT_WRITES_MANY.sha)
        for run, answer in zip(runs, answers, strict=True):
            if len(run) > 1:
                if isinstance(answer, redis.exceptions.NoScriptError):
                    self._loaded.discard(loaded)
                elif not isinstance(answer, BaseException):
                    self._loaded.add(loaded)
        return merged.replies(runs, answers)

    def _resolve(self, step: Call, exc: BaseException) -> BaseException | None:
        """A step's error reply in a pipeline: ``None`` to send it again alone (its node
        lost the script, or the slot moved), else the typed error a lone send raises."""
        if isinstance(exc, redis.exceptions.NoScriptError | merged.SendAlone) or is_redirect(exc):
            return None
        if not isinstance(exc, _FAILURES):
            return exc
        return self._give_up(exc, step, Attempts(self.retry))

    def _abandoned(self, step: Call) -> BaseException:
        return WriteOutcomeUnknownError(
            f"Redis at {self.where}: {step.script.name} was queued to be sent with other "
            "writes of its thread, and that send was cut short; it may or may not have "
            "run (repeating it is safe)",
            operation=step.script.name,
        )

    # One driver per colour runs every flow: it sends the flow's requests, hands back
    # the replies, yields what a listing flow emits and puts the result in ``result``.

    def _drive(self, flow: Flow[T], client: SyncClient, result: list[T]) -> Iterator[Any]:
        reply: Any = None
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                result.append(done.value)
                return
            if isinstance(step, Emit):
                reply = None
                yield step.item
                continue
            reply = self._send_step(client, step)

    async def _adrive(
        self, flow: Flow[T], client: AsyncClient, result: list[T]
    ) -> AsyncIterator[Any]:
        reply: Any = None
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                result.append(done.value)
                return
            if isinstance(step, Emit):
                reply = None
                yield step.item
                continue
            reply = await self._asend_step(client, step)

    def run(self, flow: Flow[T]) -> T:
        """Run a flow to its result with the sync client."""
        result: list[T] = []
        for item in self._drive(flow, self.sync_client(), result):
            raise TypeError(f"an operation flow emitted a listing result: {item!r}")
        return result[0]

    def iterate(self, flow: Flow[None]) -> Iterator[Any]:
        """Run a listing flow with the sync client, yielding what it emits."""
        yield from self._drive(flow, self.sync_client(), [])

    async def arun(self, flow: Flow[T]) -> T:
        """Run a flow to its result with the event loop's async client."""
        client = await self.async_client()
        if client is None:
            return await asyncio.to_thread(self.run, flow)
        result: list[T] = []
        async for item in self._adrive(flow, client, result):
            raise TypeError(f"an operation flow emitted a listing result: {item!r}")
        return result[0]

    async def aiterate(self, flow: Flow[None]) -> AsyncIterator[Any]:
        """Run a listing flow with the async client, yielding what it emits."""
        client = await self.async_client()
        if client is None:
            for item in await asyncio.to_thread(lambda: list(self.iterate(flow))):
                yield item
            return
        async for item in self._adrive(flow, client, []):
            yield item

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the clients this connection created (never the caller's); of the asyncio
        ones, those of event loops that have closed (see :meth:`aclose` for the others)."""
        self._forget_closed_loops()
        if not self.owns_clients:
            return
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()
            if isinstance(client, redis.Redis):
                client.connection_pool.disconnect()

    def _forget_closed_loops(self) -> None:
        """Let go of what was made for event loops that have closed (``redis/loops.py``);
        threads starting loops at once take turns here."""
        with self._loops_lock:
            for of_loop in loops.forget_closed(self._node_clients):
                for node_client in of_loop.values():
                    loops.shut_down(node_client)
            for client in loops.forget_closed(self._async):
                if self.owns_clients:
                    loops.shut_down(client)
            loops.forget_closed(self._async_locks)
            loops.forget_closed(self._agroups)

    async def aclose(self) -> None:
        """Close the clients this connection created: the sync one, the asyncio ones of
        this loop, and those of loops that have closed (their sockets shut down)."""
        self.close()
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            # the per-node clients of replica_acks are always ours
            for node_client in self._node_clients.pop(loop, {}).values():
                await node_client.aclose(close_connection_pool=True)
            if not self.owns_clients:
                return
            client = self._async.pop(loop, None)
            if client is not None:
                if isinstance(client, redis.asyncio.Redis):
                    await client.aclose(close_connection_pool=True)
                else:
                    await client.aclose()
