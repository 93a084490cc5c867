"""What only the Redis adapter has to show: real servers, processes, restarts, faults."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.types import Command

from kortyx_langgraph import (
    ConfigurationError,
    DeserializationError,
    ExpiredTokenError,
    RedisFrameworkAdapter,
    RetryPolicy,
    StorageCapabilityError,
    StorageConnectionError,
    StorageOutOfMemoryError,
    StorageUnavailableError,
    create_redis_framework_adapter,
)
from kortyx_langgraph.redis.connection import CLIENT_COMMANDS, NEEDED_COMMANDS
from kortyx_langgraph.redis.scripts import SCRIPT_COMMANDS
from tests.graphs import approval_graph, counter_graph
from tests.redis_clock import expiry_ms, server_ms
from tests.redis_harness import RedisCluster, RedisServer, free_port

pytestmark = pytest.mark.redis

REPO = Path(__file__).resolve().parent.parent


def _prefix() -> str:
    return f"kortyx-test-{uuid.uuid4().hex[:12]}:"


def _cfg(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def _our_keys(client: Any, prefix: str) -> list[bytes]:
    return sorted(client.scan_iter(match=f"{prefix}*", count=1000))


@pytest.fixture
def standalone(redis_standalone: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_standalone.url)
    yield client
    client.close()


def _adapter(url: str, **kwargs: Any) -> RedisFrameworkAdapter:
    kwargs.setdefault("prefix", _prefix())
    kwargs.setdefault("ttl_ms", 60_000)
    return create_redis_framework_adapter(url=url, **kwargs)


# -- TTL -----------------------------------------------------------------------------------


def test_every_key_written_expires_with_the_thread(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    adapter = _adapter(redis_standalone.url, ttl_ms=30_000)
    graph = approval_graph(adapter)
    graph.invoke({"request": "x", "log": []}, _cfg("a"))
    graph.invoke({"request": "y", "log": []}, _cfg("b"))
    adapter.copy_thread("a", "c")
    [pending] = adapter.pending.list("a")
    adapter.pending.claim(pending.token)
    graph.invoke(Command(resume=pending.resume_map("ok")), pending.config)
    adapter.prune(["a"])
    keys = _our_keys(standalone, adapter.prefix)
    assert len(keys) >= 3 * 4
    ttls = {key: standalone.pttl(key) for key in keys}
    assert all(0 < ttl <= 30_000 for ttl in ttls.values()), ttls


def _deadlines(client: redis.Redis, prefix: str) -> dict[bytes, int]:
    """The server's expiry time (ms since the epoch) of each key under ``prefix``."""
    return {key: expiry_ms(client, key) for key in _our_keys(client, prefix)}


def _wait_until_gone(client: redis.Redis, prefix: str, within_s: float = 30.0) -> int:
    """Poll until no key under ``prefix`` is left; return the server time then."""
    deadline = time.monotonic() + within_s
    while _our_keys(client, prefix):
        assert time.monotonic() < deadline, f"keys under {prefix} did not expire"
        time.sleep(0.05)
    return server_ms(client)


