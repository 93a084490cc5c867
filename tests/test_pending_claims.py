"""Claims have an identity and a lease, on every backend."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from kortyx_langgraph import (
    DEFAULT_LEASE_MS,
    AlreadyClaimedError,
    ClaimMismatchError,
    ConfigurationError,
    FrameworkAdapter,
)
from kortyx_langgraph.core.interrupts import MAX_LEASE_MS
from tests.pending_truth import config_of
from tests.test_pending_cases import _fan_graph
from tests.typecheck import mypy_strict


def _paused(adapter: FrameworkAdapter, items: int = 1) -> str:
    thread = f"t-{uuid.uuid4().hex}"
    _fan_graph(adapter, {}).invoke({"items": [f"i{n}" for n in range(items)]}, config_of(thread))
    return thread


def _token(adapter: FrameworkAdapter) -> str:
    return adapter.pending.list(_paused(adapter))[0].token


def test_a_claim_carries_its_id_and_lease(adapter: FrameworkAdapter) -> None:
    token = _token(adapter)
    claimed = adapter.pending.claim(token)
    assert claimed.claim_id
    assert claimed.claimed_at is not None
    assert claimed.lease_expires_at is not None
    lease = (claimed.lease_expires_at - claimed.claimed_at).total_seconds() * 1000
    assert lease == pytest.approx(DEFAULT_LEASE_MS, abs=5)
    seen = adapter.pending.get(token)
    assert seen.claimed
    assert seen.lease_expires_at == claimed.lease_expires_at
    assert seen.claim_id is None  # a listing never hands out someone's claim id
    assert [p.claim_id for p in adapter.pending.list(seen.thread_id)] == [None]


def test_claiming_again_with_the_same_id_renews(adapter: FrameworkAdapter) -> None:
    token = _token(adapter)
    first = adapter.pending.claim(token, claim_id="worker-7", lease_ms=1_000)
    time.sleep(0.01)
    again = adapter.pending.claim(token, claim_id="worker-7", lease_ms=60_000)
    assert again.claim_id == "worker-7"
    assert again.claimed_at == first.claimed_at
    assert first.lease_expires_at is not None and again.lease_expires_at is not None
    assert again.lease_expires_at > first.lease_expires_at
    with pytest.raises(AlreadyClaimedError):
        adapter.pending.claim(token, claim_id="worker-8")


def test_a_lost_claim_says_when_the_holders_lease_runs_out(adapter: FrameworkAdapter) -> None:
    token = _token(adapter)
    held = adapter.pending.claim(token, claim_id="holder", lease_ms=60_000)
    assert held.lease_expires_at is not None
    with pytest.raises(AlreadyClaimedError) as caught:
        adapter.pending.claim(token, claim_id="other")
    assert caught.value.token == token
    assert caught.value.lease_expires_at == held.lease_expires_at
    assert held.lease_expires_at.isoformat(timespec="seconds") in str(caught.value)
    adapter.pending.release(token, "holder")
    assert adapter.pending.claim(token, claim_id="other").claim_id == "other"


def test_only_the_holder_releases(adapter: FrameworkAdapter) -> None:
    token = _token(adapter)
    held = adapter.pending.claim(token, claim_id="holder")
    with pytest.raises(ClaimMismatchError):
        adapter.pending.release(token, "intruder")
    assert adapter.pending.get(token).claimed
    assert not adapter.pending.release(token, "holder").claimed
    assert not adapter.pending.release(token, "holder").claimed  # a retried release: no-op
    assert not adapter.pending.release(token, "anyone").claimed  # nothing is held
    assert held.claim_id == "holder"


def test_release_with_the_claim_id_of_a_listed_record_is_a_typed_error(
    adapter: FrameworkAdapter,
) -> None:
    token = _token(adapter)
    listed = adapter.pending.get(token)
    assert listed.claim_id is None
    with pytest.raises(ConfigurationError, match="claim_id of the claim"):
        adapter.pending.release(token, listed.claim_id)
    claimed = adapter.pending.claim(token)
    assert not adapter.pending.release(token, claimed.claim_id).claimed


_CLAIM_AND_RELEASE = """
from kortyx_langgraph import create_framework_adapter_from_env

adapter = create_framework_adapter_from_env()
for pending in adapter.pending.list("expense-42"):
    claimed = adapter.pending.claim(pending.token)
    adapter.pending.release(claimed.token, claimed.claim_id)


async def later() -> None:
    claimed = await adapter.pending.aclaim_next("expense-42")
    await adapter.pending.arelease(claimed.token, claimed.claim_id)
