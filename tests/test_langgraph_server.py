"""Our checkpointer inside the real LangGraph server (``langgraph dev``), driven by its SDK.

The server loads ``kortyx_langgraph.server.checkpointer`` from ``langgraph.json``
(``tests/langgraph_app``). On Redis (standalone and Cluster) this process claims the
server's interrupts through ``adapter.pending``, resumes them through the server, and
resumes a thread paused before a server restart. The in-memory adapter lives inside the
server process, out of this process's reach: there the tests check what the server itself
reports and resumes. Every server binds 127.0.0.1 and runs under a time limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_client

from kortyx_langgraph import (
    AlreadyClaimedError,
    UnknownTokenError,
    create_redis_framework_adapter,
)
from kortyx_langgraph.redis import RedisFrameworkAdapter
from tests.langgraph_app.graph import Decision
from tests.langgraph_server import LangGraphDevServer, make_app_dir

SERVER_BACKENDS = [
    "in-memory",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("redis-cluster", marks=pytest.mark.redis),
]
REDIS_BACKENDS = [b for b in SERVER_BACKENDS if not isinstance(b, str)]
DOCUMENTED_PATH = "kortyx_langgraph.server.checkpointer"
EXPENSE = {"amount": 84}


def _redis_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    if backend == "in-memory":
        return None
    fixture = "redis_cluster" if backend == "redis-cluster" else "redis_standalone"
    return str(request.getfixturevalue(fixture).url)


def _server_env(url: str | None, **extra: str) -> dict[str, str]:
    env = dict(extra)
    if url is not None:
        env["KORTYX_REDIS_URL"] = url
    return env


class Servers:
    """One ``langgraph dev`` per backend for this module, started on first use."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._running: dict[str, LangGraphDevServer] = {}

    def get(self, backend: str, url: str | None) -> LangGraphDevServer:
        """The backend's server (Redis backends need their URL)."""
        if backend not in self._running:
            app = make_app_dir(self._tmp.mktemp(f"app-{backend}") / "app")
            self._running[backend] = LangGraphDevServer(app, _server_env(url)).start()
        return self._running[backend]

    def stop(self) -> None:
        """Stop every server started."""
        for server in self._running.values():
            server.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    running = Servers(tmp_path_factory)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def dev_server(
    backend: str, request: pytest.FixtureRequest, servers: Servers
) -> tuple[LangGraphDevServer, str | None]:
    """The test's backend's server and its Redis URL (``None`` for in-memory)."""
    url = _redis_url(request, backend)
    return servers.get(backend, url), url


@pytest.fixture
async def redis_adapter(
    dev_server: tuple[LangGraphDevServer, str | None],
) -> AsyncIterator[RedisFrameworkAdapter]:
    """This process's adapter on the server's Redis (default prefix, like the server's)."""
    _, url = dev_server
    assert url is not None, "only for Redis backends"
    adapter = create_redis_framework_adapter(url=url)
    async with adapter:
        yield adapter


async def _pause(server: LangGraphDevServer) -> tuple[Any, str, dict[str, Any]]:
    """Create a thread and run it to its interrupt; (client, thread id, wait result)."""
    client = get_client(url=server.url)
    thread = await client.threads.create()
    result = await client.runs.wait(thread["thread_id"], "expense", input=EXPENSE)
    assert isinstance(result, dict)
    return client, thread["thread_id"], result


