"""kortyx-langgraph: runtime persistence for LangGraph runs that pause on ``interrupt()``.

Compile a graph with an adapter, pause it, find the pending interrupt by token, resume it
later, from any process::

    from kortyx_langgraph import create_framework_adapter_from_env

    adapter = create_framework_adapter_from_env()
    graph = builder.compile(checkpointer=adapter)
"""

from kortyx_langgraph._version import __version__
from kortyx_langgraph.agent import (
    Agent,
    HumanInputRequest,
    Option,
    RunResult,
    create_agent,
    use_interrupt,
)
from kortyx_langgraph.core.adapter import FrameworkAdapter
from kortyx_langgraph.env import (
    REDIS_URL_VARIABLES,
    TTL_VARIABLES,
    FrameworkSettings,
    resolve_framework_settings,
)
from kortyx_langgraph.errors import (
    AlreadyClaimedError,
    ClaimMismatchError,
    ConfigurationError,
    DeserializationError,
    ExpiredTokenError,
    InvalidAnswerError,
    InvalidConfigError,
    KortyxError,
    NothingPendingError,
    PoolExhaustedError,
    ReplicationError,
    ResumeError,
    ResumeFailedError,
    StorageCapabilityError,
    StorageConnectionError,
    StorageError,
    StorageOutOfMemoryError,
    StorageReadOnlyError,
    StorageTimeoutError,
    StorageUnavailableError,
    ThreadExpiredError,
    UnknownTokenError,
    UnknownWorkflowError,
    WriteOutcomeUnknownError,
)
from kortyx_langgraph.factory import (
    create_framework_adapter_from_env,
    create_in_memory_framework_adapter,
    create_redis_framework_adapter,
)
from kortyx_langgraph.memory import InMemoryFrameworkAdapter
from kortyx_langgraph.pending import DEFAULT_LEASE_MS, PendingInterrupt, PendingInterruptStore
from kortyx_langgraph.redis import RedisFrameworkAdapter
from kortyx_langgraph.redis.compression import Compression
from kortyx_langgraph.redis.retry import RetryPolicy
from kortyx_langgraph.server import check_server_ttl
from kortyx_langgraph.server import checkpointer as langgraph_server_checkpointer
from kortyx_langgraph.server_ttl import (
    ServerThreadTTL,
    server_thread_ttl_from_config,
    server_thread_ttl_from_env,
    ttl_mismatch,
)
from kortyx_langgraph.settings import DEFAULT_TTL_MS, redact_url

__all__ = [
    "DEFAULT_LEASE_MS",
    "DEFAULT_TTL_MS",
    "REDIS_URL_VARIABLES",
    "TTL_VARIABLES",
    "Agent",
    "AlreadyClaimedError",
    "ClaimMismatchError",
    "Compression",
    "ConfigurationError",
    "DeserializationError",
    "ExpiredTokenError",
    "FrameworkAdapter",
    "FrameworkSettings",
    "HumanInputRequest",
    "InMemoryFrameworkAdapter",
    "InvalidAnswerError",
    "InvalidConfigError",
    "KortyxError",
    "NothingPendingError",
    "Option",
    "PendingInterrupt",
    "PendingInterruptStore",
    "PoolExhaustedError",
    "RedisFrameworkAdapter",
    "ReplicationError",
    "ResumeError",
    "ResumeFailedError",
    "RetryPolicy",
    "RunResult",
    "StorageCapabilityError",
    "StorageOutOfMemoryError",
    "StorageUnavailableError",
    "ThreadExpiredError",
    "StorageReadOnlyError",
    "StorageConnectionError",
    "StorageError",
    "StorageTimeoutError",
    "UnknownTokenError",
    "UnknownWorkflowError",
    "WriteOutcomeUnknownError",
    "__version__",
    "create_agent",
    "create_framework_adapter_from_env",
    "create_in_memory_framework_adapter",
    "create_redis_framework_adapter",
    # the LangGraph server entry point and the check of its thread TTL against ours
    "langgraph_server_checkpointer",
    "check_server_ttl",
    "ServerThreadTTL",
    "server_thread_ttl_from_config",
    "server_thread_ttl_from_env",
    "ttl_mismatch",
    "redact_url",
    "resolve_framework_settings",
    "use_interrupt",
]
