"""A pytest plugin that fails the run when not every Redis test ran and passed.

Enabled by ``KORTYX_REQUIRE_REDIS_TESTS=1`` (CI sets it). Then a run in which some test
marked ``redis`` was deselected (``-m "not redis"``, ``-k``), skipped or never reached
fails, even if everything that did run passed. Tests named with ``--deselect`` are exempt:
that is how a run leaves out a test the server it runs against cannot support.

Under pytest-xdist each worker collects every test and runs some of them: a worker sends the
Redis tests it collected to the controller, which sees every test's report and checks.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

__all__ = ["REQUIRE_ENV"]

REQUIRE_ENV = "KORTYX_REQUIRE_REDIS_TESTS"

_collected: set[str] = set()
_passed: set[str] = set()


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    """Note every Redis test before ``-m``/``-k`` deselect any."""
    exempt = tuple(config.getoption("deselect") or ())
    _collected.update(
        item.nodeid
        for item in items
        if item.get_closest_marker("redis") is not None and not item.nodeid.startswith(exempt)
    )
    yield


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note every test whose call phase passed."""
    if report.when == "call" and report.passed:
        _passed.add(report.nodeid)


_WORKER_OUTPUT = "kortyx_redis_tests"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """Under pytest-xdist: take the Redis tests a worker collected."""
    output = getattr(node, "workeroutput", None) or {}
    _collected.update(output.get(_WORKER_OUTPUT, ()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when a Redis test did not run and pass."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the controller checks
        workeroutput[_WORKER_OUTPUT] = sorted(_collected)
        return
    if not _required():
        return
    missing = sorted(_collected - _passed)
    if not _collected or missing:
        shown = "\n  ".join(missing[:20]) or "(no Redis test was collected)"
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (
            f"{REQUIRE_ENV} is set but {len(missing)} of {len(_collected)} Redis tests did "
            f"not run and pass:\n  {shown}"
        )
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
