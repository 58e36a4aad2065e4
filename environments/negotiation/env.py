"""`NegotiationEnv`: the bargaining game as an Environment for one learning role.

The seller opens "...its price is $H", the buyer answers "Would you consider
selling it for $L?" (the paper's fixed openings), then the learning role and
its rival alternate one sentence each for at most `max_exchanges` exchanges.
The rival (a `Bargainer`) and the moderator act inside `step`, so MCTS searches
the learning role's moves only. With `opponent=None` the environment is a
two-player game instead: `step` speaks for `current_role()` and the turn passes.

An action is `say[<one sentence>]`. Every observation is the whole dialogue so
far (self-contained, for agents that keep no history) and whose turn it is; the
agreed price is part of the dialogue, the reward is not (it lives in
`StepResult.reward` and `info["rewards"]`, per role).

Example:
    >>> env = NegotiationEnv(role="seller")
    >>> print(env.reset(env.tasks("train")[0]))
    >>> env.step("say[I can do $18.]").observation
"""

from __future__ import annotations

import random
import re
import zlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agentloop.environments.negotiation.bargainer import Bargainer, ScriptedBargainer
from agentloop.environments.negotiation.game import ROLES, Utterance, Verdict, last_price, moderate, other, reward
from agentloop.environments.protocol import StepResult, Task
from agentloop.records import Message

ACTION = re.compile(r"^\s*say\s*\[(.*)\]\s*$", re.DOTALL | re.IGNORECASE)
MAX_UTTERANCE = 300
ITEMS = ("balloon", "desk lamp", "used bike", "wool scarf", "board game", "coffee grinder",
         "vintage radio", "phone case", "camping stove", "leather wallet")
SCALES = (1, 2, 3, 5, 10)
SCRIPTED_RIVAL = ScriptedBargainer()


def rules(role: str) -> str:
    """The system prompt of `role`: how the game is played and how to answer."""
    return (f"You are the {role} in a bargaining game. Each turn, write one line "
            "'Thought: <reasoning>' and one line 'Action: say[<one short sentence to the other side>]'. "
            "Write prices as $X. To accept the other side's last price, say so, e.g. 'Action: say[Deal!]'.")


def goal(data: dict, role: str) -> str:
    """What `role` is told about one game (the paper tells the seller its cost)."""
    if role == "seller":
        return f"You are selling a {data['item']}; it cost you ${data['cost']:g}. Sell it for as much as you can."
    return f"You are buying a {data['item']}. Buy it for as little as you can."


def briefing(task: Task, role: str) -> str:
    """Rules and goal together: the system prompt of a model playing `role` in `task`."""
    return rules(role) + " " + goal(task.data, role)


class NegotiationConfig(BaseModel):
    """The bargaining game (`agentloop.environments.negotiation`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    kind: Literal["negotiation"] = "negotiation"
    role: Literal["seller", "buyer"] = "seller"
    """The learning role; the scripted rival plays the other."""
    num_tasks: int = Field(100, gt=0)
    """Tasks per split."""
    max_exchanges: int = Field(10, gt=0)
    """Exchanges (one sentence each side) before the game is cut off without a deal."""
    concession: float = Field(0.35, gt=0, le=1)
    """The scripted rival's concession per turn (share of the gap to its reservation price)."""
    seed: int = 0
    """Seed of the task generator."""


