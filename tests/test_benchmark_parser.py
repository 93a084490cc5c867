"""The benchmarks' switch that runs redis-py without hiredis (KORTYX_BENCH_NO_HIREDIS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.redis_parser import NO_HIREDIS_VARIABLE, hide_hiredis_if_asked

REPO = Path(__file__).resolve().parent.parent
PROBE = """
from pathlib import Path
import benchmarks  # applies the switch, before redis is imported
import redis.connection, redis.utils
from benchmarks.machine import describe
print(redis.utils.HIREDIS_AVAILABLE, redis.connection.DefaultParser.__name__)
print(describe(Path("."), None)["redis_parser"])
"""


def _probe(**settings: str) -> list[str]:
    """What redis-py chose in a new process that imports the benchmarks first."""
    env = {k: v for k, v in os.environ.items() if k != NO_HIREDIS_VARIABLE}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**env, **settings},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.split()


def test_hiredis_is_used_when_installed_and_not_switched_off() -> None:
    pytest.importorskip("hiredis")  # the test extra installs it
    assert _probe() == ["True", "_HiredisParser", "hiredis"]
    assert _probe(**{NO_HIREDIS_VARIABLE: "0"}) == ["True", "_HiredisParser", "hiredis"]


def test_switch_makes_redis_py_use_its_python_parser() -> None:
    assert _probe(**{NO_HIREDIS_VARIABLE: "1"}) == ["False", "_RESP2Parser", "python"]


def test_switch_refuses_other_values() -> None:
    with pytest.raises(RuntimeError, match="must be 1"):
        hide_hiredis_if_asked({NO_HIREDIS_VARIABLE: "yes"})


def test_switch_is_a_no_op_when_unset() -> None:
    assert hide_hiredis_if_asked({}) is False


def test_switch_refuses_once_redis_chose_hiredis(monkeypatch: pytest.MonkeyPatch) -> None:
    import redis  # noqa: F401  # imported by this process already

    monkeypatch.setitem(sys.modules, "hiredis", object())  # as if redis-py had found it
    with pytest.raises(RuntimeError, match="before redis is imported"):
        hide_hiredis_if_asked({NO_HIREDIS_VARIABLE: "1"})
