"""Running the ``kortyx-langgraph`` command in tests: as a real process, or in this one."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from kortyx_langgraph.cli import main

REPO = Path(__file__).resolve().parent.parent


class Ran(NamedTuple):
    """What one run of the command did."""

    status: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON."""
        return json.loads(self.out)


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any backend setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if "REDIS_URL" not in k and "TTL_MS" not in k}
    return {**env, "PYTHONPATH": str(REPO), **settings}


def run_process(*args: str, **settings: str) -> Ran:
    """Run ``python -m kortyx_langgraph ARGS`` as its own process with ``settings`` set."""
    done = subprocess.run(
        [sys.executable, "-m", "kortyx_langgraph", *args],
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def run_here(monkeypatch: pytest.MonkeyPatch, *args: str, **settings: str) -> Ran:
    """Run the command in this process with exactly ``settings`` as backend variables."""
    for name in list(os.environ):
        if "REDIS_URL" in name or "TTL_MS" in name:
            monkeypatch.delenv(name)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    out, err = io.StringIO(), io.StringIO()
    try:
        status = main(list(args), out, err)
    except SystemExit as exit_:  # argparse: usage errors and --help
        status = int(exit_.code or 0)
    return Ran(status, out.getvalue(), err.getvalue())
