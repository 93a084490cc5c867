"""``kortyx-langgraph doctor``: check that a Redis server suits the adapter, and say why not.

Every check uses commands managed services allow (``PING``, ``INFO``, ``EVAL``); none needs
``CONFIG``. The access check tries every command the adapter sends or its scripts run
(:data:`~kortyx_langgraph.redis.connection.NEEDED_COMMANDS`, read from the scripts' sources)
on two keys of its prefix, and names each one the ACL user may not run. It first checks,
writing nothing, that the user may run ``PEXPIRE`` and ``DEL``; then each write is followed
at once by a 10 s ``PEXPIRE`` of its key, and the keys are deleted at the end, so nothing
it writes outlives it. It also finds a key pattern that leaves out the prefix, and a server
that refuses writes (a replica, or memory full). The eviction policy matters most: with
``allkeys-*`` or ``volatile-*`` policies Redis may evict a paused run (every key the
adapter writes has a TTL, so ``volatile-*`` policies pick them first); ``noeviction`` plus
the adapter's TTLs is the safe setting.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import redis
import redis.cluster
import redis.exceptions

from kortyx_langgraph.errors import KortyxError, StorageCapabilityError
from kortyx_langgraph.redis.connection import NEEDED_COMMANDS, refused_by_acl, translated_errors
from kortyx_langgraph.redis.layout import DEFAULT_PREFIX, check_prefix
from kortyx_langgraph.settings import check_redis_url, redact_url, redis_py_url

Level = Literal["ok", "warning", "error"]

MIN_VERSION = (6, 2)


@dataclass(frozen=True)
class Finding:
    """One check's outcome."""

    level: Level
    check: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.check}: {self.message}"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


_TRIES: dict[str, str] = {
    "TIME": "",
    "HSET": "KEYS[1], 'n', '1'",
    "HSETNX": "KEYS[1], 'm', '1'",
    "HINCRBY": "KEYS[1], 'n', 1",
    "HGET": "KEYS[1], 'n'",
    "HMGET": "KEYS[1], 'n', 'm'",
    "HEXISTS": "KEYS[1], 'n'",
    "HSTRLEN": "KEYS[1], 'n'",
    "HKEYS": "KEYS[1]",
    "HGETALL": "KEYS[1]",
    "HDEL": "KEYS[1], 'm'",
    "ZADD": "KEYS[2], 0, 'm'",
    "ZRANGE": "KEYS[2], 0, -1",
    "ZRANGEBYLEX": "KEYS[2], '-', '+', 'LIMIT', 0, 1",
    "ZREVRANGEBYLEX": "KEYS[2], '+', '-', 'LIMIT', 0, 1",
    "ZREM": "KEYS[2], 'm'",
    "EXISTS": "KEYS[1], KEYS[2]",
    "PTTL": "KEYS[1]",
}
"""Each command the scripts run, with arguments on the probe's two keys (``KEYS[1]`` a hash,
``KEYS[2]`` a sorted set). ``PEXPIRE`` and ``DEL`` are checked first, on their own."""

_GATE = ("PEXPIRE", "DEL")
"""What the probe needs to leave nothing behind: checked before it writes anything."""

_CHECK = r"""
-- -> {refused commands...}; an error other than a refused command (a replica, out of
-- memory) is the script's reply
local refused = {}
local function check(command, reply)
  if type(reply) ~= 'table' or not reply.err then return end
  -- how Redis 6.2 and 7 and Valkey word a refused command
  local e = string.lower(reply.err)
  for _, marker in ipairs({'noperm', 'no permissions', "can't run"}) do
    if string.find(e, marker, 1, true) then
      refused[#refused + 1] = command
      return
    end
  end
  error(reply.err, 0)
end
"""

