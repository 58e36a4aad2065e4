"""Agents and critics: the Agent protocol, the ReAct agent and its action parser,
and the critics that rank, judge and value an agent's moves.

    from agentloop.agents import Agent, AgentState, Proposal
"""

from agentloop.agents.protocol import Agent, AgentState, Proposal, Turn

__all__ = ["Agent", "AgentState", "Proposal", "Turn"]