def test_a_thread_expires_as_a_whole_on_the_server(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    adapter = _adapter(redis_standalone.url, ttl_ms=1_000)
    graph = approval_graph(adapter)
    written = server_ms(standalone)
    graph.invoke({"request": "x", "log": []}, _cfg("t"))
    [pending] = adapter.pending.list("t")
    deadlines = _deadlines(standalone, adapter.prefix)
    # idx, cp, blob, pending (each step's writes are in the records: no wr)
    assert {key.rpartition(b":")[2] for key in deadlines} == {b"idx", b"cp", b"blob", b"pending"}
    gone = _wait_until_gone(standalone, adapter.prefix)
    # all keys went together, at the TTL: none before its deadline, none before the TTL
    assert gone >= max(deadlines.values()) - 1
    assert min(deadlines.values()) >= written + 1_000 - 1
    assert adapter.get_tuple(_cfg("t")) is None
    with pytest.raises(ExpiredTokenError):
        adapter.pending.claim(pending.token)


def test_each_write_slides_the_whole_thread(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    adapter = _adapter(redis_standalone.url, ttl_ms=1_000)
    graph = counter_graph(adapter)
    graph.invoke({"log": []}, _cfg("t"))
    first = _deadlines(standalone, adapter.prefix)
    time.sleep(0.01)  # the next write is at least 10 ms later
    graph.invoke({"log": []}, _cfg("t"))
    second = _deadlines(standalone, adapter.prefix)
    assert set(second) == set(first) and len(first) >= 4  # idx, cp, blob, pending
    # every key, written by the second step or not, now expires after any key would have
    assert min(second.values()) > max(first.values()), (first, second)
    assert graph.get_state(_cfg("t")).values["log"] == ["step0", "step1"]
    assert len(list(adapter.list(_cfg("t")))) == 6
    assert _wait_until_gone(standalone, adapter.prefix) >= max(second.values()) - 1


def test_ttl_none_writes_keys_without_expiry(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    adapter = _adapter(
        redis_standalone.url, ttl_ms=None, prefix=f"kortyx-nottl-{uuid.uuid4().hex}:"
    )
    counter_graph(adapter).invoke({"log": []}, _cfg("t"))
    keys = _our_keys(standalone, adapter.prefix)
    assert keys
    assert all(standalone.pttl(key) == -1 for key in keys)
    adapter.delete_thread("t")
    assert _our_keys(standalone, adapter.prefix) == []


# -- round trips ---------------------------------------------------------------------------


class CountingConnection(redis.Connection):
    """Counts the commands sent, leaving out a new connection's handshake."""

    sent = 0
    HANDSHAKE = frozenset({"HELLO", "CLIENT", "AUTH", "SELECT", "READONLY"})

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        if name.upper() not in self.HANDSHAKE:
            CountingConnection.sent += 1
        super().send_command(*args, **kwargs)


def test_one_round_trip_per_saver_operation(redis_standalone: RedisServer) -> None:
    pool = redis.ConnectionPool.from_url(redis_standalone.url, connection_class=CountingConnection)
    client = redis.Redis(connection_pool=pool)
    adapter = create_redis_framework_adapter(client=client, prefix=_prefix())
    graph = approval_graph(adapter)
    graph.invoke({"request": "warm-up", "log": []}, _cfg("warm"))  # loads the scripts

    def trips(action: Any) -> int:
        before = CountingConnection.sent
        action()
        return CountingConnection.sent - before

    checkpoint = empty_checkpoint()
    root = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    stored: dict[str, Any] = {}
    assert trips(lambda: stored.update(adapter.put(root, checkpoint, {}, {}))) == 1
    assert trips(lambda: adapter.put_writes(stored, [("a", 1), ("b", 2)], "task")) == 1
    assert trips(lambda: adapter.get_tuple(stored)) == 1
    assert trips(lambda: adapter.get_tuple(_cfg("t"))) == 1
    assert trips(lambda: list(adapter.list(_cfg("warm"), limit=10))) == 1
    assert trips(lambda: adapter.get_delta_channel_history(config=stored, channels=["a"])) == 1
    [pending] = adapter.pending.list("warm")
    assert trips(lambda: adapter.pending.list("warm")) == 1
    assert trips(lambda: adapter.pending.get(pending.token)) == 1
    assert trips(lambda: adapter.pending.claim(pending.token)) == 1
    assert trips(lambda: adapter.delete_thread("t")) == 1

    # a whole graph run: exactly one round trip per saver call LangGraph makes
    calls: list[str] = []
    for name in ("get_tuple", "put", "put_writes"):
        method = getattr(adapter, name)

        def counted(*args: Any, _method: Any = method, _name: str = name, **kw: Any) -> Any:
            calls.append(_name)
            return _method(*args, **kw)

        setattr(adapter, name, counted)
    sent = trips(lambda: graph.invoke({"request": "x", "log": []}, _cfg("u")))
    assert sorted(set(calls)) == ["get_tuple", "put", "put_writes"]
    assert sent == len(calls), (sent, calls)
    client.close()


# -- processes, restarts --------------------------------------------------------------------


def _run_python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


PAUSE = """
    from kortyx_langgraph import create_framework_adapter_from_env
    from tests.graphs import approval_graph
    adapter = create_framework_adapter_from_env()
    approval_graph(adapter).invoke({"request": "deploy", "log": []},
                                   {"configurable": {"thread_id": "cross-process"}})
    print(adapter.pending.list("cross-process")[0].token)
"""

RESUME = """
    import json, sys
    from langgraph.types import Command
    from kortyx_langgraph import create_framework_adapter_from_env
    from tests.graphs import approval_graph
    adapter = create_framework_adapter_from_env()
    p = adapter.pending.claim(sys.argv[1] if len(sys.argv) > 1 else "{token}")
    result = approval_graph(adapter).invoke(Command(resume=p.resume_map("shipped")), p.config)
    print(json.dumps(result["log"]))
"""


def test_pause_in_one_process_resume_in_another_by_token(redis_standalone: RedisServer) -> None:
    env = {"KORTYX_REDIS_URL": redis_standalone.url, "KORTYX_TTL_MS": "60000"}
    token = _run_python(PAUSE, env)
    assert token.count(".") == 2
    log = json.loads(_run_python(RESUME.replace("{token}", token), env))
    assert log == ["asked", "done:shipped"]


def test_a_paused_run_survives_a_redis_restart(redis_aof: RedisServer) -> None:
    prefix = _prefix()
    adapter = _adapter(redis_aof.url, prefix=prefix)
    approval_graph(adapter).invoke({"request": "restart", "log": []}, _cfg("r"))
    [pending] = adapter.pending.list("r")
    adapter.close()

    old_pid = redis_aof.pid
    redis_aof.restart()
    assert redis_aof.pid != old_pid

    after = _adapter(redis_aof.url, prefix=prefix)
    claimed = after.pending.claim(pending.token)
    result = approval_graph(after).invoke(
        Command(resume=claimed.resume_map("back")), claimed.config
    )
    assert result["log"] == ["asked", "done:back"]
    after.close()


CLAIMER = """
    import json
    import sys
    import time

    import redis
    import redis.cluster
    from kortyx_langgraph import AlreadyClaimedError, create_redis_framework_adapter

    url, prefix, token, barrier, processes, cluster = sys.argv[1:7]
    adapter = create_redis_framework_adapter(url=url, prefix=prefix)
    adapter.pending.get(token)  # connected, scripts loaded: only the claims are left
    plain = redis.cluster.RedisCluster if cluster == "1" else redis.Redis
    client = plain.from_url(url)
    client.incr(barrier)
    client.pexpire(barrier, 60_000)
    deadline = time.monotonic() + 30
    while int(client.get(barrier)) < int(processes):  # every process is ready: go
        assert time.monotonic() < deadline, "the other processes never arrived"

    def server_us():
        seconds, micros = client.time()
        return seconds * 1_000_000 + micros

    started = server_us()
    won = tries = 0
    while tries < 10 or server_us() < started + 300_000:  # claim for 0.3 s: long windows
        tries += 1
        try:
            adapter.pending.claim(token)
            won += 1
        except AlreadyClaimedError:
            pass
    print(json.dumps({"won": won, "started": started, "ended": server_us()}))
"""


@pytest.mark.parametrize("backend", ["redis_standalone", "redis_cluster"])
def test_fifty_claims_from_five_processes_have_one_winner(
    request: pytest.FixtureRequest, backend: str
) -> None:
    """Five processes meet at a barrier in Redis, then claim; their claiming windows, read
    from the server's clock, must overlap, or the race did not happen."""
    url = request.getfixturevalue(backend).url
    prefix = _prefix()
    adapter = _adapter(url, prefix=prefix)
    approval_graph(adapter).invoke({"request": "race", "log": []}, _cfg("race"))
    [pending] = adapter.pending.list("race")
    barrier = f"{prefix}barrier"
    cluster = "1" if backend == "redis_cluster" else "0"
    args = [url, prefix, pending.token, barrier, "5", cluster]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CLAIMER), *args],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    runs = []
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        runs.append(json.loads(out))
    assert max(r["started"] for r in runs) < min(r["ended"] for r in runs), runs
    assert sum(r["won"] for r in runs) == 1
    assert adapter.pending.get(pending.token).claimed


# -- connections ---------------------------------------------------------------------------


def test_cluster_mode_is_detected_from_the_url(redis_cluster: RedisCluster) -> None:
    adapter = _adapter(redis_cluster.url)
    counter_graph(adapter).invoke({"log": []}, _cfg("c"))
    assert adapter.connection.cluster is True
    assert isinstance(adapter.connection.sync_client(), redis.cluster.RedisCluster)


def test_a_callers_sync_client_is_used_and_left_open(redis_standalone: RedisServer) -> None:
    client = redis.Redis.from_url(redis_standalone.url)
    adapter = create_redis_framework_adapter(client=client, prefix=_prefix())
    counter_graph(adapter).invoke({"log": []}, _cfg("t"))
    adapter.close()
    assert client.ping()
    client.close()


async def test_a_callers_async_client_serves_the_async_methods(
    redis_standalone: RedisServer,
) -> None:
    client = redis.asyncio.Redis.from_url(redis_standalone.url)
    adapter = create_redis_framework_adapter(client=client, prefix=_prefix())
    await counter_graph(adapter).ainvoke({"log": []}, _cfg("t"))
    assert (await adapter.aget_tuple(_cfg("t"))) is not None
    with pytest.raises(ConfigurationError, match="asyncio client"):
        adapter.get_tuple(_cfg("t"))
    await adapter.aclose()
    assert await client.ping()
    await client.aclose()


def test_a_callers_cluster_client_works(redis_cluster: RedisCluster) -> None:
    client = redis.cluster.RedisCluster.from_url(redis_cluster.url)
    adapter = create_redis_framework_adapter(client=client, prefix=_prefix())
    approval_graph(adapter).invoke({"request": "x", "log": []}, _cfg("t"))
    assert len(adapter.pending.list("t")) == 1
    client.close()


def test_a_client_that_decodes_responses_is_refused(redis_standalone: RedisServer) -> None:
    client = redis.Redis.from_url(redis_standalone.url, decode_responses=True)
    with pytest.raises(ConfigurationError, match="decode_responses"):
        create_redis_framework_adapter(client=client)
    client.close()


def test_one_adapter_across_several_event_loops(redis_standalone: RedisServer) -> None:
    adapter = _adapter(redis_standalone.url)
    graph = counter_graph(adapter)
    for _ in range(3):
        asyncio.run(graph.ainvoke({"log": []}, _cfg("loops")))
    assert graph.get_state(_cfg("loops")).values["log"] == ["step0", "step1", "step2"]


def test_acl_user_and_password_in_the_url() -> None:
    with RedisServer(username="app", password="s3cret-pw") as server:
        assert "app:s3cret-pw@" in server.url
        adapter = _adapter(server.url)
        approval_graph(adapter).invoke({"request": "x", "log": []}, _cfg("acl"))
        assert len(adapter.pending.list("acl")) == 1

        wrong = _adapter(server.url.replace("s3cret-pw", "wrong-pw"))
        with pytest.raises(StorageConnectionError) as caught:
            wrong.get_tuple(_cfg("acl"))
        assert "wrong-pw" not in str(caught.value)
        assert "s3cret-pw" not in str(caught.value)
        assert "refused the credentials" in str(caught.value)

        nameless = _adapter(f"redis://127.0.0.1:{server.port}/0")
        with pytest.raises(StorageConnectionError, match="needs a password") as caught:
            nameless.get_tuple(_cfg("acl"))
        assert "the URL gives none" in str(caught.value)


def test_unix_socket_url(tmp_path: Path) -> None:
    socket_path = tmp_path / "redis.sock"
    with RedisServer(extra_args=["--unixsocket", str(socket_path), "--unixsocketperm", "700"]):
        adapter = _adapter(f"unix://{socket_path}?db=0")
        counter_graph(adapter).invoke({"log": []}, _cfg("sock"))
        assert adapter.get_tuple(_cfg("sock")) is not None


# -- faults --------------------------------------------------------------------------------


def test_unreachable_redis_is_a_typed_error_without_the_password() -> None:
    url = f"redis://user:hunter2@127.0.0.1:{free_port()}/0"
    adapter = _adapter(url, client_options={"socket_connect_timeout": 1})
    with pytest.raises(StorageConnectionError) as caught:
        adapter.get_tuple(_cfg("t"))
    assert "hunter2" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)
    assert "hunter2" not in repr(adapter)