_GATE_PROBE = (
    _CHECK
    + """
-- the keys do not exist yet: Redis checks the permission all the same. A script of its
-- own: once a script ran a write command, Redis no longer refuses its writes for memory
check('PEXPIRE', redis.pcall('PEXPIRE', KEYS[1], 10000))
check('DEL', redis.pcall('DEL', KEYS[1], KEYS[2]))
return refused
"""
)
"""Whether the user may run :data:`_GATE`, on two keys of the prefix it leaves missing."""


_WRITES = frozenset({"HSET", "HSETNX", "HINCRBY", "ZADD"})
"""The commands of :data:`_TRIES` that may create their key: its TTL is set right after."""


def _lua_try(command: str, args: str) -> str:
    """One probe line: run ``command`` with ``redis.pcall``; after a write, its key's TTL."""
    call = f"redis.pcall('{command}'{', ' + args if args else ''})"
    line = f"check('{command}', {call})\n"
    if command in _WRITES:
        key = args.split(",", maxsplit=1)[0]
        line += f"redis.call('PEXPIRE', {key}, 10000)\n"
    return line


_PROBE = (
    _CHECK
    + "".join(_lua_try(command, args) for command, args in _TRIES.items())
    + """redis.call('DEL', KEYS[1], KEYS[2])
return refused
"""
)
"""What the adapter's scripts run, each command on its own (its first write ``HSET``, which
Redis refuses when out of memory), on two keys of the prefix that live at most 10 s and
are deleted at the end: the refused commands are collected."""

_PROBED = frozenset(_TRIES) | frozenset(_GATE)
"""The commands :data:`_PROBE` tries; :data:`~kortyx_langgraph.redis.scripts.SCRIPT_COMMANDS`
must be among them (the tests say so)."""

_NO_SCRIPT_SHA = "0" * 40
"""No script has this SHA1: ``EVALSHA`` of it answers ``NOSCRIPT`` when the user may run
``EVALSHA`` at all, and an ACL refusal otherwise."""

_LUA_CHECK = "return cmsgpack.unpack(cmsgpack.pack({7}))[1]"
"""A script that answers 7 where Lua and its cmsgpack library work."""

_TIMEOUTS = {"socket_connect_timeout": 5, "socket_timeout": 10}
"""The doctor's clients (and the node clients it makes from them): a server or node that
is stopped (SIGSTOP, a hung host) is a finding after seconds, never a doctor that waits
forever. A URL's own ``socket_timeout`` wins."""

MEMORY_WARNING = 0.9
"""The share of ``maxmemory`` in use above which the doctor warns."""


def diagnose(url: str, prefix: str = DEFAULT_PREFIX) -> list[Finding]:
    """Run every check against the server at ``url``, for an adapter whose keys start with
    ``prefix``; never raises for a server problem."""
    url = check_redis_url(url)
    prefix = check_prefix(prefix)
    where = redact_url(url)
    client = redis.Redis.from_url(redis_py_url(url), **_TIMEOUTS)
    findings: list[Finding] = []
    try:
        with translated_errors(where):
            refused = _refused(client.ping)
        findings.append(Finding("ok", "connection", f"reached {where}"))
        if refused:
            # connecting runs SELECT for a database and CLIENT SETNAME for a client_name
            # before the PING: the refusal names the command it was
            findings.append(Finding("error", "access", _refused_message([refused], False)))
            return findings
        info = _info(client, where, findings)
        lua = _lua_finding(client, where)
        findings.append(lua)
        if lua.check == "lua":
            findings.append(_access_finding(client, url, where, prefix, info))
        if info:
            nodes = _cluster_infos(client, findings) if info.get("cluster_enabled") else []
            findings.extend(_server_findings(nodes or [(where, info)]))
    except KortyxError as exc:
        findings.append(Finding("error", "connection", str(exc)))
    finally:
        client.close()
    return findings


_REFUSED_COMMAND = re.compile(r"permissions to run the '([^']+)' command")


