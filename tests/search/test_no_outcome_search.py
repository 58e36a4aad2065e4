"""Policy + MCTS at inference with critic values never shows the critic the outcome.

A spy critic (maze) and a spy LLM under the real `LLMCritic` (WebShop) fail if any
state they are shown (instruction, history, observation) holds an outcome word or a
reward the search met (issue 12: the purchase page used to say "Reward: 0.50").
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from agentloop.environments.checker import _number, _outcome_in
from agentloop.environments.maze import MazeEnv
from agentloop.environments.webshop import WebShopEnv
from agentloop.search import SearchConfig, solve_tasks
from search_doubles import DistanceCritic, RandomMazeAgent, at_goal, maze_task

from agentloop.agents.critic import LLMCritic
from agentloop.agents.protocol import AgentState, Proposal
from agentloop.llm import Score


def _texts(state: AgentState) -> list[str]:
    return ([state.instruction, state.observation]
            + [text for turn in state.history for text in (turn.observation, turn.completion)])


def _rewards(results) -> set[float]:
    return {data["reward"] for r in results for _, data in r.tree.graph.nodes(data=True)
            if data["reward"] != 0}


class SpyCritic:
    """Passes every call to `critic`; fails on an outcome word in any state it is shown
    and keeps the states, so the rewards the search met can be looked for afterwards."""

    def __init__(self, critic):
        self.critic, self.shown, self.valued = critic, [], []

    def _look(self, states: Sequence[AgentState]) -> None:
        for state in states:
            for text in _texts(state):
                assert _outcome_in(text, set(), set()) is None, text
        self.shown += states

    def rank(self, states, candidates):
        self._look(states)
        return self.critic.rank(states, candidates)

    def judge(self, paths):
        self._look(paths)
        return self.critic.judge(paths)

    def value(self, states):
        self._look(states)
        self.valued += states
        return self.critic.value(states)


def test_critic_valued_maze_search_never_shows_the_critic_the_outcome():
    tasks = [maze_task(4, 5), maze_task(6, 7)]
    spy = SpyCritic(DistanceCritic(tasks))
    config = SearchConfig(simulations=4, k=4, max_depth=10, value_source="critic")
    results = solve_tasks(lambda: MazeEnv(size=7), tasks, RandomMazeAgent(seed=3), spy, config)
    assert all(r.trajectory.success for r in results)
    # The critic did value states at the goal (from the position alone) ...
    assert any(at_goal(s.observation) for s in spy.valued)
    # ... and no state it saw holds a reward the search met.
    rewards = _rewards(results)
    assert rewards == {1.0}
    for state in spy.shown:
        for text in _texts(state):
            assert _outcome_in(text, set(), rewards) is None, text


class ShopperAgent:
    """A scripted WebShop agent: on the expert's path it proposes the expert's next action
    or a shortcut (buy the first result at once), off it only the shortcut; so its
    searches end in purchases, some right (reward 1.0) and some partly right."""

    def __init__(self, env: WebShopEnv, seed: int = 0):
        self.expert = {t.instruction: env.solution(t) for t in env.tasks("train")}
        self.query = {t.instruction: t.data["query"] for t in env.tasks("train")}
        self.rng = random.Random(seed)

    def _shortcut(self, state: AgentState) -> str:
        page = state.observation
        if page.startswith("Search page"):
            return f"search[{self.query[state.instruction]}]"
        if page.startswith("Results for"):
            first = page.split("\n")[1]
            return f"click[{first[1:first.index(']')]}]"
        return "click[buy now]" if page.startswith("Item") else "click[< prev]"

    def _options(self, state: AgentState) -> list[str]:
        done = [turn.completion for turn in state.history]
        expert = self.expert[state.instruction]
        on_path = done == expert[:len(done)] and len(done) < len(expert)
        return ([expert[len(done)]] if on_path else []) + [self._shortcut(state)]

    def propose(self, states, k=1, sampling=None):
        return [[Proposal(a, a, (1,), (-1.0,)) for a in self.rng.choices(self._options(s), k=k)]
                for s in states]

    def prompt(self, state):
        raise AssertionError("the search never renders prompts")


class SpyLLM:
    """Answers critic questions with seeded random scores and keeps every prompt."""

    def __init__(self):
        self.prompts, self.rng = [], random.Random(0)

    def score(self, prompts, continuations):
        self.prompts += prompts
        return [Score(token_ids=(1,), logprobs=(self.rng.uniform(-3, 0),)) for _ in prompts]

    def generate(self, prompts, n=1, sampling=None):
        raise AssertionError("critics score, they do not generate")

    def render(self, prompt):
        return str(prompt)


def test_llm_critic_valued_webshop_search_never_reads_the_purchase_reward():
    def shop() -> WebShopEnv:
        return WebShopEnv(num_products=500, difficulty="medium", num_tasks=4, max_steps=10)

    env, llm = shop(), SpyLLM()
    tasks = env.tasks("train")
    config = SearchConfig(simulations=3, k=2, max_depth=8, value_source="critic")
    results = solve_tasks(shop, tasks, ShopperAgent(env), LLMCritic(llm), config)
    rewards = _rewards(results)
    assert 1.0 in rewards and any(0 < r < 1 for r in rewards), rewards  # both kinds of purchase
    valued = [p for p in llm.prompts if "Has the agent completed" in p[-1].content]
    assert any("You bought" in p[-1].content for p in valued)  # the critic saw purchase pages
    for prompt in llm.prompts:
        # The state part of the question (the question's own wording is the critic's).
        state_text = prompt[-1].content.split("\n\n")[0]
        assert state_text.startswith("Task: ")
        assert _outcome_in(state_text, set(), rewards) is None, state_text
        # Nor anywhere in the prompt, candidates included, as a number (0.75, not a price).
        assert not any(_number(r).search(prompt[-1].content) for r in rewards), prompt[-1].content