# -- the documented langgraph.json line, through langgraph-api's own loader -------------


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
def test_loader_accepts_the_documented_paths_and_the_exit_closes_clients(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = _redis_url(request, backend)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KORTYX_", "REDIS_"))}
    # langgraph-api reads these when imported; the values are those `langgraph dev` sets
    env.update(REDIS_URI="fake", DATABASE_URI=":memory:", MIGRATIONS_PATH="__inmem")
    env.update(_server_env(url), PROBE_CLUSTER="1" if backend == "redis-cluster" else "0")
    done = subprocess.run(
        [sys.executable, "-m", "tests.server_loader_probe"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["loaded"] == {
        DOCUMENTED_PATH: "ok: checkpointer",
        "kortyx_langgraph.langgraph_server_checkpointer": "ok: checkpointer",
        # langgraph-api 0.16.7 reads `pkg.mod:attr` as attribute "mod:attr" of `pkg`
        "kortyx_langgraph.server:checkpointer": "error: ValueError",
        "file.py:checkpointer": "ok: checkpointer",
    }
    assert report["kind"] == ("in-memory" if url is None else "redis")
    assert report["found"] is False
    before, during, after = report["clients"]
    if url is not None:
        assert during > before, "the adapter connected while in use"
        assert after == before, "leaving the context closed every client the adapter opened"


def test_the_documented_langgraph_json_is_the_one_the_tests_serve() -> None:
    root = Path(__file__).parent.parent
    page = (root / "docs" / "langgraph-server.md").read_text()
    documented = json.loads(re.findall(r"```json\n(.*?)```", page, re.S)[0])
    served = json.loads((root / "tests" / "langgraph_app" / "langgraph.json").read_text())
    assert documented == served  # the tests add EXTRA_GRAPHS to their copy only
    assert served["checkpointer"] == {"path": DOCUMENTED_PATH}
    line = f'"checkpointer": {{"path": "{DOCUMENTED_PATH}"}}'
    assert line in (root / "README.md").read_text()


# -- a fan-out through the server ------------------------------------------------------


@pytest.mark.parametrize("backend", REDIS_BACKENDS)
async def test_a_fan_out_through_the_server_keeps_every_tasks_write(
    dev_server: tuple[LangGraphDevServer, str | None],
    redis_adapter: RedisFrameworkAdapter,
) -> None:
    # 300 tasks of one super-step: their put_writes overlap, so many share a pipeline
    server, _ = dev_server
    client = get_client(url=server.url)
    thread = await client.threads.create()
    thread_id = thread["thread_id"]
    result = await client.runs.wait(thread_id, "fanout", input={"tasks": 300})
    assert isinstance(result, dict)
    assert result["joined"] == 300
    assert sorted(result["items"]) == list(range(300))
    # this process reads the same history from Redis: the worker step's checkpoint holds
    # one write per task, as the server's own state history reports them
    history = [c async for c in redis_adapter.alist({"configurable": {"thread_id": thread_id}})]
    worker_writes = [w for c in history for w in (c.pending_writes or []) if w[1] == "items"]
    assert sorted(item for _, _, value in worker_writes for item in value) == list(range(300))


# -- pause, read, claim, resume -------------------------------------------------------


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
async def test_server_pauses_and_reports_the_interrupt_with_its_response_schema(
    dev_server: tuple[LangGraphDevServer, str | None],
) -> None:
    server, _ = dev_server
    client, thread_id, result = await _pause(server)
    schema = Decision.model_json_schema()

    (raised,) = result["__interrupt__"]
    assert raised["value"] == {"question": "Approve this expense?", "amount": 84}
    assert raised["response_schema"] == schema

    state = await client.threads.get_state(thread_id)
    assert state["next"] == ["review"]
    (reported,) = state["interrupts"]
    assert reported == {"id": raised["id"], "value": raised["value"], "response_schema": schema}

    thread = await client.threads.get(thread_id)
    assert thread["status"] == "interrupted"
    assert [i["id"] for v in thread["interrupts"].values() for i in v] == [raised["id"]]

    resumed = await client.runs.wait(
        thread_id, "expense", command={"resume": {raised["id"]: {"approved": True}}}
    )
    assert resumed == {"amount": 84, "approved": True, "note": ""}
    assert (await client.threads.get(thread_id))["status"] == "idle"


@pytest.mark.parametrize("backend", REDIS_BACKENDS)
async def test_another_process_claims_the_token_and_the_server_resumes_it(
    dev_server: tuple[LangGraphDevServer, str | None],
    redis_adapter: RedisFrameworkAdapter,
) -> None:
    server, _ = dev_server
    client, thread_id, result = await _pause(server)
    (raised,) = result["__interrupt__"]

    (pending,) = await redis_adapter.pending.alist(thread_id)
    assert pending.interrupt_id == raised["id"]
    assert pending.value == raised["value"]
    assert pending.response_schema == Decision.model_json_schema()

    claimed = await redis_adapter.pending.aclaim(pending.token)
    with pytest.raises(AlreadyClaimedError):
        await redis_adapter.pending.aclaim(pending.token)
    assert claimed.config["configurable"]["thread_id"] == thread_id

    answer = {"approved": False, "note": "no receipt"}
    resumed = await client.runs.wait(
        thread_id, "expense", command={"resume": claimed.resume_map(answer)}
    )
    assert resumed == {"amount": 84, "approved": False, "note": "no receipt"}
    assert await redis_adapter.pending.alist(thread_id) == []
    with pytest.raises(UnknownTokenError):
        await redis_adapter.pending.aget(pending.token)


@pytest.mark.parametrize("backend", REDIS_BACKENDS)
async def test_a_failed_resume_through_the_server_leaves_the_token_claimable(
    dev_server: tuple[LangGraphDevServer, str | None],
    redis_adapter: RedisFrameworkAdapter,
) -> None:
    server, _ = dev_server
    client, thread_id, _ = await _pause(server)
    (pending,) = await redis_adapter.pending.alist(thread_id)
    claimed = await redis_adapter.pending.aclaim(pending.token)

    with pytest.raises(Exception, match="approved"):  # the answer fails response_schema
        await client.runs.wait(
            thread_id,
            "expense",
            command={"resume": claimed.resume_map({"note": "missing the decision"})},
            raise_error=True,
        )
    await redis_adapter.pending.arelease(pending.token, claimed.claim_id)

    again = await redis_adapter.pending.aclaim(pending.token)
    resumed = await client.runs.wait(
        thread_id, "expense", command={"resume": again.resume_map({"approved": True})}
    )
    assert resumed["approved"] is True


@pytest.mark.parametrize("backend", REDIS_BACKENDS)
async def test_a_thread_paused_before_a_server_restart_resumes_after_it(
    dev_server: tuple[LangGraphDevServer, str | None],
    redis_adapter: RedisFrameworkAdapter,
) -> None:
    server, _ = dev_server
    _, thread_id, _ = await _pause(server)
    (before,) = await redis_adapter.pending.alist(thread_id)

    server.restart()  # a new process: only Redis and the server's own records carry over

    client = get_client(url=server.url)
    state = await client.threads.get_state(thread_id)
    assert [i["id"] for i in state["interrupts"]] == [before.interrupt_id]
    claimed = await redis_adapter.pending.aclaim(before.token)
    resumed = await client.runs.wait(
        thread_id, "expense", command={"resume": claimed.resume_map({"approved": True})}
    )
    assert resumed == {"amount": 84, "approved": True, "note": ""}
    assert await redis_adapter.pending.alist(thread_id) == []


async def test_an_in_memory_server_restart_keeps_the_servers_record_but_not_the_checkpoint(
    tmp_path: Path,
) -> None:
    with LangGraphDevServer(make_app_dir(tmp_path / "app")) as server:
        _, thread_id, result = await _pause(server)
        (raised,) = result["__interrupt__"]
        server.restart()

        client = get_client(url=server.url)
        thread = await client.threads.get(thread_id)
        assert thread["status"] == "interrupted"  # the server reloaded its own record
        state = await client.threads.get_state(thread_id)
        assert (state["next"], state["interrupts"], state["values"]) == ([], [], {})
        with pytest.raises(Exception, match="TypeError"):
            await client.runs.wait(
                thread_id, "expense", command={"resume": {raised["id"]: {"approved": True}}}
            )


# -- TTL mismatch ---------------------------------------------------------------------


async def _wait_until_checkpoints_expire(client: Any, thread_id: str) -> dict[str, Any]:
    """Poll the server's view of the thread until its checkpoint is gone (60 s at most)."""
    for _ in range(600):
        state: dict[str, Any] = await client.threads.get_state(thread_id)
        if not state["next"] and not state["interrupts"] and not state["values"]:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError("the thread's checkpoints never expired")


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
async def test_ttl_shorter_than_the_servers_is_logged_and_a_late_resume_fails(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = _redis_url(request, backend)
    env = _server_env(url, KORTYX_FRAMEWORK_TTL_MS="1500")
    with LangGraphDevServer(make_app_dir(tmp_path / "app"), env) as server:
        log = server.log()
        assert "kortyx-langgraph: ttl_ms=1500" in log
        assert "langgraph dev never deletes thread records" in log

        client, thread_id, result = await _pause(server)
        (raised,) = result["__interrupt__"]
        await _wait_until_checkpoints_expire(client, thread_id)

        # the server's own record still offers the interrupt...
        thread = await client.threads.get(thread_id)
        assert thread["status"] == "interrupted"
        assert [i["id"] for v in thread["interrupts"].values() for i in v] == [raised["id"]]
        # ...but the checkpoint it belongs to is gone, and resuming fails inside LangGraph
        with pytest.raises(Exception, match="TypeError"):
            await client.runs.wait(
                thread_id,
                "expense",
                command={"resume": {raised["id"]: {"approved": True}}},
                raise_error=True,
            )
        assert (await client.threads.get(thread_id))["status"] == "error"


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
async def test_a_copy_stays_whole_when_the_source_run_is_deleted(
    dev_server: tuple[LangGraphDevServer, str | None],
) -> None:
    """The server deletes a run's checkpoints with ``adelete_for_runs`` (a run deleted, or
    rolled back): a thread copied from the run's thread keeps its own, names itself in their
    metadata, and resumes."""
    server, _ = dev_server
    client, thread_id, result = await _pause(server)
    (raised,) = result["__interrupt__"]
    copy = (await client.threads.copy(thread_id))["thread_id"]
    history = await client.threads.get_history(copy)
    assert {h["metadata"]["thread_id"] for h in history} == {copy}

    for run in await client.runs.list(thread_id):
        await client.runs.delete(thread_id, run["run_id"])
    assert await client.threads.get_history(thread_id) == []
    assert await client.threads.get_history(copy) == history
    state = await client.threads.get_state(copy)
    assert [i["id"] for i in state["interrupts"]] == [raised["id"]]
    resumed = await client.runs.wait(
        copy, "expense", command={"resume": {raised["id"]: {"approved": True}}}
    )
    assert resumed == {"amount": 84, "approved": True, "note": ""}
