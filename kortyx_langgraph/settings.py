"""Strict parsing of the settings every adapter shares: the TTL and the Redis URL.

Both the factories' keyword arguments and the environment go through these functions, so a
value is accepted or refused the same way wherever it comes from. A refused value raises
:class:`~kortyx_langgraph.errors.ConfigurationError` naming the variable and the value;
nothing falls back to a default silently.
"""

from __future__ import annotations

import inspect
import math
import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from kortyx_langgraph.errors import ConfigurationError

DEFAULT_TTL_MS = 15 * 60 * 1000
"""Fifteen minutes: how long a paused thread is kept when nothing else is said."""

MAX_TTL_MS = 100 * 365 * 24 * 3600 * 1000
"""About a century: longer TTLs overflow Redis's millisecond clock arithmetic."""

_WHOLE_NUMBER = re.compile(r"[0-9]+")
_REDACTED = "***"


def parse_ttl_ms(value: object, *, variable: str = "ttl_ms") -> int:
    """Return ``value`` as a TTL in whole milliseconds, or raise ``ConfigurationError``.

    Accepts a positive ``int`` or a string of decimal digits (surrounding blanks are ignored).
    Refuses ``bool``, floats (even ``2.0``), ``NaN``, infinities, zero, negatives, fractions,
    blanks and anything above :data:`MAX_TTL_MS`. ``None`` (no expiry) is not handled here:
    callers decide whether it is allowed.
    """
    if isinstance(value, bool):
        raise ConfigurationError(
            f"{variable} must be a whole number of milliseconds, got the boolean {value!r}",
            variable=variable,
        )
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not _WHOLE_NUMBER.fullmatch(text):
            shown = repr(value) if text else "an empty value"
            if "://" in text:  # a Redis URL set in the wrong variable: its password stays hidden
                shown = f"a URL ({redact_url(text)})"
            raise ConfigurationError(
                f"{variable} must be a positive whole number of milliseconds, got {shown}",
                variable=variable,
            )
        number = int(text)
    elif isinstance(value, float):
        kind = "a non-finite number" if not math.isfinite(value) else "a float"
        raise ConfigurationError(
            f"{variable} must be a whole number of milliseconds (an int), got {kind} {value!r}",
            variable=variable,
        )
    else:
        raise ConfigurationError(
            f"{variable} must be an int number of milliseconds, got {type(value).__name__}",
            variable=variable,
        )
    if number <= 0:
        raise ConfigurationError(
            f"{variable} must be positive, got {number}; "
            + (
                "pass ttl_ms=None for no expiry"
                if variable == "ttl_ms"
                else "an environment variable cannot turn expiry off (ttl_ms=None in code does)"
            ),
            variable=variable,
        )
    if number > MAX_TTL_MS:
        raise ConfigurationError(
            f"{variable} is {number} ms, above the maximum of {MAX_TTL_MS} ms",
            variable=variable,
        )
    return number


def resolve_ttl_ms(value: object, *, variable: str = "ttl_ms") -> int | None:
    """Like :func:`parse_ttl_ms` but lets ``None`` through, meaning "never expire"."""
    if value is None:
        return None
    return parse_ttl_ms(value, variable=variable)


REDIS_URL_SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")