def _refused(call: Any, command: str = "PING") -> str | None:
    """Run ``call()``, which sends ``command``; the command the ACL refused this user
    (named by the refusal, else ``command``), or ``None``."""
    try:
        call()
    except redis.exceptions.ResponseError as exc:
        if not refused_by_acl(str(exc)):
            raise
        named = _REFUSED_COMMAND.search(str(exc))
        return named.group(1).replace("|", " ").upper() if named else command
    return None


def _lua_finding(client: redis.Redis, where: str) -> Finding:
    """Whether Lua scripting with cmsgpack works; an access error naming ``EVAL`` when this
    user may not run it, as every operation of the adapter is a script."""
    answer: list[Any] = []
    try:
        with translated_errors(where):
            refused = _refused(lambda: answer.append(client.eval(_LUA_CHECK, 0)), "EVAL")
    except StorageCapabilityError as exc:  # scripting disabled or missing
        return Finding("error", "lua", str(exc))
    if refused:
        return Finding("error", "access", _refused_message([refused], False))
    level: Level = "ok" if answer == [7] else "error"
    return Finding(level, "lua", "Lua scripting with cmsgpack works")


def _info(client: redis.Redis, where: str, findings: list[Finding]) -> dict[str, Any]:
    """``INFO``, with the version and mode findings; ``{}`` when the user may not run it."""
    try:
        with translated_errors(where):
            info: dict[str, Any] = client.info()
    except StorageCapabilityError as exc:
        findings.append(
            Finding(
                "warning",
                "info",
                "this user may not run INFO, so the version, mode, memory, eviction and "
                "persistence checks were skipped; the adapter takes such a server for a "
                f"standalone one (pass cluster=True for a Cluster) ({exc})",
            )
        )
        return {}
    version = str(info.get("redis_version", "0"))
    name = "Valkey" if "valkey_version" in info else "Redis"
    level: Level = "ok" if _version(version) >= MIN_VERSION else "error"
    findings.append(Finding(level, "version", f"{name} {version} (needs Redis 6.2 or newer)"))
    mode = "Redis Cluster" if info.get("cluster_enabled") else "standalone"
    if info.get("role") == "slave" and not info.get("cluster_enabled"):
        primary = f"{info.get('master_host', '?')}:{info.get('master_port', '?')}"
        findings.append(
            Finding(
                "error",
                "mode",
                f"{mode}, a replica of {primary}: point the adapter at the primary. A "
                "read-only replica refuses every write; a writable one "
                "(replica-read-only no) keeps them only until its next sync with the "
                "primary, and they never reach the primary",
            )
        )
        return info
    findings.append(Finding("ok", "mode", mode))
    return info


def _access_finding(
    client: redis.Redis, url: str, where: str, prefix: str, info: dict[str, Any]
) -> Finding:
    """Try every command the adapter runs on keys of ``prefix``: the user's permissions, the
    key pattern, and whether the server takes writes (a replica, or memory full). On a
    Cluster through a Cluster client, so that the keys' node runs it; else on ``client``."""
    tag = "{" + uuid.uuid4().hex + "}"
    keys = [f"{prefix}{tag}:doctor", f"{prefix}{tag}:doctor-index"]
    probe: Any = client
    try:
        with translated_errors(where):
            if info.get("cluster_enabled"):
                probe = redis.cluster.RedisCluster.from_url(redis_py_url(url), **_TIMEOUTS)
            refused = _names(probe.eval(_GATE_PROBE, 2, *keys))
            stopped = bool(refused)
            if not stopped:
                refused = _names(probe.eval(_PROBE, 2, *keys))
            refused += _refused_by_client(probe, keys, where)
    except KortyxError as exc:
        return Finding("error", "access", str(exc))
    finally:
        if probe is not client:
            probe.close()
    if refused:
        return Finding("error", "access", _refused_message(refused, stopped))
    return Finding(
        "ok", "access", f"the user may run every command the adapter runs on keys of {prefix!r}"
    )


