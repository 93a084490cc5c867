"""A description of the machine and software a run was measured on."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.redis_parser import parser_in_use

PACKAGES = (
    "kortyx-langgraph",
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-sqlite",
    "langgraph-checkpoint-redis",
    "redis",
    "hiredis",
    "aiosqlite",
    "ormsgpack",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0


def _run(args: list[str], cwd: Path | None = None) -> str | None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=True, cwd=cwd, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _redis_version(server_bin: str | None) -> str | None:
    if server_bin is None:
        return None
    out = _run([server_bin, "--version"])
    if not out:
        return None
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return out


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def describe(repo: Path, redis_server_bin: str | None) -> dict[str, Any]:
    """CPU, cores, memory, OS, Python, Redis server, packages, redis-py's parser, git commit."""
    commit = _run(["git", "rev-parse", "--short", "HEAD"], cwd=repo)
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo)
    return {
        "cpu": _cpu_model(),
        "cores": _cores(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "redis_server": _redis_version(redis_server_bin),
        "packages": _versions(),
        "redis_parser": parser_in_use(),
        "commit": None if commit is None else commit + ("+changes" if dirty else ""),
    }


def one_line(machine: dict[str, Any]) -> str:
    """``2 cores (AMD EPYC), 23.4 GiB, Python 3.11.7, redis-server 7.0.15, ...``."""
    return (
        f"{machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB RAM, "
        f"Python {machine['python']}, redis-server {machine['redis_server']}, "
        f"redis-py parser {machine.get('redis_parser', 'unknown')}, {machine['os']}"
        + (f"; {machine['pinned']}" if machine.get("pinned") else "")
    )
