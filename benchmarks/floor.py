"""The round-trip floor: what one bare Redis call costs through a saver's own client.

:class:`RoundTripProbe` sends an empty Lua script (``return 1``) with EVALSHA through the
redis-py client a kortyx Redis saver uses (``saver.connection.sync_client()``), and the
same way the saver sends its scripts (``saver.connection.command``: down a pooled
connection of a standalone client, ``execute_command`` on a Cluster): the same
connection pool, parser and socket options as the saver's operations, and on a Cluster the
same slot routing (each call names a key; the keys take turns over every primary, since the
threads of a workload are spread over all of them). What the probe costs on top of the
round trip is the client's packing and parsing of a minimal command and reply, and a few
µs of server time (``server_us_per_call``).

The calls are spaced by :data:`GAP_S` of busy waiting, as a saver's calls are spaced by the
Python work between them, so that a batch does not time a server kept hot by back-to-back
calls. On a small shared machine the bare round trip still sits at one of two levels (about
30 µs or about 100 µs on two cores), depending on where the processes are scheduled, and
the level can change from one pass to the next; the per-round range of the report shows it.

The probe's own commands are subtracted from the saver's ``INFO commandstats`` figures:
:meth:`RoundTripProbe.sample` snapshots the nodes around every batch and keeps the
difference in :attr:`RoundTripProbe.calls`, which :func:`without` takes off again.

A bare call timed in a loop is not what a round trip costs inside ``invoke``, where the
call runs on LangGraph's background thread, waits for the GIL when the reply comes, and
shares two cores with LangGraph's own work and the server. :class:`RoundTripSaver`
measures that floor where the saver runs: it is ``InMemorySaver`` plus one bare EVALSHA per
saver operation, through a kortyx Redis saver's client and to its thread's node, so its
excess over ``InMemorySaver`` is what the round trips alone cost a super-step (the
*in-invoke floor*). No saver that makes one round trip per operation can do better.
:func:`without_scripts` splits the rest: a kortyx Redis saver that does all its own work and
sends the same keys and arguments, but to an empty script, so that what it costs beyond the
floor is the client's side (serialization, planning, packing the arguments, sending them)
and what the real saver costs beyond it is the scripts' work on the server.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis.cluster
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks.redisinfo import RedisNodes
from kortyx_langgraph.redis import RedisFrameworkAdapter, merged
from kortyx_langgraph.redis.layout import thread_keys

SCRIPT = "return 1"
"""The probe: a script that touches nothing and returns at once."""

GAP_S = 200e-6
"""Busy wait before every timed call (the client working between two saver calls)."""

MAX_SEARCH = 10_000
"""How many candidate keys to try when looking for one key per Cluster primary."""


def _keys(client: Any, prefix: str) -> list[str]:
    """One key per primary of a Cluster client (only its slot matters), or one key."""
    if not isinstance(client, redis.cluster.RedisCluster):
        return [f"{prefix}floor"]
    primaries = {node.name for node in client.get_primaries()}  # type: ignore[no-untyped-call]
    found: dict[str, str] = {}
    for n in range(MAX_SEARCH):
        key = f"{prefix}floor:{{{n}}}"
        node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]
        found.setdefault(node.name, key)
        if set(found) >= primaries:
            break
    return [found[name] for name in sorted(found)]


class RoundTripProbe:
    """Bare EVALSHA round trips through one Redis saver's client."""

    def __init__(self, saver: RedisFrameworkAdapter, nodes: RedisNodes) -> None:
        self._client: Any = saver.connection.sync_client()
        self._command = functools.partial(saver.connection.command, self._client)
        self._nodes = nodes
        self.calls: dict[str, int] = {}
        """Commands the probe caused on the servers (``command_calls`` form)."""
        self.samples = 0
        before = nodes.command_calls()
        self._sha: str = self._client.script_load(SCRIPT)  # every primary of a Cluster
        self.keys = _keys(self._client, saver.prefix)
        """The keys the calls name, in turn (one per Cluster primary)."""
        self._add(before, nodes.command_calls())

    def _add(self, before: Mapping[str, int], after: Mapping[str, int]) -> None:
        for name in set(before) | set(after):
            spent = after.get(name, 0) - before.get(name, 0)
            if spent:
                self.calls[name] = self.calls.get(name, 0) + spent

    def sample(self, count: int) -> list[float]:
        """``count`` timed calls; microseconds each, client-side (send to parsed reply)."""
        before = self._nodes.command_calls()
        out: list[float] = []
        keys, sha, command = self.keys, self._sha, self._command
        clock = time.perf_counter
        for n in range(count):
            key = keys[(self.samples + n) % len(keys)]
            waited = clock()
            while clock() - waited < GAP_S:
                pass
            start = clock()
            command("EVALSHA", sha, 1, key)
            out.append((clock() - start) * 1e6)
        self.samples += count
        self._add(before, self._nodes.command_calls())
        return out

    @property
    def server_us_per_call(self) -> float | None:
        """Server time per probe call (``usec`` of EVALSHA ÷ its calls)."""
        calls = self.calls.get("evalsha", 0)
        return self.calls.get("evalsha:usec", 0) / calls if calls else None


