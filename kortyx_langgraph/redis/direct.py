"""Script calls sent straight down one pooled connection of a client the adapter created.

redis-py's ``execute_command`` wraps every command in work the adapter's own standalone
clients do not use: a retry loop (their retries are off: the adapter's
:class:`~kortyx_langgraph.redis.retry.RetryPolicy` knows which scripts write), per-command
observability hooks, and an encoder that turns each of a script's 10 to 30 arguments
into bytes one Python call at a time. For those clients a call here takes a connection
from the client's own pool, packs the whole command at once (hiredis's packer, when the
connection encodes text as strict UTF-8, as it does unless told otherwise), sends it,
reads the reply with the connection's own parser and gives the connection back: about
20 µs less client time per call (``docs/benchmarks.md``, "Scripts sent down the pool's
connection").

What matters of the client's behaviour stays, because it lives in redis-py's
``Connection``: connecting and its health check, socket timeouts, and closing a connection
that failed mid-call (a send or read that raised, a timeout, a cancelled task) so that no
half-read reply reaches the next caller. A connection redis-py asks to reconnect (server
maintenance notices) is closed before it goes back to the pool. With asyncio (Python 3.11.3
and later) the write itself is made here, after one turn of the event loop and bounded with
``asyncio.timeout``, rather than by ``send_packed_command``, whose ``asyncio.wait_for`` runs
it as a task of its own before Python 3.12; the connection is closed on the same failures,
and the same errors raised. A sync command is first written with one ``write`` of its own
(:func:`_send`), and the pool of the clients the adapter creates hands out a connection
given back whole a moment ago without polling it (``redis/pool.py``): two system calls,
and two hand-overs of the GIL, fewer per call.

Writes of one thread that overlap go as one pipeline (``redis/batching/``):
:func:`call_many` packs them into one buffer, sends it, and reads a reply per call, an
error reply as its exception, as ``pipeline.execute(raise_on_error=False)`` does.

A Cluster client the adapter created sends the same way down a connection of the primary
its slot map gives for the script's keys: a sync one through that node's own client
(:func:`primary_client`), an asyncio one through a plain asyncio client of that node that
the adapter keeps per event loop (its per-node connections are not a public pool). A node
that answers ``MOVED`` or ``ASK`` has not run the script, so the call is handed to the
Cluster client's ``execute_command``, which follows the redirection and reads its slot map
again.

Not here: a client passed in with ``client=`` (its retries and hooks are the caller's) and
one made with ``single_connection_client``; those go through ``execute_command``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis
import redis.asyncio
import redis.cluster
import redis.exceptions
from redis.crc import key_slot

from kortyx_langgraph.redis.pool import reconnect_asked, settle

_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a dependency on CPython
    _hiredis_pack = None

_REDIS_PY_MAJOR = int(redis.__version__.split(".", 1)[0])
# redis-py before 6.0 requires a command name to lend a connection; later releases warn
# that it is deprecated.
_LEND: tuple[str, ...] = ("EVALSHA",) if _REDIS_PY_MAJOR < 6 else ()


REDIRECTED = (redis.exceptions.MovedError, redis.exceptions.AskError)
"""What a Cluster node answers, without running the script, for a slot it does not serve."""


def utf8_strict(kwargs: Mapping[str, Any]) -> bool:
    """Whether connections made with ``kwargs`` encode text as strict UTF-8."""
    encoding = str(kwargs.get("encoding", "utf-8")).lower().replace("_", "-")
    return encoding in ("utf-8", "utf8") and kwargs.get("encoding_errors", "strict") == "strict"


def sends_directly(client: object) -> bool:
    """Whether ``client`` (one the adapter created) may take :func:`call` / :func:`acall`."""
    if isinstance(client, redis.Redis | redis.asyncio.Redis):
        return getattr(client, "connection", None) is None  # not single_connection_client
    return False


def packer(client: redis.Redis | redis.asyncio.Redis) -> bool:
    """Whether ``client``'s commands may be packed by hiredis (strict UTF-8 text)."""
    return hiredis_packs(client.connection_pool.connection_kwargs)


def hiredis_packs(kwargs: Mapping[str, Any]) -> bool:
    """Whether commands of connections made with ``kwargs`` may be packed by hiredis."""
    return _hiredis_pack is not None and utf8_strict(kwargs)


def primary_client(cluster: redis.cluster.RedisCluster, key: str) -> redis.Redis | None:
    """The client of the primary that ``cluster``'s slot map gives for ``key`` (``None``
    while the client has no map of that slot: it finds the node itself then)."""
    try:
        node = cluster.nodes_manager.get_node_from_slot(slot_of(key))
        client: redis.Redis = cluster.get_redis_connection(node)
    except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException, OSError):
        return None
    return client


