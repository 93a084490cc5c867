"""Letting go of what the adapter made for an event loop that has closed since.

The adapter makes an asyncio client (and a lock and a group commit) per event loop, kept
in mappings weakly keyed by the loop. Each of them holds its loop (its connections'
streams, the lock once used), so a closed loop is never collected and neither is what it
keeps: one adapter used from many ``asyncio.run`` calls (a sync framework, a task queue,
tests with a loop each) would keep every loop's connections open for as long as it lives.
A client of a closed loop cannot be closed the usual way (that awaits, on its own loop),
so its sockets are shut down and closed here, which the server sees as the connection's
end at once, and its connections marked as not connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator, MutableMapping
from typing import Any


def forget_closed(mapping: MutableMapping[asyncio.AbstractEventLoop, Any]) -> list[Any]:
    """Remove the entries of closed loops from ``mapping``; their values."""
    closed = [loop for loop in list(mapping) if loop.is_closed()]
    return [value for value in (mapping.pop(loop, None) for loop in closed) if value is not None]


def _connections(client: Any) -> Iterator[Any]:
    """The connections of an asyncio client's pool, or of each node of an asyncio Cluster
    client, as redis-py keeps them (read defensively: not a public interface)."""
    pools = [getattr(client, "connection_pool", None)]
    manager = getattr(client, "nodes_manager", None)
    if manager is not None:  # the nodes of the slot map, and those it started from
        nodes = {}
        with contextlib.suppress(Exception):
            for group in (manager.nodes_cache, manager.startup_nodes):
                nodes.update({id(node): node for node in group.values()})
        for node in nodes.values():
            yield from getattr(node, "_connections", ())
    for pool in pools:
        if pool is None:
            continue
        yield from getattr(pool, "_available_connections", ())
        yield from getattr(pool, "_in_use_connections", ())
        for aside in getattr(pool, "_aside", ()):
            yield aside[0]


def shut_down(client: Any) -> None:
    """Close the sockets of ``client``, an asyncio client whose loop has closed, and mark
    its connections as not connected (best effort: nothing is raised, and what is missed
    closes when collected)."""
    for connection in list(_connections(client)):
        writer = getattr(connection, "_writer", None)
        transport: Any = getattr(writer, "transport", None)
        # the transport's own close needs its loop; its socket object closes once, safely
        sock = getattr(transport, "_sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            # and the transport told so, as its close would have: asyncio's own transports
            # then report no "unclosed transport" when collected, nor their stream writer
            # "loop is closed" (uvloop's cannot be told: aclose() on the loop avoids those)
            with contextlib.suppress(AttributeError, TypeError):
                transport._sock = None
                transport._closing = True
        if writer is not None:
            connection._reader = connection._writer = None
    # An asyncio Cluster client that set up reports itself unclosed when collected (to the
    # loop running then, as an error); it is done with here, as its own close would leave
    # it: not set up (redis-py 5 and 6 look at the first, 7 and later at the second).
    if getattr(client, "_initialize", True) is False:
        client._initialize = True
    manager: Any = getattr(client, "nodes_manager", None)
    if getattr(manager, "default_node", None) is not None:
        manager.default_node = None
