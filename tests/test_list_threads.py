"""``list_threads``: a bounded administrative listing of threads, on every backend."""

from __future__ import annotations

import pytest

from kortyx_langgraph import ConfigurationError, FrameworkAdapter
from tests.conftest import AdapterFactory
from tests.graphs import approval_graph
from tests.pending_truth import config_of


def _pause(adapter: FrameworkAdapter, *threads: str) -> None:
    graph = approval_graph(adapter)
    for thread in threads:
        graph.invoke({"request": thread, "log": []}, config_of(thread))


def test_it_lists_every_thread_sorted_when_under_the_limit(adapter: FrameworkAdapter) -> None:
    assert adapter.list_threads() == []
    _pause(adapter, "b:2", "a{1}", "c 3")
    assert adapter.list_threads() == ["a{1}", "b:2", "c 3"]
    adapter.delete_thread("b:2")
    assert adapter.list_threads(limit=10) == ["a{1}", "c 3"]


def test_the_limit_bounds_what_comes_back(adapter: FrameworkAdapter) -> None:
    threads = [f"t{n}" for n in range(7)]
    _pause(adapter, *threads)
    some = adapter.list_threads(limit=3)
    assert len(some) == 3
    assert set(some) <= set(threads)
    assert some == sorted(some)
    assert len(adapter.list_threads(limit=8)) == 7


def test_other_prefixes_are_not_listed(make_adapter: AdapterFactory) -> None:
    first = make_adapter()
    _pause(first, "mine")
    if first.kind == "redis":
        other = make_adapter(prefix=f"{first.prefix}other:")  # type: ignore[attr-defined]
        _pause(other, "theirs")
        assert other.list_threads() == ["theirs"]
    assert first.list_threads() == ["mine"]


async def test_the_async_twin_agrees(adapter: FrameworkAdapter) -> None:
    _pause(adapter, "x", "y")
    assert await adapter.alist_threads() == ["x", "y"]
    assert len(await adapter.alist_threads(limit=1)) == 1


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "10"])
def test_a_bad_limit_is_refused(adapter: FrameworkAdapter, limit: object) -> None:
    with pytest.raises(ConfigurationError, match="limit"):
        adapter.list_threads(limit=limit)  # type: ignore[arg-type]