class CommandTally:
    """Commands some code caused on the servers, in ``command_calls`` form: what
    :func:`without` takes off a saver's figures when that code shares its servers."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def add(self, before: Mapping[str, int], after: Mapping[str, int]) -> None:
        """Count the difference between two ``command_calls`` snapshots."""
        for name in set(before) | set(after):
            spent = after.get(name, 0) - before.get(name, 0)
            if spent:
                self.calls[name] = self.calls.get(name, 0) + spent


def without(
    after: Mapping[str, int], *others: RoundTripProbe | CommandTally | None
) -> dict[str, int]:
    """A ``command_calls`` snapshot with the commands of probes and tallies taken off."""
    out = dict(after)
    for other in others:
        if other is not None:
            for name, calls in other.calls.items():
                if name in out:
                    out[name] -= calls
    return out


def without_scripts(adapter: RedisFrameworkAdapter) -> RedisFrameworkAdapter:
    """``adapter`` with every script call sent as an EVALSHA of ``return 1`` with the same
    keys and arguments, and answered as if nothing were stored (``get_tuple`` finds no
    checkpoint, every write answers 1). For new threads run by ``invoke`` it behaves as the
    real saver does (LangGraph reads a thread back only when it starts), so it measures the
    adapter's client side under the same conditions. Sync calls only."""
    connection: Any = adapter.connection
    client: Any = connection.sync_client()
    sha = client.script_load(SCRIPT)

    def send(_client: Any, step: Any) -> Any:
        connection.command(client, "EVALSHA", sha, len(step.keys), *step.keys, *step.args)
        return None if not step.script.writes else 1

    def send_pipeline(_client: Any, steps: Any) -> list[Any]:
        # as the saver sends them: consecutive writes merged into one call (redis/merged.py)
        pipe = client.pipeline(transaction=False)
        for command in merged.commands(steps, merged.plan(steps), lambda _sha: True):
            pipe.execute_command("EVALSHA", sha, *command[2:])
        pipe.execute()
        return [None if not step.script.writes else 1 for step in steps]

    connection._send = send
    connection._send_pipeline = send_pipeline  # put_writes that overlap (group commit)
    return adapter


class RoundTripSaver(InMemorySaver):
    """``InMemorySaver`` plus one bare EVALSHA (``return 1``) per saver operation: the
    in-invoke floor of a saver that makes one round trip per operation.

    The call goes through ``adapter``'s own client (its pool, parser, socket options) and
    names a key in the slot of the thread's keys, so on a Cluster it reaches the node the
    adapter would use. Only the sync methods are timed by the agent loop;
    ``InMemorySaver``'s async ones call them, so they pay the same round trip.
    """

    def __init__(self, adapter: RedisFrameworkAdapter) -> None:
        super().__init__()
        self._client: Any = adapter.connection.sync_client()
        self._command = functools.partial(adapter.connection.command, self._client)
        self._prefix = adapter.prefix
        self._sha: str = self._client.script_load(SCRIPT)
        self.round_trips = 0
        """Bare calls sent (one per operation)."""

    def _round_trip(self, config: RunnableConfig) -> None:
        thread_id = str(config["configurable"]["thread_id"])
        self._command("EVALSHA", self._sha, 1, thread_keys(self._prefix, thread_id).cp)
        self.round_trips += 1

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """One bare round trip, then ``InMemorySaver.get_tuple``."""
        self._round_trip(config)
        return super().get_tuple(config)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """One bare round trip, then ``InMemorySaver.put``."""
        self._round_trip(config)
        return super().put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """One bare round trip, then ``InMemorySaver.put_writes``."""
        self._round_trip(config)
        super().put_writes(config, writes, task_id, task_path)
