"""The profiling study's replay with recorded replies: the same calls, no request sent."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.profiling import RecordedReplies, ReplayDiverged, own_python, record, replay
from kortyx_langgraph import RedisFrameworkAdapter, create_redis_framework_adapter
from tests.redis_harness import RedisServer

pytestmark = pytest.mark.redis


def _opener(server: RedisServer) -> Any:
    @contextlib.contextmanager
    def open_() -> Iterator[RedisFrameworkAdapter]:
        adapter = create_redis_framework_adapter(
            url=server.url, ttl_ms=60_000, prefix=f"kortyx-prof-{uuid.uuid4().hex[:6]}:"
        )
        try:
            yield adapter
        finally:
            adapter.close()

    return open_


def _commands(server: RedisServer) -> int:
    return int(server.info("stats")["total_commands_processed"])


def test_a_replay_answered_from_the_recording_sends_nothing_and_gets_the_same_results(
    redis_standalone: RedisServer,
) -> None:
    calls = record(2)
    opener = _opener(redis_standalone)
    recorded = RecordedReplies()
    with opener() as saver, recorded.recording(saver):
        first = [getattr(saver, name)(*args, **kwargs) for name, args, kwargs in calls]
    assert len(recorded.replies) >= len(calls)  # one request per call at least
    with opener() as saver:
        saver.connection.sync_client()
        before = _commands(redis_standalone)
        with recorded.playing(saver):
            again = [getattr(saver, name)(*args, **kwargs) for name, args, kwargs in calls]
        sent = _commands(redis_standalone) - before
    # every reply was asked for again, in order, and none reached the server (INFO itself
    # is the one command counted)
    assert sent == 1
    assert _results(again) == _results(first)
    with opener() as saver, recorded.playing(saver), pytest.raises(ReplayDiverged):
        replay(saver, [*calls, calls[-1]])  # one request more than was recorded


def _results(results: list[Any]) -> list[Any]:
    """The configs and checkpoint ids the calls returned (the tuples' configs name the
    thread, not the saver's prefix, so two savers' results compare)."""
    return [getattr(result, "config", result) for result in results]


def test_own_python_times_replays_and_profiles_one(redis_standalone: RedisServer) -> None:
    wall, cpu, profile = own_python(_opener(redis_standalone), record(1), rounds=2)
    assert wall > 0 and cpu > 0
    assert profile.getstats()
