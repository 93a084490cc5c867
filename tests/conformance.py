"""Run the published ``langgraph-checkpoint-conformance`` suite and insist on a full pass."""

from __future__ import annotations

import importlib
import inspect
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES
from langgraph.checkpoint.conformance.report import ProgressCallbacks

SaverFactory = Callable[[], AsyncGenerator[BaseCheckpointSaver, None]]

KNOWN_SPEC_TESTS = 81
"""Spec tests in langgraph-checkpoint-conformance 0.0.2; a newer version may add some."""


def spec_tests() -> dict[str, frozenset[str]]:
    """Every test the installed suite defines, by capability (``spec/test_<capability>.py``)."""
    found: dict[str, frozenset[str]] = {}
    for capability in ALL_CAPABILITIES:
        module = importlib.import_module(
            f"langgraph.checkpoint.conformance.spec.test_{capability.value}"
        )
        found[capability.value] = frozenset(
            name
            for name, function in vars(module).items()
            if name.startswith("test_")
            and inspect.iscoroutinefunction(function)
            and function.__module__ == module.__name__
        )
    return found


async def assert_conformant(name: str, factory: SaverFactory) -> None:
    """Every capability must be detected (implemented) and every spec test run and pass."""
    registered = checkpointer_test(name=name)(factory)
    passed: dict[str, set[str]] = defaultdict(set)

    def record(capability: str, test: str, ok: bool, error: str | None) -> None:
        if ok:
            passed[capability].add(test)

    report = await validate(registered, progress=ProgressCallbacks(on_test_result=record))
    not_detected = sorted(c.value for c in ALL_CAPABILITIES if not report.results[c.value].detected)
    assert not not_detected, f"{name}: capabilities not implemented: {not_detected}"
    failures = {
        cap: result.failures for cap, result in report.results.items() if result.passed is not True
    }
    assert not failures, f"{name}: conformance failures: {failures}"
    expected = spec_tests()
    assert sum(len(tests) for tests in expected.values()) >= KNOWN_SPEC_TESTS
    missing = {
        cap: sorted(tests - passed[cap]) for cap, tests in expected.items() if tests - passed[cap]
    }
    assert not missing, f"{name}: spec tests that did not run and pass: {missing}"
