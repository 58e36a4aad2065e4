"""`RoleAgents`: one agent per role of a multi-player game, behind the one Agent protocol.

A search over a two-player game asks one agent for every node; the states say
whose turn it is (`AgentState.role`). `RoleAgents` sends each role's states to
that role's agent, in one batched `propose` call per role, and renders each
state's prompt with its role's agent, so each player reads the game under its
own system prompt, and the training data built from a node (`prompt(state)`)
is that player's.

Example:
    >>> agents = RoleAgents({"seller": ReActAgent(llm, system_prompt=rules("seller")),
    ...                      "buyer": ReActAgent(frozen, system_prompt=rules("buyer"))})
    >>> trees = search_tasks(lambda: NegotiationEnv(opponent=None), tasks, agents, critic,
    ...                      SearchConfig(expand_roles=("seller",)))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agentloop.agents.protocol import Agent, AgentState, Proposal
from agentloop.llm.protocol import Sampling
from agentloop.records import Message


class RoleAgents:
    """Routes states to the agent of their role.

    Args:
        agents: role -> the agent that plays it.
        default: the agent of any role not in `agents` (None: such a state is an error).
    """

    def __init__(self, agents: Mapping[str, Agent], default: Agent | None = None):
        if not agents and default is None:
            raise ValueError("RoleAgents needs at least one agent")
        self.agents, self.default = dict(agents), default

    def agent(self, role: str) -> Agent:
        """The agent that plays `role`."""
        if role in self.agents:
            return self.agents[role]
        if self.default is None:
            raise KeyError(f"no agent plays role {role!r}; roles: {sorted(self.agents)}")
        return self.default

    def propose(self, states: Sequence[AgentState], k: int = 1,
                sampling: Sampling | None = None) -> list[list[Proposal]]:
        """One `propose` call per role present in `states`; results in the order of `states`."""
        result: list[list[Proposal]] = [[] for _ in states]
        for role in dict.fromkeys(state.role for state in states):  # first-seen order: deterministic
            group = [i for i, state in enumerate(states) if state.role == role]
            found = self.agent(role).propose([states[i] for i in group], k, sampling)
            for i, proposals in zip(group, found, strict=True):
                result[i] = proposals
        return result

    def prompt(self, state: AgentState) -> list[Message]:
        """The prompt of the state's role's agent."""
        return self.agent(state.role).prompt(state)
