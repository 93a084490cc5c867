"""Every Redis key and hash field the adapter writes, built in this one module.

A thread owns four keys, all sharing the thread's hash tag so that one Lua script can touch
them atomically on Redis Cluster too (one slot per thread)::

    {prefix}{<tag>}:<thread>:idx     ZSET   "<ns>:<checkpoint id>" members, score 0 (lex order)
    {prefix}{<tag>}:<thread>:cp      HASH   "<ns>:<checkpoint id>" -> checkpoint record
                                            (small channel values included), then the
                                            framed pending writes of the first task
                                            that wrote there
    {prefix}{<tag>}:<thread>:blob    HASH   "<ns>:<channel>:<version>" -> channel value
    {prefix}{<tag>}:<thread>:wr      HASH   each later task's writes in "<ns>:<id>|<task>",
                                            listed by "<ns>:<id>#" (count), "<ns>:<id>#<n>";
                                            the first task's in "<ns>:<id>" while the
                                            checkpoint has no record

and the tag owns one more, where pending-interrupt tokens resolve in O(1)::

    {prefix}{<tag>}:pending          HASH   "<token>" -> record, "<token>:c" -> claim time,
                                            "@" thread marker, "#" counter,
                                            "!:<thread>" pending set to derive again,
                                            the index of a thread's records:
                                            "=:<n>:<thread><m>:<cp><id>" -> token,
                                            ">:<n>:<thread><m>:<cp><task>" -> the ids the task
                                            waits for, "<:<n>:<thread><seq>" -> token (and
                                            lease end while claimed) in the order records
                                            were made, "_:<thread>" the lowest seq in use,
                                            "~:<thread>" how far from it all are held,
                                            "^:<n>:<thread><claim id>" -> the token
                                            claim_next took for it, "%:<thread>" the
                                            index's form

``<tag>`` is :func:`~kortyx_langgraph.core.ids.thread_tag` (a digest of the thread id), and
``<thread>``, ``<ns>``, ``<channel>``, ``<version>`` and ids are percent-encoded, so none of
them contains ``:``, ``{``, ``}``, ``*`` or ``?``: no id can reach another thread's keys or
inject a pattern. Keeping a thread in a handful of keys (rather than one per checkpoint) is
what lets every write slide the TTL of the *whole* thread in a constant number of commands.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple
from urllib.parse import quote, unquote

from kortyx_langgraph.core.ids import thread_tag
from kortyx_langgraph.errors import ConfigurationError

DEFAULT_PREFIX = "kortyx:"


def check_prefix(prefix: object) -> str:
    """``prefix`` if keys may start with it: a string without ``{`` or ``}``, which would
    break the hash tags that keep a thread on one Cluster slot."""
    if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
        raise ConfigurationError(
            f"prefix must be a string without '{{' or '}}' (they would break the hash "
            f"tags that keep a thread on one Cluster slot), got {prefix!r}",
            variable="prefix",
        )
    return prefix


_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def encode(part: str) -> str:
    """Percent-encode one key part; only ``A-Z a-z 0-9 - _ . ~`` stay as they are."""
    if _UNRESERVED.fullmatch(part):
        return part  # the common case (uuids, plain names): no work
    return quote(part, safe="")


def decode(part: str) -> str:
    """Inverse of :func:`encode`."""
    return unquote(part)


class ThreadKeys(NamedTuple):
    """The keys of one thread, in the order every thread script takes them as ``KEYS``."""

    idx: str
    cp: str
    blob: str
    wr: str
    pending: str

    @property
    def base(self) -> str:
        """The common part; ``base + ":cp"`` is the thread's checkpoint hash."""
        return self.cp[: -len(":cp")]


@functools.lru_cache(maxsize=4096)
def thread_keys(prefix: str, thread_id: str) -> ThreadKeys:
    """The keys of ``thread_id`` under ``prefix``."""
    tag = thread_tag(thread_id)
    base = f"{prefix}{{{tag}}}:{encode(thread_id)}"
    return ThreadKeys(
        idx=f"{base}:idx",
        cp=f"{base}:cp",
        blob=f"{base}:blob",
        wr=f"{base}:wr",
        pending=pending_key(prefix, tag),
    )


def pending_key(prefix: str, tag: str) -> str:
    """The pending-interrupt hash of every thread whose tag is ``tag``."""
    return f"{prefix}{{{tag}}}:pending"


@functools.lru_cache(maxsize=1024)
def checkpoint_member(checkpoint_ns: str, checkpoint_id: str) -> str:
    """Index member, ``cp`` field and ``wr`` field of one checkpoint.

    Remembered for the most recent checkpoints: a step's ``put_writes`` and the next
    ``put`` (naming it as the parent) ask again for the member the ``put`` before made."""
    return f"{encode(checkpoint_ns)}:{encode(checkpoint_id)}"


def split_member(member: str) -> tuple[str, str]:
    """``(namespace, checkpoint id)`` of an index member."""
    ns_part, _, id_part = member.partition(":")
    return decode(ns_part), decode(id_part)


@functools.lru_cache(maxsize=8192, typed=True)  # typed: 1 and 1.0 are different versions
def blob_suffix(channel: str, version: str | int | float) -> str:
    """The part of a blob field after ``"<ns>:"``; stored in the checkpoint record.

    Remembered for the most recent pairs: a channel that did not change keeps its version
    from step to step, so each ``put`` asks again for the suffixes of the step before."""
    return f"{encode(channel)}:{encode(str(version))}"


def namespace_range(checkpoint_ns: str, before_id: str | None = None) -> tuple[str, str]:
    """``(max, min)`` arguments of ``ZREVRANGEBYLEX`` for one namespace, newest first.

    Members of namespace ``n`` are ``"n:<id>"``; ``;`` sorts right after ``:``, so
    ``["n:", "n;")`` holds exactly them. ``before_id`` makes the upper bound exclusive at it.
    """
    ns = encode(checkpoint_ns)
    upper = f"({ns}:{encode(before_id)}" if before_id is not None else f"({ns};"
    return upper, f"[{ns}:"


def checkpoint_key_pattern(prefix: str) -> str:
    """``SCAN MATCH`` pattern of every thread's ``cp`` key under ``prefix``.

    Only the configured prefix (escaped) goes into the pattern, never a user id.
    """
    escaped = _GLOB_SPECIAL.sub(r"\\\1", prefix)
    return escaped + "{*}:*:cp"


def thread_id_of_cp_key(prefix: str, key: str) -> str | None:
    """The thread id encoded in a ``cp`` key found by ``SCAN``, or ``None`` if not ours."""
    if not key.startswith(prefix) or not key.endswith(":cp"):
        return None
    rest = key[len(prefix) : -len(":cp")]
    if not rest.startswith("{") or "}:" not in rest:
        return None
    thread_part = rest.split("}:", 1)[1]
    if ":" in thread_part:
        return None
    return decode(thread_part)
