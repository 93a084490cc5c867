"""``replica_acks``: each write waits until that many replicas acknowledged it (``WAIT``).

Redis replicates asynchronously: a primary that fails right after acknowledging a write
may take it with it, and the promoted replica never saw it. With ``replica_acks=N`` every
write script is followed by ``WAIT N timeout`` in the same pipeline, on the same
connection (still one round trip): the call returns once ``N`` replicas hold the write,
or raises :class:`~kortyx_langgraph.errors.ReplicationError` when fewer did within the
timeout. The write itself was applied on the primary either way, and repeating it is safe.

``WAIT`` makes a lost write unlikely, not impossible (a replica that acknowledged may
still lose the election); it is not a consensus protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.exceptions

from kortyx_langgraph.errors import ConfigurationError, ReplicationError

DEFAULT_REPLICA_ACK_TIMEOUT_MS = 1000
"""How long a write waits for its replicas before ``ReplicationError``."""


@dataclass(frozen=True)
class ReplicaAcks:
    """How many replicas must acknowledge each write, and how long to wait for them."""

    count: int
    timeout_ms: int = DEFAULT_REPLICA_ACK_TIMEOUT_MS

    def __post_init__(self) -> None:
        for name, value, least in (
            ("replica_acks", self.count, 0),
            ("replica_ack_timeout_ms", self.timeout_ms, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigurationError(
                    f"{name} must be a whole number >= {least}, got {value!r}", variable=name
                )

    @property
    def wait_command(self) -> tuple[str, int, int]:
        """The command sent after each write script."""
        return ("WAIT", self.count, self.timeout_ms)

    def check(self, acknowledged: Any, *, where: str, operation: str) -> None:
        """Raise ``ReplicationError`` if fewer replicas than asked acknowledged the write."""
        got = int(acknowledged)
        if got < self.count:
            raise ReplicationError(
                f"{operation} was applied on the primary at {where}, but only {got} of "
                f"{self.count} replicas acknowledged it within {self.timeout_ms} ms; a "
                "failover now could lose it (repeating the call is safe)",
                acknowledged=got,
                wanted=self.count,
            )


def is_redirect(reply: Any) -> bool:
    """Whether a reply is a Cluster redirection (``MOVED``/``ASK``): the slot moved."""
    if isinstance(reply, redis.exceptions.AskError):  # MovedError derives from it
        return True
    return isinstance(reply, redis.exceptions.ResponseError) and str(reply).startswith(
        ("MOVED ", "ASK ")
    )


def _queue(pipe: Any, script: Any, keys: Any, args: Any, acks: ReplicaAcks, *, by_sha: bool) -> Any:
    """Put the script and ``WAIT`` into ``pipe`` (either colour's pipeline)."""
    if by_sha:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    else:
        pipe.eval(script.source, len(keys), *keys, *args)
    pipe.execute_command(*acks.wait_command)
    return pipe


def script_and_wait(
    node: Any, script: Any, keys: Any, args: Any, acks: ReplicaAcks, *, by_sha: bool
) -> list[Any]:
    """Send one script and ``WAIT`` in one pipeline on one connection of ``node`` (a
    standalone sync client); its two replies, an error reply as an exception."""
    pipe = _queue(node.pipeline(transaction=False), script, keys, args, acks, by_sha=by_sha)
    return list(pipe.execute(raise_on_error=False))


async def ascript_and_wait(
    node: Any, script: Any, keys: Any, args: Any, acks: ReplicaAcks, *, by_sha: bool
) -> list[Any]:
    """:func:`script_and_wait` with an asyncio client."""
    pipe = _queue(node.pipeline(transaction=False), script, keys, args, acks, by_sha=by_sha)
    return list(await pipe.execute(raise_on_error=False))
