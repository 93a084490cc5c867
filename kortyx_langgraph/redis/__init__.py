"""The Redis backend: plain Redis 6.2+ (no modules) and Redis Cluster; restart-safe, shared."""

from kortyx_langgraph.redis.saver import RedisFrameworkAdapter

__all__ = ["RedisFrameworkAdapter"]
