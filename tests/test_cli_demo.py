"""``kortyx-langgraph demo``: pause in one process, resume in another, by token."""

from __future__ import annotations

import time
import uuid

import pytest

from kortyx_langgraph import create_redis_framework_adapter
from tests.cli_support import Ran, run_here, run_process
from tests.graphs import approval_graph
from tests.pending_truth import config_of
from tests.redis_harness import RedisServer

SERVERS = ["redis_standalone", "redis_cluster"]


def _prefix() -> str:
    return f"kortyx-test-{uuid.uuid4().hex[:12]}:"


def _start(url: str, prefix: str) -> tuple[str, str]:
    """Run ``demo start --json`` as its own process; returns (thread id, token)."""
    ran = run_process("demo", "start", "--json", "--prefix", prefix, REDIS_URL=url)
    assert ran.status == 0, ran.err
    document = ran.json()
    assert document["interrupt"]["thread_id"] == document["thread_id"]
    return document["thread_id"], document["interrupt"]["token"]


def _resume(url: str, prefix: str, token: str, value: str) -> Ran:
    """Run ``demo resume`` as its own process."""
    return run_process("demo", "resume", token, "--value", value, "--prefix", prefix, REDIS_URL=url)


class Here:
    """Runs the command in this process against one Redis URL and key prefix."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, url: str, prefix: str) -> None:
        self.monkeypatch, self.url, self.prefix = monkeypatch, url, prefix

    def __call__(self, *args: str) -> Ran:
        return run_here(self.monkeypatch, *args, "--prefix", self.prefix, KORTYX_REDIS_URL=self.url)

    def resume(self, token: str, value: str = "approved") -> Ran:
        return self("demo", "resume", token, "--value", value)


@pytest.fixture(params=[pytest.param(s, marks=pytest.mark.redis) for s in SERVERS])
def here(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Here:
    return Here(monkeypatch, request.getfixturevalue(request.param).url, _prefix())


def test_the_whole_demo_runs_in_one_process_in_memory() -> None:
    ran = run_process("demo")
    assert ran.status == 0, ran.err
    assert "backend: in-memory" in ran.out
    assert "resumed: train ticket filed as approved" in ran.out
    assert "pending after resume: 0" in ran.out


@pytest.mark.parametrize(
    "step", [["start"], ["resume", "0123456789abcdef.x.abcdefghijklmnopqrstuv"]]
)
def test_start_and_resume_refuse_the_in_memory_backend(step: list[str]) -> None:
    ran = run_process("demo", *step)
    assert ran.status == 1
    assert ran.out == ""
    assert "needs Redis" in ran.err
    assert "never the interrupts of another process" in ran.err
    assert "KORTYX_REDIS_URL" in ran.err


@pytest.mark.redis
@pytest.mark.parametrize("server", SERVERS)
def test_start_in_one_process_resume_in_another(
    request: pytest.FixtureRequest, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = request.getfixturevalue(server).url, _prefix()
    thread_id, token = _start(url, prefix)
    here = Here(monkeypatch, url, prefix)
    listed = here("pending", "--thread", thread_id, "--json")
    assert [p["token"] for p in listed.json()["interrupts"]] == [token]

    resumed = _resume(url, prefix, token, "rejected")
    assert resumed.status == 0, resumed.err
    assert f"resumed thread {thread_id}: train ticket filed as rejected" in resumed.out
    assert "pending after resume: 0" in resumed.out

    again = here.resume(token)
    assert again.status == 1
    assert "no pending interrupt has this token" in again.err


def test_start_prints_the_question_the_schema_and_the_token(here: Here) -> None:
    text = here("demo", "start")
    assert text.status == 0, text.err
    assert f"paused on {here.url}: thread demo-" in text.out
    assert "question: " in text.out and '"amount":84' in text.out
    assert 'answer schema: {"enum":["approved","rejected"],"type":"string"}' in text.out
    token = text.out.split("token: ", 1)[1].split()[0]
    assert f"kortyx-langgraph demo resume {token} --value approved" in text.out
    assert "train ticket filed as approved" in here.resume(token).out


def test_a_refused_answer_releases_the_claim(here: Here) -> None:
    started = here("demo", "start", "--json").json()
    token = started["interrupt"]["token"]
    refused = here.resume(token, "maybe")
    assert refused.status == 1
    assert "the run refused the answer 'maybe'" in refused.err
    assert 'the answer must match {"enum":["approved","rejected"]' in refused.err
    assert "the claim was released: the token works again" in refused.err
    adapter = create_redis_framework_adapter(url=here.url, prefix=here.prefix)
    still = adapter.pending.get(token)
    assert still.thread_id == started["thread_id"]
    assert not still.claimed
    adapter.close()
    assert here.resume(token, "approved").status == 0


@pytest.mark.redis
@pytest.mark.parametrize("server", SERVERS)
def test_claimed_unknown_and_foreign_tokens_exit_1(
    request: pytest.FixtureRequest, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = request.getfixturevalue(server).url, _prefix()
    adapter = create_redis_framework_adapter(url=url, prefix=prefix, ttl_ms=60_000)
    started = run_here(monkeypatch, "demo", "start", "--json", "--prefix", prefix, REDIS_URL=url)
    token = started.json()["interrupt"]["token"]
    holder = adapter.pending.claim(token)

    def resume(token: str) -> Ran:
        return run_here(
            monkeypatch, "demo", "resume", token, "--prefix", prefix, KORTYX_REDIS_URL=url
        )

    taken = resume(token)
    assert taken.status == 1
    assert "another caller has claimed this interrupt" in taken.err
    assert holder.claim_id is not None and holder.claim_id not in taken.out + taken.err

    malformed = resume("not-a-token")
    assert malformed.status == 1
    assert "no pending interrupt has this token" in malformed.err

    approval_graph(adapter).invoke({"request": "x", "log": []}, config_of("not-a-demo"))
    [foreign] = adapter.pending.list("not-a-demo")
    refused = resume(foreign.token)
    assert refused.status == 1
    assert "not to a demo run" in refused.err
    assert not adapter.pending.get(foreign.token).claimed
    adapter.close()


@pytest.mark.redis
@pytest.mark.parametrize("server", SERVERS)
def test_an_expired_token_exits_1(
    request: pytest.FixtureRequest, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = request.getfixturevalue(server).url, _prefix()
    args = ("demo", "start", "--json", "--prefix", prefix)
    started = run_here(monkeypatch, *args, REDIS_URL=url, KORTYX_TTL_MS="300")
    token = started.json()["interrupt"]["token"]
    adapter = create_redis_framework_adapter(url=url, prefix=prefix)
    while adapter.list_threads():  # the thread expires 300 ms after its last write
        time.sleep(0.1)
    adapter.close()
    expired = run_here(monkeypatch, "demo", "resume", token, "--prefix", prefix, REDIS_URL=url)
    assert expired.status == 1
    assert "this token expired with its run's thread" in expired.err


def test_usage_errors_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_here(monkeypatch, "demo", "resume").status == 2
    assert run_here(monkeypatch, "demo", "stop").status == 2
    assert run_here(monkeypatch, "nothing").status == 2
    assert run_here(monkeypatch, "--help").status == 0


@pytest.mark.redis
def test_no_password_in_the_demo_output(
    redis_binaries: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    with RedisServer(password=secret) as server:
        url, prefix = f"redis://:{secret}@127.0.0.1:{server.port}/0", _prefix()
        here = Here(monkeypatch, url, prefix)
        started = run_process("demo", "start", "--prefix", prefix, REDIS_URL=url)
        assert started.status == 0, started.err
        token = started.out.split("token: ", 1)[1].split()[0]
        processes = [
            started,
            _resume(url, prefix, token, "maybe"),
            run_process("demo", "start", REDIS_URL=url.replace(secret, "wrong")),
        ]
        assert [ran.status for ran in processes] == [0, 1, 1]
        in_process = [
            here("demo", "start", "--json"),
            here.resume(token),
            here.resume(token),
            run_here(monkeypatch, "demo", KORTYX_REDIS_URL=url),
            run_here(monkeypatch, "settings", KORTYX_REDIS_URL=url),
        ]
        assert [ran.status for ran in in_process] == [0, 0, 1, 0, 0]
        for ran in processes + in_process:
            assert secret not in ran.out + ran.err
            assert "Traceback" not in ran.err
        assert "***" in started.out and "***" in in_process[0].out
