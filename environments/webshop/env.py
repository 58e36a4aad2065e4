"""`WebShopEnv`: a WebShop-style shop (Yao et al. 2022) as an agentloop Environment.

The agent reads an instruction ("i need a dishwasher safe bamboo cutting
board, and price lower than 41.00 dollars"), searches a synthetic catalog with
`search[query]`, opens products and selects options with `click[...]`, and
ends the episode with `click[buy now]`, which pays WebShop's reward (see
`reward.py`); `info["success"]` is reward == 1.0. The page after the purchase
does not say the reward: an agent or critic reading it must not learn the outcome. An episode is truncated
after `max_steps` valid actions with reward 0. Invalid actions change nothing,
do not count as steps, and are answered with the reason.

Catalogs and their search indices are built once per `(num_products, seed)`
in a process and shared by every env made with them.

Example:
    >>> env = WebShopEnv(num_products=2000, difficulty="easy")
    >>> task = env.tasks("train")[0]
    >>> print(env.reset(task))
    Search page. Type search[keywords] to look for products.
    >>> env.step("search[" + task.data["query"] + "]").observation
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Literal

from agentloop.environments.protocol import StepResult, Task
from agentloop.environments.webshop.catalog import Catalog, generate_catalog
from agentloop.environments.webshop.goal import Difficulty, make_tasks
from agentloop.environments.webshop.prompt import SYSTEM_PROMPT, demonstration
from agentloop.environments.webshop.render import Mode, render
from agentloop.environments.webshop.reward import Goal, purchase_reward
from agentloop.environments.webshop.scripted import play_expert
from agentloop.environments.webshop.search import SearchIndex
from agentloop.environments.webshop.state import (
    Purchase,
    Rejection,
    ShopState,
    available,
    transition,
)
from pydantic import BaseModel, ConfigDict, Field

from agentloop.records import Message


@lru_cache(maxsize=2)
def load_shop(num_products: int, seed: int) -> tuple[Catalog, SearchIndex]:
    """The catalog and its index for `(num_products, seed)`, built once per process."""
    catalog = generate_catalog(num_products, seed)
    return catalog, SearchIndex(catalog)


class WebShopConfig(BaseModel):
    """Settings of the WebShop-style environment."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    kind: Literal["webshop"] = "webshop"
    num_products: int = Field(10_000, gt=0)
    """Products in the generated catalog (WebShop's full set has 1.18M; 100k builds in seconds)."""
    seed: int = 0
    """Seed of the catalog and of the tasks."""
    difficulty: Difficulty = "easy"
    """easy: 1 attribute, no options, target first in search; medium; hard (WebShop-like)."""
    observation_mode: Mode = "compact"
    """compact: short pages without the instruction; text: WebShop's text pages."""
    max_steps: int = Field(15, gt=0)
    """Valid actions before the episode is truncated."""
    num_tasks: int = Field(100, gt=0)
    """Tasks per split."""


