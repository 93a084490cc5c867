"""How long a LangGraph server keeps its own thread records, and whether our TTL fits it.

A LangGraph server (``langgraph dev``, the Agent Server) keeps a record of every thread
beside the checkpoints it asks the saver for. When the saver forgets a thread before the
server does, the server still lists the thread and accepts a resume for it, and the run then
fails inside LangGraph (the resume meets a thread with no checkpoint). This module reads the
server's thread TTL from its settings (``LANGGRAPH_THREAD_TTL``, else ``checkpointer.ttl`` of
``langgraph.json``, which the server receives as ``LANGGRAPH_CHECKPOINTER``) and says whether
our TTL outlives it. Pure functions; nothing here imports the server.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kortyx_langgraph.errors import ConfigurationError

_MINUTE_MS = 60_000


@dataclass(frozen=True)
class ServerThreadTTL:
    """The server's thread expiry as configured: what it keeps, for how long, from where."""

    ttl_ms: int | None
    """How long the server keeps a thread, ``None`` when it keeps threads forever."""
    strategy: str
    """``"delete"`` (thread and data go) or ``"keep_latest"`` (the thread record stays)."""
    sweep_interval_ms: int
    """How often the server looks for expired threads (0 when not configured)."""
    source: str
    """Where the setting came from: a variable name, ``checkpointer.ttl``, or ``"none"``."""
    expires_threads: bool = True
    """False when the runtime never deletes threads whatever is configured (``langgraph dev``)."""

    @property
    def keeps_records_ms(self) -> int | None:
        """The longest the server may keep a thread record; ``None`` for forever."""
        if not self.expires_threads or self.ttl_ms is None or self.strategy != "delete":
            return None
        return self.ttl_ms + self.sweep_interval_ms


NUMERIC_TTL_SWEEP_MINUTES = 5.1
"""The sweep interval a server gives a thread TTL set as a number of minutes
(``LANGGRAPH_THREAD_TTL=60``), as langgraph-api 0.16 reads it: a record can outlive its TTL
by that much."""


def _minutes_to_ms(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{where} must be a positive number of minutes, got {value!r}")
    if not math.isfinite(value):
        raise ConfigurationError(f"{where} must be a finite number of minutes, got {value!r}")
    return math.ceil(value * _MINUTE_MS)


def _from_ttl_object(ttl: Any, source: str) -> ServerThreadTTL:
    if ttl is None:
        return ServerThreadTTL(None, "delete", 0, "none")
    if not isinstance(ttl, Mapping):
        raise ConfigurationError(f"{source} must be an object, got {ttl!r}")
    strategy = ttl.get("strategy", "delete")
    default_ttl = ttl.get("default_ttl")
    ttl_ms = None if default_ttl is None else _minutes_to_ms(default_ttl, f"{source}.default_ttl")
    sweep = ttl.get("sweep_interval_minutes")
    sweep_ms = 0 if sweep is None else _minutes_to_ms(sweep, f"{source}.sweep_interval_minutes")
    return ServerThreadTTL(ttl_ms, str(strategy), sweep_ms, source)


def server_thread_ttl_from_config(config: Mapping[str, Any]) -> ServerThreadTTL:
    """The thread TTL a ``langgraph.json`` document sets (``checkpointer.ttl``)."""
    checkpointer = config.get("checkpointer") or {}
    if not isinstance(checkpointer, Mapping):
        raise ConfigurationError(f"checkpointer must be an object, got {checkpointer!r}")
    return _from_ttl_object(checkpointer.get("ttl"), "checkpointer.ttl")


def server_thread_ttl_from_env(env: Mapping[str, str]) -> ServerThreadTTL:
    """The thread TTL a server process runs with, read as the server reads it.

    ``LANGGRAPH_THREAD_TTL`` (minutes, or a JSON object) wins over ``checkpointer.ttl``
    (``LANGGRAPH_CHECKPOINTER``). ``langgraph dev`` (``LANGGRAPH_RUNTIME_EDITION=inmem``)
    never deletes threads, whatever is configured.
    """
    raw = env.get("LANGGRAPH_THREAD_TTL", "").strip()
    if raw.startswith("{"):
        found = _from_ttl_object(_json_object(raw, "LANGGRAPH_THREAD_TTL"), "LANGGRAPH_THREAD_TTL")
    elif raw:
        try:
            minutes = float(raw)
        except ValueError:
            raise ConfigurationError(
                f"LANGGRAPH_THREAD_TTL must be minutes or a JSON object, got {raw!r}",
                variable="LANGGRAPH_THREAD_TTL",
            ) from None
        found = ServerThreadTTL(
            _minutes_to_ms(minutes, "LANGGRAPH_THREAD_TTL"),
            "delete",
            _minutes_to_ms(NUMERIC_TTL_SWEEP_MINUTES, "LANGGRAPH_THREAD_TTL"),
            "LANGGRAPH_THREAD_TTL",
        )
    else:
        checkpointer = env.get("LANGGRAPH_CHECKPOINTER", "").strip()
        document = _json_object(checkpointer, "LANGGRAPH_CHECKPOINTER") if checkpointer else {}
        found = server_thread_ttl_from_config({"checkpointer": document})
    if env.get("LANGGRAPH_RUNTIME_EDITION", "").strip() == "inmem":
        return ServerThreadTTL(
            found.ttl_ms, found.strategy, found.sweep_interval_ms, found.source, False
        )
    return found


def _json_object(raw: str, variable: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigurationError(f"{variable} is not valid JSON", variable=variable) from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{variable} must be a JSON object", variable=variable)
    return value


def ttl_mismatch(our_ttl_ms: int | None, server: ServerThreadTTL) -> str | None:
    """Why a thread may outlive its checkpoints on this server, or ``None`` when it cannot.

    Our TTL must be at least as long as the server may keep a thread record (its TTL plus
    its sweep interval, strategy ``delete``); a server that keeps records forever only fits
    an adapter that keeps threads forever (``ttl_ms=None``).
    """
    if our_ttl_ms is None:
        return None
    keeps = server.keeps_records_ms
    if keeps is not None and our_ttl_ms >= keeps:
        return None
    lost = (
        f"ttl_ms={our_ttl_ms}: a thread idle longer than {our_ttl_ms} ms is still listed "
        "by the server, but its checkpoints are gone and resuming it fails inside LangGraph"
    )
    if not server.expires_threads:
        return (
            f"{lost}. langgraph dev never deletes thread records, whatever checkpointer.ttl "
            "says; raise KORTYX_FRAMEWORK_TTL_MS above the longest pause you need."
        )
    fix = (
        'set checkpointer.ttl in langgraph.json to {"strategy": "delete", "default_ttl": '
        "<minutes>} with default_ttl plus sweep_interval_minutes at most our TTL, or raise "
        "KORTYX_FRAMEWORK_TTL_MS (the only fix under langgraph dev, which never deletes "
        "thread records)"
    )
    if server.ttl_ms is None:
        why = "the server has no thread TTL (neither checkpointer.ttl nor LANGGRAPH_THREAD_TTL)"
    elif server.strategy != "delete":
        why = f"the server's thread TTL strategy {server.strategy!r} keeps the thread record"
    else:
        why = (
            f"the server keeps a thread up to {keeps} ms (ttl {server.ttl_ms} ms + sweep "
            f"interval {server.sweep_interval_ms} ms, from {server.source})"
        )
    return f"{lost}; {why}. To fix: {fix}."


__all__ = [
    "ServerThreadTTL",
    "server_thread_ttl_from_config",
    "server_thread_ttl_from_env",
    "ttl_mismatch",
]
