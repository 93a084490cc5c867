"""Start and stop real ``redis-server`` processes on loopback for tests.

Every server gets its own temporary directory and a free port on 127.0.0.1
(never the default 6379). Servers are stopped at interpreter exit even when a
test crashes, and on Linux they also die with the parent process.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, TypeAlias, cast

__all__ = [
    "INSTALL_HINT",
    "RedisCluster",
    "RedisHarnessError",
    "RedisServer",
    "find_redis_binaries",
    "free_port",
]

INSTALL_HINT = (
    "redis-server and redis-cli are required for the Redis tests. Install them with "
    "`apt-get install redis-server` on Debian/Ubuntu (or run `scripts/ensure-redis`), "
    "`brew install redis` on macOS, `dnf install redis` on Fedora."
)

CLUSTER_BUS_OFFSET = 10000
CLUSTER_NODE_TIMEOUT_MS = 60_000
_LOOPBACK = "127.0.0.1"
_RESERVED_PORTS = frozenset({6379, 6379 + CLUSTER_BUS_OFFSET})
_FALLBACK_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/sbin", "/opt/homebrew/bin")

_handed_out_ports: set[int] = set()
_live: set[RedisServer] = set()
_lock = threading.Lock()


class RedisHarnessError(RuntimeError):
    """Raised when a Redis process cannot be started or reached."""


# --------------------------------------------------------------------------- #
# Binaries and ports
# --------------------------------------------------------------------------- #


def _which(name: str, env_var: str) -> str | None:
    override = os.environ.get(env_var)
    if override:
        return override if os.access(override, os.X_OK) else None
    found = shutil.which(name)
    if found:
        return found
    for directory in _FALLBACK_DIRS:
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def find_redis_binaries() -> tuple[str, str]:
    """Return the paths of ``redis-server`` and ``redis-cli``.

    ``REDIS_SERVER_BIN`` / ``REDIS_CLI_BIN`` override the lookup.
    Raises RuntimeError with installation instructions when either is missing.
    """
    server = _which("redis-server", "REDIS_SERVER_BIN")
    cli = _which("redis-cli", "REDIS_CLI_BIN")
    missing = [
        name for name, path in (("redis-server", server), ("redis-cli", cli)) if path is None
    ]
    if server is None or cli is None:
        raise RuntimeError(f"Not found: {', '.join(missing)}. {INSTALL_HINT}")
    return server, cli


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((_LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port(*, cluster_bus: bool = False) -> int:
    """Pick a free TCP port on 127.0.0.1.

    With ``cluster_bus=True`` the port + 10000 (the cluster bus port) is free
    as well. Ports already handed out by this process are never reused.
    """
    for _ in range(500):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((_LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if port in _RESERVED_PORTS:
            continue
        if cluster_bus:
            bus = port + CLUSTER_BUS_OFFSET
            if bus > 65535 or bus in _RESERVED_PORTS or not _can_bind(bus):
                continue
        with _lock:
            if port in _handed_out_ports:
                continue
            _handed_out_ports.add(port)
        return port
    raise RedisHarnessError("could not find a free loopback port")


# --------------------------------------------------------------------------- #
# Minimal RESP client (readiness checks only)
# --------------------------------------------------------------------------- #

RespValue: TypeAlias = "str | int | bytes | list[RespValue] | None"


class _RespError(Exception):
    """An error reply (``-ERR ...``) from the server."""


def _encode(args: Sequence[str]) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(out)


def _read_reply(reader: BinaryIO) -> RespValue:
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        raise _RespError(body.decode())
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        return reader.read(size + 2)[:-2]
    if kind == b"*":
        count = int(body)
        if count < 0:
            return None
        return [_read_reply(reader) for _ in range(count)]
    raise ConnectionError(f"unexpected reply: {line!r}")


def _command(
    port: int,
    *args: str,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 2.0,
) -> RespValue:
    """Send one command (after AUTH if needed) and return its reply."""
    return _commands(port, [args], username=username, password=password, timeout=timeout)[0]


def _commands(
    port: int,
    commands: Sequence[Sequence[str]],
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 2.0,
) -> list[RespValue]:
    """Send ``commands`` one after the other on one connection (after AUTH if needed) and
    return their replies."""
    with (
        socket.create_connection((_LOOPBACK, port), timeout=timeout) as sock,
        sock.makefile("rb") as reader,
    ):
        if password is not None:
            auth = ["AUTH", username, password] if username else ["AUTH", password]
            sock.sendall(_encode(auth))
            _read_reply(reader)
        replies = []
        for args in commands:
            sock.sendall(_encode(args))
            replies.append(_read_reply(reader))
        return replies


def _parse_info(reply: RespValue) -> dict[str, str]:
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def replicas_acknowledge(
    primary: RedisServer, replicas: int, key: str = "kortyx-harness-probe"
) -> bool:
    """Whether ``replicas`` replicas acknowledge a write to ``primary`` (of ``key``, which
    must be the node's own on a Cluster) within 200 ms, as ``WAIT`` counts them. A replica's
    link is up before it does: a test that waits for its replicas waits for this."""
    _, acknowledged = primary.commands([("SET", key, "1"), ("WAIT", str(replicas), "200")])
    return int(cast(int, acknowledged)) >= replicas


def _tail(path: Path, lines: int = 30, offset: int = 0) -> str:
    """Last ``lines`` lines of ``path`` written after byte ``offset``."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return "<no log>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty log>"


def _set_parent_death_signal() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to SIGTERM the server if the test process dies abruptly.

    The signal fires when the thread that started the server exits, so start
    servers from the main thread (as pytest fixtures do).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except Exception:
        pass


# --------------------------------------------------------------------------- #
# Standalone server
# --------------------------------------------------------------------------- #


class RedisServer:
    """A ``redis-server`` process on 127.0.0.1 with its own temp directory.

    ``password`` alone enables ``requirepass``; ``username`` + ``password``
    create an ACL user with full access and disable the default user.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        appendonly: bool = False,
        password: str | None = None,
        username: str | None = None,
        cluster: bool = False,
        cluster_node_timeout_ms: int = CLUSTER_NODE_TIMEOUT_MS,
        extra_args: Sequence[str] = (),
        data_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        server_bin: str | os.PathLike[str] | None = None,
    ) -> None:
        if username is not None and password is None:
            raise ValueError("username requires a password")
        self._port: int | None = port
        self.appendonly = appendonly
        self.password = password
        self.username = username
        self.cluster = cluster
        self.cluster_node_timeout_ms = cluster_node_timeout_ms
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.server_bin = None if server_bin is None else os.fspath(server_bin)
        """The ``redis-server`` to run; by default the one :func:`find_redis_binaries` finds."""
        self._own_dir = data_dir is None
        self._dir: Path | None = None if data_dir is None else Path(data_dir)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    # -- properties ------------------------------------------------------- #

    @property
    def port(self) -> int:
        """The TCP port (assigned on first ``start()`` unless given)."""
        if self._port is None:
            raise RedisHarnessError("server has no port yet; call start() first")
        return self._port

    @property
    def host(self) -> str:
        """Always ``127.0.0.1``."""
        return _LOOPBACK

    @property
    def url(self) -> str:
        """``redis://[user:pass@]127.0.0.1:PORT/0``."""
        auth = ""
        if self.password is not None:
            auth = f"{self.username or ''}:{self.password}@"
        return f"redis://{auth}{_LOOPBACK}:{self.port}/0"

    @property
    def data_dir(self) -> Path:
        """The server's ``--dir``."""
        if self._dir is None:
            raise RedisHarnessError("server has no data dir yet; call start() first")
        return self._dir

    @property
    def log_path(self) -> Path:
        """File receiving the server's stdout/stderr."""
        return self.data_dir / "redis.log"

    @property
    def pid(self) -> int | None:
        """PID of the running process, if any."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def is_running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle -------------------------------------------------------- #

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING."""
        if self.is_running:
            return self
        server_bin = self.server_bin or find_redis_binaries()[0]
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="kortyx-redis-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        # A freshly picked port may be grabbed by someone else before the
        # server binds it; retry with a new one. A fixed port (given, or kept
        # for a restart) is never changed.
        fresh = self._port is None
        try:
            for _ in range(5 if fresh else 1):
                if fresh:
                    self._port = free_port(cluster_bus=self.cluster)
                try:
                    self._spawn(server_bin)
                    return self
                except _PortInUseError:
                    continue
            log = _tail(self.log_path, offset=self._log_offset)
            raise RedisHarnessError(f"port {self._port} already in use\n--- log tail ---\n{log}")
        except BaseException:
            self.stop()  # the error message already carries the log tail
            raise

    def stop(self) -> None:
        """Stop the server (never hangs) and remove its temp directory."""
        self._terminate()
        with _lock:
            _live.discard(self)
        if self._own_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def restart(self) -> RedisServer:
        """Stop and start again on the same port and directory (AOF reload)."""
        self._terminate()
        return self.start()

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Freeze the process (SIGSTOP) for the ``with`` block: it holds its connections
        and answers nothing until it is continued (SIGCONT) at the end."""
        if self._proc is None or self._proc.poll() is not None:
            raise RedisHarnessError("server is not running")
        pid = self._proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def ping(self) -> bool:
        """Return True if the server answers PING."""
        try:
            return self.command("PING") == "PONG"
        except (OSError, _RespError, ConnectionError):
            return False

    def command(self, *args: str) -> RespValue:
        """Run one command over a fresh connection (authenticating if needed)."""
        return _command(self.port, *args, username=self.username, password=self.password)

    def commands(self, commands: Sequence[Sequence[str]]) -> list[RespValue]:
        """Run ``commands`` in order over one fresh connection (authenticating if needed)."""
        return _commands(self.port, commands, username=self.username, password=self.password)

    def info(self, section: str = "server") -> dict[str, str]:
        """Return ``INFO <section>`` as a dict."""
        return _parse_info(self.command("INFO", section))

    def errors_sent(self, error: str) -> int:
        """How many ``error`` replies (``MOVED``, ``ASK``, ``NOSCRIPT``...) the server has
        sent (``INFO errorstats``)."""
        stat = self.info("errorstats").get(f"errorstat_{error}", "count=0")
        return int(stat.split("count=", 1)[1].split(",", 1)[0])

    # -- internals -------------------------------------------------------- #

    def _args(self, server_bin: str) -> list[str]:
        args = [
            server_bin,
            "--bind", _LOOPBACK,
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--save", "",
            "--dbfilename", "dump.rdb",
            "--logfile", "",
            "--loglevel", "notice",
            # a replica's first sync starts at once, not after the 5 s a primary waits by
            # default for more replicas to share it
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self.username is not None:
            args += [
                "--user", self.username, "on", f">{self.password}",
                "~*", "&*", "+@all",
                "--user", "default", "off",
            ]  # fmt: skip
        elif self.password is not None:
            args += ["--requirepass", self.password]
        if self.cluster:
            # Without replicas a node marked as failing would take its slots down until it
            # is cleared: the default long node timeout keeps a node that a busy machine
            # stalls for a few seconds from being marked at all.
            args += [
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{self.port}.conf",
                "--cluster-node-timeout", str(self.cluster_node_timeout_ms),
            ]  # fmt: skip
        args += self.extra_args
        return args

    def _spawn(self, server_bin: str) -> None:
        preexec = _set_parent_death_signal if sys.platform == "linux" else None
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            self._proc = subprocess.Popen(
                self._args(server_bin),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
                preexec_fn=preexec,  # noqa: PLW1509 - only calls prctl()
            )
        with _lock:
            _live.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self._terminate()
            raise

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error = "no reply"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                log = _tail(self.log_path, offset=self._log_offset)
                if "Address already in use" in log:
                    raise _PortInUseError
                raise RedisHarnessError(
                    f"redis-server on port {self._port} exited with code "
                    f"{self._proc.returncode}\n--- log tail ---\n{log}"
                )
            try:
                if self.command("PING") == "PONG":
                    pid = self.info("server").get("process_id")
                    if pid != str(self._proc.pid):
                        last_error = f"port {self._port} answered by pid {pid}"
                    else:
                        return
            except (OSError, ConnectionError) as exc:
                last_error = repr(exc)
            except _RespError as exc:  # e.g. LOADING while replaying the AOF
                last_error = str(exc)
            time.sleep(0.05)
        raise RedisHarnessError(
            f"redis-server on port {self._port} not ready after "
            f"{self.startup_timeout:.0f}s ({last_error})\n"
            f"--- log tail ---\n{_tail(self.log_path, offset=self._log_offset)}"
        )

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # SIGTERM: graceful shutdown, flushes the AOF
        try:
            proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    # -- context manager / misc ------------------------------------------ #

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"RedisServer(port={self._port}, {state})"


class _PortInUseError(Exception):
    """The chosen port was taken between picking it and binding it."""


# --------------------------------------------------------------------------- #
# Cluster
# --------------------------------------------------------------------------- #


class RedisCluster:
    """A Redis Cluster of ``masters`` master nodes, each with ``replicas`` replicas, on
    loopback.

    With replicas, ``node_timeout_ms`` is how long a silent primary takes to be marked as
    failing and replaced by an elected replica.
    """

    def __init__(
        self,
        *,
        masters: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = CLUSTER_NODE_TIMEOUT_MS,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
        password: str | None = None,
    ) -> None:
        if masters < 3:
            raise ValueError("Redis Cluster needs at least 3 masters")
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.password = password
        """With a password, every node requires it (``requirepass``), the URL carries it."""
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.nodes: list[RedisServer] = []

    @property
    def ports(self) -> list[int]:
        """Ports of all nodes."""
        return [node.port for node in self.nodes]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """``(host, port)`` pairs of all nodes."""
        return [(_LOOPBACK, port) for port in self.ports]

    @property
    def url(self) -> str:
        """Seed-node URL ``redis://[:pass@]127.0.0.1:P1/0``."""
        if not self.nodes:
            raise RedisHarnessError("cluster not started")
        return self.nodes[0].url

    @property
    def is_running(self) -> bool:
        """Whether every node is alive."""
        return bool(self.nodes) and all(node.is_running for node in self.nodes)

    def start(self) -> RedisCluster:
        """Start the nodes, create the cluster and wait for ``cluster_state:ok``."""
        if self.is_running:
            return self
        self.stop()
        _, cli_bin = find_redis_binaries()
        try:
            for _ in range(self.masters * (1 + self.replicas)):
                auth = () if self.password is None else ("--masterauth", self.password)
                node = RedisServer(
                    cluster=True,
                    cluster_node_timeout_ms=self.node_timeout_ms,
                    password=self.password,
                    extra_args=(*self.extra_args, *auth),
                )
                self.nodes.append(node)
                node.start()
            self._create(cli_bin)
            self._wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node."""
        nodes, self.nodes = self.nodes, []
        for node in nodes:
            node.stop()

    def cluster_info(self, port: int | None = None) -> dict[str, str]:
        """``CLUSTER INFO`` of one node (the seed node by default)."""
        node = self.nodes[0] if port is None else self._node(port)
        return _parse_info(node.command("CLUSTER", "INFO"))

    def role(self, node: RedisServer) -> str:
        """``master`` or ``slave``, as the node itself reports it."""
        return node.info("replication").get("role", "?")

    def primary_nodes(self) -> list[RedisServer]:
        """The running nodes that are primaries now."""
        return [n for n in self.nodes if n.is_running and self.role(n) == "master"]

    def replica_nodes(self) -> list[RedisServer]:
        """The running nodes that are replicas now."""
        return [n for n in self.nodes if n.is_running and self.role(n) == "slave"]

    def replica_of(self, primary: RedisServer) -> RedisServer:
        """A running replica of ``primary``."""
        for node in self.replica_nodes():
            if node.info("replication").get("master_port") == str(primary.port):
                return node
        raise RedisHarnessError(f"no running replica of the node on port {primary.port}")

    def wait_replicated(self, timeout: float = 10.0) -> None:
        """Wait until every replica has received everything its primary holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            behind = []
            for replica in self.replica_nodes():
                info = replica.info("replication")
                primary = self._node(int(info["master_port"]))
                offset = primary.info("replication").get("master_repl_offset")
                if info.get("slave_repl_offset") != offset:
                    behind.append(replica.port)
            if not behind:
                return
            time.sleep(0.05)
        raise RedisHarnessError(f"replicas {behind} still behind after {timeout:.0f}s")

    def _text(self, node: RedisServer, *args: str) -> str:
        reply = node.command(*args)
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    def names_primary(self, node: RedisServer, primary_id: str) -> bool:
        """Whether ``node``'s own view (``CLUSTER NODES``) has ``primary_id`` as a primary."""
        for line in self._text(node, "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[0] == primary_id:
                return "master" in fields[2].split(",")
        return False

    def wait_promoted(self, replica: RedisServer, timeout: float = 60.0) -> None:
        """Wait until ``replica`` is a primary and every running node both sees the cluster
        ok and names ``replica`` as a primary in its own view.

        The last condition is what a client's slot map is read from: right after a
        failover, a node that has not heard of it yet still hands out the old primary.
        """
        deadline = time.monotonic() + timeout
        state: dict[int, str] = {}
        while time.monotonic() < deadline:
            promoted = self.role(replica) == "master"
            replica_id = self._text(replica, "CLUSTER", "MYID")
            state = {}
            for node in self.nodes:
                if node.is_running:
                    try:
                        state[node.port] = self.cluster_info(node.port).get("cluster_state", "?")
                        if promoted and not self.names_primary(node, replica_id):
                            state[node.port] = "not told of the failover yet"
                    except (OSError, ConnectionError, _RespError) as exc:
                        state[node.port] = repr(exc)
            if promoted and set(state.values()) == {"ok"}:
                return
            time.sleep(0.05)
        raise RedisHarnessError(
            f"node {replica.port} not promoted after {timeout:.0f}s "
            f"(role {self.role(replica)}, cluster states {state})"
        )

    def manual_failover(self, replica: RedisServer, timeout: float = 60.0) -> None:
        """``CLUSTER FAILOVER`` on ``replica`` until it is the primary of the cluster.

        A manual failover that does not complete within Redis's own limit (5 s: the
        replica must catch up while the primary pauses its clients, which a busy machine
        can delay) is dropped by the server without a word, so it is asked again.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if replica.command("CLUSTER", "FAILOVER") != "OK":
                raise RedisHarnessError(f"node {replica.port} refused CLUSTER FAILOVER")
            try:
                self.wait_promoted(replica, timeout=min(8.0, deadline - time.monotonic()))
                return
            except RedisHarnessError:
                continue
        raise RedisHarnessError(f"node {replica.port} not promoted after {timeout:.0f}s")

    def kill(self, node: RedisServer) -> None:
        """SIGKILL one node (its data directory stays, the others carry on)."""
        proc = node._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)

    def _node(self, port: int) -> RedisServer:
        for node in self.nodes:
            if node.port == port:
                return node
        raise KeyError(port)

    def _create(self, cli_bin: str) -> None:
        """Form the cluster by hand, with the commands ``redis-cli --cluster create`` sends
        (slots, config epochs, ``MEET``, ``REPLICATE``), without the one-second waits it
        takes between its checks: primaries are the first ``masters`` nodes, in order, and
        replica ``k`` follows primary ``k % masters``."""
        del cli_bin  # the cluster is formed here; redis-cli stays a requirement of the suite
        primaries = self.nodes[: self.masters]
        for i, node in enumerate(primaries):
            first, last = 16384 * i // self.masters, 16384 * (i + 1) // self.masters - 1
            self._ok(node, "CLUSTER", "ADDSLOTS", *map(str, range(first, last + 1)))
        for epoch, node in enumerate(self.nodes, start=1):
            self._ok(node, "CLUSTER", "SET-CONFIG-EPOCH", str(epoch))
        for node in self.nodes[1:]:
            self._ok(self.nodes[0], "CLUSTER", "MEET", _LOOPBACK, str(node.port))
        ids = {node.port: self._text(node, "CLUSTER", "MYID") for node in primaries}
        for k, replica in enumerate(self.nodes[self.masters :]):
            primary_id = ids[primaries[k % self.masters].port]
            deadline = time.monotonic() + self.startup_timeout
            while primary_id not in self._text(replica, "CLUSTER", "NODES"):
                if time.monotonic() > deadline:
                    raise RedisHarnessError(f"node {replica.port} never met its primary")
                time.sleep(0.02)
            self._ok(replica, "CLUSTER", "REPLICATE", primary_id)

    def _own_key(self, node: RedisServer) -> str:
        """A key of a slot ``node`` serves."""
        [mine] = [line for line in self._text(node, "CLUSTER", "NODES").splitlines()
                  if "myself" in line.split()[2]]  # fmt: skip
        first, _, last = mine.split()[8].partition("-")
        for n in itertools.count():
            key = f"kortyx-harness-probe-{n}"
            slot = int(cast(int, node.command("CLUSTER", "KEYSLOT", key)))
            if int(first) <= slot <= int(last or first):
                return key
        raise AssertionError("unreachable")

    def _ok(self, node: RedisServer, *args: str) -> None:
        reply = node.command(*args)
        if reply != "OK":
            raise RedisHarnessError(f"{' '.join(args[:2])} on {node.port}: {reply!r}")

    def _wait_ok(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last: dict[int, str] = {}
        while time.monotonic() < deadline:
            ready = True
            for node in self.nodes:
                try:
                    info = self.cluster_info(node.port)
                except (OSError, ConnectionError, _RespError) as exc:
                    last[node.port] = repr(exc)
                    ready = False
                    continue
                last[node.port] = info.get("cluster_state", "?")
                ready = ready and (
                    info.get("cluster_state") == "ok"
                    and info.get("cluster_slots_ok") == "16384"
                    and info.get("cluster_known_nodes") == str(len(self.nodes))
                )
            if ready and self.replicas:
                ready = all(
                    replicas_acknowledge(node, self.replicas, self._own_key(node))
                    for node in self.primary_nodes()
                )
            if ready:
                return
            time.sleep(0.1)
        raise RedisHarnessError(f"cluster not ok after {self.startup_timeout:.0f}s: {last}")

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RedisCluster(ports={[n._port for n in self.nodes]})"


@atexit.register
def _stop_all() -> None:
    """Safety net: stop every server still running at interpreter exit."""
    with _lock:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()