async def test_unreachable_redis_async_is_a_typed_error() -> None:
    adapter = _adapter(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StorageConnectionError):
        await adapter.aget_tuple(_cfg("t"))


def test_a_redis_that_refuses_lua_is_a_typed_error(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    user = f"nolua{uuid.uuid4().hex[:6]}"
    standalone.acl_setuser(
        user, enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-@scripting"]
    )
    try:
        url = f"redis://{user}:pw@127.0.0.1:{redis_standalone.port}/0"
        adapter = _adapter(url, cluster=False)
        with pytest.raises(StorageCapabilityError, match="Lua"):
            adapter.get_tuple(_cfg("t"))
    finally:
        standalone.acl_deluser(user)


def test_a_corrupted_value_is_a_typed_error_and_other_threads_still_work(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    adapter = _adapter(redis_standalone.url)
    graph = counter_graph(adapter)
    graph.invoke({"log": []}, _cfg("bad"))
    graph.invoke({"log": []}, _cfg("good"))
    [cp_key] = [k for k in _our_keys(standalone, adapter.prefix) if k.endswith(b"bad:cp")]
    for field in standalone.hkeys(cp_key):
        standalone.hset(cp_key, field, b"\x00\x00\x00\x05garbage")
    with pytest.raises(DeserializationError, match=r"a stored record could not be decoded$"):
        adapter.get_tuple(_cfg("bad"))
    assert graph.get_state(_cfg("good")).values["log"] == ["step0"]


def test_a_list_that_lost_its_stored_base_names_the_thread_and_channel(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    """What an evicting policy can do: the oldest field of a list stored as deltas is gone."""
    adapter = _adapter(redis_standalone.url)
    graph = counter_graph(adapter)
    for _ in range(3):
        graph.invoke({"log": []}, _cfg("evicted"))
    [blob_key] = [k for k in _our_keys(standalone, adapter.prefix) if k.endswith(b"evicted:blob")]
    fields = standalone.hgetall(blob_key)
    bases = [f for f, v in fields.items() if f.startswith(b":log:") and not v.startswith(b"~")]
    assert bases  # the list's full value, which the later versions extend
    standalone.hdel(blob_key, *bases)
    with pytest.raises(DeserializationError) as caught:
        graph.get_state(_cfg("evicted"))
    assert "thread 'evicted'" in str(caught.value)
    assert "channel 'log'" in str(caught.value)
    assert "lost its base value" in str(caught.value)


def test_a_token_whose_thread_was_evicted_says_so_and_its_record_stays(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    """A thread's keys expire together, so a token's record without its thread's keys is
    a Cluster slot half migrated, or keys an evicting policy took: the lookup says which
    to check, and drops nothing (on a Cluster the keys come back once the slot moved)."""
    adapter = _adapter(redis_standalone.url, retry=RetryPolicy(attempts=2, backoff_base_ms=10))
    graph = approval_graph(adapter)
    graph.invoke({"request": "r", "log": []}, _cfg("taken"))
    [pending] = adapter.pending.list("taken")
    keys = [k for k in _our_keys(standalone, adapter.prefix) if not k.endswith(b":pending")]
    [pending_key] = [k for k in _our_keys(standalone, adapter.prefix) if k.endswith(b":pending")]
    before = standalone.hgetall(pending_key)
    standalone.delete(*keys)
    with pytest.raises(StorageConnectionError, match="noeviction") as caught:
        adapter.pending.claim(pending.token)
    assert "none of its thread's keys" in str(caught.value)
    assert standalone.hgetall(pending_key) == before
    adapter.close()


def test_a_refused_write_leaves_what_was_stored_intact(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    adapter = _adapter(redis_standalone.url)
    graph = counter_graph(adapter)
    graph.invoke({"log": []}, _cfg("t"))
    before = [t.checkpoint for t in adapter.list(_cfg("t"))]
    old_limit = standalone.config_get("maxmemory")["maxmemory"]
    standalone.config_set("maxmemory", 1)
    try:
        with pytest.raises(StorageOutOfMemoryError, match="out of memory"):
            graph.invoke({"log": []}, _cfg("t"))
    finally:
        standalone.config_set("maxmemory", old_limit)
    after = [t.checkpoint for t in adapter.list(_cfg("t"))]
    assert after[-len(before) :] == before
    assert graph.get_state(_cfg("t")).values["log"] == ["step0"]
    graph.invoke({"log": []}, _cfg("t"))
    assert graph.get_state(_cfg("t")).values["log"] == ["step0", "step1"]


# -- doctor --------------------------------------------------------------------------------


def test_doctor_reports_a_healthy_server_and_warns_about_eviction(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    from kortyx_langgraph.redis.doctor import diagnose

    findings = {f.check: f for f in diagnose(redis_standalone.url)}
    assert findings["connection"].level == "ok"
    assert findings["version"].level == "ok"
    assert findings["lua"].level == "ok"
    assert findings["mode"].message == "standalone"
    assert findings["persistence"].level == "warning"  # this test server has no AOF
    old = standalone.config_get("maxmemory-policy")["maxmemory-policy"]
    standalone.config_set("maxmemory-policy", "volatile-lru")
    try:
        eviction = {f.check: f for f in diagnose(redis_standalone.url)}["eviction"]
    finally:
        standalone.config_set("maxmemory-policy", old)
    assert eviction.level == "warning"
    assert "noeviction" in eviction.message


def test_doctor_checks_eviction_and_persistence_on_every_node_of_a_cluster(
    redis_cluster: RedisCluster,
) -> None:
    """Each primary holds its slots' threads: an evicting policy on a node other than the
    one the URL names is found, and named."""
    from kortyx_langgraph.redis.doctor import diagnose

    other = redis.Redis(port=redis_cluster.ports[2])
    old = other.config_get("maxmemory-policy")["maxmemory-policy"]
    findings = {f.check: f for f in diagnose(redis_cluster.url)}
    assert findings["eviction"].level == "ok"
    assert "every node of the Cluster (3)" in findings["eviction"].message
    other.config_set("maxmemory-policy", "allkeys-lru")
    try:
        findings = {f.check: f for f in diagnose(redis_cluster.url)}
    finally:
        other.config_set("maxmemory-policy", old)
        other.close()
    eviction = findings["eviction"]
    assert eviction.level == "warning"
    assert f"127.0.0.1:{redis_cluster.ports[2]} (primary) (1 of 3 nodes)" in eviction.message
    assert "allkeys-lru" in eviction.message
    assert str(redis_cluster.ports[0]) not in eviction.message
    assert "cluster" not in findings  # every node was read


def test_doctor_checks_what_the_adapters_scripts_do_on_keys_of_its_prefix(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    from kortyx_langgraph.redis.doctor import diagnose

    prefix = _prefix()
    findings = {f.check: f for f in diagnose(redis_standalone.url, prefix)}
    assert findings["access"].level == "ok"
    assert prefix in findings["access"].message
    assert findings["memory"].level == "ok"
    assert _our_keys(standalone, prefix) == []  # the probe's keys are gone


def _doctor(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kortyx_langgraph", "doctor", "--url", url, *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_doctor_strict_fails_on_a_warning(server: RedisServer) -> None:
    """The test servers run without AOF: a warning, which only --strict fails on."""
    relaxed, strict = _doctor(server.url), _doctor(server.url, "--strict")
    assert "[warning] persistence" in relaxed.stdout and "[error]" not in relaxed.stdout
    assert (relaxed.returncode, strict.returncode) == (0, 1), strict.stdout


@pytest.mark.parametrize(
    ("granted", "keys", "verdict"),
    [
        (NEEDED_COMMANDS.replace(" +time", ""), "mine", "[error] access"),
        (NEEDED_COMMANDS, "other", "[error] access"),
        (NEEDED_COMMANDS.replace(" +info", ""), "mine", "[warning] info"),
    ],
    ids=["no +time", "other keys", "no +info"],
)
def test_doctor_fails_a_user_the_adapter_cannot_run_with_and_passes_one_it_can(
    redis_standalone: RedisServer, standalone: redis.Redis, granted: str, keys: str, verdict: str
) -> None:
    user, secret = f"doc{uuid.uuid4().hex[:6]}", f"secret-{uuid.uuid4().hex[:8]}"
    prefix = _prefix()
    pattern = f"~{prefix}*" if keys == "mine" else "~other:*"
    standalone.execute_command(
        "ACL", "SETUSER", user, "on", f">{secret}", pattern, "resetchannels", "-@all",
        *granted.split(),
    )  # fmt: skip
    try:
        url = f"redis://{user}:{secret}@127.0.0.1:{redis_standalone.port}/0"
        done = _doctor(url, "--prefix", prefix)
        assert verdict in done.stdout, done.stdout
        assert done.returncode == (1 if verdict.startswith("[error]") else 0), done.stdout
        assert secret not in done.stdout + done.stderr
        if verdict == "[error] access":
            assert NEEDED_COMMANDS in done.stdout
        else:  # the adapter does run with this user
            adapter = create_redis_framework_adapter(url=url, prefix=prefix)
            approval_graph(adapter).invoke({"request": "x", "log": []}, _cfg("doc"))
            assert len(adapter.pending.list("doc")) == 1
            adapter.close()
    finally:
        standalone.acl_deluser(user)


def _user_without(client: redis.Redis, prefix: str, command: str) -> tuple[str, str]:
    """An ACL user with the documented permissions but ``command``; -> (user, URL)."""
    user = f"no{command.lower()}{uuid.uuid4().hex[:6]}"
    granted = [g for g in NEEDED_COMMANDS.split() if g != f"+{command.lower()}"]
    client.execute_command(
        "ACL", "SETUSER", user, "on", ">pw", f"~{prefix}*", "resetchannels", "-@all", *granted
    )
    port = client.connection_pool.connection_kwargs["port"]
    return user, f"redis://{user}:pw@127.0.0.1:{port}/0"


def _without_ttl(client: redis.Redis, prefix: str) -> list[bytes]:
    return [key for key in _our_keys(client, prefix) if client.pttl(key) < 0]


@pytest.mark.parametrize("command", sorted(SCRIPT_COMMANDS | {"EVALSHA", "SCAN", "EVAL", "PING"}))
def test_doctor_names_each_command_the_user_may_not_run_and_leaves_no_key_without_ttl(
    redis_standalone: RedisServer, standalone: redis.Redis, command: str
) -> None:
    from kortyx_langgraph.redis.doctor import diagnose

    prefix = _prefix()
    user, url = _user_without(standalone, prefix, command)
    try:
        access = {f.check: f for f in diagnose(url, prefix)}["access"]
        assert access.level == "error", access
        assert access.message.startswith(f"this ACL user may not run {command}: "), access
        assert NEEDED_COMMANDS in access.message
        assert _without_ttl(standalone, prefix) == []
        if command in ("PEXPIRE", "DEL", "EVAL", "PING"):  # checked before anything is written
            assert _our_keys(standalone, prefix) == []
    finally:
        standalone.acl_deluser(user)


@pytest.mark.parametrize(
    ("url_tail", "command"), [("/3", "SELECT"), ("/0?client_name=app", "CLIENT SETNAME")]
)
def test_doctor_names_what_connecting_ran_when_the_user_may_not_run_it(
    redis_standalone: RedisServer, standalone: redis.Redis, url_tail: str, command: str
) -> None:
    """Connecting sends SELECT for a database and CLIENT SETNAME for a client name before
    any PING: the refusal names the command it was, not PING, which the user may run."""
    from kortyx_langgraph.redis.doctor import diagnose

    prefix = _prefix()
    user, url = _user_without(standalone, prefix, "none")
    try:
        url = url.rsplit("/", 1)[0] + url_tail
        access = {f.check: f for f in diagnose(url, prefix)}["access"]
        assert access.level == "error", access
        # Redis 7 names the subcommand refused ('client|setname'), 6.2 the command alone
        named = access.message.removeprefix("this ACL user may not run ").split(":")[0]
        assert named in (command, command.split(maxsplit=1)[0]), access
    finally:
        standalone.acl_deluser(user)


def test_doctor_passes_a_user_with_exactly_the_documented_commands(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    from kortyx_langgraph.redis.doctor import diagnose

    prefix = _prefix()
    user, url = _user_without(standalone, prefix, "none")
    try:
        findings = {f.check: f for f in diagnose(url, prefix)}
        assert findings["access"].level == "ok", findings["access"]
        assert _our_keys(standalone, prefix) == []
    finally:
        standalone.acl_deluser(user)


@pytest.mark.parametrize("command", ["HGETALL", "HSET", "EXISTS"])
def test_a_write_script_refused_a_command_part_way_leaves_every_key_with_a_ttl(
    redis_standalone: RedisServer, standalone: redis.Redis, command: str
) -> None:
    """A script writes before the refused command; the thread's TTL still covers that."""
    prefix = _prefix()
    user, url = _user_without(standalone, prefix, command)
    adapter = create_redis_framework_adapter(url=url, prefix=prefix, ttl_ms=60_000)
    graph = approval_graph(adapter)
    try:
        with pytest.raises(StorageCapabilityError):
            graph.invoke({"request": "x", "log": []}, _cfg("half"))
            [pending] = adapter.pending.list("half")
            claimed = adapter.pending.claim(pending.token)
            graph.invoke(Command(resume=claimed.resume_map("ok")), claimed.config)
            adapter.copy_thread("half", "half-copy")
            adapter.prune(["half"])
        assert _our_keys(standalone, prefix), "the script wrote nothing before the refusal"
        assert _without_ttl(standalone, prefix) == []
    finally:
        adapter.close()
        standalone.acl_deluser(user)


@pytest.mark.parametrize(
    ("used", "limit", "level"),
    [(950, 1000, "warning"), (900, 1000, "warning"), (899, 1000, "ok"), (10**9, 0, "ok")],
)
def test_doctor_warns_when_memory_nears_maxmemory(used: int, limit: int, level: str) -> None:
    from kortyx_langgraph.redis.doctor import _memory_finding

    finding = _memory_finding({"used_memory": used, "maxmemory": limit})
    assert finding.level == level
    assert f"{used:,}" in finding.message


def test_a_server_short_of_replicas_is_unavailable_and_nothing_is_written(
    server: RedisServer,
) -> None:
    """min-replicas-to-write with no replica: the write is refused (NOREPLICAS) before it
    runs; the error says so, and the thread stays as it was."""
    client = redis.Redis.from_url(server.url)
    prefix = _prefix()
    adapter = create_redis_framework_adapter(url=server.url, prefix=prefix, ttl_ms=60_000)
    graph = approval_graph(adapter)
    try:
        graph.invoke({"request": "x", "log": []}, _cfg("short"))
        before = {key: client.dump(key) for key in _our_keys(client, prefix)}
        client.config_set("min-replicas-to-write", "1")
        [pending] = adapter.pending.list("short")  # reads still work
        with pytest.raises(StorageUnavailableError, match="min-replicas-to-write"):
            adapter.pending.claim(pending.token)
        with pytest.raises(StorageUnavailableError, match="nothing was written"):
            graph.invoke(Command(resume=pending.resume_map("ok")), _cfg("short"))
        assert {key: client.dump(key) for key in _our_keys(client, prefix)} == before
    finally:
        client.config_set("min-replicas-to-write", "0")
        adapter.close()
        client.close()


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to "
         "persist to disk. Commands that may modify the data set are disabled", "persist"),
        ("ERR Error running script (call to f_0): @user_script:12: MISCONF Errors writing "
         "to the AOF file: No space left on device", "persist"),  # Redis 6.2's wrapping
        ("NOREPLICAS Not enough good replicas to write.", "min-replicas-to-write"),
        ("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN "
         "NOSAVE.", "SCRIPT KILL"),
    ],
)  # fmt: skip
def test_a_server_refusing_for_a_state_of_its_own_is_unavailable_not_incapable(
    reply: str, says: str
) -> None:
    from kortyx_langgraph.redis.connection import translate

    error = translate(redis.exceptions.ResponseError(reply), "redis://host:6379/0")
    assert isinstance(error, StorageUnavailableError), error
    assert says in str(error) and "nothing was written" in str(error)


def test_doctor_fails_a_server_that_refuses_writes(server: RedisServer) -> None:
    client = redis.Redis.from_url(server.url)
    try:
        client.config_set("maxmemory", "1")
        done = _doctor(server.url)
        assert "[error] access" in done.stdout and "out of memory" in done.stdout, done.stdout
        assert "[warning] memory" in done.stdout
        assert done.returncode == 1
    finally:
        client.config_set("maxmemory", "0")
        client.close()


def test_doctor_command_on_an_unreachable_server_fails_without_the_password() -> None:
    url = f"redis://app:hunter2@127.0.0.1:{free_port()}/0"
    done = subprocess.run(
        [sys.executable, "-m", "kortyx_langgraph", "doctor", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "[error] connection" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr


def test_doctor_on_a_stopped_server_reports_it_instead_of_waiting(server: RedisServer) -> None:
    """A server that accepts connections and answers nothing (SIGSTOP, a hung host): the
    doctor says so after its socket timeouts, with any redis-py it supports."""
    from kortyx_langgraph.redis.doctor import diagnose

    done: list[list[Any]] = []
    with server.stopped():
        worker = threading.Thread(target=lambda: done.append(diagnose(server.url)), daemon=True)
        worker.start()
        worker.join(60)
        assert done, "doctor was still waiting for the stopped server after 60 s"
    assert any(f.level == "error" and f.check == "connection" for f in done[0])


def test_doctor_command_with_aof_and_cluster(
    redis_aof: RedisServer, redis_cluster: RedisCluster
) -> None:
    for url, expected in [(redis_aof.url, "AOF is on"), (redis_cluster.url, "Redis Cluster")]:
        done = subprocess.run(
            [sys.executable, "-m", "kortyx_langgraph", "doctor", "--url", url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert expected in done.stdout


def test_the_acl_permissions_the_readme_lists_are_enough(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    user = f"app{uuid.uuid4().hex[:6]}"
    prefix = _prefix()
    standalone.execute_command(
        "ACL", "SETUSER", user, "on", ">pw", f"~{prefix}*", "resetchannels",
        "-@all", *NEEDED_COMMANDS.split(),
    )  # fmt: skip
    try:
        url = f"redis://{user}:pw@127.0.0.1:{redis_standalone.port}/0"
        adapter = create_redis_framework_adapter(url=url, prefix=prefix)
        graph = approval_graph(adapter)
        graph.invoke({"request": "x", "log": []}, _cfg("acl"))
        [pending] = adapter.pending.list("acl")
        claimed = adapter.pending.claim(pending.token)
        graph.invoke(Command(resume=claimed.resume_map("ok")), claimed.config)
        adapter.copy_thread("acl", "acl-copy")
        adapter.prune(["acl"])
        adapter.delete_for_runs(["no-such-run"])
        assert len(list(adapter.list(None))) >= 1
        adapter.delete_thread("acl")
    finally:
        standalone.acl_deluser(user)
    documented = (REPO / "docs" / "redis.md").read_text()
    assert f"resetchannels -@all {NEEDED_COMMANDS}\n" in documented
    assert {c.lower() for c in CLIENT_COMMANDS} <= set(NEEDED_COMMANDS.replace("+", "").split())


@pytest.mark.parametrize(
    "cut",
    ["+time", "+info", "+hset", "+eval", "+evalsha", "keys"],
)
def test_a_user_without_a_documented_permission_gets_a_typed_error_that_lists_them(
    redis_standalone: RedisServer, standalone: redis.Redis, cut: str
) -> None:
    user, secret = f"app{uuid.uuid4().hex[:6]}", f"secret-{uuid.uuid4().hex[:8]}"
    prefix = _prefix()
    granted = NEEDED_COMMANDS.split()
    keys = "~other:*" if cut == "keys" else f"~{prefix}*"
    standalone.execute_command(
        "ACL", "SETUSER", user, "on", f">{secret}", keys, "resetchannels", "-@all",
        *(g for g in granted if g != cut),
    )  # fmt: skip
    try:
        url = f"redis://{user}:{secret}@127.0.0.1:{redis_standalone.port}/0"
        adapter = create_redis_framework_adapter(url=url, prefix=prefix)
        graph = approval_graph(adapter)
        if cut == "+info":  # the adapter takes the server for standalone and runs
            graph.invoke({"request": "x", "log": []}, _cfg("acl"))
            assert len(adapter.pending.list("acl")) == 1
            return
        with pytest.raises(StorageCapabilityError) as caught:
            graph.invoke({"request": "x", "log": []}, _cfg("acl"))
        assert NEEDED_COMMANDS in str(caught.value)
        assert secret not in str(caught.value)
    finally:
        standalone.acl_deluser(user)


def test_tls_url(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    tls_port = free_port()
    tls_args = [
        "--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
    ]  # fmt: skip
    with RedisServer(password="tls-secret", extra_args=tls_args) as plain:
        url = f"rediss://:tls-secret@127.0.0.1:{tls_port}/0"
        adapter = _adapter(url, client_options={"ssl_ca_certs": str(cert)})
        approval_graph(adapter).invoke({"request": "x", "log": []}, _cfg("tls"))
        assert len(adapter.pending.list("tls")) == 1

        untrusting = _adapter(url, client_options={"socket_connect_timeout": 2})
        with pytest.raises(StorageConnectionError) as caught:
            untrusting.get_tuple(_cfg("tls"))
        assert "tls-secret" not in str(caught.value)

        # rediss:// to the plain port: the handshake never ends, and the error says so
        mismatched = create_redis_framework_adapter(
            url=f"rediss://:tls-secret@127.0.0.1:{plain.port}/0",
            prefix=_prefix(),
            retry=RetryPolicy(attempts=1),
            client_options={"ssl_ca_certs": str(cert), "socket_connect_timeout": 0.5},
        )
        with pytest.raises(StorageConnectionError, match="check that this port speaks TLS"):
            mismatched.get_tuple(_cfg("tls"))


@pytest.mark.parametrize("backend", ["redis_standalone", "redis_cluster"])
def test_many_concurrent_runs_wait_for_connections_instead_of_failing(
    request: pytest.FixtureRequest, backend: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url = request.getfixturevalue(backend).url
    adapter = _adapter(url, client_options={"max_connections": 4})
    graph = counter_graph(adapter)

    def run(i: int) -> list[str]:
        config = _cfg(f"busy-{i}")
        graph.invoke({"log": []}, config)
        return list(graph.get_state(config).values["log"])

    with ThreadPoolExecutor(max_workers=48) as pool:
        results = list(pool.map(run, range(96)))
    assert results == [["step0"]] * 96


async def test_many_concurrent_async_runs_wait_for_connections(
    redis_standalone: RedisServer,
) -> None:
    adapter = _adapter(redis_standalone.url, client_options={"max_connections": 4})
    graph = counter_graph(adapter)
    await asyncio.gather(*(graph.ainvoke({"log": []}, _cfg(f"abusy-{i}")) for i in range(96)))
    states = [await graph.aget_state(_cfg(f"abusy-{i}")) for i in range(96)]
    assert all(s.values["log"] == ["step0"] for s in states)
    await adapter.aclose()


async def test_a_callers_sync_client_also_serves_the_async_methods(
    redis_standalone: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_standalone.url)
    adapter = create_redis_framework_adapter(client=client, prefix=_prefix())
    await approval_graph(adapter).ainvoke({"request": "x", "log": []}, _cfg("t"))
    [pending] = await adapter.pending.alist("t")
    assert (await adapter.pending.aclaim(pending.token)).claimed
    await adapter.aclose()
    assert client.ping()
    client.close()


async def test_a_callers_async_cluster_client_works(redis_cluster: RedisCluster) -> None:
    client = redis.asyncio.cluster.RedisCluster.from_url(redis_cluster.url)
    adapter = create_redis_framework_adapter(client=client, prefix=_prefix())
    graph = approval_graph(adapter)
    await graph.ainvoke({"request": "x", "log": []}, _cfg("t"))
    results = await asyncio.gather(
        *(adapter.pending.alist("t") for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, list) and len(r) == 1 for r in results), results
    await client.aclose()


async def test_an_async_cluster_client_of_ours_sends_down_node_clients_with_its_limit(
    redis_cluster: RedisCluster,
) -> None:
    adapter = create_redis_framework_adapter(
        url=redis_cluster.url, prefix=_prefix(), client_options={"max_connections": 3}
    )
    graph = approval_graph(adapter)
    for n in range(6):  # threads over the primaries' slots
        await graph.ainvoke({"request": "x", "log": []}, _cfg(f"t{n}"))
        [pending] = await adapter.pending.alist(f"t{n}")
        assert (await adapter.pending.aclaim(pending.token)).claimed
    [of_loop] = adapter.connection._node_clients.values()
    assert of_loop  # the scripts went down a plain client of the slot's primary
    assert {c.connection_pool.max_connections for c in of_loop.values()} == {3}
    await adapter.aclose()
    assert not adapter.connection._node_clients  # closed with the loop's clients
    adapter.close()


def test_inspect_command_shows_checkpoints_and_pending_interrupts(
    redis_standalone: RedisServer,
) -> None:
    thread_id = f"inspect-{uuid.uuid4().hex[:8]}"
    adapter = create_redis_framework_adapter(url=redis_standalone.url)  # the default prefix
    approval_graph(adapter).invoke({"request": "x", "log": []}, _cfg(thread_id))
    [pending] = adapter.pending.list(thread_id)
    env = {**os.environ, "KORTYX_REDIS_URL": redis_standalone.url}

    def inspect(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kortyx_langgraph", "inspect", name],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    shown = inspect(thread_id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("  checkpoint ") == 2
    assert "pending interrupts: 1" in shown.stdout
    assert pending.token in shown.stdout
    assert "approve x?" in shown.stdout
    missing = inspect("no-such-thread")
    assert missing.returncode == 1
    assert "not found" in missing.stdout
    adapter.delete_thread(thread_id)


def test_refresh_on_read_extends_the_whole_thread(
    redis_standalone: RedisServer, standalone: redis.Redis
) -> None:
    adapter = _adapter(redis_standalone.url, ttl_ms=60_000, refresh_on_read=True)
    approval_graph(adapter).invoke({"request": "x", "log": []}, _cfg("r"))
    written = _deadlines(standalone, adapter.prefix)
    assert len(written) == 4  # idx, cp, blob, pending (the writes are in the records)
    time.sleep(0.01)  # the read is at least 10 ms after the write
    assert adapter.get_tuple(_cfg("r")) is not None  # refreshes every key of the thread
    read = _deadlines(standalone, adapter.prefix)
    assert set(read) == set(written)
    assert min(read.values()) > max(written.values()), (written, read)
    assert len(adapter.pending.list("r")) == 1
