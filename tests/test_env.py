"""Backend and TTL selection from the environment: precedence, bad values, secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kortyx_langgraph import (
    ConfigurationError,
    InMemoryFrameworkAdapter,
    RedisFrameworkAdapter,
    create_framework_adapter_from_env,
    create_in_memory_framework_adapter,
    create_redis_framework_adapter,
    redact_url,
    resolve_framework_settings,
)
from kortyx_langgraph.settings import MAX_TTL_MS, check_redis_url

URL_A = "redis://a.example:6379/0"
URL_B = "redis://b.example:6379/0"
URL_C = "redis://c.example:6379/0"


@pytest.mark.parametrize(
    ("env", "backend", "url_source", "url"),
    [
        ({}, "in-memory", None, None),
        ({"KORTYX_REDIS_URL": URL_A}, "redis", "KORTYX_REDIS_URL", URL_A),
        ({"REDIS_URL": URL_B}, "redis", "REDIS_URL", URL_B),
        ({"KORTYX_FRAMEWORK_REDIS_URL": URL_C}, "redis", "KORTYX_FRAMEWORK_REDIS_URL", URL_C),
        (
            {"KORTYX_REDIS_URL": URL_A, "REDIS_URL": URL_B, "KORTYX_FRAMEWORK_REDIS_URL": URL_C},
            "redis",
            "KORTYX_REDIS_URL",
            URL_A,
        ),
        ({"REDIS_URL": URL_B, "KORTYX_FRAMEWORK_REDIS_URL": URL_C}, "redis", "REDIS_URL", URL_B),
        ({"KORTYX_REDIS_URL": "", "REDIS_URL": URL_B}, "redis", "REDIS_URL", URL_B),
        (
            {"KORTYX_REDIS_URL": "   ", "KORTYX_FRAMEWORK_REDIS_URL": URL_C},
            "redis",
            "KORTYX_FRAMEWORK_REDIS_URL",
            URL_C,
        ),
        ({"KORTYX_REDIS_URL": "", "REDIS_URL": " "}, "in-memory", None, None),
        ({"KORTYX_REDIS_URL": f"  {URL_A}  "}, "redis", "KORTYX_REDIS_URL", URL_A),
    ],
)
def test_backend_precedence(
    env: dict[str, str], backend: str, url_source: str | None, url: str | None
) -> None:
    settings = resolve_framework_settings(env)
    assert settings.backend == backend
    assert settings.url_source == url_source
    assert settings.redis_url == url


@pytest.mark.parametrize(
    ("env", "ttl_ms", "source"),
    [
        ({}, 900_000, "default"),
        ({"KORTYX_TTL_MS": "5000"}, 5_000, "KORTYX_TTL_MS"),
        ({"KORTYX_FRAMEWORK_TTL_MS": "7000"}, 7_000, "KORTYX_FRAMEWORK_TTL_MS"),
        (
            {"KORTYX_FRAMEWORK_TTL_MS": "7000", "KORTYX_TTL_MS": "5000"},
            7_000,
            "KORTYX_FRAMEWORK_TTL_MS",
        ),
        ({"KORTYX_TTL_MS": " 42 "}, 42, "KORTYX_TTL_MS"),
    ],
)
def test_ttl_precedence(env: dict[str, str], ttl_ms: int, source: str) -> None:
    settings = resolve_framework_settings(env)
    assert (settings.ttl_ms, settings.ttl_source) == (ttl_ms, source)


@pytest.mark.parametrize("variable", ["KORTYX_FRAMEWORK_TTL_MS", "KORTYX_TTL_MS"])
@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "0",
        "-5",
        "1.5",
        "Infinity",
        "inf",
        "NaN",
        "",
        "   ",
        "1e3",
        "0x10",
        "+5",
        "10_000",
        "999999999999999999999",
    ],
)
def test_bad_ttl_names_the_variable_and_the_value(variable: str, bad: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_framework_settings({variable: bad})
    message = str(caught.value)
    assert variable in message
    assert caught.value.variable == variable
    if bad.strip():
        assert bad.strip() in message


def test_the_longest_ttl_is_100_years_wherever_it_is_given() -> None:
    assert MAX_TTL_MS == 100 * 365 * 24 * 3600 * 1000
    assert resolve_framework_settings({"KORTYX_TTL_MS": str(MAX_TTL_MS)}).ttl_ms == MAX_TTL_MS
    assert create_in_memory_framework_adapter(ttl_ms=MAX_TTL_MS).ttl_ms == MAX_TTL_MS
    with pytest.raises(ConfigurationError, match=r"KORTYX_TTL_MS .*maximum"):
        resolve_framework_settings({"KORTYX_TTL_MS": str(MAX_TTL_MS + 1)})
    with pytest.raises(ConfigurationError, match="maximum"):
        create_in_memory_framework_adapter(ttl_ms=MAX_TTL_MS + 1)


def test_a_zero_ttl_says_how_to_turn_expiry_off_where_it_was_given() -> None:
    with pytest.raises(ConfigurationError) as from_env:
        resolve_framework_settings({"KORTYX_TTL_MS": "0"})
    assert "ttl_ms=None" in str(from_env.value)
    assert "environment variable cannot" in str(from_env.value)
    with pytest.raises(ConfigurationError, match="pass ttl_ms=None for no expiry"):
        create_in_memory_framework_adapter(ttl_ms=0)


def test_a_bad_first_ttl_variable_is_not_skipped_for_the_second() -> None:
    with pytest.raises(ConfigurationError, match="KORTYX_FRAMEWORK_TTL_MS"):
        resolve_framework_settings({"KORTYX_FRAMEWORK_TTL_MS": "soon", "KORTYX_TTL_MS": "5000"})


def test_from_env_builds_an_in_memory_adapter_with_the_ttl() -> None:
    adapter = create_framework_adapter_from_env({"KORTYX_TTL_MS": "1234"})
    assert isinstance(adapter, InMemoryFrameworkAdapter)
    assert adapter.kind == "in-memory"
    assert adapter.ttl_ms == 1234


@pytest.mark.parametrize(
    ("argument", "variable"), [("ttl_ms", "KORTYX_FRAMEWORK_TTL_MS"), ("url", "KORTYX_REDIS_URL")]
)
def test_from_env_refuses_what_the_environment_sets(argument: str, variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable) as caught:
        create_framework_adapter_from_env({}, **{argument: 60_000})
    assert caught.value.variable == argument


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ["KORTYX_REDIS_URL", "REDIS_URL", "KORTYX_FRAMEWORK_REDIS_URL", "KORTYX_TTL_MS"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KORTYX_FRAMEWORK_TTL_MS", "4321")
    assert create_framework_adapter_from_env().ttl_ms == 4321


def test_from_env_selects_redis_without_connecting_and_hides_the_password() -> None:
    adapter = create_framework_adapter_from_env(
        {"REDIS_URL": "redis://app:hunter2@db.invalid:6379/0", "KORTYX_TTL_MS": "5000"}
    )
    assert isinstance(adapter, RedisFrameworkAdapter)
    assert (adapter.kind, adapter.ttl_ms) == ("redis", 5000)
    assert "hunter2" not in repr(adapter)
    assert "hunter2" not in repr(adapter.pending)


@pytest.mark.parametrize(
    "url",
    [
        "http://host:6379",
        "redis://",
        "redis://:pw@host:99999999",
        "unix://",
        "not a url",
        # redis-py would read each of these as database 0, 12 or 0, or fail at first use
        "redis://:pw@host:6379/abc",
        "redis://:pw@host:6379/1/2",
        "redis://:pw@host:6379/0 extra",
        "redis://:pw@host:6379/0?socket_timeout=abc",
        "redis://:pw@host:6379/0?sockettimeout=5",
        "unix:///run/redis.sock?password=pw&db=first",
        # redis-py lets the URL override the client's decode_responses=False
        "redis://:pw@host:6379/0?decode_responses=true",
        "rediss://:pw@host:6379/0?ssl_cert_reqs=none&decode_responses=yes",
        "redis://:pw@host:6379/0?decode_responses=false",  # read as the text "false": true
        # values redis-py reads, then refuses at the first connection with a bare ValueError
        "redis://:pw@host:6379/0?socket_timeout=-1",
        "redis://:pw@host:6379/0?socket_timeout=0",
        "redis://:pw@host:6379/0?socket_connect_timeout=-2",
        "redis://:pw@host:6379/0?socket_timeout=inf",
        "redis://:pw@host:6379/0?max_connections=0",
        "redis://:pw@host:6379/0?health_check_interval=-5",
        "redis://:pw@host:6379/0?protocol=9",
        "rediss://:pw@host:6379/0?ssl_cert_reqs=bogus",
    ],
)
def test_a_bad_redis_url_from_env_names_the_variable(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_framework_adapter_from_env({"KORTYX_REDIS_URL": f"{url}", "REDIS_URL": URL_B})
    assert "KORTYX_REDIS_URL" in str(caught.value)
    assert caught.value.variable == "KORTYX_REDIS_URL"
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis://host",
        "redis://host/",
        "redis://host:6379/15",
        "valkeys://app:pw@host/1?ssl_cert_reqs=none",
        "unix:///run/redis.sock?db=2",
        "redis://host/0?socket_timeout=1.5&max_connections=4&health_check_interval=10",
    ],
)
def test_a_redis_url_redis_py_reads_is_accepted_as_it_is(url: str) -> None:
    adapter = create_framework_adapter_from_env({"KORTYX_REDIS_URL": url})
    assert isinstance(adapter, RedisFrameworkAdapter)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://alice:s3cret@host:6379/0", "redis://alice:***@host:6379/0"),
        ("redis://:s3cret@host:6379", "redis://:***@host:6379"),
        ("rediss://s3cret@host", "rediss://***@host"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("unix:///run/redis.sock?password=s3cret&db=1", "unix:///run/redis.sock?password=***&db=1"),
        ("redis://alice:s3cret@host:notaport", "redis://***"),
        ("redis://[::1:s3cret", "<unparseable URL>"),
    ],
)
def test_redact_url_hides_passwords(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)


_SECRET_PART = st.text(alphabet="QXZJK", min_size=4, max_size=8)
"""A run of a password: letters no scheme, host, option or message of this test uses."""


@st.composite
def _urls_with_a_password(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A Redis URL, well-formed or not, that carries a password -> (url, its runs)."""
    runs = draw(st.lists(_SECRET_PART, min_size=1, max_size=3))
    joiners = st.sampled_from(["", "/", "?", "#", "@", ":", "%2F", "&"])
    password = runs[0] + "".join(draw(joiners) + run for run in runs[1:])
    user = draw(st.sampled_from(["", "app", "alice"]))
    scheme = draw(st.sampled_from(["redis://", "rediss://", "redis:/", "redis//", "", "unix://"]))
    host = draw(st.sampled_from(["cache", "cache:6379", "cache:port", "[::1]:6379", "10.0.0.1"]))
    path = draw(st.sampled_from(["", "/", "/0", "/x"]))
    where = draw(st.sampled_from(["userinfo", "lone", "query", "encoded-query"]))
    if where == "lone" and ":" not in password:  # with one it reads as user:password
        url = f"{scheme}{password}@{host}{path}"
    elif where in ("userinfo", "lone"):
        url = f"{scheme}{user}:{password}@{host}{path}"
    else:  # where an unencoded '&' or '#' would end the value, it is encoded
        key = "password" if where == "query" else "pass%77ord"
        value = password.replace("&", "%26").replace("#", "%23")
        url = f"{scheme}{host}{path}?db=0&{key}={value}&socket_timeout=1"
    return url, runs


