"""No environment shows the outcome: after a scripted episode played to its end, no
observation holds the reward or an outcome word (issue 12), and `check_env` catches
an environment that does."""

from __future__ import annotations

import pytest
from agentloop.environments import check_env
from agentloop.environments.checker import EnvCheckError, _outcome_in
from agentloop.environments.codec import RegexCodec
from agentloop.environments.maze import MazeEnv
from agentloop.environments.protocol import StepResult, Task
from agentloop.environments.webshop import WebShopEnv


def _play(env, task: Task, actions: list[str]) -> tuple[list[str], list[StepResult]]:
    """Observations (reset, each step, one step past the end) and the step results."""
    observations, results = [env.reset(task)], []
    for action in actions:
        results.append(env.step(action))
        observations.append(results[-1].observation)
        if results[-1].terminated or results[-1].truncated:
            break
    observations.append(env.step(actions[-1]).observation)
    return observations, results


def _assert_neutral(observations: list[str], reward: float) -> None:
    for step, text in enumerate(observations):
        assert _outcome_in(text, set(), {reward} if reward else set()) is None, (step, text)


@pytest.mark.parametrize("mode", ["compact", "text"])
@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_webshop_expert_purchase_page_holds_no_outcome(difficulty, mode):
    env = WebShopEnv(num_products=500, difficulty=difficulty, observation_mode=mode, num_tasks=5)
    for task in env.tasks("train"):
        observations, results = _play(env, task, env.solution(task))
        assert results[-1].terminated and results[-1].reward == 1.0 and results[-1].info["success"]
        assert "You bought" in observations[-2]
        _assert_neutral(observations, 1.0)


def test_webshop_partial_reward_is_not_on_the_page():
    """A purchase that earns a fraction ("Reward: 0.50" before the fix) shows no number."""
    env = WebShopEnv(num_products=500, difficulty="medium", num_tasks=10)
    partial = 0
    for task in env.tasks("train"):
        env.reset(task)
        env.step(f"search[{task.data['query']}]")
        others = [a for a in env.available_actions()
                  if a.startswith("click[") and task.data["target"].lower() not in a.lower()
                  and a not in ("click[back to search]", "click[next >]", "click[< prev]")]
        env.step(others[0])
        result = env.step("click[buy now]")
        assert result.terminated
        if 0 < result.reward < 1:
            partial += 1
            assert f"{result.reward:.2f}" not in result.observation, result.observation
            _assert_neutral([result.observation], result.reward)
    assert partial > 0  # the case the test is about did occur


def test_maze_goal_and_truncation_read_the_same():
    env = MazeEnv(size=7, num_tasks=5, max_steps=3)
    for task in MazeEnv(size=7, num_tasks=5).tasks("train"):
        reached = MazeEnv(size=7, num_tasks=5)
        observations, results = _play(reached, task, reached.solution(task))
        assert results[-1].terminated and results[-1].reward == 1.0 and results[-1].info["success"]
        _assert_neutral(observations, 1.0)
        assert observations[-2].endswith("The episode is over.")
        if task.data["optimal"] > 3:  # runs out of steps on the way
            cut, results = _play(env, task, env.solution(task))
            assert results[-1].truncated and results[-1].reward == 0.0
            assert cut[-2].endswith("The episode is over.")
            _assert_neutral(cut, 0.0)


@pytest.mark.parametrize("difficulty", ["easy", "hard"])
def test_check_env_passes_webshop_and_maze(difficulty):
    check_env(MazeEnv(size=7, num_tasks=3))
    check_env(WebShopEnv(num_products=500, difficulty=difficulty, num_tasks=3))


class ButtonEnv:
    """One button; pressing it ends the episode with reward 1.0 and shows `end`."""

    name = "button"
    action_codec = RegexCodec(r"\bpress\b", "press")  # not verb[argument]

    def __init__(self, end: str, instruction: str = "Press the button.", solution: bool = True):
        self.end, self.instruction, self.done = end, instruction, False
        if solution:
            self.solution = lambda task: ["press"]

    def tasks(self, split: str) -> list[Task]:
        return [Task(id=f"button-{split}-0", instruction=self.instruction, split=split)]

    def reset(self, task: Task) -> str:
        self.done = False
        return "A button. Type press."

    def step(self, action: str) -> StepResult:
        if self.done or action != "press":
            return StepResult("Type press.", 0.0, False, False, {"invalid": True})
        self.done = True
        return StepResult(self.end, 1.0, True, False, {"success": True})

    def available_actions(self) -> list[str]:
        return ["press"]

    def snapshot(self) -> bool:
        return self.done

    def restore(self, state: bool) -> None:
        self.done = state


@pytest.mark.parametrize("solution", [True, False])
@pytest.mark.parametrize(("end", "shown"), [
    ("Pressed. Reward: 1.0", "'Reward'"),
    ("Pressed. You won!", "'You won'"),
    ("Pressed (1.00).", "the reward 1"),
    ("Pressed. Goal reached.", "'Goal reached'"),
])
def test_check_env_catches_a_leaking_env(end, shown, solution):
    with pytest.raises(EnvCheckError) as caught:
        check_env(ButtonEnv(end, solution=solution))
    message = str(caught.value)
    assert "task button-train-0, step 1" in message and shown in message, message


def test_check_env_allows_outcome_words_of_the_public_state():
    # "score" is in the instruction: the game is about a score, saying it is no leak.
    check_env(ButtonEnv("Pressed. Your score is shown on the board.",
                        instruction="Press the button to raise the score."))
    check_env(ButtonEnv("Pressed. It cost $1.00."))  # a price is not the reward
