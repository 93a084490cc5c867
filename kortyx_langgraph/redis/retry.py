"""What the Redis adapter sends again after a failure, how often, and what it says at the end.

The adapter turns redis-py's own retries off for the clients it creates
(``redis/client_options.py``) and applies this policy instead, for every operation and on
standalone servers and Clusters alike. That is safe because every script is atomic and
safe to repeat (``tests/test_redis_idempotence.py`` sends each one twice), and it lets the
adapter know, when it gives up, whether a write may have reached the server: a failure
while connecting means nothing was sent; a timeout or a dropped connection after sending
means the write may have run.

Retried: connection failures (refused, reset, closed), timeouts, a server still loading
its data (``LOADING``), a Cluster that is failing over (``CLUSTERDOWN``, ``TRYAGAIN``, no
node reachable while the client refreshes its slot map), and a slot being migrated to
another node (redis-py's Cluster client gives up after a run of ``ASK`` and ``TRYAGAIN``
replies); the Cluster client refreshes its slot map before each retry. Never retried: refused
credentials, an exhausted pool (its wait was the bound), and every error reply.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import NamedTuple

import redis.exceptions

from kortyx_langgraph.errors import (
    ConfigurationError,
    KortyxError,
    PoolExhaustedError,
    StorageConnectionError,
    StorageReadOnlyError,
    StorageTimeoutError,
    WriteOutcomeUnknownError,
)
from kortyx_langgraph.redis.scripts import THREAD_DATA_ELSEWHERE

DEFAULT_ATTEMPTS = 3
"""Sends of one script before the adapter gives up (the first one included)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How the Redis adapter retries an operation whose connection failed.

    ``attempts`` counts every send of one script, the first included (``1`` never
    retries). Between attempts it waits a random time up to
    ``min(backoff_cap_ms, backoff_base_ms * 2 ** (failures - 1))`` ("full jitter", so
    that many clients that failed together do not come back together).
    """

    attempts: int = DEFAULT_ATTEMPTS
    backoff_base_ms: int = 50
    backoff_cap_ms: int = 1000

    def __post_init__(self) -> None:
        for name, least in (("attempts", 1), ("backoff_base_ms", 0), ("backoff_cap_ms", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigurationError(
                    f"RetryPolicy.{name} must be a whole number >= {least}, got {value!r}",
                    variable="retry",
                )

    def delay_s(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed attempt."""
        ceiling = min(self.backoff_cap_ms, self.backoff_base_ms * 2 ** max(failures - 1, 0))
        return random.uniform(0, ceiling) / 1000


class Failure(NamedTuple):
    """How one failed send counts: is it worth repeating, and may it have run?"""

    retry: bool
    maybe_ran: bool


def _is_pool_exhausted(exc: BaseException) -> bool:
    text = str(exc)
    return "No connection available" in text or "Too many connections" in text


def is_read_only(exc: BaseException) -> bool:
    """Whether ``exc`` is a replica's refusal of a write (``READONLY``; Redis 6.2 wraps it
    in a script's ``ERR``): nothing was written."""
    if not isinstance(exc, redis.exceptions.ResponseError):
        return False
    text = str(exc)
    return text.startswith("READONLY") or "read only replica" in text


def classify(exc: BaseException) -> Failure | None:
    """How ``exc`` from one send counts; ``None`` for what is not a connection failure
    (error replies, refused credentials), which is never retried."""
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return None
    if is_read_only(exc):
        # a failover demoted the node: the next attempt connects anew (a host name may
        # point at the new primary by then)
        return Failure(retry=True, maybe_ran=False)
    if isinstance(exc, redis.exceptions.ConnectionError) and _is_pool_exhausted(exc):
        return Failure(retry=False, maybe_ran=False)
    if isinstance(exc, redis.exceptions.BusyLoadingError):
        return Failure(retry=True, maybe_ran=False)
    if isinstance(exc, (redis.exceptions.ClusterDownError, redis.exceptions.TryAgainError)):
        return Failure(retry=True, maybe_ran=False)
    if isinstance(exc, redis.exceptions.ResponseError) and THREAD_DATA_ELSEWHERE in str(exc):
        # a token's script answered TRYAGAIN before it wrote anything (older redis-py
        # versions, 5.0.8 among them, parse that as a plain error on a standalone client)
        return Failure(retry=True, maybe_ran=False)
    if isinstance(exc, redis.exceptions.ResponseError) and "non local key" in str(exc):
        # a token's script on the node importing its slot, reading a key of its thread
        # (the token names the pending hash alone) that the node does not serve yet: it
        # reads that key before it writes anything, so nothing ran
        return Failure(retry=True, maybe_ran=False)
    if isinstance(exc, redis.exceptions.ClusterError):
        # redis-py's Cluster client gives up after 16 redirections and TRYAGAIN replies in a
        # row ("TTL exhausted"), none of which ran the command: what a slot migrating to
        # another node answers a script on keys of which some are not there yet, until the
        # slot has moved
        return Failure(retry=True, maybe_ran=False)
    if isinstance(exc, redis.exceptions.RedisClusterException) and (
        "cannot be connected" in str(exc)
        or isinstance(
            exc.__cause__, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        )
    ):
        # the Cluster client failed to refresh its slot map after a failed command, which
        # may have been sent
        return Failure(retry=True, maybe_ran=True)
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        # redis-py says "connecting" for every failure before the command was written
        return Failure(retry=True, maybe_ran="connecting" not in str(exc).lower())
    if isinstance(exc, OSError):
        return Failure(retry=True, maybe_ran=True)
    return None