class NegotiationEnv:
    """Bargaining over one item between a learning role and a rival.

    Args:
        role: "seller" or "buyer", the role whose moves `step` takes.
        opponent: the rival inside `step` (default: `ScriptedBargainer()`); None makes
            a two-player game where `step` speaks for `current_role()`.
        num_tasks: tasks per split (train and test are told apart by a hash of the task).
        max_exchanges: exchanges before the game is truncated.
        seed: seed of the task generator.
    """

    name = "negotiation"
    roles = ROLES
    action_verbs = ("say",)
    reward_range = (0.0, 1.0)

    def __init__(self, role: str = "seller", opponent: Bargainer | None = SCRIPTED_RIVAL,
                 num_tasks: int = 100, max_exchanges: int = 10, seed: int = 0):
        if role not in ROLES:
            raise ValueError(f"role must be 'seller' or 'buyer', got {role!r}")
        if num_tasks < 1 or max_exchanges < 1:
            raise ValueError("num_tasks and max_exchanges must be positive")
        self.role, self.opponent = role, opponent
        self.num_tasks, self.max_exchanges, self.seed = num_tasks, max_exchanges, seed
        self._tasks: dict[str, list[Task]] = {}
        self._task: Task | None = None
        self._dialogue: tuple[Utterance, ...] = ()
        self._done = False

    @property
    def system_prompt(self) -> str:
        """The learning role's rules (each task's instruction holds its goal)."""
        return rules(self.role)

    @property
    def demonstration(self) -> tuple[Message, ...]:
        example = Task("example", "", data={"item": "teapot", "cost": 8.0, "low": 10.0, "high": 20.0})
        opening = self._render(example, openings(example.data), self.role)
        answer = ("Thought: The buyer is far below my price. I will come down a little.\n"
                  "Action: say[It is a fine teapot; I can do $18.]" if self.role == "seller" else
                  "Thought: The seller asks too much. I will offer a little more.\n"
                  "Action: say[That is steep; would you take $12?]")
        return (Message(role="user", content=opening), Message(role="assistant", content=answer))

    # -- tasks ---------------------------------------------------------------------------
    def tasks(self, split: str) -> list[Task]:
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
        if not self._tasks:
            self._tasks = _generate(self.num_tasks, self.seed, self.role)
        return self._tasks[split]

    def instruction(self, task: Task, role: str) -> str:
        """What `role` is told about `task` (the task's instruction is the learning role's)."""
        return goal(task.data, role)

    # -- episode -------------------------------------------------------------------------
    def reset(self, task: Task) -> str:
        self._task, self._done = task, False
        self._dialogue = openings(task.data)
        if self.opponent is not None and self.role == "buyer":
            self._say("seller", self.opponent.reply(task, "seller", self._dialogue))
        return self._render(task, self._dialogue, self.current_role())

    def current_role(self) -> str:
        return other(self._dialogue[-1][0]) if self._dialogue else "seller"

    def available_actions(self) -> list[str]:
        if self._done or self._task is None:
            return []
        role, data = self.current_role(), self._task.data
        theirs = last_price(self._dialogue, other(role))
        mine = last_price(self._dialogue, role)
        prices = sorted({round(data["low"] + (data["high"] - data["low"]) * f) for f in (0.2, 0.4, 0.6, 0.8)})
        actions = [f"say[How about ${p:g}?]" for p in prices if mine is None or p != mine]
        return actions + (["say[Deal!]"] if theirs is not None else [])

    def step(self, action: str) -> StepResult:
        if self._done or self._task is None:
            return StepResult("The game is over.", 0.0, False, False, {"invalid": True})
        match = ACTION.match(action) if isinstance(action, str) else None
        text = match.group(1).strip() if match else ""
        if not text or len(text) > MAX_UTTERANCE or "\n" in text:
            problem = "too long" if len(text) > MAX_UTTERANCE else "not of the form say[<one sentence>]"
            return StepResult(f"Invalid action {str(action)[:80]!r}: {problem}.\n"
                              + self._render(self._task, self._dialogue, self.current_role()),
                              0.0, False, False, {"invalid": True})
        acting = self.current_role()
        self._say(acting, text)
        verdict = moderate(self._dialogue)
        if not verdict.ended and self.opponent is not None:
            self._say(other(acting), self.opponent.reply(self._task, other(acting), self._dialogue))
            verdict = moderate(self._dialogue)
        exchanges = sum(1 for speaker, _ in self._dialogue[2:] if speaker == "buyer")
        truncated = not verdict.ended and exchanges >= self.max_exchanges
        self._done = verdict.ended or truncated
        return StepResult(self._render(self._task, self._dialogue, other(self._dialogue[-1][0]), verdict),
                          self._rewards(verdict)[acting], verdict.ended, truncated, self._info(verdict))

    def _say(self, role: str, text: str) -> None:
        self._dialogue = self._dialogue + ((role, text),)

    def _rewards(self, verdict: Verdict) -> dict[str, float]:
        low, high = self._task.data["low"], self._task.data["high"]
        return {role: reward(role, verdict, low, high) for role in ROLES}

    def _info(self, verdict: Verdict) -> dict:
        info = {"deal": verdict.deal, "price": verdict.price if verdict.deal else None,
                "rewards": self._rewards(verdict)}
        if verdict.ended:
            info["success"] = info["rewards"][self.role] > 0.0
        return info

    def _render(self, task: Task, dialogue: tuple[Utterance, ...], turn: str,
                verdict: Verdict | None = None) -> str:
        lines = [f"{speaker.capitalize()}: {said}" for speaker, said in dialogue]
        exchange = sum(1 for speaker, _ in dialogue[2:] if speaker == "buyer") + 1
        if verdict is not None and verdict.ended:
            lines.append(f"The game is over: deal at ${verdict.price:g}." if verdict.deal
                         else "The game is over: no agreement.")
        elif self._done:
            lines.append("The game is over: the exchanges ran out.")
        else:
            lines.append(f"(Exchange {exchange} of {self.max_exchanges}. Your turn, {turn}: "
                         "answer with one short sentence.)")
        return "\n".join(lines)

    def snapshot(self) -> tuple:
        return (self._task, self._dialogue, self._done)

    def restore(self, state: tuple) -> None:
        self._task, self._dialogue, self._done = state


def openings(data: dict) -> tuple[Utterance, ...]:
    """The paper's fixed first two lines: the seller's asking price, the buyer's first offer."""
    return (("seller", f"This is a good {data['item']}, its price is ${data['high']:g}."),
            ("buyer", f"Would you consider selling it for ${data['low']:g}?"))


_COMBINATIONS = len(ITEMS) * len(SCALES) * 6 * 5


def _generate(count: int, seed: int, role: str) -> dict[str, list[Task]]:
    """`count` tasks per split; a task is test when a hash of its content says so (1 in 5),
    so no test game is a train game and the split does not depend on `count`."""
    if count > _COMBINATIONS // 6:
        raise ValueError(f"num_tasks must be at most {_COMBINATIONS // 6}, got {count}")
    rng = random.Random(seed)
    tasks: dict[str, list[Task]] = {"train": [], "test": []}
    seen: set[str] = set()
    while min(len(v) for v in tasks.values()) < count:
        scale, item = rng.choice(SCALES), rng.choice(ITEMS)
        budget, floor = rng.randint(13, 18) * scale, rng.randint(9, 13) * scale
        key = f"{item}-{scale}-{budget}-{floor}"
        if key in seen:
            continue
        seen.add(key)
        split = "test" if zlib.crc32(key.encode()) % 5 == 0 else "train"
        if len(tasks[split]) >= count:
            continue
        data = {"item": item, "cost": 8.0 * scale, "low": 10.0 * scale, "high": 20.0 * scale,
                "budget": float(budget), "floor": float(floor)}
        tasks[split].append(Task(f"neg-{split}-{key}", goal(data, role), split, data))
    return tasks