def _chain_texts(exc: BaseException | None) -> list[str]:
    """str and repr of ``exc`` and of every exception it carries (cause and context)."""
    texts: list[str] = []
    while exc is not None:
        texts += [str(exc), repr(exc)]
        exc = exc.__cause__ or exc.__context__
    return texts


@settings(max_examples=300, deadline=None)
@given(_urls_with_a_password())
def test_no_url_shows_its_password_in_redact_url_or_an_error(case: tuple[str, list[str]]) -> None:
    url, runs = case
    shown = [redact_url(url)]
    try:
        check_redis_url(url, variable="KORTYX_REDIS_URL")
    except ConfigurationError as exc:
        shown += _chain_texts(exc)  # an error reporter reads the chain too
    for text in shown:
        assert not any(run in text for run in runs), (url, text)


@pytest.mark.parametrize(
    "options",
    [
        {"sockettimeout": 5},
        {"socket_timeout": -1},
        {"max_connections": 0},
        {"decode_responses": True},
        {"protocol": 9},
        ["socket_timeout", 5],
    ],
)
def test_client_options_redis_py_would_refuse_at_the_first_call_are_refused_at_once(
    options: Any,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_redis_framework_adapter(url="redis://127.0.0.1:1/0", client_options=options)
    assert caught.value.variable == "client_options"


def test_client_options_redis_py_takes_are_taken() -> None:
    options = {"client_name": "app", "pool_timeout": 2, "health_check_interval": 10}
    adapter = create_redis_framework_adapter(url="redis://127.0.0.1:1/0", client_options=options)
    adapter.close()


def test_a_tls_option_on_a_plain_url_says_to_use_rediss() -> None:
    with pytest.raises(ConfigurationError, match=r"ssl_keyfile; TLS options .* rediss://"):
        check_redis_url("redis://h:6379/0?ssl_keyfile=/etc/key.pem")
    assert check_redis_url("rediss://h:6379/0?ssl_keyfile=/etc/key.pem")


def test_a_url_set_as_a_ttl_is_refused_without_its_password() -> None:
    env = {"KORTYX_FRAMEWORK_TTL_MS": "redis://app:QXZJKpw@cache:6379/0"}
    with pytest.raises(ConfigurationError) as caught:
        resolve_framework_settings(env)
    assert caught.value.variable == "KORTYX_FRAMEWORK_TTL_MS"
    assert "got a URL (redis://" in str(caught.value)
    assert "QXZJKpw" not in "".join(_chain_texts(caught.value))


def test_settings_never_show_the_password() -> None:
    settings = resolve_framework_settings({"REDIS_URL": "redis://u:hunter2@db:6379/0"})
    assert settings.redis_url == "redis://u:hunter2@db:6379/0"
    for text in (repr(settings), str(settings), settings.describe()):
        assert "hunter2" not in text
        assert "***" in text


def _settings_command(ttl: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "REDIS_URL" not in k and "TTL_MS" not in k}
    env["KORTYX_TTL_MS"] = ttl
    return subprocess.run(
        [sys.executable, "-m", "kortyx_langgraph", "settings"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )


def test_the_settings_command_prints_the_choice() -> None:
    done = _settings_command("60000")
    assert done.returncode == 0
    assert "in-memory" in done.stdout
    assert "ttl_ms=60000 (from KORTYX_TTL_MS)" in done.stdout


def test_the_settings_command_fails_clearly_on_a_bad_ttl() -> None:
    done = _settings_command("later")
    assert done.returncode == 1
    assert "KORTYX_TTL_MS" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("env", ["KORTYX_TTL_MS=5", ["KORTYX_TTL_MS", "5"], 5])
def test_an_env_that_is_not_a_mapping_is_refused_by_name(env: Any) -> None:
    with pytest.raises(ConfigurationError, match="env must be a mapping") as caught:
        create_framework_adapter_from_env(env)
    assert caught.value.variable == "env"
    assert type(env).__name__ in str(caught.value)


def test_a_command_whose_reader_went_away_stops_quietly() -> None:
    """``kortyx-langgraph ... | head -1``: the reader closes the pipe before the command
    writes, which is a quiet stop (exit status 1), not a traceback."""
    env = {k: v for k, v in os.environ.items() if "REDIS_URL" not in k and "TTL_MS" not in k}
    child = subprocess.Popen(
        [sys.executable, "-m", "kortyx_langgraph", "settings"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # before the child has written anything: it takes longer to start
    errors = child.stderr.read().decode()
    assert child.wait(timeout=60) == 1
    assert "BrokenPipeError" not in errors and "Traceback" not in errors, errors