"""


def test_the_documented_claim_and_release_pattern_passes_mypy_strict(tmp_path: Path) -> None:
    done = mypy_strict(tmp_path, _CLAIM_AND_RELEASE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_claim_next_retried_with_its_id_returns_the_same_interrupt(
    adapter: FrameworkAdapter,
) -> None:
    thread = _paused(adapter, items=3)
    first = adapter.pending.claim_next(thread, claim_id="w1")
    again = adapter.pending.claim_next(thread, claim_id="w1")
    assert again.token == first.token
    other = adapter.pending.claim_next(thread, claim_id="w2")
    assert other.token != first.token
    assert sum(p.claimed for p in adapter.pending.list(thread)) == 2


def _wait_until_claimable(adapter: FrameworkAdapter, token: str, claim_id: str) -> Any:
    deadline = time.monotonic() + 10
    while True:
        try:
            return adapter.pending.claim(token, claim_id=claim_id)
        except AlreadyClaimedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_a_claim_whose_lease_ran_out_can_be_taken(adapter: FrameworkAdapter) -> None:
    token = _token(adapter)
    adapter.pending.claim(token, claim_id="crashed-worker", lease_ms=100)
    with pytest.raises(AlreadyClaimedError):
        adapter.pending.claim(token, claim_id="second")
    taken = _wait_until_claimable(adapter, token, "second")
    assert taken.claim_id == "second"
    with pytest.raises(ClaimMismatchError):
        adapter.pending.release(token, "crashed-worker")


def test_a_lapsed_claim_is_shown_as_free_and_claim_next_takes_it(
    adapter: FrameworkAdapter,
) -> None:
    thread = _paused(adapter)
    token = adapter.pending.claim_next(thread, lease_ms=50).token
    deadline = time.monotonic() + 10
    while adapter.pending.get(token).claimed:
        assert time.monotonic() < deadline, "the lease never ran out"
        time.sleep(0.02)
    assert adapter.pending.list(thread)[0].lease_expires_at is None
    assert adapter.pending.claim_next(thread, claim_id="next").token == token


@pytest.mark.parametrize("lease_ms", [0, -1, 1.5, "60", True, None])
def test_bad_leases_are_refused(adapter: FrameworkAdapter, lease_ms: Any) -> None:
    token = _token(adapter)
    if lease_ms is None:
        adapter.pending.claim(token, lease_ms=lease_ms)  # None: the default lease
        return
    with pytest.raises(ConfigurationError, match="lease_ms"):
        adapter.pending.claim(token, lease_ms=lease_ms)
    assert not adapter.pending.get(token).claimed


@pytest.mark.parametrize("lease_ms", [MAX_LEASE_MS + 1, 10**17, sys.maxsize])
def test_leases_past_the_longest_are_refused_before_anything_is_sent(
    adapter: FrameworkAdapter, lease_ms: int
) -> None:
    thread = _paused(adapter)
    [pending] = adapter.pending.list(thread)
    for claim in (
        lambda: adapter.pending.claim(pending.token, lease_ms=lease_ms),
        lambda: adapter.pending.claim_next(thread, lease_ms=lease_ms),
    ):
        with pytest.raises(ConfigurationError, match=r"lease_ms .*maximum"):
            claim()
    assert adapter.pending.list(thread) == [pending]  # nothing claimed, still readable
    longest = adapter.pending.claim(pending.token, lease_ms=MAX_LEASE_MS)
    assert longest.lease_expires_at is not None
    assert longest.lease_expires_at.year >= 2100
    [listed] = adapter.pending.list(thread)
    assert listed.claimed and listed.lease_expires_at == longest.lease_expires_at


@pytest.mark.parametrize("claim_id", ["", "a" * 201, "é", "line\nbreak", 7])
def test_bad_claim_ids_are_refused(adapter: FrameworkAdapter, claim_id: Any) -> None:
    token = _token(adapter)
    with pytest.raises(ConfigurationError, match="claim_id"):
        adapter.pending.claim(token, claim_id=claim_id)
    with pytest.raises(ConfigurationError, match="claim_id"):
        adapter.pending.release(token, claim_id)


async def test_async_twins_follow_the_same_rules(adapter: FrameworkAdapter) -> None:
    thread = _paused(adapter, items=2)
    [first, second] = await adapter.pending.alist(thread)
    got = await adapter.pending.aget(first.token)
    assert got == first
    held = await adapter.pending.aclaim(first.token, claim_id="async-worker")
    with pytest.raises(AlreadyClaimedError):
        await adapter.pending.aclaim(first.token)
    with pytest.raises(ClaimMismatchError):
        await adapter.pending.arelease(first.token, "someone")
    released = await adapter.pending.arelease(first.token, "async-worker")
    assert not released.claimed
    nxt = await adapter.pending.aclaim_next(thread, claim_id="async-worker")
    assert nxt.token in {first.token, second.token}
    assert held.claim_id == "async-worker"
