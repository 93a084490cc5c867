"""What this process last stored in a checkpoint record, per (thread, namespace). Pure code.

A record keeps the small values its step changed (see ``codec.py``). When the next step
leaves such a channel unchanged, its value must be copied into the blob hash, where the
records that do not keep it find it. The put script can find those values by reading the
parent's record; but the process that wrote the parent knows them already, so it sends the
copies itself and tells the script it need not look (the common case: one process runs a
thread's steps). A process that did not write the parent (a resume elsewhere, a restart, a
fork from an older checkpoint) remembers nothing for it, and the script looks; so does the
script when the parent stored is not the one remembered (deleted, or stored again in
another form): the client sends the header it stored, and the script compares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from kortyx_langgraph.redis.recent import Recent

REMEMBERED = 10_000
"""(thread, namespace) entries kept, least recently written first out."""

Refs = Mapping[str, tuple[str, bytes | None]]
"""Channel -> (blob suffix, stored value if the record keeps it, else ``None``)."""


class Remembered(NamedTuple):
    """The last record this process stored for one (thread, namespace)."""

    checkpoint_id: str
    refs: Refs
    header: bytes
    """Its header as stored (the scripts compare it with the record they find)."""


class KeptValues:
    """The last record this process stored per (thread, namespace); thread-safe."""

    def __init__(self, capacity: int = REMEMBERED) -> None:
        self._last: Recent[tuple[str, str], Remembered] = Recent(capacity)

    def recall(self, key: tuple[str, str], checkpoint_id: str) -> Remembered | None:
        """The record ``checkpoint_id`` if it is the last one stored for ``key``."""
        last = self._last.get(key)
        if last is None or last.checkpoint_id != checkpoint_id:
            return None
        return last

    def remember(self, key: tuple[str, str], last: Remembered) -> None:
        """Note the record just stored for ``key``."""
        self._last.put(key, last)
