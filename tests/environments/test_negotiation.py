"""The bargaining game: the rule moderator, rewards per role, the scripted rival, the
environment's contract (check_env), replay and restore, and the two-player mode."""

from __future__ import annotations

import pytest

from agentloop.environments import check_env
from agentloop.environments.negotiation import NegotiationEnv, ScriptedBargainer, moderate
from agentloop.environments.negotiation.game import reward


def test_moderator_reads_acceptance_counter_offers_refusals_and_walk_aways():
    opened = [("seller", "It is $20."), ("buyer", "Would you take $16?")]
    assert moderate(opened + [("seller", "Deal at $16!")]).deal
    assert moderate(opened + [("seller", "Deal!")]).price == 16.0
    counter = moderate(opened + [("seller", "Deal at $19!")])
    assert not counter.deal and not counter.ended and counter.price == 19.0
    assert not moderate(opened + [("seller", "I can't accept $16.")]).ended
    walk = moderate(opened + [("seller", "No deal, goodbye.")])
    assert walk.ended and not walk.deal


def test_rewards_per_role_inside_the_range_only():
    deal = moderate([("seller", "$20"), ("buyer", "$16?"), ("seller", "Deal!")])
    assert reward("seller", deal, 10, 20) == pytest.approx(0.6)
    assert reward("buyer", deal, 10, 20) == pytest.approx(0.4)
    low = moderate([("seller", "$20"), ("buyer", "$5?"), ("seller", "Deal!")])
    assert reward("seller", low, 10, 20) == 0.0 == reward("buyer", low, 10, 20)


@pytest.mark.parametrize("role", ["seller", "buyer"])
def test_check_env_passes_for_either_learning_role(role):
    check_env(NegotiationEnv(role=role, num_tasks=10))


def test_check_env_passes_in_two_player_mode():
    check_env(NegotiationEnv(opponent=None, num_tasks=10))


def test_splits_are_disjoint_and_stable():
    env = NegotiationEnv(num_tasks=30)
    train, test = {t.id for t in env.tasks("train")}, {t.id for t in env.tasks("test")}
    assert len(train) == len(test) == 30 and not train & test
    assert {t.id for t in NegotiationEnv(num_tasks=30).tasks("test")} == test


def _play(env, task, actions):
    observations = [env.reset(task)]
    results = [env.step(a) for a in actions]
    return observations + [r.observation for r in results], results


def test_a_seeded_game_replays_identically_and_restore_gives_the_same_reply():
    env = NegotiationEnv()
    task = env.tasks("train")[3]
    high = task.data["high"]
    moves = [f"say[I can do ${high * 0.9:g}.]", f"say[Fine, ${high * 0.8:g}.]"]
    first, _ = _play(env, task, moves)
    again, _ = _play(NegotiationEnv(), task, moves)
    assert first == again
    env.reset(task)
    saved = env.snapshot()
    one = env.step(moves[0]).observation
    env.reset(env.tasks("train")[5])
    env.restore(saved)
    assert env.step(moves[0]).observation == one


def test_the_scripted_buyer_concedes_and_takes_a_price_within_its_budget():
    env = NegotiationEnv()
    task = env.tasks("train")[0]
    env.reset(task)
    result = None
    for _ in range(10):
        result = env.step(f"say[My last price is ${task.data['budget']:g}.]")
        if result.terminated or result.truncated:
            break
    assert result.terminated and result.info["deal"] and result.info["price"] == task.data["budget"]
    expected = (task.data["budget"] - task.data["low"]) / (task.data["high"] - task.data["low"])
    assert result.reward == pytest.approx(expected) and result.info["success"]


def test_no_observation_states_a_reward():
    env = NegotiationEnv()
    for task in env.tasks("test")[:10]:
        observations, results = _play(env, task, [f"say[Take it for ${task.data['budget']:g}.]"] * 10)
        values = {f"{r.reward:.2f}" for r in results if r.reward} | {f"{r.reward:g}" for r in results if r.reward}
        for text in observations:
            assert "reward" not in text.lower()
            assert not any(v in text.replace("$", " $") .split() for v in values)


def test_two_player_mode_alternates_roles_and_pays_both():
    env = NegotiationEnv(opponent=None)
    task = env.tasks("train")[0]
    env.reset(task)
    assert env.current_role() == "seller"
    env.step("say[I can do $%g.]" % (task.data["high"] * 0.8))
    assert env.current_role() == "buyer"
    done = env.step("say[Deal!]")
    assert done.terminated and done.info["rewards"]["seller"] == pytest.approx(0.6)
    assert done.info["rewards"]["buyer"] == pytest.approx(0.4) and done.reward == pytest.approx(0.4)


def test_invalid_actions_change_nothing_and_say_why():
    env = NegotiationEnv()
    env.reset(env.tasks("train")[0])
    before = env.snapshot()
    result = env.step("I can do $18")
    assert result.info["invalid"] and "say[" in result.observation and env.snapshot() == before


def test_scripted_bargainer_rejects_a_bad_concession():
    with pytest.raises(ValueError, match="concession"):
        ScriptedBargainer(concession=0.0)
