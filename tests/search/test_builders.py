"""Builders on a hand-built tree: the expected pairs, splices, flags and SFT set."""

from __future__ import annotations

import pytest
from agentloop.search import (
    PairConfig,
    RevisionConfig,
    Tree,
    best_trajectories,
    revision_trajectories,
    step_pairs,
    trajectory,
)
from agentloop.search.revisions import REVISION_THOUGHT
from search_doubles import RandomMazeAgent

PROMPT = RandomMazeAgent().prompt


def hand_tree() -> Tree:
    """root -a-> 1 -c-> 3 (return 1.0)        root -b-> 2 (return 0.0)
                  1 -d-> 4 (return 0.0)        root -e-> 5 (never visited)"""
    tree = Tree.new("t1", "Reach the goal.", "S0")
    n1 = tree.add_child("0", "S1", "a", "Thought: A\nAction: go[a]", (1,), (-0.5,))
    n2 = tree.add_child("0", "S2", "b", "Thought: B\nAction: go[b]", (2,), (-1.5,), done=True)
    n3 = tree.add_child(n1, "goal", "c", "Thought: C\nAction: go[c]", (3,), (-0.1,), reward=1.0,
                        terminated=True, success=True)
    n4 = tree.add_child(n1, "S4", "d", "Thought: D\nAction: go[d]", (4,), (-2.0,), truncated=True)
    tree.add_child("0", "S5", "e", "Thought: E\nAction: go[e]")
    stats = {"0": (3, 1 / 3), n1: (2, 0.5), n2: (1, 0.0), n3: (1, 1.0), n4: (1, 0.0)}
    for node, (visits, q) in stats.items():
        tree.node(node).update(visits=visits, q=q, q_mcts=q, value_sum=q * visits)
    return tree


def test_step_pairs_are_the_sibling_pairs_past_the_threshold():
    pairs = step_pairs([hand_tree()], PROMPT, PairConfig(threshold=0.1), run="r", round=2)
    assert [p.provenance.node_ids for p in pairs] == [("0", "1", "2"), ("1", "3", "4")]
    root_pair, inner_pair = pairs
    assert root_pair.prompt[-1].content == "Reach the goal.\nS0"
    assert root_pair.chosen[0].content == "Thought: A\nAction: go[a]"
    assert root_pair.rejected[0].content == "Thought: B\nAction: go[b]"
    assert (root_pair.chosen_logprob, root_pair.rejected_logprob) == (-0.5, -1.5)
    assert (root_pair.chosen_q, root_pair.rejected_q) == (0.5, 0.0)
    assert [m.role for m in inner_pair.prompt] == ["system", "user", "assistant", "user"]
    assert inner_pair.prompt[-1].content == "S1" and inner_pair.chosen[0].content.endswith("go[c]")
    assert root_pair.provenance.run == "r" and root_pair.provenance.round == 2
    # |0.5 - 0.0| is not above 0.5; the unvisited child joins only with min_visits=0.
    assert step_pairs([hand_tree()], PROMPT, PairConfig(threshold=0.5)) == [inner_pair.model_copy(
        update={"provenance": inner_pair.provenance.model_copy(update={"run": "", "round": 0})})]
    with_unvisited = step_pairs([hand_tree()], PROMPT, PairConfig(threshold=0.1, min_visits=0))
    assert ("0", "1", "5") in [p.provenance.node_ids for p in with_unvisited]


class ScriptedJudge:
    def __init__(self, verdicts):
        self.verdicts, self.seen = verdicts, []

    def judge(self, paths):
        self.seen.append([len(p.history) for p in paths])
        return [self.verdicts[len(p.history)] for p in paths]


