"""A tool world with verifiable tasks: a safe calculator (`calculator.py`), the tools
and the one dispatcher that calls them (`tools.py`), tool calls read as data
(`codec.py`), seeded tasks at three difficulties (`tasks.py`), and the
environment (`env.py`).

    from agentloop.environments.tooluse import ToolUseEnv
    env = ToolUseEnv(difficulty="medium")
"""

from agentloop.environments.tooluse.codec import JsonCallCodec
from agentloop.environments.tooluse.env import ToolUseConfig, ToolUseEnv
from agentloop.environments.tooluse.tools import TOOLS, ToolError, dispatch

__all__ = ["JsonCallCodec", "TOOLS", "ToolError", "ToolUseConfig", "ToolUseEnv", "dispatch"]
