"""``kortyx-langgraph pending`` on memory, standalone Redis and the Cluster."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from kortyx_langgraph import FrameworkAdapter, create_redis_framework_adapter
from kortyx_langgraph.cli import build_parser
from kortyx_langgraph.cli.pending import check_limit, show_pending
from kortyx_langgraph.cli.render import iso
from kortyx_langgraph.env import resolve_framework_settings
from tests.cli_support import Ran, run_here, run_process
from tests.conftest import AdapterFactory, redis_url_for
from tests.graphs import approval_graph, parallel_graph
from tests.pending_truth import config_of
from tests.redis_harness import RedisServer

Pending = Callable[..., Ran]
"""Runs ``pending ARGS`` against the adapter under test."""


class Odd(TypedDict, total=False):
    answer: str


def odd_value_graph(checkpointer: Any) -> Any:
    """Pauses on a value that is big and partly not JSON, with an answer schema."""

    def ask(state: Odd) -> Odd:
        value = {"blob": "x" * 5000, "when": datetime(2026, 1, 1, tzinfo=UTC)}
        return {"answer": interrupt(value, response_schema={"type": "string"})}

    builder = StateGraph(Odd)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=checkpointer)


@pytest.fixture
def setup(
    request: pytest.FixtureRequest, make_adapter: AdapterFactory, monkeypatch: pytest.MonkeyPatch
) -> tuple[FrameworkAdapter, Pending]:
    """An adapter and a way to run ``pending`` against what it stores.

    On Redis the command runs as the command line does, from the environment. In memory
    no other adapter can see this one's data, so the command's code runs on it directly.
    """
    adapter = make_adapter()
    if adapter.kind == "in-memory":
        settings = resolve_framework_settings({})

        def pending(*args: str) -> Ran:
            parsed = build_parser().parse_args(["pending", *args])
            out = io.StringIO()
            status = show_pending(
                adapter,
                settings,
                thread_id=parsed.thread,
                limit=check_limit(parsed),
                as_json=parsed.json,
                out=out,
            )
            return Ran(status, out.getvalue(), "")

        return adapter, pending
    url = redis_url_for(request, request.node.callspec.params["make_adapter"])
    prefix: str = adapter.prefix  # type: ignore[attr-defined]

    def pending_on_redis(*args: str) -> Ran:
        return run_here(monkeypatch, "pending", *args, "--prefix", prefix, KORTYX_REDIS_URL=url)

    return adapter, pending_on_redis


def _pause_two(adapter: FrameworkAdapter) -> tuple[str, str]:
    both, one = f"both-{uuid.uuid4().hex[:6]}", f"one-{uuid.uuid4().hex[:6]}"
    parallel_graph(adapter).invoke({"log": []}, config_of(both))
    approval_graph(adapter).invoke({"request": "x", "log": []}, config_of(one))
    return both, one


def test_one_thread_as_json_matches_the_store(setup: tuple[FrameworkAdapter, Pending]) -> None:
    adapter, pending = setup
    both, _ = _pause_two(adapter)
    stored = adapter.pending.list(both)
    claimed = adapter.pending.claim(stored[0].token)
    ran = pending("--thread", both, "--json")
    assert ran.status == 0, ran.err
    document = ran.json()
    assert document["backend"] == adapter.kind
    assert document["thread_id"] == both
    assert document["limit"] is None
    assert document["complete"] is True
    assert document["threads_scanned"] == 1
    shown = document["interrupts"]
    assert [p["token"] for p in shown] == [p.token for p in stored]
    assert [p["interrupt_id"] for p in shown] == [p.interrupt_id for p in stored]
    assert sorted(p["value"] for p in shown) == ["left?", "right?"]
    assert [p["claimed"] for p in shown] == [True, False]
    assert shown[0]["lease_expires_at"] == iso(claimed.lease_expires_at)
    assert shown[0]["claimed_at"] == iso(claimed.claimed_at)
    assert shown[1]["lease_expires_at"] is None
    assert all(p["expires_at"] == iso(stored[0].expires_at) for p in shown)
    assert claimed.claim_id is not None and claimed.claim_id not in ran.out
    if adapter.kind == "in-memory":
        assert "sees only its own" in document["note"]
    else:
        assert document["note"] is None


def test_one_thread_as_text(setup: tuple[FrameworkAdapter, Pending]) -> None:
    adapter, pending = setup
    both, _ = _pause_two(adapter)
    first, second = adapter.pending.list(both)
    claimed = adapter.pending.claim(second.token)
    ran = pending("--thread", both)
    assert ran.status == 0, ran.err
    assert f"thread '{both}': 2 pending interrupts" in ran.out
    assert f"token {first.token}" in ran.out and f"token {second.token}" in ran.out
    assert "not claimed" in ran.out
    assert f"lease until {iso(claimed.lease_expires_at)}" in ran.out
    assert "the holder is not shown" in ran.out
    assert claimed.claim_id is not None and claimed.claim_id not in ran.out
    assert "value: " in ran.out and "answer schema: none" in ran.out
    empty = pending("--thread", "no-such-thread")
    assert "thread 'no-such-thread': 0 pending interrupts" in empty.out
    finished = f"finished-{uuid.uuid4().hex[:6]}"
    graph = approval_graph(adapter)
    graph.invoke({"request": "x", "log": []}, config_of(finished))
    [asked] = adapter.pending.list(finished)
    graph.invoke(Command(resume=asked.resume_map("ok")), config_of(finished))
    answered = pending("--thread", finished, "--json")
    assert answered.status == 0 and answered.json()["interrupts"] == []
    if adapter.kind == "redis":  # a thread with nothing pending, and one that is not there
        assert empty.status == 1 and "no such thread" in empty.out
        assert f"under the key prefix {adapter.prefix!r}" in empty.out  # type: ignore[attr-defined]
        assert "needs --prefix" in empty.out
        assert answered.json()["thread_found"] is True
        assert pending("--thread", "no-such-thread", "--json").json()["thread_found"] is False
    else:  # in memory another process's store is not this one's: nothing is said
        assert empty.status == 0 and "no such thread" not in empty.out


def test_all_threads_and_the_limit(setup: tuple[FrameworkAdapter, Pending]) -> None:
    adapter, pending = setup
    both, one = _pause_two(adapter)
    done = "done"
    graph = approval_graph(adapter)
    graph.invoke({"request": "y", "log": []}, config_of(done))
    [p] = adapter.pending.list(done)
    graph.invoke(Command(resume=p.resume_map("ok")), config_of(done))

    everything = pending("--all", "--json")
    assert everything.status == 0, everything.err
    document = everything.json()
    assert document["thread_id"] is None
    assert document["limit"] == 1000
    assert document["threads_scanned"] == 3
    assert document["complete"] is True
    assert sorted(p["thread_id"] for p in document["interrupts"]) == [both, both, one]

    cut = pending("--all", "--json", "--limit", "2").json()
    assert cut["threads_scanned"] == 2
    assert cut["complete"] is False
    assert "stopped after 2 threads" in cut["note"]

    text = pending("--all")
    assert text.status == 0
    assert "3 threads read, 2 with pending interrupts: 3 pending interrupts" in text.out
    assert f"thread '{one}': 1 pending interrupt\n" in text.out


def test_big_and_non_json_values_are_summarized(setup: tuple[FrameworkAdapter, Pending]) -> None:
    adapter, pending = setup
    odd_value_graph(adapter).invoke({}, config_of("odd"))
    ran = pending("--thread", "odd", "--json")
    assert ran.status == 0, ran.err
    [shown] = ran.json()["interrupts"]
    assert shown["value"] is None
    assert shown["value_truncated"] is True
    assert shown["value_summary"].startswith('{"blob":"xxx')
    assert "[truncated, " in shown["value_summary"]
    assert len(shown["value_summary"]) < 300
    assert shown["response_schema"] == {"type": "string"}
    text = pending("--thread", "odd")
    assert "[truncated, " in text.out
    assert 'answer schema: {"type":"string"}' in text.out


def test_usage_errors_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    for args in (
        ["pending"],
        ["pending", "--all", "--thread", "t"],
        ["pending", "--all", "--limit", "0"],
        ["pending", "--thread", "t", "--limit", "5"],
        ["inspect", "t", "--limit", "0"],
        ["inspect", "t", "--limit", "-5"],
        ["pending", "--all", "--prefix", "a{b"],  # a prefix the adapter refuses
        ["doctor", "--prefix", "a}b"],
    ):
        assert run_here(monkeypatch, *args).status == 2


def test_in_memory_a_process_sees_only_its_own_store() -> None:
    ran = run_process("pending", "--thread", "anything")
    assert ran.status == 0, ran.err
    assert "in-memory" in ran.out
    assert "never the interrupts of another process" in ran.out
    document = run_process("pending", "--all", "--json").json()
    assert document["backend"] == "in-memory"
    assert "never the interrupts of another process" in document["note"]
    assert document["interrupts"] == []


@pytest.mark.redis
@pytest.mark.parametrize("server", ["redis_standalone", "redis_cluster"])
def test_another_process_lists_what_this_one_paused(
    request: pytest.FixtureRequest, server: str
) -> None:
    url = request.getfixturevalue(server).url
    prefix = f"kortyx-test-{uuid.uuid4().hex[:12]}:"
    adapter = create_redis_framework_adapter(url=url, prefix=prefix, ttl_ms=60_000)
    approval_graph(adapter).invoke({"request": "x", "log": []}, config_of("shared"))
    [p] = adapter.pending.list("shared")
    ran = run_process("pending", "--all", "--json", "--prefix", prefix, REDIS_URL=url)
    assert ran.status == 0, ran.err
    document = ran.json()
    assert document["where"] == url
    assert [(q["token"], q["value"]) for q in document["interrupts"]] == [
        (p.token, {"question": "approve x?"})
    ]
    adapter.close()


@pytest.mark.redis
def test_no_password_in_any_output(redis_binaries: tuple[str, str]) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    with RedisServer(password=secret) as server:
        url = f"redis://:{secret}@127.0.0.1:{server.port}/0"
        prefix = f"kortyx-test-{uuid.uuid4().hex[:12]}:"
        adapter = create_redis_framework_adapter(url=url, prefix=prefix, ttl_ms=60_000)
        approval_graph(adapter).invoke({"request": "x", "log": []}, config_of("guarded"))
        [p] = adapter.pending.list("guarded")
        runs = [
            run_process("pending", "--thread", "guarded", "--prefix", prefix, REDIS_URL=url),
            run_process("pending", "--all", "--json", "--prefix", prefix, REDIS_URL=url),
            run_process("inspect", "guarded", "--prefix", prefix, REDIS_URL=url),
        ]
        for ran in runs:
            assert ran.status == 0, ran.err
            assert p.token in ran.out
            assert "***" in ran.out
            assert secret not in ran.out + ran.err
        wrong = url.replace(secret, f"{secret}-wrong")
        refused = run_process("pending", "--thread", "guarded", REDIS_URL=wrong)
        assert refused.status == 1
        assert refused.err.startswith("error: ")
        assert "Traceback" not in refused.err
        assert secret not in refused.out + refused.err
        adapter.close()
