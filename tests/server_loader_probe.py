"""Load and enter our checkpointer with langgraph-api's own loader; print what happened.

Run as ``python -m tests.server_loader_probe`` in a child process (langgraph-api reads its
settings from the environment when imported). Prints one JSON object: for each path form
(the three dotted ones below and a ``file.py:attr`` of a user's own module), what the
loader returned or the error it raised; the kind of adapter the entered context
yields; and, on Redis, how many connections the probe holds before, while and after the
adapter is in use (this process's own TCP connections to the Redis ports).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import uuid
from typing import Any

PATHS = (
    "kortyx_langgraph.server.checkpointer",
    "kortyx_langgraph.langgraph_server_checkpointer",
    "kortyx_langgraph.server:checkpointer",
)


def _redis_ports(url: str) -> set[int]:
    """The ports of the standalone server or of every Cluster node."""
    import redis

    if os.environ.get("PROBE_CLUSTER") == "1":
        cluster = redis.cluster.RedisCluster.from_url(url)
        try:
            return {int(node.port) for node in cluster.get_nodes()}
        finally:
            cluster.close()
    return {int(redis.connection.parse_url(url)["port"])}


def _clients(ports: set[int] | None) -> int | None:
    """Open TCP connections from this process to ``ports`` (Linux ``/proc``)."""
    if ports is None:
        return None
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    with open("/proc/net/tcp") as table:
        for row in table.readlines()[1:]:
            fields = row.split()
            remote_port = int(fields[2].split(":")[1], 16)
            established = fields[3] == "01"
            if established and remote_port in ports and fields[9] in inodes:
                count += 1
    return count


async def _main() -> dict[str, Any]:
    from langgraph_api._checkpointer._adapter import _load_checkpointer, _yield_checkpointer

    loaded: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        # the file form: a module of the user's own that re-exports our entry point
        with open(os.path.join(folder, "my_checkpointer.py"), "w") as f:
            f.write("from kortyx_langgraph.server import checkpointer\n")
        file_path = os.path.join(folder, "my_checkpointer.py") + ":checkpointer"
        for path in (*PATHS, file_path):
            try:
                outcome = f"ok: {_load_checkpointer(path).__qualname__}"
            except Exception as exc:
                outcome = f"error: {type(exc).__name__}"
            loaded["file.py:checkpointer" if path == file_path else path] = outcome
    url = os.environ.get("KORTYX_REDIS_URL")
    ports = None if url is None else _redis_ports(url)
    before = _clients(ports)
    value = _load_checkpointer(PATHS[0])
    async with _yield_checkpointer(value) as saver:
        kind = saver.kind
        config = {"configurable": {"thread_id": f"probe-{uuid.uuid4().hex}", "checkpoint_ns": ""}}
        found = await saver.aget_tuple(config)
        during = _clients(ports)
    after = _clients(ports)
    return {
        "loaded": loaded,
        "kind": kind,
        "found": found is not None,
        "clients": [before, during, after],
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_main())))