def test_revisions_splice_bad_prefix_revision_and_good_continuation():
    judge = ScriptedJudge({2: [0.9, 0.8], 1: [0.2]})
    revisions = revision_trajectories([hand_tree()], PROMPT, judge, RevisionConfig(alpha=0.5))
    assert judge.seen == [[1, 2]]  # both bad paths judged in one call
    by_bad = {r.provenance.node_ids[1]: r for r in revisions}
    # Bad leaf 2 (0.0) pairs with good leaf 3 (1.0) at the root; nothing judged bad -> t' = 0.
    r2 = by_bad["2"]
    assert r2.provenance.node_ids == ("0", "2", "3") and r2.revision_step == 0
    assert [(m.role, m.content) for m in r2.messages] == [
        ("system", "You walk mazes."), ("user", "Reach the goal.\nS0"),
        ("assistant", "Thought: B\nAction: go[b]"), ("user", "S2"), ("assistant", REVISION_THOUGHT),
        ("user", "ok.\nS0"), ("assistant", "Thought: A\nAction: go[a]"), ("user", "S1"),
        ("assistant", "Thought: C\nAction: go[c]")]
    assert r2.train == (False, False, False, False, True, False, True, False, True)
    # Bad leaf 4 shares node 1 with leaf 3; turn 0 is shared, so t' is turn 1 (judged bad).
    r4 = by_bad["4"]
    assert r4.provenance.node_ids == ("1", "4", "3") and r4.revision_step == 1
    assert [m.content for m in r4.messages if m.role == "assistant"] == [
        "Thought: A\nAction: go[a]", "Thought: D\nAction: go[d]", REVISION_THOUGHT,
        "Thought: C\nAction: go[c]"]
    assert [m.content for m in r4.messages if m.role == "user"][-1] == "ok.\nS1"
    assert [f for f, m in zip(r4.train, r4.messages) if m.role == "assistant"] == [
        False, False, True, True]
    assert (r4.bad_reward, r4.good_reward) == (0.0, 1.0)


def test_a_revision_of_an_agent_without_past_turns_is_one_conversation_showing_the_bad_steps():
    """With agent.max_history=0 the agent's own prompt shows no past turn, so a revision
    rendered with it could not show what it revises: the builder refuses such a prompt,
    and the loop's `revision_prompt` shows every turn (the bad one masked)."""
    from types import SimpleNamespace

    from agentloop.agents.react import ReActAgent
    from agentloop.config import AgentConfig
    from agentloop.records import Message
    from agentloop.run.from_config import revision_prompt

    judge = ScriptedJudge({2: [0.9, 0.8], 1: [0.2]})
    with pytest.raises(ValueError, match="max_history"):
        revision_trajectories([hand_tree()], ReActAgent(llm=None, max_history=0).prompt, judge)
    example = (Message(role="user", content="Find the exit."),
               Message(role="assistant", content="Thought: it is left.\nAction: go[left]"))
    env = SimpleNamespace(system_prompt="You walk mazes.", demonstration=example)
    whole = revision_prompt(AgentConfig(max_history=0), max_depth=4, env=env)
    revisions = revision_trajectories([hand_tree()], whole, judge, RevisionConfig(alpha=0.5))
    (from_leaf_2,) = [r for r in revisions if r.provenance.node_ids == ("0", "2", "3")]
    start = len(env.demonstration) + 1  # after the system prompt and the worked example
    shown = zip(from_leaf_2.messages[start:], from_leaf_2.train[start:], strict=True)
    assert [(m.role, m.content, f) for m, f in shown] == [
        ("user", "Instruction: Reach the goal.\n\nS0", False),
        ("assistant", "Thought: B\nAction: go[b]", False),  # the bad step, shown and masked
        ("user", "Observation: S2", False), ("assistant", REVISION_THOUGHT, True),
        ("user", "Observation: ok.\nS0", False), ("assistant", "Thought: A\nAction: go[a]", True),
        ("user", "Observation: S1", False), ("assistant", "Thought: C\nAction: go[c]", True)]
    assert not any(from_leaf_2.train[:start])


def test_alpha_and_beta_rules():
    judge = ScriptedJudge({2: [0.0, 0.0], 1: [0.0]})
    assert revision_trajectories([hand_tree()], PROMPT, judge, RevisionConfig(alpha=1.01)) == []
    tree = hand_tree()
    tree.node("4").update(ret=0.85)  # within beta=0.2 of the good leaf: not bad
    kept = revision_trajectories([tree], PROMPT, judge, RevisionConfig(alpha=0.5, beta=0.2))
    assert [r.provenance.node_ids[1] for r in kept] == ["2"]
    assert len(revision_trajectories([hand_tree()], PROMPT, judge,
                                     RevisionConfig(max_per_tree=1))) == 1
    # beta=0 makes equal returns a pair, but never a leaf with itself.
    loose = revision_trajectories([hand_tree()], PROMPT, judge, RevisionConfig(alpha=0.0, beta=0.0))
    assert all(len(set(r.provenance.node_ids)) == 3 for r in loose) and len(loose) == 2


