"""The options of the redis-py clients the adapter creates from a URL, all said explicitly.

redis-py's own defaults changed between releases (no timeout at all; three retries with
up to 10 s of backoff since 6.0), and a client without a socket timeout waits forever on
a server that stopped answering. So every client the adapter creates gets these, and
``client_options`` overrides any of them:

- ``socket_connect_timeout`` and ``socket_timeout``: :data:`DEFAULT_CONNECT_TIMEOUT_S`
  and :data:`DEFAULT_SOCKET_TIMEOUT_S`;
- ``socket_keepalive``: on for TCP, so that a peer that vanished is noticed on idle
  connections;
- redis-py's retries off (``retry`` with no retries): the adapter retries by its own
  :class:`~kortyx_langgraph.redis.retry.RetryPolicy`, which knows which scripts write;
- standalone: a blocking pool of ``max_connections`` (:data:`DEFAULT_MAX_CONNECTIONS`)
  that makes a caller wait up to ``pool_timeout`` (:data:`DEFAULT_POOL_TIMEOUT_S`) for a
  free connection, then raise ``PoolExhaustedError``.

A client passed in with ``client=`` is used exactly as it was configured.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio.retry
import redis.retry
from redis.backoff import NoBackoff

DEFAULT_CONNECT_TIMEOUT_S = 5.0
"""Seconds to open a connection (TCP, TLS, AUTH) before the attempt fails."""
DEFAULT_SOCKET_TIMEOUT_S = 5.0
"""Seconds to wait for a reply before the attempt fails (its outcome is then unknown)."""
DEFAULT_MAX_CONNECTIONS = 64
"""Connections per standalone client (one sync client, one async client per event loop)."""
DEFAULT_POOL_TIMEOUT_S = 20.0
"""How long a caller waits for a free connection before ``PoolExhaustedError``."""

_REDIS_PY_MAJOR = int(redis.__version__.split(".", 1)[0])


def adapter_client_options(
    given: dict[str, Any], *, asynchronous: bool, cluster: bool, url: str
) -> dict[str, Any]:
    """Keyword arguments for one redis-py client: the defaults above, then ``given``.

    ``pool_timeout`` and ``max_connections`` are left in for the caller to route to the
    pool (standalone) or drop (the Cluster clients have pools of their own).
    """
    no_retry: Any = (
        redis.asyncio.retry.Retry(NoBackoff(), 0)
        if asynchronous
        else redis.retry.Retry(NoBackoff(), 0)
    )
    options: dict[str, Any] = {
        "socket_connect_timeout": DEFAULT_CONNECT_TIMEOUT_S,
        "socket_timeout": DEFAULT_SOCKET_TIMEOUT_S,
        "retry": no_retry,
    }
    if not url.startswith("unix:"):
        options["socket_keepalive"] = True
    if cluster and _REDIS_PY_MAJOR < 6:
        # before 6.0 the Cluster clients' retries were counted by this argument alone
        options["cluster_error_retry_attempts"] = 0
    options.update(given)
    options["decode_responses"] = False
    return options


def pool_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` for a standalone ``BlockingConnectionPool`` (its wait is ``timeout``)."""
    pooled = dict(options)
    pooled.setdefault("max_connections", DEFAULT_MAX_CONNECTIONS)
    pooled["timeout"] = pooled.pop("pool_timeout", DEFAULT_POOL_TIMEOUT_S)
    return pooled


def cluster_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` for a Cluster client (no standalone pool settings)."""
    clustered = dict(options)
    clustered.pop("pool_timeout", None)
    return clustered
