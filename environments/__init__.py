"""Text environments for agents: the protocol, the checker, and the environments.

    from agentloop.environments import Environment, check_env, make_env
"""

from agentloop.environments.checker import EnvCheckError, check_env
from agentloop.environments.protocol import (
    Environment,
    MultiAgentEnvironment,
    StepResult,
    Task,
)

__all__ = ["Environment", "MultiAgentEnvironment", "StepResult", "Task", "check_env", "EnvCheckError"]
