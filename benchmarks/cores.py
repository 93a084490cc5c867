"""Cores of their own for the Redis servers and for the benchmark (``--pin-cores``).

By default the Python process and the servers it starts share every core. With pinning,
every server the harness starts runs on the last core this process may use, and the
process itself (with every thread it starts later) on the others. Linux only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class PinningUnavailable(RuntimeError):
    """Cores cannot be split here: fewer than two, or no ``sched_setaffinity``."""


@dataclass(frozen=True)
class CoreSplit:
    """Which cores the servers and the benchmark process run on."""

    server: int
    client: frozenset[int]

    def describe(self) -> str:
        """``servers on core 1, the benchmark on core 0``."""
        client = ", ".join(str(core) for core in sorted(self.client))
        plural = "s" if len(self.client) > 1 else ""
        return f"servers on core {self.server}, the benchmark on core{plural} {client}"


def split() -> CoreSplit:
    """The last core this process may use for the servers, the others for the process."""
    if not hasattr(os, "sched_setaffinity"):
        raise PinningUnavailable("--pin-cores needs Linux (os.sched_setaffinity)")
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise PinningUnavailable(f"--pin-cores needs two cores or more; this process has {cores}")
    return CoreSplit(server=cores[-1], client=frozenset(cores[:-1]))


def pin_self(cores: CoreSplit) -> None:
    """This process's threads, and every thread it starts from now on, on the client cores."""
    for thread in _threads(os.getpid()):
        os.sched_setaffinity(thread, cores.client)


def pin_server(pid: int, cores: CoreSplit) -> None:
    """Every thread of the server process ``pid`` on the server core (threads it starts
    later inherit the core of the thread that starts them)."""
    for thread in _threads(pid):
        try:
            os.sched_setaffinity(thread, {cores.server})
        except ProcessLookupError:  # a thread that ended meanwhile
            continue


def _threads(pid: int) -> list[int]:
    return [int(name) for name in os.listdir(Path("/proc") / str(pid) / "task")]
