"""Buyer/seller bargaining (Fu et al. 2023): the game's rules and rule moderator
(`game.py`), the rival players (`bargainer.py`: scripted, or any model), and the
environment for one learning role or two players (`env.py`).

    from agentloop.environments.negotiation import NegotiationEnv
    env = NegotiationEnv(role="seller")          # the scripted buyer answers inside step
"""

from agentloop.environments.negotiation.bargainer import Bargainer, LLMBargainer, ScriptedBargainer
from agentloop.environments.negotiation.env import NegotiationConfig, NegotiationEnv, briefing
from agentloop.environments.negotiation.game import Verdict, moderate

__all__ = ["Bargainer", "LLMBargainer", "NegotiationConfig", "NegotiationEnv", "ScriptedBargainer",
           "Verdict", "briefing", "moderate"]
