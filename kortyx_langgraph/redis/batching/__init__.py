"""Group commit: concurrent ``put_writes`` calls of one thread share one round trip.

A fan-out of n ``Send`` tasks hands the saver n ``put_writes`` calls at once, from
LangGraph's worker threads (or its asyncio tasks). Sent one by one, each call waits for a
round trip of its own, and on a busy machine the round trips, not Redis, are the cost.

Here the first call of a thread is sent at once, exactly as a lone call always was. Calls
of the same thread that arrive while it is in flight queue up and go out together, as one
pipeline, when it returns. Every call is still its own script call, atomic on its own,
with its own reply or error; nothing waits for a timer, and a thread whose calls never
overlap (an agent loop) never waits for another. A pipeline that fails as a whole is sent
again call by call, through the adapter's retry policy (every write script is safe to
repeat); a call the pipeline could not run where it was sent (the script is not cached
there, the slot moved) goes again on its own.

:class:`AsyncGroupCommit` (one per event loop) hands the line from batch to batch: each
queued task awaits its own outcome, which costs it nothing but a place in the loop.

:class:`GroupCommit`, for threads, does not make a queued caller wait when the call says it
need not (``carry``: a task's plain writes, which LangGraph does not wait on to order its
own steps). Under ``invoke`` those callers are the few threads of LangGraph's pool that
also run the tasks, so a thread held for a round trip is a task not run. The call in flight
sends for them, and a checkpoint save or any other operation on the thread goes after them
(see :class:`GroupCommit`).
"""

from kortyx_langgraph.redis.batching.tasks import AsyncGroupCommit
from kortyx_langgraph.redis.batching.threads import GroupCommit

__all__ = ["AsyncGroupCommit", "GroupCommit"]
