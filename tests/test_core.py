"""The shared core's pure helpers: reading configs, thread tags, decoding, versions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from kortyx_langgraph import DeserializationError, InvalidConfigError
from kortyx_langgraph.core.ids import read_address, read_thread_id, thread_tag
from kortyx_langgraph.core.records import loads


def test_a_thread_tag_is_a_digest_of_the_thread_id() -> None:
    # the example of the key table in docs/design.md
    assert thread_tag("order:42") == "0ca64247aa69960f"
    tags = {thread_tag(f"thread-{n}") for n in range(1_000)}
    assert len(tags) == 1_000
    assert all(re.fullmatch(r"[0-9a-f]{16}", tag) for tag in tags)


def test_an_int_thread_id_is_read_as_its_digits() -> None:
    assert read_thread_id(42, "delete_thread") == "42"
    assert read_thread_id("t-1", "delete_thread") == "t-1"
    assert read_thread_id("", "delete_thread") == ""  # InMemorySaver takes it too


@pytest.mark.parametrize("value", [True, False, ["t"], 1.5, b"t"])
def test_other_thread_ids_are_read_as_a_graph_names_them(value: Any) -> None:
    assert read_thread_id(value, "delete_thread") == str(value)  # what LangGraph hands on


def test_a_thread_id_of_none_is_refused_naming_the_operation() -> None:
    with pytest.raises(InvalidConfigError, match=r"^delete_thread needs a thread_id, got None$"):
        read_thread_id(None, "delete_thread")


@pytest.mark.parametrize(
    ("configurable", "message"),
    [
        ({"thread_id": "t", "checkpoint_ns": 5}, "^get_tuple: checkpoint_ns must be a string$"),
        ({"thread_id": "t", "checkpoint_id": 5}, "^get_tuple: checkpoint_id must be a string$"),
        ({"thread_id": None}, r"^get_tuple needs configurable\.thread_id: pass config="),
    ],
)
def test_a_bad_config_is_refused_naming_the_operation(
    configurable: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidConfigError, match=message):
        read_address({"configurable": configurable}, "get_tuple")


def test_a_config_without_configurable_is_refused_naming_the_operation() -> None:
    with pytest.raises(InvalidConfigError, match=r"^put needs config=.*no 'configurable' mapping$"):
        read_address({}, "put")  # type: ignore[typeddict-item]


def test_an_undecodable_value_names_what_it_was_and_its_serializer_type() -> None:
    serde = JsonPlusSerializer()
    with pytest.raises(
        DeserializationError,
        match=r"^could not decode the stored checkpoint \(serializer type 'msgpack'\): \w+Error: ",
    ):
        loads(serde, ("msgpack", b"\xc1"), "checkpoint")
    assert loads(serde, serde.dumps_typed([1, "a"]), "checkpoint") == [1, "a"]
