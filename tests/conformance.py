"""Run the published ``langgraph-checkpoint-conformance`` suite and insist on a full pass."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES

SaverFactory = Callable[[], AsyncGenerator[BaseCheckpointSaver, None]]


async def assert_conformant(name: str, factory: SaverFactory) -> None:
    """Every capability must be detected (implemented) and every one of its tests pass."""
    registered = checkpointer_test(name=name)(factory)
    report = await validate(registered)
    not_detected = sorted(c.value for c in ALL_CAPABILITIES if not report.results[c.value].detected)
    assert not not_detected, f"{name}: capabilities not implemented: {not_detected}"
    failures = {
        cap: result.failures for cap, result in report.results.items() if result.passed is not True
    }
    assert not failures, f"{name}: conformance failures: {failures}"
    total = sum(r.tests_passed for r in report.results.values())
    assert total >= 60, f"{name}: only {total} conformance tests ran"
