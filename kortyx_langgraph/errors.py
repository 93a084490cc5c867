"""Typed errors raised by kortyx-langgraph.

Every error derives from :class:`KortyxError`, so one ``except KortyxError`` catches all of
them. Each also derives from the closest built-in exception (``ValueError``, ``LookupError``,
``ConnectionError``) so code written against LangGraph's own savers keeps working.
Messages name the problem and, where there is one, the fix; they never contain a secret.
"""

from __future__ import annotations

from datetime import datetime


class KortyxError(Exception):
    """Base class of every error raised by this package."""


class ConfigurationError(KortyxError, ValueError):
    """A setting (argument or environment variable) has a value that cannot be used.

    ``variable`` names the environment variable or argument at fault, when there is one.
    """

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class InvalidConfigError(KortyxError, ValueError):
    """A LangGraph ``RunnableConfig`` passed to the saver lacks what the call needs.

    The usual cause is a missing ``configurable.thread_id``.
    """


class StorageError(KortyxError):
    """The backing store failed; nothing partial was written."""


class StorageConnectionError(StorageError, ConnectionError):
    """The backing store could not be reached, or refused our credentials."""


class StorageReadOnlyError(StorageConnectionError):
    """The server is a read-only replica (a failover demoted the node the URL reaches) and
    refused the write on every attempt; nothing was written, and it is safe to repeat. The
    adapter reconnects before each attempt, so a host name that now points at the new
    primary is followed; a URL naming the old node's address is not."""


class StorageTimeoutError(StorageConnectionError):
    """Redis did not answer a read within the socket timeout, on every attempt."""


class WriteOutcomeUnknownError(StorageConnectionError):
    """A write was sent but no answer came back (timeout, dropped connection).

    Every write script is atomic and safe to repeat, so the write either happened as a
    whole or not at all; which one is unknown. Repeating the same call is safe.
    ``operation`` names the write (``put``, ``put_writes``, ``pending_claim``, ...).

    For a claim, ``claim_id`` is the id it was sent with (the caller's, or the one made
    for it): repeat the claim with ``claim_id=error.claim_id``, and a claim that was
    applied is recognised as the caller's own. A claim repeated without it is another
    claim, refused with ``AlreadyClaimedError`` while the first one's lease runs.
    """

    def __init__(self, message: str, *, operation: str, claim_id: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.claim_id = claim_id


class PoolExhaustedError(StorageConnectionError):
    """No connection of the client's pool came free within ``pool_timeout``; nothing was
    sent. Raise ``max_connections`` or lower the concurrency."""


class ReplicationError(StorageError):
    """``replica_acks``: the write was applied on the primary, but fewer replicas than
    asked acknowledged it within the timeout, so a failover now could lose it.

    ``acknowledged`` is how many did; ``wanted`` how many were asked for. Repeating the
    call is safe (every write script is idempotent). For a claim, ``claim_id`` is the id the
    applied claim holds the interrupt with: repeat (or release) the claim with it; another
    id is refused while the lease runs.
    """

    def __init__(
        self, message: str, *, acknowledged: int, wanted: int, claim_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged
        self.wanted = wanted
        self.claim_id = claim_id


class StorageOutOfMemoryError(StorageError):
    """Redis reached ``maxmemory`` and refused a write (``noeviction``); nothing was written
    and what was stored before is intact. Retry once memory is freed or raised."""


class StorageUnavailableError(StorageError):
    """Redis refused the command for a state of its own, not for anything the adapter or
    the user sent: it cannot persist to disk and stops writes (``MISCONF``), it has fewer
    replicas than ``min-replicas-to-write`` (``NOREPLICAS``), or another client's script
    is still running (``BUSY``). Nothing was written; repeat once the server is fixed."""


class ThreadExpiredError(StorageError):
    """A run ended and its thread held no checkpoint: the thread expired (a step took
    longer than the time it had left) or was deleted while the run went on, and what the
    run's last steps wrote had no checkpoint to belong to. A question it paused on was not
    stored. Give the thread a TTL longer than the slowest step."""


class StorageCapabilityError(StorageError):
    """The backing store refuses something the saver needs (for example Lua scripting)."""


class DeserializationError(StorageError):
    """A stored value could not be decoded (corrupted data, or a different serializer)."""


class ResumeError(KortyxError, LookupError):
    """Base class of the errors raised when looking up or claiming a pending interrupt."""

    def __init__(self, message: str, *, token: str | None = None) -> None:
        super().__init__(message)
        self.token = token


class UnknownTokenError(ResumeError):
    """No pending interrupt has this token: it was resumed, deleted, or never existed."""


class ExpiredTokenError(ResumeError):
    """The pending interrupt for this token expired together with its thread."""


class AlreadyClaimedError(ResumeError):
    """Another caller holds this pending interrupt (its lease still runs); one claim wins.

    ``lease_expires_at`` is when that caller's lease runs out (UTC), when known: unless it
    renews or resumes first, the interrupt can be claimed again from then on.
    """

    def __init__(
        self,
        message: str,
        *,
        token: str | None = None,
        lease_expires_at: datetime | None = None,
    ) -> None:
        super().__init__(message, token=token)
        self.lease_expires_at = lease_expires_at


class ClaimMismatchError(ResumeError):
    """``release`` with a claim id that does not hold the interrupt: it is someone else's."""


class InvalidAnswerError(ResumeError, ValueError):
    """An answer that does not fit the question (``use_interrupt``); nothing was resumed and
    the token still works."""


class ResumeFailedError(ResumeError):
    """The resumed run raised (its error is the ``__cause__``) and the claim was released.

    ``token_still_pending`` tells whether the interrupt still waits (the node raised after
    it received the answer: resuming the same token again re-runs the node, but LangGraph
    hands it the answer it already received, whatever the new one) or was answered and a
    later step failed (retry the thread with
    ``agent.run(None, thread_id=..., workflow_id=...)``).

    ``claim_id`` is the id of the claim the resume held. ``claim_released`` is false when
    storage did not confirm its release either: the claim may hold the interrupt until
    its lease ends, so resume again with ``claim_id=error.claim_id`` (recognised as the
    same claim) or release it with that id; ``token_still_pending`` is then true, as far
    as is known.
    """

    def __init__(
        self,
        message: str,
        *,
        token: str | None = None,
        token_still_pending: bool = False,
        claim_id: str | None = None,
        claim_released: bool = True,
    ) -> None:
        super().__init__(message, token=token)
        self.token_still_pending = token_still_pending
        self.claim_id = claim_id
        self.claim_released = claim_released


class UnknownWorkflowError(ResumeError):
    """The workflow a thread runs is not one of the agent's workflows."""


class NothingPendingError(ResumeError):
    """``claim_next``: the thread has no unclaimed pending interrupt (any more)."""


__all__ = [
    "AlreadyClaimedError",
    "ClaimMismatchError",
    "ConfigurationError",
    "DeserializationError",
    "ExpiredTokenError",
    "InvalidAnswerError",
    "InvalidConfigError",
    "KortyxError",
    "NothingPendingError",
    "PoolExhaustedError",
    "ReplicationError",
    "ResumeError",
    "ResumeFailedError",
    "StorageCapabilityError",
    "StorageConnectionError",
    "StorageError",
    "StorageTimeoutError",
    "UnknownTokenError",
    "UnknownWorkflowError",
    "WriteOutcomeUnknownError",
]