def check_redis_url(url: object, *, variable: str = "url") -> str:
    """Validate a Redis URL without connecting; errors show it with its password hidden."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"{variable} must be a non-empty Redis URL", variable=variable)
    url = url.strip()
    shown = redact_url(url)
    reason: str | None = None
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        # the parser's text quotes the part it could not read, which may be a password
        reason = (
            "its host or port cannot be read; a password that holds '/', '?', '#' or '@' "
            "must be percent-encoded"
            if "@" in url
            else str(exc)
        )
    if reason is not None:  # raised here, the error carries no parser error as its context
        raise ConfigurationError(
            f"{variable} is not a valid Redis URL ({shown}): {reason}", variable=variable
        )
    if "://" not in url and parts.scheme != "unix":
        raise ConfigurationError(
            f"{variable} ({shown}) has no '://' after its scheme: write it as "
            "redis://[[user]:password@]host[:port][/db]",
            variable=variable,
        )
    if parts.scheme not in REDIS_URL_SCHEMES:
        schemes = ", ".join(f"{s}://" for s in REDIS_URL_SCHEMES)
        raise ConfigurationError(
            f"{variable} has an unsupported scheme ({shown}); use one of {schemes}",
            variable=variable,
        )
    if parts.scheme == "unix" and not parts.path:
        raise ConfigurationError(f"{variable} names no socket path ({shown})", variable=variable)
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigurationError(f"{variable} names no host ({shown})", variable=variable)
    if parts.scheme != "unix" and not _DB_PATH.fullmatch(unquote(parts.path)):
        raise ConfigurationError(
            f"{variable} names no valid database ({shown}): after the host comes nothing, "
            "or / and a database number",
            variable=variable,
        )
    _check_options(url, variable, shown)
    return url


_DB_PATH = re.compile(r"(/[0-9]*)?")


def _check_options(url: str, variable: str, shown: str) -> None:
    """The URL's query options, checked as redis-py reads them: each a known connection
    option, with a value of its type (redis-py itself would say so only at the first call)."""
    import redis.connection

    refused: str | None = None
    try:
        options = redis.connection.parse_url(redis_py_url(url))  # type: ignore[no-untyped-call]
    except ValueError as exc:
        refused = str(exc)
    if refused is not None:  # raised here, with no context that could quote the URL
        raise ConfigurationError(
            f"{variable} has an option redis-py cannot read ({shown}): {refused}",
            variable=variable,
        )
    connection_class = options.pop("connection_class", redis.connection.Connection)
    known = {"connection_class"} | _parameters(*connection_class.__mro__)
    known |= _parameters(redis.connection.ConnectionPool)
    unknown = sorted(set(options) - known)
    if unknown:
        hint = (
            "; TLS options (ssl_*) need a rediss:// URL"
            if any(name.startswith("ssl_") for name in unknown)
            and urlsplit(url).scheme.lower() in ("redis", "valkey")
            else ""
        )
        raise ConfigurationError(
            f"{variable} ({shown}) has options redis-py does not know: {', '.join(unknown)}" + hint,
            variable=variable,
        )
    for name, value in options.items():
        problem = _option_problem(name, value)
        if problem:
            raise ConfigurationError(
                f"{variable} ({shown}) has {name}={value!r}: {problem}", variable=variable
            )
    if "decode_responses" in options:
        # redis-py lets the URL's options override the client's, and reads this one's
        # value as text: even "false" would decode every stored value
        raise ConfigurationError(
            f"{variable} ({shown}) asks for decode_responses: the adapter stores bytes and "
            "reads them back as bytes; remove the option from the URL",
            variable=variable,
        )


def _parameters(*classes: type) -> set[str]:
    """The keyword parameters of the ``__init__`` of each of ``classes`` that defines one."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    found: set[str] = set()
    for cls in classes:
        if "__init__" in vars(cls):
            parameters = inspect.signature(vars(cls)["__init__"]).parameters.values()
            found.update(p.name for p in parameters if p.kind in named and p.name != "self")
    return found


def check_client_options(options: object) -> dict[str, Any]:
    """``client_options`` if redis-py's clients take them: known keyword arguments, with
    values it would not refuse only at the first connection."""
    import redis
    import redis.asyncio
    import redis.cluster
    import redis.connection

    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise ConfigurationError(
            "client_options must be a dict of redis-py client keyword arguments",
            variable="client_options",
        )
    known = _parameters(
        redis.Redis,
        redis.asyncio.Redis,
        redis.cluster.RedisCluster,
        redis.asyncio.cluster.RedisCluster,
        redis.connection.ConnectionPool,
        redis.connection.BlockingConnectionPool,
        *redis.connection.SSLConnection.__mro__,
        redis.connection.UnixDomainSocketConnection,
    )
    known.add("pool_timeout")  # the adapter's name for its blocking pool's timeout
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"client_options has options redis-py does not know: {', '.join(unknown)}",
            variable="client_options",
        )
    for name, value in options.items():
        problem = _option_problem(name, value)
        if problem:
            raise ConfigurationError(
                f"client_options has {name}={value!r}: {problem}", variable="client_options"
            )
    if options.get("decode_responses"):
        raise ConfigurationError(
            "client_options asks for decode_responses: the adapter stores bytes and reads "
            "them back as bytes",
            variable="client_options",
        )
    return options


