"""The Kortyx app surface: ``create_agent`` and typed human input with ``use_interrupt``."""

from kortyx_langgraph.agent.app import WORKFLOW_METADATA_KEY, Agent, create_agent
from kortyx_langgraph.agent.human_input import (
    REQUEST_TYPE,
    HumanInputRequest,
    InputKind,
    Option,
    use_interrupt,
)
from kortyx_langgraph.agent.result import RunResult, RunStatus

__all__ = [
    "REQUEST_TYPE",
    "WORKFLOW_METADATA_KEY",
    "Agent",
    "HumanInputRequest",
    "InputKind",
    "Option",
    "RunResult",
    "RunStatus",
    "create_agent",
    "use_interrupt",
]