@functools.lru_cache(maxsize=4096)
def slot_of(key: str) -> int:
    """The Cluster hash slot of ``key``."""
    return int(key_slot(key.encode()))


# Before Python 3.12, ``asyncio.wait_for`` runs what it waits for as a task of its own, and
# redis-py's ``send_packed_command`` wraps every write in it when the connection has a
# socket timeout, as the adapter's always do: a task created and scheduled for each call.
# ``asyncio.timeout`` bounds the same write without one (3.11.3 and later: earlier 3.11
# releases mishandle a cancellation inside it). The write still waits
# for one turn of the event loop first, as it did in its task: with many runs on one loop,
# the writes of the tasks ready in one turn then go out together, and the server answers
# them together (docs/benchmarks.md, "Asyncio writes without a task").
_TIMEOUT_CONTEXT = sys.version_info >= (3, 11, 3)
_TURN_FIRST = True


async def _asend(conn: Any, packed: list[bytes]) -> None:
    """Write ``packed`` on ``conn`` as its ``send_packed_command`` does: connected first and
    its health checked, the write bounded by its socket timeout, and on any failure the
    connection closed and the error raised as redis-py raises it.

    A write cut short (a timeout, a cancelled task) also drops what the event loop still
    holds of it: closing a transport sends its buffer first, so the rest of a command cut
    mid-write would reach the server once it reads again, and the command would run after
    the caller was told it failed."""
    if not conn.is_connected:
        await conn.connect()
    transport = _transport(conn)
    try:
        await _write(conn, packed)
    except BaseException:
        if transport is not None:
            transport.abort()  # unsent bytes are dropped: the command never completes
        raise


def _transport(conn: Any) -> Any:
    """The asyncio transport under a connected redis-py connection, or ``None``."""
    return getattr(getattr(conn, "_writer", None), "transport", None)


async def _write(conn: Any, packed: list[bytes]) -> None:
    write = getattr(conn, "_send_packed_command", None)
    if not _TIMEOUT_CONTEXT or write is None or not conn.is_connected or not conn.socket_timeout:
        await conn.send_packed_command(packed)
        return
    await conn.check_health()
    if _TURN_FIRST:
        await asyncio.sleep(0)  # one turn of the loop; cancelled here, nothing was written
    try:
        async with asyncio.timeout(conn.socket_timeout):
            await write(packed)
    except OSError as error:  # the timeout's TimeoutError too; an OS-level one has an errno
        await conn.disconnect(nowait=True)
        if isinstance(error, TimeoutError) and error.errno is None:
            raise redis.exceptions.TimeoutError("Timeout writing to socket") from None
        raise redis.exceptions.ConnectionError(f"Error while writing to socket: {error}") from error
    except BaseException:
        await conn.disconnect(nowait=True)  # a write cut short: nothing more may follow it
        raise


def _one(replies: list[Any]) -> Any:
    reply = replies[0]
    if isinstance(reply, redis.exceptions.ResponseError):
        raise reply
    return reply


def call(client: redis.Redis, args: Sequence[Any], *, fast: bool) -> Any:
    """Send one command (``args``, its name first) and return its reply, as
    ``client.execute_command(*args)`` would for a command without a reply callback.

    An error reply is raised as redis-py's exception for it (``NoScriptError``,
    ``ResponseError``); a failed connection as ``ConnectionError`` or ``TimeoutError``,
    with the connection closed."""
    return _one(call_many(client, (args,), fast=fast))


async def acall(client: redis.asyncio.Redis, args: Sequence[Any], *, fast: bool) -> Any:
    """:func:`call` with an asyncio client. A task cancelled mid-call closes the
    connection (redis-py's ``Connection`` does), so no reply is left on it."""
    return _one(await acall_many(client, (args,), fast=fast))


LARGE = 64 * 1024
"""An argument of more bytes than this is sent as it is, not copied into the packed command:
hiredis's packer copies a large ``bytes`` argument at about 1 ns per byte (a megabyte in
about 0.9 ms, 30 times a plain copy; docs/benchmarks.md, "Large values")."""


def _large(command: Sequence[Any]) -> bool:
    """Whether an argument of ``command`` is larger than :data:`LARGE` (a plain loop: this
    runs for every call)."""
    for arg in command:  # noqa: SIM110 - any() of a generator costs more per call
        if arg.__class__ is bytes and len(arg) > LARGE:
            return True
    return False


