"""textarena's SimpleNegotiation-v0 under the protocol (extra agentloop[textarena]): the
contract, private per-player observations, zero-sum rewards per role, and MCTS with the
scripted doubles backing up each player's own outcome."""

from __future__ import annotations

from functools import partial

import pytest

pytest.importorskip("textarena")

from agentloop.environments import check_env
from agentloop.environments.textarena_env import CODEC, TextArenaEnv
from agentloop.search.config import SearchConfig
from agentloop.search.mcts import search_tasks
from agentloop.search.pairs import PairConfig, step_pairs

from agentloop.agents.parsing import parse_action
from agentloop.agents.scripted import RandomAgent, ScriptedCritic


def test_check_env_passes_across_instances_and_processes():
    check_env(TextArenaEnv(num_tasks=3), episodes=2, factory=partial(TextArenaEnv, num_tasks=3))


def test_players_see_only_their_own_prompt_and_get_zero_sum_rewards():
    env = TextArenaEnv(num_tasks=2)
    task = env.tasks("train")[0]
    first = env.reset(task)
    assert env.current_role() == "Player 0" and "You are Player 0" in first
    result = env.step(env.available_actions()[0])
    assert env.current_role() == "Player 1"
    assert "You are Player 1" in result.observation and "You are Player 0" not in result.observation
    assert "[Accept]" in env.available_actions()  # Player 0's offer is pending
    while not result.terminated:
        result = env.step("[Deny]")
    rewards = result.info["rewards"]
    assert set(rewards) == set(env.roles) and sum(rewards.values()) == 0
    assert all(-1 <= r <= 1 for r in rewards.values())


def test_rejected_action_changes_nothing():
    env = TextArenaEnv(num_tasks=2)
    page = env.reset(env.tasks("train")[1])
    actions = env.available_actions()
    for action in ("let us talk", "[Offer: 999 Ore -> 1 Wheat]", "[Offer: 1 Gold -> 1 Ore]"):
        result = env.step(action)
        assert result.info["invalid"] is True and not result.terminated
        assert result.observation.endswith(page)  # the same page, after the complaint
    assert env.current_role() == "Player 0" and env.available_actions() == actions
    assert env.step("[Deny]").info["rewards"] == {"Player 0": 0.0, "Player 1": 0.0}


def test_codec_reads_textarena_tokens_out_of_a_react_turn():
    parsed = parse_action("Thought: ore is worth most to me.\nAction: [Offer: 2 Wood -> 1 Ore]", codec=CODEC)
    assert parsed.action == "[Offer: 2 Wood -> 1 Ore]"
    assert CODEC.parse("I say [accept] then") == "[accept]"
    assert CODEC.parse("[Offer: 2 Wood]") is None  # no "->": not an offer


def test_mcts_backs_up_each_players_own_outcome():
    env = TextArenaEnv(num_tasks=2)
    tasks = env.tasks("train")[:1]
    (tree,) = search_tasks(lambda: TextArenaEnv(num_tasks=2), tasks, RandomAgent(TextArenaEnv(num_tasks=2), seed=1),
                           ScriptedCritic(), SearchConfig(simulations=6, k=2, max_depth=10))
    assert tree.roles == env.roles and tree.reward_range == (-1.0, 1.0)
    leaves = list(tree.leaves())
    assert leaves
    for leaf in leaves:
        returns = tree.node(leaf)["returns"]
        assert sum(returns.values()) == 0  # zero-sum, per role
    for node, data in tree.graph.nodes(data=True):
        if data["visits"]:
            sums = data["value_sums"]
            assert abs(sums["Player 0"] + sums["Player 1"]) < 1e-9
            assert data["q_mcts"] == pytest.approx(sums[tree.chooser(node)] / data["visits"])
    player1 = [n for n, d in tree.graph.nodes(data=True) if d["role"] == "Player 1" and d["depth"] > 0]
    assert player1
    for node in player1:
        state = tree.state(node)
        text = state.observation + "".join(t.observation + t.completion for t in state.history)
        assert "You are Player 0" not in text
    for pair in step_pairs([tree], RandomAgent(TextArenaEnv(num_tasks=2)).prompt, PairConfig(min_visits=1)):
        node, chosen, rejected = pair.provenance.node_ids
        assert tree.node(chosen)["q"] > tree.node(rejected)["q"]
