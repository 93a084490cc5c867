"""What this process last stored in a checkpoint record, per (thread, namespace). Pure code.

A record keeps the small values its step changed (see ``codec.py``). When the next step
leaves such a channel unchanged, its value must be copied into the blob hash, where the
records that do not keep it find it. The put script can find those values by reading the
parent's record; but the process that wrote the parent knows them already, so it sends the
copies itself and tells the script it need not look (the common case: one process runs a
thread's steps). A process that did not write the parent (a resume elsewhere, a restart, a
fork from an older checkpoint) remembers nothing for it, and the script looks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping

REMEMBERED = 10_000
"""(thread, namespace) entries kept, least recently written first out."""

Refs = Mapping[str, tuple[str, bytes | None]]
"""Channel -> (blob suffix, stored value if the record keeps it, else ``None``)."""


class KeptValues:
    """The refs of the last record this process stored per (thread, namespace); thread-safe."""

    def __init__(self, capacity: int = REMEMBERED) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._last: OrderedDict[tuple[str, str], tuple[str, Refs]] = OrderedDict()

    def recall(self, key: tuple[str, str], checkpoint_id: str) -> Refs | None:
        """The refs of ``checkpoint_id`` if it is the last record stored for ``key``."""
        with self._lock:
            last = self._last.get(key)
        if last is None or last[0] != checkpoint_id:
            return None
        return last[1]

    def remember(self, key: tuple[str, str], checkpoint_id: str, refs: Refs) -> None:
        """Note the record just stored for ``key``."""
        with self._lock:
            self._last[key] = (checkpoint_id, refs)
            self._last.move_to_end(key)
            while len(self._last) > self._capacity:
                self._last.popitem(last=False)
