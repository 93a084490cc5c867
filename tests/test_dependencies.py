"""What the installed package depends on: redis-py's C parser, hiredis, comes with it."""

from __future__ import annotations

import importlib.metadata
import platform

import pytest
from packaging.requirements import Requirement

CPYTHON = platform.python_implementation() == "CPython"


def _requirements() -> list[Requirement]:
    return [Requirement(r) for r in importlib.metadata.requires("kortyx-langgraph") or []]


def _hiredis(*, extra: bool) -> list[Requirement]:
    """The hiredis requirements of the metadata, those of an extra or the others."""
    return [
        r for r in _requirements() if r.name == "hiredis" and ("extra" in str(r.marker)) is extra
    ]


def test_hiredis_is_a_dependency_on_cpython_without_an_extra() -> None:
    [hiredis] = _hiredis(extra=False)
    assert hiredis.marker is not None
    assert hiredis.marker.evaluate({"platform_python_implementation": "CPython"})
    assert not hiredis.marker.evaluate({"platform_python_implementation": "PyPy"})
    assert hiredis.specifier.contains("3.2.0")
    assert not hiredis.specifier.contains("3.1.0")  # newer redis-py ignores it


def test_the_hiredis_extra_still_resolves() -> None:
    extras = importlib.metadata.metadata("kortyx-langgraph").get_all("Provides-Extra") or []
    assert "hiredis" in extras
    [extra] = _hiredis(extra=True)
    assert extra.marker is not None
    assert extra.marker.evaluate({"extra": "hiredis"})
    assert extra.specifier.contains("3.2.0")


@pytest.mark.skipif(not CPYTHON, reason="hiredis is a dependency on CPython only")
def test_redis_py_uses_hiredis_with_the_installed_versions() -> None:
    import redis.connection
    import redis.utils

    assert redis.utils.HIREDIS_AVAILABLE, "redis-py ignores the installed hiredis"
    assert redis.connection.DefaultParser.__name__ == "_HiredisParser"
