"""What the pending store must agree with: LangGraph's own view of a thread's interrupts."""

from __future__ import annotations

from typing import Any

from kortyx_langgraph import FrameworkAdapter


def config_of(thread_id: str) -> dict[str, Any]:
    """The config of a thread's latest checkpoint."""
    return {"configurable": {"thread_id": thread_id}}


def typed(value: Any) -> Any:
    """``value`` with the type of each part beside it, to compare with ``==``: alone, ``==``
    takes ``b"x"`` for ``bytearray(b"x")`` and ``1`` for ``1.0`` and ``True``."""
    if isinstance(value, dict):
        return (type(value), [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value), [typed(item) for item in value])
    if isinstance(value, set | frozenset):
        return (type(value), sorted(repr(typed(item)) for item in value))
    return (type(value), value)


def langgraph_view(graph: Any, thread_id: str) -> list[tuple[str, Any, Any]]:
    """``(id, value, response_schema)`` of every interrupt ``get_state`` lists, by id, the
    values :func:`typed`."""
    state = graph.get_state(config_of(thread_id))
    return sorted(
        ((i.id, typed(i.value), typed(i.response_schema)) for i in state.interrupts),
        key=lambda t: t[0],
    )


def store_view(adapter: FrameworkAdapter, thread_id: str) -> list[tuple[str, Any, Any]]:
    """The same triple for every record ``pending.list`` holds, by id."""
    return sorted(
        (
            (p.interrupt_id, typed(p.value), typed(p.response_schema))
            for p in adapter.pending.list(thread_id)
        ),
        key=lambda t: t[0],
    )


def assert_agrees(graph: Any, adapter: FrameworkAdapter, thread_id: str) -> None:
    """The store lists exactly what LangGraph lists, one record (and token) per interrupt."""
    records = adapter.pending.list(thread_id)
    assert len({p.token for p in records}) == len(records)
    assert store_view(adapter, thread_id) == langgraph_view(graph, thread_id)