class WebShopEnv:
    """A shop with a generated catalog: search, open products, pick options, buy.

    Args:
        num_products: catalog size.
        seed: seed of the catalog and the tasks.
        difficulty: "easy", "medium" or "hard" (see `goal.py`).
        observation_mode: "compact" (short, for small models) or "text" (WebShop's).
        max_steps: valid actions before truncation.
        num_tasks: tasks per split.
    """

    name = "webshop"
    action_verbs = ("search", "click")

    def __init__(self, num_products: int = 10_000, seed: int = 0, difficulty: Difficulty = "easy",
                 observation_mode: Mode = "compact", max_steps: int = 15, num_tasks: int = 100):
        if observation_mode not in ("text", "compact"):
            raise ValueError(f"observation_mode must be 'text' or 'compact', got {observation_mode!r}")
        if difficulty not in ("easy", "medium", "hard"):
            raise ValueError(f"difficulty must be easy, medium or hard, got {difficulty!r}")
        if max_steps < 1 or num_tasks < 1:
            raise ValueError("max_steps and num_tasks must be positive")
        self.num_products, self.seed, self.difficulty = num_products, seed, difficulty
        self.observation_mode: Mode = observation_mode
        self.max_steps, self.num_tasks = max_steps, num_tasks
        self.catalog, self.index = load_shop(num_products, seed)
        self.system_prompt: str = SYSTEM_PROMPT
        # Easy tasks ask for no option: their example buys without selecting one.
        self.demonstration: tuple[Message, ...] = demonstration(observation_mode,
                                                                options=difficulty != "easy")
        self._tasks: dict[str, list[Task]] = {}
        self._state = ShopState(task_id="", instruction="", done=True)
        self._goal: Goal | None = None

    def tasks(self, split: str) -> list[Task]:
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
        if split not in self._tasks:
            self._tasks[split] = make_tasks(self.catalog, self.index, split, self.difficulty,
                                            self.num_tasks, self.seed)
        return list(self._tasks[split])

    def reset(self, task: Task) -> str:
        if task.data.get("catalog") != [len(self.catalog), self.catalog.seed]:
            raise ValueError(f"task {task.id} was made for catalog {task.data.get('catalog')}, "
                             f"not [{len(self.catalog)}, {self.catalog.seed}]")
        self._goal = Goal.from_dict(task.data["goal"])
        self._state = ShopState(task_id=task.id, instruction=task.instruction)
        return self._observe()

    def _observe(self) -> str:
        return render(self._state, self.catalog, self._state.instruction, self.observation_mode)

    def available_actions(self) -> list[str]:
        return available(self._state, self.catalog)

    def step(self, action: str) -> StepResult:
        outcome = transition(self._state, action, self.catalog, self.index)
        if isinstance(outcome, Rejection):
            return self._reject(action, outcome.reason)
        if isinstance(outcome, Purchase):
            return self._buy(outcome.state)
        steps = self._state.steps + 1
        truncated = steps >= self.max_steps
        self._state = replace(outcome, steps=steps, done=truncated)
        info = {"invalid": False, "page": outcome.page}
        if truncated:
            info["success"] = False
        return StepResult(self._observe(), 0.0, False, truncated, info)

    def _reject(self, action: object, reason: str) -> StepResult:
        shown = repr(action)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        text = f"Invalid action {shown}: {reason}."
        if not self._state.done:
            text += " Valid actions: " + ", ".join(self.available_actions())
        return StepResult(text, 0.0, False, False, {"invalid": True, "reason": reason})

    def _buy(self, state: ShopState) -> StepResult:
        assert self._goal is not None  # a Purchase needs an open episode
        product = self.catalog.products[state.item]
        breakdown = purchase_reward(product, dict(state.selected), self._goal)
        self._state = replace(state, steps=state.steps + 1, done=True)
        info = {"invalid": False, "success": breakdown.reward == 1.0, "purchased": product.id,
                "selected": dict(state.selected), "reward_breakdown": breakdown.to_dict()}
        # No reward here: what the agent and the critic read never states the outcome
        # (a critic valuing this page would read the reward); it is in reward/info.
        text = (f"You bought {product.id} ({product.title}) for ${product.price:.2f}. "
                "The episode is over.")
        return StepResult(text, breakdown.reward, True, False, info)

    def solution(self, task: Task) -> list[str]:
        """The scripted expert's actions on `task` (`scripted.play_expert`); the episode in
        progress is put back afterwards."""
        saved = self.snapshot()
        try:
            return list(play_expert(self, task).actions)
        finally:
            self.restore(saved)

    def snapshot(self) -> tuple[ShopState, Goal | None]:
        return (self._state, self._goal)

    def restore(self, state: tuple[ShopState, Goal | None]) -> None:
        self._state, self._goal = state


def build_webshop_env(config: WebShopConfig) -> WebShopEnv:
    """Make a `WebShopEnv` from its config."""
    return WebShopEnv(num_products=config.num_products, seed=config.seed,
                      difficulty=config.difficulty, observation_mode=config.observation_mode,
                      max_steps=config.max_steps, num_tasks=config.num_tasks)
