"""Our TTL against a LangGraph server's thread TTL: reading the server's settings, the verdict,
and the ``doctor`` line (no server needed: these are settings only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kortyx_langgraph import (
    ConfigurationError,
    ServerThreadTTL,
    check_server_ttl,
    server_thread_ttl_from_config,
    server_thread_ttl_from_env,
    ttl_mismatch,
)

MINUTE = 60_000


def test_checkpointer_ttl_of_langgraph_json_is_read_in_minutes() -> None:
    config = {
        "checkpointer": {
            "path": "kortyx_langgraph.server.checkpointer",
            "ttl": {"strategy": "delete", "default_ttl": 10, "sweep_interval_minutes": 2},
        }
    }
    server = server_thread_ttl_from_config(config)
    assert server == ServerThreadTTL(10 * MINUTE, "delete", 2 * MINUTE, "checkpointer.ttl")
    assert server.keeps_records_ms == 12 * MINUTE


def test_no_checkpointer_ttl_means_the_server_keeps_threads_forever() -> None:
    server = server_thread_ttl_from_config({"checkpointer": {"path": "x.y"}})
    assert server.ttl_ms is None
    assert server.keeps_records_ms is None
    assert "no thread TTL" in (ttl_mismatch(15 * MINUTE, server) or "")
    assert ttl_mismatch(None, server) is None  # an adapter that keeps threads forever fits


def test_env_thread_ttl_wins_over_the_checkpointer_setting() -> None:
    env = {
        "LANGGRAPH_THREAD_TTL": "5",
        "LANGGRAPH_CHECKPOINTER": json.dumps({"ttl": {"default_ttl": 60}}),
    }
    server = server_thread_ttl_from_env(env)
    assert (server.ttl_ms, server.source) == (5 * MINUTE, "LANGGRAPH_THREAD_TTL")
    # minutes alone: the server sweeps every 5.1 minutes, so a record lives up to 10.1
    assert server.keeps_records_ms == 5 * MINUTE + 306_000
    assert check_server_ttl({"LANGGRAPH_THREAD_TTL": "1", "KORTYX_TTL_MS": "120000"})
    json_env = {"LANGGRAPH_THREAD_TTL": '{"strategy": "keep_latest", "default_ttl": 1}'}
    assert server_thread_ttl_from_env(json_env).strategy == "keep_latest"
    checkpointer_env = {"LANGGRAPH_CHECKPOINTER": json.dumps({"ttl": {"default_ttl": 60}})}
    assert server_thread_ttl_from_env(checkpointer_env).ttl_ms == 60 * MINUTE


@pytest.mark.parametrize(
    ("ours", "server", "fits"),
    [
        (15 * MINUTE, ServerThreadTTL(10 * MINUTE, "delete", 5 * MINUTE, "t"), True),
        (15 * MINUTE, ServerThreadTTL(10 * MINUTE, "delete", 6 * MINUTE, "t"), False),
        (15 * MINUTE, ServerThreadTTL(30 * MINUTE, "delete", 0, "t"), False),
        (60 * MINUTE, ServerThreadTTL(10 * MINUTE, "keep_latest", 0, "t"), False),
        (60 * MINUTE, ServerThreadTTL(10 * MINUTE, "delete", 0, "t", expires_threads=False), False),
    ],
)
def test_our_ttl_must_outlive_the_servers_thread_records(
    ours: int, server: ServerThreadTTL, fits: bool
) -> None:
    message = ttl_mismatch(ours, server)
    assert (message is None) is fits
    if message is not None:
        assert f"ttl_ms={ours}" in message
        assert "resuming it fails" in message


def test_langgraph_dev_never_expires_threads_whatever_is_configured() -> None:
    env = {"LANGGRAPH_RUNTIME_EDITION": "inmem", "LANGGRAPH_THREAD_TTL": "1"}
    server = server_thread_ttl_from_env(env)
    assert server.expires_threads is False
    message = check_server_ttl({**env, "KORTYX_FRAMEWORK_TTL_MS": "600000"})
    assert message is not None
    assert "langgraph dev never deletes thread records" in message
    assert check_server_ttl({"LANGGRAPH_THREAD_TTL": "1", "KORTYX_TTL_MS": "600000"}) is None


@pytest.mark.parametrize(
    "env",
    [
        {"LANGGRAPH_THREAD_TTL": "soon"},
        {"LANGGRAPH_THREAD_TTL": "-3"},
        {"LANGGRAPH_THREAD_TTL": '{"default_ttl": "ten"}'},
        {"LANGGRAPH_CHECKPOINTER": "[1]"},
        {"LANGGRAPH_CHECKPOINTER": '{"ttl": 5}'},
    ],
)
def test_unreadable_server_settings_are_configuration_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        server_thread_ttl_from_env(env)


def test_the_entry_point_check_reports_unreadable_server_settings_without_failing() -> None:
    message = check_server_ttl({"LANGGRAPH_THREAD_TTL": "soon", "KORTYX_TTL_MS": "60000"})
    assert message is not None
    assert message.startswith("could not compare ttl_ms=60000")
    with pytest.raises(ConfigurationError):  # our own settings must be valid
        check_server_ttl({"KORTYX_TTL_MS": "soon"})


def _doctor(
    tmp_path: Path, config: dict[str, object] | None, *options: str, **env: str
) -> tuple[int, str]:
    if config is not None:
        (tmp_path / "langgraph.json").write_text(json.dumps(config))
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "kortyx_langgraph", "doctor", *options],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_doctor_warns_when_langgraph_json_keeps_threads_longer_than_we_do(
    tmp_path: Path,
) -> None:
    ttl = {"strategy": "delete", "default_ttl": 60}
    code, out = _doctor(tmp_path, {"checkpointer": {"path": "p.c", "ttl": ttl}})
    assert code == 0
    assert "[warning] server-ttl: ttl_ms=900000" in out
    assert "up to 3600000 ms" in out


def test_doctor_says_ok_when_our_ttl_outlives_the_servers(tmp_path: Path) -> None:
    ttl = {"strategy": "delete", "default_ttl": 10, "sweep_interval_minutes": 5}
    code, out = _doctor(tmp_path, {"checkpointer": {"path": "p.c", "ttl": ttl}})
    assert code == 0
    assert "[ok] server-ttl: the server keeps a thread up to 900000 ms" in out
    assert "langgraph dev never deletes threads" in out


@pytest.mark.parametrize("default_ttl", ["abc", -5, True])
def test_doctor_reports_a_bad_server_ttl_as_one_error_and_checks_the_rest(
    tmp_path: Path, default_ttl: object
) -> None:
    ttl = {"strategy": "delete", "default_ttl": default_ttl}
    code, out = _doctor(tmp_path, {"checkpointer": {"path": "p.c", "ttl": ttl}})
    assert code == 1
    assert "[error] server-ttl: " in out and "default_ttl" in out, out
    assert "nothing to check on Redis" in out  # the rest of the checks still ran


def test_doctor_without_server_settings_prints_no_server_line(tmp_path: Path) -> None:
    code, out = _doctor(tmp_path, None)
    assert code == 0
    assert "server-ttl" not in out
    assert "nothing to check on Redis" in out


def test_doctor_require_redis_fails_when_no_redis_url_is_set(tmp_path: Path) -> None:
    code, out = _doctor(tmp_path, None, "--require-redis")
    assert code == 1
    assert "[error] redis: no Redis URL is set" in out
    assert "in-memory" in out


def test_doctor_reads_our_settings_from_the_env_entry_of_langgraph_json(
    tmp_path: Path,
) -> None:
    """As the server's process does: here the TTL, and no Redis URL (so no Redis check)."""
    ttl = {"strategy": "delete", "default_ttl": 1, "sweep_interval_minutes": 1}
    config = {"checkpointer": {"path": "p.c", "ttl": ttl}, "env": {"KORTYX_TTL_MS": "30000"}}
    code, out = _doctor(tmp_path, config)
    assert code == 0
    assert "[warning] server-ttl: ttl_ms=30000" in out  # 30 s against the server's 2 min
    assert "only fix under langgraph dev" in out
    assert "ttl_ms=30000 (from KORTYX_TTL_MS)" in out
    code, out = _doctor(tmp_path, {**config, "env": "./.env"})
    assert "[warning] env:" in out and "'./.env'" in out
    assert "ttl_ms=900000" in out


def test_doctor_fails_a_checkpointer_path_the_server_cannot_load(tmp_path: Path) -> None:
    code, out = _doctor(
        tmp_path, {"checkpointer": {"path": "kortyx_langgraph.server:checkpointer"}}
    )
    assert code == 1
    assert "[error] checkpointer:" in out
    assert "use 'kortyx_langgraph.server.checkpointer'" in out
    code, out = _doctor(
        tmp_path, {"checkpointer": {"path": "kortyx_langgraph.server.checkpointer"}}
    )
    assert "[error] checkpointer" not in out
