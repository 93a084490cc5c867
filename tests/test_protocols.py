"""Each backend's pending store matches the PendingInterruptStore protocol in full.

``isinstance`` against a ``runtime_checkable`` protocol only checks that the method names
exist; this compares every method's signature (parameters, their kinds and defaults, the
return annotation) and whether it is a coroutine function.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

import pytest

from kortyx_langgraph import FrameworkAdapter, PendingInterruptStore
from tests.conftest import AdapterFactory


def _protocol_methods() -> dict[str, Any]:
    return {
        name: member
        for name, member in vars(PendingInterruptStore).items()
        if not name.startswith("_") and callable(member)
    }


def _shape(function: Any) -> tuple[bool, list[tuple[str, Any, Any, Any]], Any]:
    """Async-ness, parameters (name, kind, default, resolved type) and resolved return type."""
    signature = inspect.signature(function)
    hints = typing.get_type_hints(function)
    parameters = [
        (p.name, p.kind, p.default, hints.get(p.name)) for p in signature.parameters.values()
    ]
    return inspect.iscoroutinefunction(function), parameters, hints.get("return")


def test_the_protocol_has_the_documented_methods() -> None:
    methods = set(_protocol_methods())
    assert {"get", "list", "claim", "claim_next", "release"} <= methods
    assert {f"a{name}" for name in methods if not name.startswith("a")} <= methods


def test_every_pending_store_matches_the_protocol(make_adapter: AdapterFactory) -> None:
    adapter: FrameworkAdapter = make_adapter()
    store_type = type(adapter.pending)
    mismatched = {
        name: (_shape(getattr(store_type, name, None)), _shape(expected))
        for name, expected in _protocol_methods().items()
        if getattr(store_type, name, None) is None
        or _shape(getattr(store_type, name)) != _shape(expected)
    }
    assert not mismatched, mismatched


@pytest.mark.parametrize("name", ["get", "aget"])
def test_a_different_signature_is_a_mismatch(name: str) -> None:
    # the comparison itself can tell: a wrong async-ness or parameter list differs
    def other(self: Any, token: str, extra: int = 0) -> Any: ...

    assert _shape(other) != _shape(_protocol_methods()[name])
