"""Run the real ``langgraph dev`` server on loopback for tests, with a hard time limit.

The server runs the app in ``tests/langgraph_app`` (copied to a temporary directory, where it
also keeps its own thread records between restarts) with our checkpointer loaded from
``langgraph.json``. It binds 127.0.0.1 on a free port, opens no browser, reloads nothing,
and has tracing, analytics and the version check turned off, so it needs no network beyond
loopback. A watchdog kills it when its time limit runs out; it also dies with the test
process (Linux parent-death signal) and is stopped at interpreter exit.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from tests.redis_harness import _set_parent_death_signal, free_port

APP_DIR = Path(__file__).with_name("langgraph_app")

# Variables that would make the server or LangChain talk to hosts other than loopback, or
# pick another backend for our adapter than the test asks for.
_DROPPED = (
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGSMITH_ENDPOINT",
    "LANGCHAIN_ENDPOINT",
    "LANGGRAPH_CLOUD_LICENSE_KEY",
    "LANGSMITH_CONTROL_PLANE_API_KEY",
    "LANGGRAPH_THREAD_TTL",
    "KORTYX_REDIS_URL",
    "REDIS_URL",
    "KORTYX_FRAMEWORK_REDIS_URL",
    "KORTYX_FRAMEWORK_TTL_MS",
    "KORTYX_TTL_MS",
)
_QUIET = {
    "LANGSMITH_TRACING": "false",
    "LANGSMITH_TRACING_V2": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGCHAIN_TRACING": "false",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "PYTHONUNBUFFERED": "1",
}

_live: set[LangGraphDevServer] = set()
_lock = threading.Lock()


class LangGraphServerError(RuntimeError):
    """The server did not start, or stopped on its own."""


EXTRA_GRAPHS = {"fanout": "./fanout.py:graph"}
"""Graphs the tests serve beyond the documented ``langgraph.json`` (which names only the
expense graph, as ``docs/langgraph-server.md`` shows it)."""


def make_app_dir(target: Path) -> Path:
    """Copy the test app (graphs and ``langgraph.json``, with :data:`EXTRA_GRAPHS` added)
    to ``target``; returns it."""
    shutil.copytree(APP_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    config_path = target / "langgraph.json"
    config = json.loads(config_path.read_text())
    config["graphs"].update(EXTRA_GRAPHS)
    config_path.write_text(json.dumps(config, indent=2))
    return target


class LangGraphDevServer:
    """One ``langgraph dev`` process serving ``app_dir``; restartable on a new port.

    ``env`` is added to a cleaned copy of the test process's environment (our Redis URL and
    TTL variables are removed first, so only what the test passes selects the backend).
    ``time_limit`` bounds each run of the process, in seconds.
    """

    def __init__(
        self,
        app_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        time_limit: float = 180.0,
        startup_timeout: float = 60.0,
    ) -> None:
        self.app_dir = app_dir
        self.extra_env = dict(env or {})
        self.time_limit = time_limit
        self.startup_timeout = startup_timeout
        self.port = 0
        self.log_path = app_dir / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._watchdog: threading.Timer | None = None
        self._log_offset = 0

    @property
    def url(self) -> str:
        """The server's base URL (changes on every start)."""
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """What the server printed since it was last started."""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
        env.update(_QUIET)
        env.update(self.extra_env)
        return env

    def start(self) -> LangGraphDevServer:
        """Start the server and wait until it answers ``/ok``; on a new port if the one
        picked was taken before the server bound it (another process of the run picks
        free ports too)."""
        for _ in range(2):
            try:
                return self._start_on_a_free_port()
            except LangGraphServerError as exc:
                if "address already in use" not in str(exc).lower():
                    raise
        return self._start_on_a_free_port()

    def _start_on_a_free_port(self) -> LangGraphDevServer:
        if self._proc is not None:
            raise LangGraphServerError("server already running")
        self.port = free_port()
        langgraph = Path(sys.executable).with_name("langgraph")
        args = [
            str(langgraph),
            "dev",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-browser",
            "--no-reload",
            "--config",
            str(self.app_dir / "langgraph.json"),
        ]
        preexec = _set_parent_death_signal if sys.platform == "linux" else None
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            self._proc = subprocess.Popen(
                args,
                cwd=self.app_dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec,  # noqa: PLW1509 - only calls prctl()
            )
        self._watchdog = threading.Timer(self.time_limit, self._kill)
        self._watchdog.daemon = True
        self._watchdog.start()
        with _lock:
            _live.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LangGraphServerError(
                    f"langgraph dev exited with code {self._proc.returncode}\n{self.log()[-4000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/ok", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise LangGraphServerError(
            f"langgraph dev not ready after {self.startup_timeout:.0f}s\n{self.log()[-4000:]}"
        )

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with open(self.log_path, "ab") as log:
                log.write(f"\n[test harness] time limit of {self.time_limit}s hit\n".encode())
            os.killpg(proc.pid, signal.SIGKILL)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server gracefully (SIGTERM: the checkpointer is exited), else kill it."""
        proc, self._proc = self._proc, None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        with _lock:
            _live.discard(self)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def restart(self) -> LangGraphDevServer:
        """Stop the server and start it again on the same app directory."""
        self.stop()
        return self.start()

    def __enter__(self) -> LangGraphDevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    with _lock:
        servers = list(_live)
    for server in servers:
        server.stop(timeout=5)
