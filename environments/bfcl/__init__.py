"""BFCL multi-turn base as a held-out test (extra `agentloop[bfcl]`:
`pip install --no-deps bfcl-eval`): calls read as literals (`calls.py`), run only
through an explicit map of each episode's own backend methods (`backend.py`),
scored by BFCL's own checker on canonical strings (`env.py`).

    from agentloop.environments.bfcl import BFCLEnv
    env = BFCLEnv(num_tasks=50)

Config: `env: {kind: import, target: "agentloop.environments.bfcl:BFCLEnv", kwargs: {num_tasks: 50}}`.
"""

from agentloop.environments.bfcl.calls import BFCLCodec, Call, parse_calls
from agentloop.environments.bfcl.env import BFCLEnv

__all__ = ["BFCLCodec", "BFCLEnv", "Call", "parse_calls"]
