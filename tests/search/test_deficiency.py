"""iTool's deficiency selection: tasks ranked by the policy's perplexity on their
ground-truth actions, tool-call and answer-only tasks apart; the loop's collect phase
searches only the selected tasks; a real tiny model scores ground truths."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from agentloop.environments.tooluse import ToolUseEnv
from agentloop.search.deficiency import (
    ground_truth_prompts,
    select_hardest,
    task_perplexities,
)

from agentloop.agents.react import ReActAgent
from agentloop.config import load_config
from agentloop.llm.protocol import Completion, Prompt, Sampling, Score, as_messages

ANSWER = 'I know it.\nAction: {"answer": "3"}'


class LengthScorer:
    """Scores each continuation as one token whose log-prob is -len(text)/10, so a task's
    perplexity is exp(mean action length / 10); generates a fixed answer."""

    def __init__(self):
        self.scored: list[tuple[str, str]] = []

    def render(self, prompt: Prompt) -> str:
        return prompt if isinstance(prompt, str) else "".join(f"<{m.role}>{m.content}\n" for m in as_messages(prompt))

    def generate(self, prompts: Sequence[Prompt], n: int = 1, sampling: Sampling | None = None):
        return [[Completion(ANSWER, (5, 6), (-1.0, -1.0), "stop")] * n for _ in prompts]

    def score(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[Score]:
        self.scored += [(self.render(p), c) for p, c in zip(prompts, continuations)]
        return [Score((1,), (-len(c) / 10,)) for c in continuations]


def agent_prompt(env, llm):
    return ReActAgent(llm, system_prompt=env.system_prompt, codec=env.action_codec, max_history=0).prompt


def test_the_hardest_fraction_of_each_group_is_kept_in_order():
    env = ToolUseEnv(difficulty="easy", num_tasks=40)
    tasks = env.tasks("train")[:20]
    llm = LengthScorer()
    hardest = select_hardest(tasks, 0.3, llm, agent_prompt(env, llm), lambda: ToolUseEnv("easy", 40))
    calls = {t.id: any("tool" in json.loads(a) for a in env.solution(t)) for t in tasks}
    mean_length = {t.id: sum(map(len, env.solution(t))) / len(env.solution(t)) for t in tasks}
    expected = set()
    for group in (True, False):
        members = [t.id for t in tasks if calls[t.id] is group]
        assert members, "the easy tasks hold both tool-call and answer-only tasks"
        ranked = sorted(members, key=lambda i: -mean_length[i])
        expected |= set(ranked[: max(1, round(0.3 * len(members)))])
    assert [t.id for t in hardest] == [t.id for t in tasks if t.id in expected]
    # Every ground-truth action was scored after the agent's prompt and "Action: ".
    actions = [a for t in tasks for a in env.solution(t)]
    assert [c for _, c in llm.scored] == actions
    assert all(p.endswith("Thought: I take the next step.\nAction: ") for p, _ in llm.scored)


def test_later_steps_are_scored_after_the_earlier_ground_truth_turns():
    env = ToolUseEnv(difficulty="medium", num_tasks=5)
    task = env.tasks("train")[0]
    llm = LengthScorer()
    actions = env.solution(task)
    assert len(actions) >= 2
    texts = ground_truth_prompts(task, actions, ToolUseEnv("medium", 5), agent_prompt(env, llm), llm.render)
    play = ToolUseEnv("medium", 5)
    play.reset(task)
    observation = play.step(actions[0]).observation
    assert observation.splitlines()[-2] in texts[1] and observation not in texts[0]


def test_a_real_tiny_model_scores_ground_truths(make_tiny_model, tokenizer):
    from agentloop.llm.transformers_backend import TransformersBackend

    llm = TransformersBackend(make_tiny_model(0), tokenizer)
    env = ToolUseEnv(difficulty="easy", num_tasks=6)
    tasks = env.tasks("train")[:4]
    values = task_perplexities(tasks, llm, agent_prompt(env, llm), lambda: ToolUseEnv("easy", 6))
    assert all(math.isfinite(v) and v > 1.0 for v in values)
    assert len(set(values)) == len(values)


def test_the_collect_phase_searches_only_the_selected_tasks(tmp_path, monkeypatch):
    from agentloop.search import load_trees

    from agentloop.run import rounds
    from agentloop.run.rundir import RunDir

    config = load_config(None, ["env.kind=tooluse", "env.num_tasks=20", "loop.train_tasks=10",
                                "loop.select_hardest=0.3", "loop.rounds=1", f"loop.runs_dir={tmp_path}",
                                "search.simulations=1", "search.k=1", "search.max_depth=1",
                                "agent.max_history=0"])
    run = RunDir.open(config)
    run.set_model(0, "scripted")
    session = rounds.Session(config, run)
    llm = LengthScorer()
    monkeypatch.setattr(session, "llm", lambda model: llm)
    rounds.collect_phase(session, 1)
    searched = sorted(tree.task_id for tree in load_trees(run.round_dir(1) / "trees"))
    agent = rounds.build_agent(config.agent, llm, session.env)
    expected = select_hardest(session.train_tasks(1), 0.3, llm, agent.prompt, session.new_env, "Thought:")
    assert searched == sorted(t.id for t in expected)
    assert 0 < len(searched) < 10
