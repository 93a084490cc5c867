"""Environment -> :class:`FrameworkSettings`: which backend, which URL, which TTL, and why.

:func:`resolve_framework_settings` is a pure function over a mapping (``os.environ`` by
default), so what ``create_framework_adapter_from_env`` will choose can be printed, logged or
tested without connecting to anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from kortyx_langgraph.errors import ConfigurationError
from kortyx_langgraph.settings import DEFAULT_TTL_MS, check_redis_url, parse_ttl_ms, redact_url

REDIS_URL_VARIABLES: tuple[str, ...] = (
    "KORTYX_REDIS_URL",
    "REDIS_URL",
    "KORTYX_FRAMEWORK_REDIS_URL",
)
"""Looked up in this order; the first one set to a non-blank value selects Redis."""

TTL_VARIABLES: tuple[str, ...] = ("KORTYX_FRAMEWORK_TTL_MS", "KORTYX_TTL_MS")
"""Looked up in this order; the first one present decides the TTL (a blank one is an error)."""

Backend = Literal["in-memory", "redis"]


@dataclass(frozen=True)
class FrameworkSettings:
    """What the environment selects, with the variable each choice came from.

    ``redis_url`` holds the URL as given (it may carry a password); it is left out of
    ``repr``. Show :attr:`redis_url_redacted` instead, or call :meth:`describe`.
    """

    backend: Backend
    ttl_ms: int
    ttl_source: str
    """The variable the TTL came from, or ``"default"``."""
    url_source: str | None = None
    """The variable the Redis URL came from; ``None`` for the in-memory backend."""
    redis_url: str | None = field(default=None, repr=False)

    @property
    def redis_url_redacted(self) -> str | None:
        """The Redis URL with its password replaced by ``***``."""
        return None if self.redis_url is None else redact_url(self.redis_url)

    def describe(self) -> str:
        """One human-readable line: backend, where it came from, and the TTL."""
        if self.backend == "redis":
            where = f"redis at {self.redis_url_redacted} (from {self.url_source})"
        else:
            names = ", ".join(REDIS_URL_VARIABLES)
            where = f"in-memory (none of {names} is set)"
        return f"{where}; ttl_ms={self.ttl_ms} (from {self.ttl_source})"

    def __repr__(self) -> str:
        return (
            f"FrameworkSettings(backend={self.backend!r}, ttl_ms={self.ttl_ms}, "
            f"ttl_source={self.ttl_source!r}, url_source={self.url_source!r}, "
            f"redis_url={self.redis_url_redacted!r})"
        )


def resolve_framework_settings(env: Mapping[str, str] | None = None) -> FrameworkSettings:
    """Read the settings from ``env`` (default: ``os.environ``) without side effects.

    Raises :class:`~kortyx_langgraph.errors.ConfigurationError` naming the variable when a
    TTL variable holds anything but a positive whole number of milliseconds, or the chosen
    Redis URL variable holds something that is not a Redis URL.
    """
    if env is not None and not isinstance(env, Mapping):
        raise ConfigurationError(
            "env must be a mapping of environment variable names to values (such as "
            f"os.environ or a dict), not {type(env).__name__}",
            variable="env",
        )
    source: Mapping[str, str] = os.environ if env is None else env
    ttl_ms, ttl_source = DEFAULT_TTL_MS, "default"
    for name in TTL_VARIABLES:
        if name in source:
            ttl_ms, ttl_source = parse_ttl_ms(source[name], variable=name), name
            break
    for name in REDIS_URL_VARIABLES:
        url = source.get(name, "").strip()
        if url:
            return FrameworkSettings(
                backend="redis",
                ttl_ms=ttl_ms,
                ttl_source=ttl_source,
                url_source=name,
                redis_url=check_redis_url(url, variable=name),
            )
    return FrameworkSettings(backend="in-memory", ttl_ms=ttl_ms, ttl_source=ttl_source)


__all__ = [
    "REDIS_URL_VARIABLES",
    "TTL_VARIABLES",
    "FrameworkSettings",
    "resolve_framework_settings",
]