_POSITIVE = (
    "socket_timeout",
    "socket_connect_timeout",
    "timeout",
    "max_connections",
    "socket_read_size",
)
"""Options redis-py reads from a URL that only a positive number makes work (it would
refuse another value at the first connection, with an error that names no setting)."""


def _option_problem(name: str, value: object) -> str | None:
    """What is wrong with the URL option ``name=value`` as redis-py read it, or ``None``."""
    if name == "protocol":  # an int, or its text where redis-py reads no type for it (5.x)
        return None if str(value) in ("2", "3") else "Redis speaks protocol 2 or 3"
    if name == "ssl_cert_reqs" and isinstance(value, str):
        if value.lower() not in ("none", "optional", "required"):
            return "it must be none, optional or required"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if name in _POSITIVE and not (math.isfinite(value) and value > 0):
        return "it must be a positive number"
    if name in ("health_check_interval", "db") and value < 0:
        return "it must be 0 or more"
    return None


def redis_py_url(url: str) -> str:
    """``url`` as redis-py reads it: it knows ``redis``/``rediss``/``unix``, and Valkey's
    schemes (in any case, as URL schemes are) mean the same."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    scheme = scheme.lower()
    return f"{_VALKEY_SCHEMES.get(scheme, scheme)}://{rest}"


_VALKEY_SCHEMES = {"valkey": "redis", "valkeys": "rediss"}


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``; the rest is kept for debugging.

    ``redis://alice:s3cret@host:6379/0`` becomes ``redis://alice:***@host:6379/0``, and the
    value of a ``password`` query option (however its name is percent-encoded) is hidden
    too. A URL whose credentials cannot be told apart (no ``//`` before them, or a password
    holding ``/``, ``?``, ``#`` or ``@`` that is not percent-encoded) is shown with everything
    up to its last ``@`` hidden; one that cannot be parsed at all is replaced whole.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return _without_credentials(url) if "@" in url else "<unparseable URL>"
    netloc = parts.netloc
    stray = "@" in parts.path or "@" in parts.fragment or ("://" not in url and "@" in url)
    if stray or any("@" in item and not _names_password(item) for item in parts.query.split("&")):
        return _without_credentials(url)  # an '@' outside the host part ends credentials
    if password is not None or "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
        # A lone value in the user slot is how some services pass a token: hide it too.
        netloc = f"{user}:{_REDACTED}@{hostinfo}" if ":" in userinfo else f"{_REDACTED}@{hostinfo}"
    shown = (
        f"{parts.scheme}://{netloc}{parts.path}"
        if "://" in url
        else urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    )
    query = _redacted_query(parts.query)
    # a fragment means nothing to redis-py; it holds what follows a '#' in a password
    return shown + (f"?{query}" if query else "") + (f"#{_REDACTED}" if parts.fragment else "")


def _without_credentials(url: str) -> str:
    """``url`` with all but its scheme hidden: where its credentials end is not known."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}{sep}{_REDACTED}" if sep else _REDACTED


def _redacted_query(query: str) -> str:
    """A URL's query with the value of every option whose name, decoded, holds
    ``password`` hidden (redis-py decodes option names: ``pass%77ord`` is ``password``)."""
    shown = []
    for item in query.split("&") if query else ():
        shown.append(f"{item.partition('=')[0]}={_REDACTED}" if _names_password(item) else item)
    return "&".join(shown)


def _names_password(item: str) -> bool:
    """Whether the query option ``item`` (``name=value``) is a password."""
    name, eq, _ = item.partition("=")
    return bool(eq) and "password" in unquote(name.replace("+", " ")).lower()


__all__ = [
    "DEFAULT_TTL_MS",
    "MAX_TTL_MS",
    "REDIS_URL_SCHEMES",
    "check_redis_url",
    "parse_ttl_ms",
    "redact_url",
    "redis_py_url",
    "resolve_ttl_ms",
]
