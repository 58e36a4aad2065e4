"""Text environments for agents: the protocol, action codecs, the checker, and the
environments.

    from agentloop.environments import Environment, check_env, make_env
    env = make_env("agentloop.environments.maze:MazeEnv", size=5)   # any import path
    check_env(env, factory=partial(make_env, "agentloop.environments.maze:MazeEnv", size=5))
"""

from agentloop.environments.checker import EnvCheckError, check_env
from agentloop.environments.codec import ActionCodec, BracketCodec, RegexCodec, codec_of
from agentloop.environments.factory import EnvTargetError, make_env
from agentloop.environments.protocol import (
    Environment,
    MultiAgentEnvironment,
    StepResult,
    Task,
)

__all__ = ["Environment", "MultiAgentEnvironment", "StepResult", "Task", "check_env", "EnvCheckError",
           "ActionCodec", "BracketCodec", "RegexCodec", "codec_of", "make_env", "EnvTargetError"]