def _framed(command: Sequence[Any], out: list[bytes]) -> None:
    """Append ``command`` to ``out`` in RESP, each large argument a chunk of its own
    (strict UTF-8 text, as hiredis packs it; a type other than bytes, str and int is
    packed by hiredis, whole)."""
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        if arg.__class__ is bytes:
            data = arg
        elif arg.__class__ is str:
            data = arg.encode()
        elif arg.__class__ is int:
            data = b"%d" % arg
        else:
            assert _hiredis_pack is not None
            out.append(_hiredis_pack(tuple(command)))
            return
        if len(data) > LARGE:
            parts.append(b"$%d\r\n" % len(data))
            out.append(b"".join(parts))
            out.append(data)
            parts = [b"\r\n"]
        else:
            parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    out.append(b"".join(parts))


def _packed_many(conn: Any, commands: Sequence[Sequence[Any]], fast: bool) -> list[bytes]:
    if fast:
        assert _hiredis_pack is not None
        pack = _hiredis_pack
        out: list[bytes] = []
        chunked = False
        for command in commands:
            if _large(command):
                _framed(command, out)
                chunked = True
            else:
                out.append(pack(tuple(command)))
        return out if chunked else [b"".join(out)]
    packed: list[bytes] = conn.pack_commands(commands)
    return packed


_WRITE_FIRST = os.name == "posix"
"""Whether :func:`_send` may try one write of its own (``os.write`` on the socket's file
descriptor) before redis-py's ``send_packed_command``."""


def _send(conn: Any, packed: list[bytes]) -> None:
    """Send ``packed`` on ``conn``: one ``write`` to its socket first, and what that did not
    send (all of it on any error) through ``conn.send_packed_command``.

    redis-py sends with ``socket.sendall``, which on a socket with a timeout (the adapter's
    always have one) polls the socket before writing to it: two system calls, and each lets
    go of the GIL, which the background thread a saver runs on may then wait for while the
    graph's next step runs (``docs/benchmarks.md``, "Fewer system calls"). The
    socket is non-blocking under its timeout, so one ``write`` sends a command whole when
    its buffer has room, as it has for a command a reply answered before. A TLS socket,
    a health check due and a command sent in chunks take redis-py's path alone; so does
    an error, which redis-py then meets and reports as it always does (the connection
    closed, ``ConnectionError`` or ``TimeoutError``)."""
    sock = conn._sock if _WRITE_FIRST and len(packed) == 1 else None
    if (
        sock is not None
        and sock.__class__ is socket.socket
        and not getattr(conn, "health_check_interval", 1)
    ):
        data = packed[0]
        try:
            try:
                sent = os.write(sock.fileno(), data)
            except OSError:  # a full buffer, a closed connection...: redis-py's path decides
                sent = 0
            if sent == len(data):
                return
            if sent:
                packed = [memoryview(data)[sent:]]  # type: ignore[list-item]
        except BaseException:  # interrupted with part of a command sent: none may follow it
            conn.disconnect()
            raise
    conn.send_packed_command(packed)


def call_many(client: redis.Redis, commands: Sequence[Sequence[Any]], *, fast: bool) -> list[Any]:
    """Send ``commands`` at once on one connection (a pipeline, no transaction) and return
    a reply per command, an error reply as its exception; as
    ``pipeline.execute(raise_on_error=False)`` would. A failed connection raises, closed."""
    pool: Any = client.connection_pool
    conn: Any = pool.get_connection(*_LEND)
    whole = False
    try:
        _send(conn, _packed_many(conn, commands, fast))
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(conn.read_response())
            except redis.exceptions.ResponseError as error:  # the reply was read whole
                replies.append(error)
        whole = True
        return replies
    finally:
        if reconnect_asked(conn):
            conn.disconnect()
            whole = False
        if not settle(pool, conn, whole=whole):  # redis/pool.py: set aside, or a failure
            pool.release(conn)


async def acall_many(
    client: redis.asyncio.Redis, commands: Sequence[Sequence[Any]], *, fast: bool
) -> list[Any]:
    """:func:`call_many` with an asyncio client."""
    pool: Any = client.connection_pool
    conn: Any = await pool.get_connection(*_LEND)
    whole, transport = False, None
    try:
        await _asend(conn, _packed_many(conn, commands, fast))
        transport = _transport(conn)
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await conn.read_response())
            except redis.exceptions.ResponseError as error:
                replies.append(error)
        whole = True
        return replies
    finally:
        if not whole and transport is not None:
            # The write may have returned with the command still in the event loop's
            # buffer (it does on Python 3.13 when the server reads nothing), and a read
            # that failed closed the transport, which sends that buffer first: the command
            # would run after the caller was told it failed. Drop what is left unsent.
            transport.abort()
        if reconnect_asked(conn):
            await conn.disconnect()
            whole = False
        if not settle(pool, conn, whole=whole):  # redis/pool.py: set aside, or a failure
            await pool.release(conn)