def _refused_by_client(probe: Any, keys: list[str], where: str) -> list[str]:
    """The commands the client sends itself (``EVALSHA``, ``SCAN``) that the user may not
    run; ``EVALSHA`` of a script no server holds runs nothing."""
    refused = []
    for command, args in (
        ("EVALSHA", (_NO_SCRIPT_SHA, 2, *keys)),
        ("SCAN", (0, "MATCH", keys[0], "COUNT", 1)),
    ):
        try:
            with translated_errors(where):
                _sent(probe, command, *args)
        except StorageCapabilityError:
            refused.append(command)
    return refused


def _names(reply: Any) -> list[str]:
    """A probe's reply (the commands it was refused), as text."""
    return [bytes(name).decode() for name in reply]


def _sent(probe: Any, *command: Any) -> None:
    """Send ``command``; ``NOSCRIPT`` counts as done (the user may run ``EVALSHA``)."""
    with contextlib.suppress(redis.exceptions.NoScriptError):
        probe.execute_command(*command)


def _refused_message(refused: list[str], stopped: bool) -> str:
    """The access finding's text for a user refused ``refused``."""
    text = (
        f"this ACL user may not run {', '.join(refused)}: an ACL user of the adapter needs "
        f"{NEEDED_COMMANDS} (and the keys of its prefix)"
    )
    if stopped:
        text += "; nothing was written (the probe needs PEXPIRE and DEL to clean up)"
    return text


def _server_findings(nodes: list[tuple[str, dict[str, Any]]]) -> list[Finding]:
    """The memory, eviction and persistence findings of the server, or of every node of a
    Cluster (each node's setting matters: a slot's keys live on its primary, and a replica
    becomes the primary in a failover). One finding per check; a node that fails it is
    named."""
    checks: list[tuple[str, Any]] = [
        ("memory", _memory_finding),
        ("eviction", lambda info: _eviction_finding(str(info.get("maxmemory_policy", "unknown")))),
        ("persistence", _persistence_finding),
    ]
    if len(nodes) == 1:
        return [check(nodes[0][1]) for _, check in checks]
    findings = []
    for name, check in checks:
        found = [(node, check(info)) for node, info in nodes]
        failing = [(node, f) for node, f in found if f.level != "ok"]
        if not failing:
            every = f"every node of the Cluster ({len(nodes)})"
            text = (
                f"{every} is below {MEMORY_WARNING:.0%} of its maxmemory, or has none"
                if name == "memory"
                else f"{found[0][1].message}, on {every}"
            )
            findings.append(Finding("ok", name, text))
            continue
        by_message: dict[str, list[str]] = {}
        for node, f in failing:
            by_message.setdefault(f.message, []).append(node)
        level: Level = "error" if any(f.level == "error" for _, f in failing) else "warning"
        text = "; ".join(
            f"on {', '.join(where)} ({len(where)} of {len(nodes)} nodes): {message}"
            for message, where in by_message.items()
        )
        findings.append(Finding(level, name, text))
    return findings


