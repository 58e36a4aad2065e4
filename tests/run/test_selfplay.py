"""Self-play: two agents bargain in many games at once; each role sees only its own
prompt and turns; both roles' trajectories and the deal summary come out."""

from __future__ import annotations

import pytest

from agentloop.agents.protocol import Proposal
from agentloop.agents.react import ReActAgent
from agentloop.environments.negotiation import NegotiationEnv
from agentloop.environments.negotiation.env import rules
from agentloop.jsonl import read_jsonl
from agentloop.records import Message, Trajectory
from agentloop.run.selfplay import play_games, summarize_games


class Scripted:
    """Says `lines[i]` on its i-th turn in a game (told apart by the instruction + history)."""

    def __init__(self, lines):
        self.lines, self.prompts = lines, []

    def propose(self, states, k=1, sampling=None):
        self.prompts += [self.prompt(s) for s in states]
        return [[Proposal(f"Thought: go.\nAction: {self.lines[min(len(s.history), len(self.lines) - 1)]}",
                          self.lines[min(len(s.history), len(self.lines) - 1)])] for s in states]

    def prompt(self, state):
        return [Message(role="system", content=state.instruction),
                Message(role="user", content=state.observation)]


def _unit_tasks(env, n):
    return [t for t in env.tasks("test") if t.data["low"] == 10.0][:n]


def test_games_end_in_deals_with_both_roles_trajectories_and_a_summary(tmp_path):
    env = NegotiationEnv(opponent=None, num_tasks=60)
    tasks = _unit_tasks(env, 4)
    seller = Scripted(["say[I can do $18.]", "say[Fine, $16 then.]"])
    buyer = Scripted(["say[Would you take $12?]", "say[Deal!]"])
    out = tmp_path / "games.jsonl"
    games = play_games(env, tasks, {"seller": seller, "buyer": buyer}, output=out)
    summary = summarize_games(games)
    assert summary.games == 4 and summary.deal_rate == 1.0 and summary.mean_price == 16.0
    assert summary.mean_reward["seller"] == pytest.approx(0.6)
    assert summary.mean_reward["buyer"] == pytest.approx(0.4)
    records = read_jsonl(out, Trajectory)
    assert len(records) == 8
    for record in records:
        assert {s.role for s in record.steps} == {record.role} and len(record.steps) == 2
        assert record.reward == pytest.approx(0.6 if record.role == "seller" else 0.4)
    # The buyer read the seller's lines only as observations, never as its own turns.
    assert any("I can do $18." in prompt[1].content for prompt in buyer.prompts)
    assert all("You are selling" not in prompt[0].content for prompt in buyer.prompts)


def test_a_game_that_runs_out_of_turns_is_truncated_without_a_deal():
    env = NegotiationEnv(opponent=None, num_tasks=60)
    games = play_games(env, _unit_tasks(env, 2), {"seller": Scripted(["say[$19.]"]),
                                                  "buyer": Scripted(["say[$11?]"])}, max_turns=6)
    summary = summarize_games(games)
    assert summary.deals == 0 and all(g.truncated for g in games)
    assert summary.mean_reward == {"seller": 0.0, "buyer": 0.0}


class ReadsAs(Scripted):
    """A scripted player that records the prompt a real ReActAgent would read."""

    def __init__(self, lines, agent):
        super().__init__(lines)
        self.agent = agent

    def prompt(self, state):
        return self.agent.prompt(state)


def test_each_role_prompts_under_its_own_system_prompt():
    env = NegotiationEnv(opponent=None, num_tasks=60)
    agents = {role: ReadsAs(["say[How about $15?]"],
                            ReActAgent(None, system_prompt=rules(role), verbs=("say",), max_history=0))
              for role in env.roles}
    play_games(env, _unit_tasks(env, 1), agents, max_turns=2)
    (seller_prompt,), (buyer_prompt,) = agents["seller"].prompts, agents["buyer"].prompts
    assert "You are the seller" in seller_prompt[0].content and "selling a" in seller_prompt[1].content
    assert "You are the buyer" in buyer_prompt[0].content and "selling a" not in buyer_prompt[1].content


def test_missing_role_agent_is_an_error():
    env = NegotiationEnv(opponent=None, num_tasks=10)
    with pytest.raises(ValueError, match="buyer"):
        play_games(env, env.tasks("test")[:1], {"seller": Scripted(["say[$19.]"])})