def read_only_error(where: str, what: str, exc: BaseException) -> StorageReadOnlyError:
    """The error for a write a replica refused, with what to do about it."""
    return StorageReadOnlyError(
        f"Redis at {where} is a read-only replica and refused the write ({what}): {exc}; "
        "nothing was written. A failover has probably demoted this node: point the URL at "
        "the primary by a name that follows failovers (the adapter reconnects before every "
        "attempt), or pass a client that finds the primary itself (client= a Sentinel "
        "master_for() client, or a Redis Cluster client)"
    )


def tls_hint(where: str, exc: BaseException) -> str:
    """What to check when a ``rediss://`` connection could not be set up in time: a port
    that does not speak TLS never finishes the handshake, which looks like a timeout."""
    if where.startswith("rediss://") and "timeout connecting" in str(exc).lower():
        return (
            "; with rediss://, check that this port speaks TLS (a plain Redis port never "
            "finishes the TLS handshake, and the connection times out)"
        )
    return ""


@dataclass
class Attempts:
    """The failures of one operation so far, under one policy."""

    policy: RetryPolicy
    failures: int = 0
    maybe_ran: bool = False
    timed_out: bool = False
    last: Failure | None = None
    """How the latest failure counted (``None``: it was no connection failure)."""

    def after(self, exc: BaseException) -> float | None:
        """Count a failed send: seconds to wait before the next one, ``None`` to give up."""
        failure = self.last = classify(exc)
        if failure is None:
            return None
        self.failures += 1
        self.maybe_ran = self.maybe_ran or failure.maybe_ran
        self.timed_out = self.timed_out or (
            isinstance(exc, redis.exceptions.TimeoutError) and failure.maybe_ran
        )
        if not failure.retry or self.failures >= self.policy.attempts:
            return None
        return self.policy.delay_s(self.failures)

    def error(
        self, exc: BaseException, *, where: str, operation: str, writes: bool
    ) -> KortyxError | None:
        """The error to raise when giving up after :meth:`after` counted ``exc`` (``None``
        for what is no connection failure, which ``translate`` names)."""
        failure = self.last
        if failure is None:
            return None
        tries = f"{self.failures} attempt{'s' if self.failures != 1 else ''}"
        if not failure.retry:
            return PoolExhaustedError(
                f"no free connection to Redis at {where} for {operation} ({exc}); nothing "
                "was sent. Raise max_connections or pool_timeout in client_options (a client "
                "passed as client= waits as it was configured to), or run fewer operations "
                "at once"
            )
        if writes and self.maybe_ran:
            return WriteOutcomeUnknownError(
                f"Redis at {where} did not confirm {operation} ({tries}, last: "
                f"{type(exc).__name__}: {exc}); the write may or may not have been applied. "
                "It is atomic and safe to repeat",
                operation=operation,
            )
        if self.timed_out:
            return StorageTimeoutError(
                f"Redis at {where} did not answer {operation} within the socket timeout "
                f"({tries}, last: {type(exc).__name__}: {exc})"
            )
        if is_read_only(exc):
            return read_only_error(where, f"{operation}, {tries}", exc)
        if THREAD_DATA_ELSEWHERE in str(exc):
            return StorageConnectionError(
                f"Redis at {where} holds the record of this token but none of its thread's "
                f"keys ({operation}, {tries}); nothing was written. On a Redis Cluster the "
                "thread's slot is being migrated: give the retry policy more attempts to "
                "wait for it. Otherwise the thread's keys were evicted: Redis must run "
                "with maxmemory-policy noeviction (kortyx-langgraph doctor checks it)"
            )
        if isinstance(exc, (redis.exceptions.ClusterError, redis.exceptions.TryAgainError)) or (
            "non local key" in str(exc)
        ):
            return StorageConnectionError(
                f"Redis Cluster at {where} kept redirecting {operation} or answering TRYAGAIN "
                f"({tries}, last: {type(exc).__name__}: {exc}); nothing was written. The "
                "thread's slot is being migrated to another node (resharding) or failed "
                "over; give the retry policy more attempts to wait for it"
            )
        return StorageConnectionError(
            f"cannot reach Redis at {where} ({operation}, {tries}): {exc}{tls_hint(where, exc)}"
        )
