"""The script-cost study's variants: each cut applies to the scripts as shipped, reaches the
saver while it is in force, and is undone after."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint

from benchmarks.script_cost import VARIANTS, cut, rows, scripts_cut
from kortyx_langgraph import create_redis_framework_adapter
from kortyx_langgraph.redis import scripts


def test_every_variant_cuts_the_scripts_as_shipped() -> None:
    for cuts in VARIANTS.values():
        for name, pairs in cuts.items():
            shipped: scripts.Script = getattr(scripts, name)
            changed = cut(shipped, pairs)
            assert changed.source != shipped.source
            assert changed.sha != shipped.sha
            assert (changed.writes, changed.grouped, changed.saves) == (
                shipped.writes,
                shipped.grouped,
                shipped.saves,
            )


def test_a_cut_of_text_the_script_does_not_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="no 'not in any script'"):
        cut(scripts.PUT, [("not in any script", "")])


def test_the_scripts_are_restored_after_the_block_even_when_it_raises() -> None:
    shipped = (scripts.PUT, scripts.PUT_WRITES)
    with pytest.raises(RuntimeError), scripts_cut(VARIANTS["returning at once"]):
        assert scripts.PUT is not shipped[0]
        raise RuntimeError
    assert shipped == (scripts.PUT, scripts.PUT_WRITES)


def test_rows_give_each_variant_s_median_and_what_it_saves() -> None:
    found = {"as shipped": [27.0, 28.0, 26.0], "returning at once": [7.5, 7.0, 8.0]}
    assert rows(found) == [
        ["as shipped", "27.0", "26.0-28.0", "-"],
        ["returning at once", "7.5", "7.0-8.0", "19.5"],
    ]


@pytest.mark.redis
def test_a_cut_reaches_the_saver_only_while_in_force(redis_standalone: Any) -> None:
    adapter = create_redis_framework_adapter(
        url=redis_standalone.url, prefix=f"cost-{uuid.uuid4().hex[:8]}:"
    )
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    try:
        with scripts_cut(VARIANTS["returning at once"]):
            adapter.put(config, empty_checkpoint(), {}, {})
        assert adapter.get_tuple(config) is None  # the put script returned before storing
        stored = adapter.put(config, empty_checkpoint(), {}, {})
        found = adapter.get_tuple(config)
        assert found is not None and found.config == stored
    finally:
        adapter.delete_thread("t")
        adapter.close()
