"""The command on a Redis Cluster that requires a password: it works, and never shows it."""

from __future__ import annotations

import uuid

import pytest

from kortyx_langgraph import create_redis_framework_adapter
from tests.cli_support import run_process
from tests.graphs import approval_graph
from tests.pending_truth import config_of
from tests.redis_harness import RedisCluster


@pytest.mark.redis
def test_no_password_in_any_output_on_a_cluster(redis_binaries: tuple[str, str]) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    prefix = f"kortyx-test-{uuid.uuid4().hex[:12]}:"
    with RedisCluster(password=secret) as cluster:
        url = cluster.url
        assert secret in url
        adapter = create_redis_framework_adapter(url=url, prefix=prefix, ttl_ms=60_000)
        approval_graph(adapter).invoke({"request": "x", "log": []}, config_of("guarded"))
        [paused] = adapter.pending.list("guarded")
        adapter.close()

        started = run_process("demo", "start", "--json", "--prefix", prefix, REDIS_URL=url)
        assert started.status == 0, started.err
        token = started.json()["interrupt"]["token"]
        listed = run_process("pending", "--all", "--json", "--prefix", prefix, REDIS_URL=url)
        assert listed.status == 0, listed.err
        document = listed.json()
        assert document["where"] == url.replace(secret, "***")
        assert sorted(p["token"] for p in document["interrupts"]) == sorted([paused.token, token])
        runs = [
            started,
            listed,
            run_process("demo", "resume", token, "--prefix", prefix, REDIS_URL=url),
            run_process("pending", "--thread", "guarded", "--prefix", prefix, REDIS_URL=url),
            run_process("pending", "--all", REDIS_URL=url.replace(secret, f"{secret}x")),
            run_process("doctor", REDIS_URL=url),
        ]
        assert [ran.status for ran in runs] == [0, 0, 0, 0, 1, 0]
        # every node read with the URL's password
        assert "every node of the Cluster (3)" in runs[5].out, runs[5].out
        for ran in runs:
            assert secret not in ran.out + ran.err
            assert "Traceback" not in ran.err
        assert "train ticket filed as approved" in runs[2].out
        assert runs[4].err.startswith("error: ")