def _cluster_infos(
    client: redis.Redis, findings: list[Finding]
) -> list[tuple[str, dict[str, Any]]]:
    """``INFO`` of every node of the Cluster ``client`` reached (primaries and replicas, as
    ``CLUSTER SLOTS`` names them), by ``host:port (primary|replica)``, read with the same
    credentials and TLS settings; a node that cannot be read is a warning. Empty when
    ``CLUSTER SLOTS`` cannot be run: the findings are then of the node reached alone."""
    try:
        sender: Any = client  # redis-py's execute_command has no annotations
        slots = sender.execute_command("CLUSTER", "SLOTS")
    except (redis.exceptions.RedisError, OSError) as exc:
        findings.append(
            Finding(
                "warning",
                "cluster",
                f"CLUSTER SLOTS failed ({type(exc).__name__}: {exc}), so only the node of the "
                "URL was checked for memory, eviction and persistence",
            )
        )
        return []
    reached = client.connection_pool.connection_kwargs
    nodes: dict[tuple[str, int], str] = {}
    for entry in slots:
        for i, node in enumerate(entry[2:]):
            host = node[0].decode() if isinstance(node[0], bytes) else str(node[0])
            address = (host or str(reached.get("host", "")), int(node[1]))
            if address not in nodes or i == 0:
                nodes[address] = "primary" if i == 0 else "replica"
    for label in _failed_nodes(sender, nodes, str(reached.get("host", ""))):
        findings.append(
            Finding(
                "warning",
                "cluster",
                f"node {label} is marked failed by the Cluster (down, or cut off from "
                "the other nodes) and was not checked",
            )
        )
    infos: list[tuple[str, dict[str, Any]]] = []
    for (host, port), role in sorted(nodes.items()):
        label = f"{host}:{port} ({role})"
        options = {**reached, "host": host, "port": port}
        pool = redis.ConnectionPool(
            connection_class=client.connection_pool.connection_class, **options
        )
        node_client = redis.Redis(connection_pool=pool)
        try:
            infos.append((label, node_client.info()))
        except (redis.exceptions.RedisError, OSError) as exc:
            findings.append(
                Finding(
                    "warning",
                    "cluster",
                    f"could not read node {label} to check it ({type(exc).__name__}); its "
                    "memory, eviction and persistence were not checked",
                )
            )
        finally:
            node_client.close()
    return infos


def _failed_nodes(sender: Any, nodes: dict[tuple[str, int], str], reached: str) -> list[str]:
    """The nodes ``CLUSTER NODES`` flags as failed (``CLUSTER SLOTS`` leaves them out), as
    ``host:port (role)``; and into ``nodes``, the live ones ``CLUSTER SLOTS`` did not name.
    Nothing when the user may not run ``CLUSTER NODES`` (not among the adapter's commands)."""
    try:
        reply = sender.execute_command("CLUSTER", "NODES")
    except (redis.exceptions.RedisError, OSError):
        return []
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    failed = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        flags = fields[2].split(",")
        if "noaddr" in flags or "handshake" in flags:
            continue
        host, _, port = fields[1].split("@")[0].split(",")[0].rpartition(":")
        address = (host or reached, int(port))
        role = "primary" if "master" in flags else "replica"
        if "fail" in flags or "fail?" in flags:
            nodes.pop(address, None)
            failed.append(f"{address[0]}:{address[1]} ({role})")
        else:
            nodes.setdefault(address, role)
    return failed


def _memory_finding(info: dict[str, Any]) -> Finding:
    used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
    if not limit:
        return Finding("ok", "memory", f"{used:,} bytes in use, no maxmemory")
    share = used / limit
    text = f"{used:,} of maxmemory {limit:,} bytes in use ({share:.0%})"
    if share >= MEMORY_WARNING:
        return Finding(
            "warning",
            "memory",
            f"{text}: at maxmemory Redis refuses writes (noeviction), so runs cannot pause "
            "or resume, or evicts keys, paused runs among them",
        )
    return Finding("ok", "memory", text)


def _persistence_finding(info: dict[str, Any]) -> Finding:
    if str(info.get("aof_enabled")) == "1":
        return Finding("ok", "persistence", "AOF is on")
    return Finding(
        "warning",
        "persistence",
        "AOF is off: a restart loses what was written since the last snapshot "
        "(everything, without snapshots); paused runs would be lost with it",
    )


def _eviction_finding(policy: str) -> Finding:
    if policy == "noeviction":
        return Finding("ok", "eviction", "maxmemory-policy is noeviction")
    if policy.startswith(("allkeys-", "volatile-")):
        return Finding(
            "warning",
            "eviction",
            f"maxmemory-policy is {policy}: Redis may evict a paused run under memory "
            "pressure; set noeviction (the adapter's TTLs already bound what it keeps)",
        )
    return Finding("warning", "eviction", f"maxmemory-policy is {policy!r}")