def test_best_trajectories_and_trajectory_records():
    tree = hand_tree()
    (good,) = best_trajectories([tree], PROMPT, min_reward=1.0)
    assert good.kind == "good" and good.good_reward == 1.0
    assert [f for f, m in zip(good.train, good.messages) if m.role == "assistant"] == [True, True]
    assert not any(f for f, m in zip(good.train, good.messages) if m.role != "assistant")
    assert best_trajectories([tree], PROMPT, min_reward=1.5) == []
    record = trajectory(tree, "3", run="r", round=1)
    assert [s.action for s in record.steps] == ["a", "c"] and record.success
    assert record.reward == 1.0 and record.steps[0].observation == "S0"
    assert record.steps[1].logprob == pytest.approx(-0.1)
    assert record.provenance.node_ids == ("0", "1", "3")


def test_flags_follow_a_shortened_history():
    from agentloop.search.conversation import conversation

    from agentloop.agents.protocol import Turn
    from agentloop.agents.react import ReActAgent

    agent = ReActAgent(llm=None, max_history=2)
    turns = [Turn(f"obs{i}", f"Action: step{i}") for i in range(5)]
    messages, flags = conversation(agent.prompt, "Do it.", turns, [False, True, False, True, True])
    trained = [m.content for m, f in zip(messages, flags) if f]
    assert trained == ["Action: step3", "Action: step4"]  # step1 was dropped from the prompt
    assert not any(f for m, f in zip(messages, flags) if m.role != "assistant")


def test_best_trajectories_train_every_valid_step_under_the_prompt_it_was_open_from():
    """With no past turns in the prompt (max_history=0) a path of n valid steps is n
    records, each ending in its step under that step's own prompt. (One chat of the
    whole path trained only its last step: SFT taught the 135M model to click
    [buy now] everywhere.) An invalid step is cut out, and the step after it is
    trained on the page before it."""
    from agentloop.agents.react import ReActAgent

    tree = Tree.new("t1", "Reach the goal.", "S0")
    n1 = tree.add_child("0", "S1", "a", "Thought: A\nAction: go[a]")
    n2 = tree.add_child(n1, "S1 again", "x", "Thought: X\nAction: go[x]", invalid=True)
    n3 = tree.add_child(n2, "goal", "c", "Thought: C\nAction: go[c]", reward=1.0, terminated=True,
                        success=True)
    for node in ("0", n1, n2, n3):
        tree.node(node).update(visits=1, q=1.0, q_mcts=1.0, value_sum=1.0)
    agent = ReActAgent(llm=None, max_history=0)
    records = best_trajectories([tree], agent.prompt, min_reward=1.0)
    trained = [[m.content for m, f in zip(r.messages, r.train) if f] for r in records]
    assert trained == [["Thought: A\nAction: go[a]"], ["Thought: C\nAction: go[c]"]]
    assert records[1].messages[-2].content == "Observation: S1"  # the page before the detour
    assert "(I took 1 earlier step.)" in [m.content for m in records[1].messages]
    assert [r.provenance.node_ids for r in records] == [("0", n1), ("0", n1, n3)]
    full = best_trajectories([tree], ReActAgent(llm=None, max_history=8).prompt, min_reward=1.0)
    assert len(full) == 1 and [m.content for m in full[0].messages if m.role == "assistant"] == \
        ["Thought: A\nAction: go[a]", "Thought: C\nAction: go[c]"] and all(
            f for f, m in zip(full[0].train, full[0].messages) if m.role == "assistant")


def test_only_well_formed_turns_are_imitated_and_the_shortest_success_is_best():
    tree = Tree.new("t1", "Reach the goal.", "S0")
    drift = tree.add_child("0", "S1", "a", "Thought: Valid actions: a[x], b[y]")  # parsed, not copied
    long_end = tree.add_child(drift, "goal", "c", "Thought: C\nAction: go[c]", reward=1.0,
                              terminated=True, success=True)
    short_end = tree.add_child("0", "goal", "d", "Thought: D\nAction: go[d]", reward=1.0,
                               terminated=True, success=True)
    for node, q in (("0", 1.0), (drift, 1.0), (long_end, 1.0), (short_end, 0.0)):
        tree.node(node).update(visits=1, q=q, q_mcts=q, value_sum=q)
    (best,) = best_trajectories([tree], PROMPT, min_reward=1.0)
    assert best.provenance.node_ids == ("0", short_end)
    tree.node(short_end)["ret"] = 0.5  # now the long path is best, its drifted turn untrained
    (best,) = best_trajectories([tree], PROMPT, min_reward=1.0)
    assert [m.content for m, f in zip(best.messages, best.train) if f] == ["Thought: C\nAction: go[c]"]
    # the drifted child has the higher Q, so it would be "chosen": no pair
    assert step_pairs([tree], PROMPT, PairConfig(threshold=0.1)) == []
