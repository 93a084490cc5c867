"""Each thread script carries the prelude helpers it uses, and only those."""

from __future__ import annotations

import re

import pytest

from kortyx_langgraph.redis import scripts

THREAD_SCRIPTS = [
    value
    for value in vars(scripts).values()
    if isinstance(value, scripts.Script)
    and getattr(scripts, "_" + value.name.upper()) in value.source
]
HELPERS = [name for name, _ in scripts._helpers(scripts._PRELUDE)]


def _definition(source: str, name: str) -> int:
    """Where ``source`` defines ``name`` at the top level, or -1."""
    found = re.search(rf"^local (?:function )?{name}\b", source, re.MULTILINE)
    return found.start() if found else -1


def test_the_prelude_is_split_into_every_definition_it_holds() -> None:
    assert len(HELPERS) == len(set(HELPERS)) > 30
    assert "".join(source for _, source in scripts._helpers(scripts._PRELUDE)) == scripts._PRELUDE
    assert {"refresh", "head", "WANTED", "apply_interrupts", "hset_from_argv"} <= set(HELPERS)


@pytest.mark.parametrize("script", THREAD_SCRIPTS, ids=lambda s: s.name)
def test_a_script_defines_each_helper_it_names_before_it_is_used(script: scripts.Script) -> None:
    code = re.sub(r"--[^\n]*", lambda m: " " * len(m.group()), script.source)  # no comments
    for name in HELPERS:
        uses = [m.start() for m in re.finditer(rf"\b{name}\b", code)]
        at = _definition(code, name)
        if not uses:
            continue
        assert at >= 0, f"{script.name} uses {name} without defining it"
        assert uses[0] >= at, f"{script.name} uses {name} before defining it"


def test_a_script_leaves_out_the_helpers_it_does_not_use() -> None:
    write_thread = scripts.WRITE_THREAD.source
    assert _definition(write_thread, "apply_interrupts") == -1
    assert _definition(write_thread, "head") == -1
    assert _definition(write_thread, "refresh") >= 0
    put = scripts.PUT.source
    assert _definition(put, "apply_interrupts") == -1  # only put_writes records interrupts
    assert _definition(scripts.PUT_WRITES.source, "apply_interrupts") >= 0
    assert len(put) < len(scripts._PRELUDE) + len(scripts._PUT)


def test_the_commands_read_from_the_scripts_are_those_they_run() -> None:
    expected = {"HSET", "HGET", "HDEL", "HGETALL", "HMGET", "HEXISTS", "HSTRLEN", "HSETNX"}
    expected |= {"HKEYS", "HINCRBY", "ZADD", "ZREM", "ZRANGE", "ZRANGEBYLEX", "ZREVRANGEBYLEX"}
    expected |= {"EXISTS", "DEL", "PEXPIRE", "PTTL", "TIME"}
    assert expected == scripts.SCRIPT_COMMANDS
    assert {"PEXPIRETIME"} == scripts.OPTIONAL_SCRIPT_COMMANDS


def test_doctor_tries_every_command_the_scripts_run() -> None:
    from kortyx_langgraph.redis import doctor

    assert scripts.SCRIPT_COMMANDS <= doctor._PROBED
