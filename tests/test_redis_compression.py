"""``compression="zlib"``: the same states as LangGraph's own saver, fewer bytes in Redis,
and data written with either setting readable with the other."""

from __future__ import annotations

import hashlib
import uuid
import zlib
from typing import Annotated, Any, TypedDict

import ormsgpack
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from kortyx_langgraph import (
    Compression,
    ConfigurationError,
    DeserializationError,
    RedisFrameworkAdapter,
    create_redis_framework_adapter,
)
from kortyx_langgraph.redis import codec
from kortyx_langgraph.redis.compression import MARK, inflate
from kortyx_langgraph.redis.zdict import ZDICT_V1
from tests.redis_harness import RedisServer
from tests.test_delta_channels import chat_graph as delta_chat_graph

pytestmark = pytest.mark.redis


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _chat_graph(checkpointer: Any) -> Any:
    def reply(state: Chat) -> dict[str, Any]:
        turn = len(state["messages"])
        text = f"reply {turn}: " + "the answer depends on the question " * 12
        return {"messages": [AIMessage(content=text, id=f"ai-{turn}")]}

    builder = StateGraph(Chat)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=checkpointer)


def _turn(graph: Any, config: dict[str, Any], turn: int) -> None:
    graph.invoke({"messages": [HumanMessage(content=f"turn {turn}", id=f"h-{turn}")]}, config)


def _history(graph: Any, config: dict[str, Any]) -> list[Any]:
    return [(s.values, s.next, s.metadata["step"]) for s in graph.get_state_history(config)]


def _adapter(server: RedisServer, prefix: str, compression: Any) -> RedisFrameworkAdapter:
    return create_redis_framework_adapter(url=server.url, prefix=prefix, compression=compression)


def _stored_bytes(server: RedisServer, prefix: str) -> int:
    client = redis.Redis.from_url(server.url)
    try:
        total = 0
        for key in client.scan_iter(match=f"{prefix}*"):
            if client.type(key) == b"hash":
                total += sum(len(v) for v in client.hvals(key))
        return total
    finally:
        client.close()


def test_states_match_langgraphs_saver_and_take_fewer_bytes(
    redis_standalone: RedisServer,
) -> None:
    plain_prefix, squeezed_prefix = (f"kx-{uuid.uuid4().hex[:8]}:" for _ in range(2))
    plain = _adapter(redis_standalone, plain_prefix, None)
    squeezed = _adapter(redis_standalone, squeezed_prefix, "zlib")
    graphs = [_chat_graph(s) for s in (InMemorySaver(), plain, squeezed)]
    config = {"configurable": {"thread_id": "chat"}}
    for turn in range(25):
        for graph in graphs:
            _turn(graph, config, turn)
    reference, *ours = (_history(g, config) for g in graphs)
    assert ours == [reference, reference]
    # a plain and a DeltaChannel transcript both shrink
    delta_plain, delta_squeezed = delta_chat_graph(plain), delta_chat_graph(squeezed)
    delta_config = {"configurable": {"thread_id": "delta"}}
    for _ in range(12):
        delta_plain.invoke({}, delta_config)
        delta_squeezed.invoke({}, delta_config)
    assert _history(delta_squeezed, delta_config) == _history(delta_plain, delta_config)
    assert _stored_bytes(redis_standalone, squeezed_prefix) < 0.8 * _stored_bytes(
        redis_standalone, plain_prefix
    )
    plain.close()
    squeezed.close()


@pytest.mark.parametrize("first,then", [(None, "zlib"), ("zlib", None)])
def test_a_thread_goes_on_when_the_setting_changes(
    redis_standalone: RedisServer, first: Any, then: Any
) -> None:
    prefix = f"kx-{uuid.uuid4().hex[:8]}:"
    reference = _chat_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "chat"}}
    before = _adapter(redis_standalone, prefix, first)
    for turn in range(6):
        _turn(_chat_graph(before), config, turn)
        _turn(reference, config, turn)
    before.close()
    # a deploy flips the setting: another process reads and extends the same thread
    after = _adapter(redis_standalone, prefix, then)
    for turn in range(6, 10):
        _turn(_chat_graph(after), config, turn)
        _turn(reference, config, turn)
    assert _history(_chat_graph(after), config) == _history(reference, config)
    after.close()


def test_a_corrupted_compressed_value_is_a_typed_error(redis_standalone: RedisServer) -> None:
    prefix = f"kx-{uuid.uuid4().hex[:8]}:"
    adapter = _adapter(redis_standalone, prefix, Compression(min_bytes=0))
    config = {"configurable": {"thread_id": "chat"}}
    _turn(_chat_graph(adapter), config, 0)
    client = redis.Redis.from_url(redis_standalone.url)
    try:
        [cp_key] = client.keys(f"{prefix}*:cp")
        for field, value in client.hgetall(cp_key).items():
            header, body, writes = codec.split_record(value)
            assert body[:1] == b"\xc1", "the body is stored compressed"
            bad = b"\xc1not zlib"
            client.hset(
                cp_key, field, value[:4] + header + len(bad).to_bytes(4, "big") + bad + writes
            )
        with pytest.raises(DeserializationError, match="corrupted"):
            adapter.get_tuple(config)
    finally:
        client.close()
        adapter.close()


@given(st.binary(max_size=3000), st.integers(1, 9))
def test_every_value_comes_back_from_either_compressed_form(payload: bytes, level: int) -> None:
    data = ormsgpack.packb(payload)  # what is stored is MessagePack, never starting with 0xC1
    squeezed = Compression(level=level, min_bytes=0).squeeze(data)
    assert inflate(squeezed, "value") == data
    # written before the preset dictionary: a zlib stream behind the mark
    assert inflate(MARK + zlib.compress(data, level), "value") == data


def test_the_preset_dictionary_shrinks_a_small_record_and_never_changes() -> None:
    serde = JsonPlusSerializer()
    write = ormsgpack.packb(
        ["messages", *serde.dumps_typed([AIMessage(content="Done: the order ships on Monday.")])]
    )
    squeezed = Compression(min_bytes=0).squeeze(write)
    assert squeezed[:2] == MARK + b"\x01"
    assert len(squeezed) < len(zlib.compress(write, 1)) * 0.6
    # values stored with it need these exact bytes to be read back
    assert hashlib.sha256(ZDICT_V1).hexdigest() == (
        "2e1856ddfc58e49a79a16cc75324639c3247bbe2de7c9912c350cea607aa26ce"
    )


@pytest.mark.parametrize("cut", [1, 3, 10])
def test_a_truncated_compressed_value_is_a_typed_error(cut: int) -> None:
    squeezed = Compression(min_bytes=0).squeeze(b"hello world " * 40)
    with pytest.raises(DeserializationError, match="corrupted"):
        inflate(squeezed[:-cut], "value")


@pytest.mark.parametrize("bad", ["gzip", True, 1])
def test_an_unknown_compression_is_a_configuration_error(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="compression") as raised:
        create_redis_framework_adapter(url="redis://127.0.0.1:1/0", compression=bad)
    assert raised.value.variable == "compression"


@pytest.mark.parametrize("bad", [{"level": 0}, {"level": 10}, {"min_bytes": -1}])
def test_a_compression_out_of_range_is_a_configuration_error(bad: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError, match="Compression"):
        Compression(**bad)
