"""The run guard (tests/redis_run_guard.py) fails a run in which a Redis test did not run
and pass, run serially and under pytest-xdist alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

INNER_TESTS = """
import pytest

@pytest.mark.redis
def test_redis_one():
    pass

@pytest.mark.redis
def test_redis_two():
    if {skip}:
        pytest.skip("no server")

def test_plain():
    pass
"""


def _run(tmp_path: Path, *, skip: bool, workers: int | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(INNER_TESTS.format(skip=skip), encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    redis: uses Redis\n")
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    args += ["-p", "tests.redis_run_guard"]
    if workers is not None:
        args += ["-n", str(workers)]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KORTYX_REQUIRE_REDIS_TESTS": "1",
        "PYTEST_ADDOPTS": "",
    }
    return subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("workers", [None, 2], ids=["serial", "xdist"])
def test_a_run_where_every_redis_test_passed_passes(tmp_path: Path, workers: int | None) -> None:
    done = _run(tmp_path, skip=False, workers=workers)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


@pytest.mark.parametrize("workers", [None, 2], ids=["serial", "xdist"])
def test_a_skipped_redis_test_fails_the_run(tmp_path: Path, workers: int | None) -> None:
    done = _run(tmp_path, skip=True, workers=workers)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 of 2 Redis tests did not run and pass" in done.stdout
    assert "test_inner.py::test_redis_two" in done.stdout
