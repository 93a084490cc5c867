"""Any value LangGraph takes for an interrupt is listed by the pending store as ``get_state``
reports it, type included, and the same after ``copy_thread`` made by a process that did
not compile the graph: on every backend, with LangGraph's default serializer and with its
strict msgpack allowlist (``LANGGRAPH_STRICT_MSGPACK``), where only the types of a compiled
graph's state schema are rebuilt."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from kortyx_langgraph import FrameworkAdapter
from tests.pending_truth import assert_agrees, config_of, typed


class Invoice(pydantic.BaseModel):
    """A model of the state schema: strict msgpack rebuilds it for a compiled graph only."""

    number: str
    amount: int


@dataclasses.dataclass
class Parcel:
    """A dataclass of the state schema."""

    weight: int
    label: str


class Blob(bytes):
    """A subclass of ``bytes``: LangGraph's serializer stores a top-level one as it is."""


class State(TypedDict, total=False):
    item: Invoice | Parcel | list[Invoice] | bytes | bytearray | dict[str, Any]
    blob: bytes
    answer: Any


def _ask(state: State) -> State:
    return {"blob": Blob(b"\x89PNG"), "answer": interrupt(state["item"])}


def _graph(checkpointer: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("ask", _ask)
    builder.add_edge(START, "ask")
    return builder.compile(checkpointer=checkpointer)


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # what msgpack holds
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.binary(max_size=8).map(bytearray),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.uuids(),
    st.datetimes(timezones=st.sampled_from([None, datetime.UTC])),
    st.builds(Invoice, number=st.text(max_size=4), amount=st.integers(0, 10**6)),
    st.builds(Parcel, weight=st.integers(0, 100), label=st.text(max_size=4)),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
    ),
    max_leaves=6,
)


@pytest.fixture(params=["default", "strict"])
def serde_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "strict":
        # what LANGGRAPH_STRICT_MSGPACK=true sets when langgraph is imported: compile()
        # then gives the checkpointer the state schema's types
        import langgraph._internal._serde as lg_serde

        monkeypatch.setattr(lg_serde, "STRICT_MSGPACK_ENABLED", True)
    return str(request.param)


def _serde(kind: str) -> JsonPlusSerializer:
    return (
        JsonPlusSerializer(allowed_msgpack_modules=None)
        if kind == "strict"
        else (JsonPlusSerializer())
    )


@pytest.fixture
def pair(
    make_adapter: Callable[..., FrameworkAdapter], serde_kind: str
) -> Iterator[tuple[FrameworkAdapter, FrameworkAdapter]]:
    """The adapter a graph is compiled with, and one that did not compile it (another
    process's on Redis; in memory, where nothing is shared, the same one)."""
    adapter = make_adapter(serde=_serde(serde_kind))
    other = adapter if adapter.kind == "in-memory" else make_adapter(serde=_serde(serde_kind))
    yield adapter, other


def test_every_value_is_listed_as_get_state_reports_it_and_so_is_a_copy(
    pair: tuple[FrameworkAdapter, FrameworkAdapter], serde_kind: str
) -> None:
    adapter, other = pair
    graph = _graph(adapter)
    reference = _graph(InMemorySaver(serde=_serde(serde_kind)))

    @settings(
        max_examples=25 if adapter.kind == "in-memory" else 12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(value=VALUES, answer=VALUES)
    @example(value=bytearray(b"x"), answer=None)  # nested in the write, it reads as bytes
    def check(value: Any, answer: Any) -> None:
        thread, copy = f"t-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
        graph.invoke({"item": value}, config_of(thread))
        assert_agrees(graph, adapter, thread)
        other.copy_thread(thread, copy)
        assert_agrees(graph, adapter, copy)

        # the run resumes from the store's record, and ends as on InMemorySaver
        [record] = adapter.pending.list(copy)
        resumed = graph.invoke(Command(resume={record.interrupt_id: answer}), config_of(copy))
        alone = f"r-{uuid.uuid4().hex}"
        reference.invoke({"item": value}, config_of(alone))
        [pause] = reference.get_state(config_of(alone)).interrupts
        expected = reference.invoke(Command(resume={pause.id: answer}), config_of(alone))
        assert typed(resumed["answer"]) == typed(expected["answer"])
        assert resumed["blob"] == expected["blob"] == b"\x89PNG"
        assert adapter.pending.list(copy) == []

    check()
