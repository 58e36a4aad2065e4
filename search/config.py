"""`SearchConfig`: every knob of the MCTS, with the papers' values as defaults.

Where the papers leave a value open, the docstring of the field says so and
what was chosen.

Example:
    >>> SearchConfig(simulations=8, k=4, c=0.25, alpha=0.5).selection
    'ucb1'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agentloop.llm.protocol import Sampling


class SearchConfig(BaseModel):
    """How to search one task (Agent Q section 4.2 / Agent-R section 3.1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    simulations: int = Field(8, gt=0, le=10_000)
    """Simulations per tree (Agent-R: 8 rollouts). At inference: simulations per action taken."""
    k: int = Field(4, gt=0, le=64)
    """Candidate actions sampled per expanded node (Agent-R: 4); duplicates are merged."""
    c: float = Field(0.25, ge=0.0)
    """Exploration weight of UCB1/PUCT (Agent-R: 0.25)."""
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    """Q = alpha*Q_mcts + (1-alpha)*Q_critic (Agent Q eq. for Q(h,a); the paper leaves alpha
    open, 0.5 weighs search outcome and self-critique equally)."""
    max_depth: int = Field(10, gt=0, le=1000)
    """Most actions on any root-to-leaf path; a node at this depth is a leaf (truncated)."""
    selection: Literal["ucb1", "puct"] = "ucb1"
    """ucb1: Q + c*sqrt(ln N(parent) / (1 + N(child))) (Agent Q);
    puct: Q + c*P*sqrt(N(parent)) / (1 + N(child)) with the critic score P as prior."""
    first_play: Literal["parent", "zero"] = "parent"
    """The value an unvisited child is selected by (first-play urgency, FPU). parent: the
    parent's running mean Q_mcts stands in for the child's missing one (mixed with the
    child's critic score as for visited children), as AlphaZero-style searches do; zero:
    Q_mcts = 0 (Agent Q's formula as written). With sparse 0/1 rewards and c=0.25, zero
    leaves the siblings of a child that once succeeded unvisited for dozens of simulations
    (its Q near 1 beats 0 plus any bonus under ln N < 16), so their values, which pairs and
    revisions compare, are never learnt; parent lets them compete on the bonus."""
    value_source: Literal["reward", "critic", "oracle"] = "reward"
    """What is backed up. reward: the environment's return (data collection);
    critic: the critic's estimate that the task was done, the environment's reward is
    never read (inference); oracle: the environment's return at inference, reported as
    'mcts-oracle'."""
    expand_roles: tuple[str, ...] = ()
    """The roles whose turns branch (K candidates); empty: every role. At another role's
    node the agent proposes one move (with `agents.roles.RoleAgents`, that role's own agent:
    a frozen model or a rule bot), so a fixed opponent is followed, not searched."""
    temperature: float = Field(1.0, ge=0.0)
    """Sampling temperature of the K candidates at expansion."""
    min_distinct: int = Field(1, ge=1, le=64)
    """Fewest distinct actions an expanded node should get (capped at its K). A confident
    model's K samples can all be one action (after a round of training the 135M model's
    nearly always are), leaving nothing to compare; a node short of this many is proposed
    to again, only those nodes, at `resample_temperature`, up to `resamples` more calls.
    1: off (Agent Q and Agent-R sample K once)."""
    resample_temperature: float = Field(1.0, ge=0.0)
    """Sampling temperature of the extra proposals that `min_distinct` asks for."""
    resamples: int = Field(2, ge=0, le=16)
    """Most extra proposal calls per expansion for nodes short of `min_distinct`."""
    rollout_temperature: float = Field(1.0, ge=0.0)
    """Sampling temperature of the policy rollout (simulation) steps."""
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    """Nucleus sampling for expansion and rollouts."""
    max_new_tokens: int = Field(64, gt=0, le=4096)
    """Most tokens the agent generates per action."""
    stop: tuple[str, ...] = ("\nObservation",)
    """Generation of one turn ends at these strings (a ReAct turn ends before "Observation")."""
    seed: int = 0
    """Seed of the first wave; wave i uses seed + i, so a search repeats exactly."""

    def expansion_sampling(self, wave: int) -> Sampling:
        """The sampling of wave `wave`'s expansion call."""
        return Sampling(temperature=self.temperature, top_p=self.top_p,
                        max_new_tokens=self.max_new_tokens, stop=self.stop, seed=self.seed + wave)

    def resample_sampling(self, wave: int, attempt: int) -> Sampling:
        """The sampling of extra proposal call `attempt` (0, 1, ...) of wave `wave`."""
        return Sampling(temperature=self.resample_temperature, top_p=self.top_p,
                        max_new_tokens=self.max_new_tokens, stop=self.stop,
                        seed=self.seed + 7_000_003 * (attempt + 1) + wave)

    def rollout_sampling(self, wave: int, step: int) -> Sampling:
        """The sampling of rollout step `step` of wave `wave`."""
        return Sampling(temperature=self.rollout_temperature, top_p=self.top_p,
                        max_new_tokens=self.max_new_tokens, stop=self.stop,
                        seed=self.seed + 1_000_003 * (step + 1) + wave)
