"""Reading ids out of LangGraph configs, and the short thread tag used for routing.

LangGraph hands the saver a ``RunnableConfig``; the ids it needs sit under
``config["configurable"]``. These helpers read them once, with a typed error that names the
missing key instead of a bare ``KeyError`` deep inside a backend.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

from langchain_core.runnables import RunnableConfig

from kortyx_langgraph.errors import InvalidConfigError

ROOT_NS = ""
"""The namespace of the top-level graph; subgraphs get ``"node:task_id"``-style ones."""


class CheckpointAddress(NamedTuple):
    """Where a checkpoint lives: thread, namespace and (when known) checkpoint id."""

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str | None


def _configurable(config: RunnableConfig | None, operation: str) -> dict[str, Any]:
    configurable = (config or {}).get("configurable")
    if not isinstance(configurable, dict):
        raise InvalidConfigError(
            f"{operation} needs config={{'configurable': {{'thread_id': ...}}}}; "
            "the config has no 'configurable' mapping"
        )
    return configurable


def _checked_text(value: str, what: str, operation: str) -> str:
    """``value`` if it can be stored: UTF-8 encodable (no lone surrogate such as ``"\\ud800"``)."""
    if value.isascii():  # the common case, known without encoding anything
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidConfigError(
            f"{operation}: {what} must be valid Unicode text; it contains a lone surrogate "
            "code point, which no storage encoding can represent"
        ) from None
    return value


def read_thread_id(value: object, operation: str) -> str:
    """Validate a thread id given directly (``delete_thread("t-1")`` and friends).

    Accepts what ``InMemorySaver`` accepts, and stores it as LangGraph's graphs name it: a
    string as it is (the empty one too), any other value as ``str(value)``, which is the
    thread id a graph run with ``{"thread_id": value}`` hands the saver (``7`` and ``"7"``,
    ``1.5`` and ``"1.5"`` are one thread). ``None`` names no thread.
    """
    if isinstance(value, str):
        return _checked_text(value, "thread_id", operation)
    if value is None:
        raise InvalidConfigError(f"{operation} needs a thread_id, got None")
    return _checked_text(str(value), "thread_id", operation)


def read_address(config: RunnableConfig | None, operation: str) -> CheckpointAddress:
    """Return the thread, namespace and optional checkpoint id named by ``config``."""
    configurable = _configurable(config, operation)
    if configurable.get("thread_id") is None:
        raise InvalidConfigError(
            f"{operation} needs configurable.thread_id: pass "
            "config={'configurable': {'thread_id': '<your thread id>'}}"
        )
    thread_id = read_thread_id(configurable["thread_id"], operation)
    namespace = configurable.get("checkpoint_ns")
    if namespace is None:
        namespace = ROOT_NS
    elif not isinstance(namespace, str):  # 0 and b"" too: not the root namespace
        raise InvalidConfigError(f"{operation}: checkpoint_ns must be a string")
    checkpoint_id = configurable.get("checkpoint_id") or None
    if checkpoint_id is not None and not isinstance(checkpoint_id, str):
        raise InvalidConfigError(f"{operation}: checkpoint_id must be a string")
    _checked_text(namespace, "checkpoint_ns", operation)
    if checkpoint_id is not None:
        _checked_text(checkpoint_id, "checkpoint_id", operation)
    return CheckpointAddress(thread_id, namespace, checkpoint_id)


def read_before_id(before: RunnableConfig | None) -> str | None:
    """The checkpoint id of ``list(before=...)``: only that id is read, as ``InMemorySaver`` does.

    LangGraph replays into subgraphs with ``before={"configurable": {"checkpoint_id": ...}}``,
    without a thread id, so nothing else of ``before`` may be required. The flat form a
    LangGraph server hands its clients as a state's ``checkpoint`` (``thread_id``,
    ``checkpoint_ns``, ``checkpoint_id``, no ``configurable``), which its SDK passes on as
    ``get_history(before=...)``, is read too: paging a history with it moves on. ``None``
    (no bound) when ``before`` is ``None``, has neither form, or names no checkpoint id.
    """
    configurable = (before or {}).get("configurable")
    if configurable is None and before and "checkpoint_id" in before:
        configurable = dict(before)
    if not isinstance(configurable, dict):
        return None
    checkpoint_id = configurable.get("checkpoint_id") or None
    if checkpoint_id is not None and not isinstance(checkpoint_id, str):
        raise InvalidConfigError("list(before=...): checkpoint_id must be a string")
    return None if checkpoint_id is None else _checked_text(checkpoint_id, "checkpoint_id", "list")


def read_write_target(config: RunnableConfig, operation: str) -> CheckpointAddress:
    """Like :func:`read_address`, but the checkpoint id is required (``put_writes``)."""
    address = read_address(config, operation)
    if address.checkpoint_id is None:
        raise InvalidConfigError(f"{operation} needs configurable.checkpoint_id")
    return address


def namespace_filter(config: RunnableConfig | None) -> str | None:
    """The namespace ``list`` should keep: ``None`` when the config names none (all of them).

    ``checkpoint_ns=""`` is the root namespace, not "no filter".
    """
    configurable = (config or {}).get("configurable")
    namespace = configurable.get("checkpoint_ns") if isinstance(configurable, dict) else None
    return namespace if isinstance(namespace, str) else None


def checkpoint_config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    """The config LangGraph expects back from ``put`` and inside a ``CheckpointTuple``."""
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def thread_tag(thread_id: str) -> str:
    """A 16-hex-digit digest of the thread id.

    Redis keys of one thread share it as their hash tag (one Cluster slot per thread), and a
    pending-interrupt token carries it so the token resolves in O(1) without revealing the
    thread id. Collisions only co-locate two threads; keys still carry the full thread id.
    """
    return hashlib.blake2b(thread_id.encode("utf-8"), digest_size=8).hexdigest()
