"""textarena's two-player games under the Environment protocol (extra `agentloop[textarena]`).

How to bring any two-player text game: the game's players are the `roles`,
`current_role()` says whose turn it is, `step` speaks for that role and
returns the next player's own observation (its private prompt and the game's
messages to it, never the other's), and `info["rewards"]` holds every role's
reward, so search backs up each player's own outcome. Here the game is
textarena's `SimpleNegotiation-v0` (two players trade Wheat, Wood, Sheep,
Brick and Ore; whoever gains more inventory value wins: +1/-1, a draw 0/0, so
`reward_range` is (-1, 1) and the game is zero-sum).

Actions are textarena's tokens: `[Offer: 2 Wood -> 1 Ore]`, `[Accept]`,
`[Deny]` (`action_codec`). textarena takes any text as talk; this adapter
takes only those tokens, and an action textarena rejects (an offer of goods
the player lacks) is answered as invalid with the game left as it was, as the
protocol asks. textarena keeps no snapshots: `snapshot` is a deep copy of the
game, wrappers included. Each task is a seed; textarena seeds Python's global
`random` with it at reset, so the adapter restores the caller's random state
afterwards. Runs offline: nothing here reaches a network.

Example:
    >>> env = TextArenaEnv()
    >>> task = env.tasks("train")[0]
    >>> env.reset(task).splitlines()[1], env.current_role()
    ('You are Player 0 in the Negotiation Game.', 'Player 0')
    >>> env.step("[Offer: 1 Wheat -> 1 Ore]").info["rewards"]
    {'Player 0': 0.0, 'Player 1': 0.0}
"""

from __future__ import annotations

import copy
import random
from typing import Any

from agentloop.environments.codec import RegexCodec
from agentloop.environments.protocol import StepResult, Task

GAME = "SimpleNegotiation-v0"
ACTION = r"\[\s*(?:offer\s*:?[^\[\]]*?->[^\[\]]*|accept|deny)\s*\]"
CODEC = RegexCodec(ACTION, "[Offer: <n> <Resource>, ... -> <n> <Resource>, ...], [Accept] or [Deny]",
                   lower=False)


class TextArenaEnv:
    """A textarena two-player game as a multi-agent Environment.

    Args:
        game: the textarena id (default `SimpleNegotiation-v0`; the actions and listed
            moves are that game's).
        num_tasks: tasks (seeds) per split; test seeds never meet train seeds.
    """

    name = "textarena"
    roles = ("Player 0", "Player 1")
    reward_range = (-1.0, 1.0)
    zero_sum = True
    action_codec = CODEC
    system_prompt = ("You are a player in a two-player trading game. Each turn, write one line "
                     "'Thought: <reasoning>' and one line 'Action: <one of [Offer: 2 Wood -> 1 Ore], "
                     "[Accept], [Deny]>'.")

    def __init__(self, game: str = GAME, num_tasks: int = 50):
        import textarena  # the optional extra: fail here, with its name, when it is missing

        self._textarena, self.game, self.num_tasks = textarena, game, num_tasks
        self._env: Any = None
        self._task: Task | None = None

    def tasks(self, split: str) -> list[Task]:
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
        base = 0 if split == "train" else 1_000_000
        # The seed is named in the instruction: one instruction per task, as agents that
        # find a task by its instruction (the scripted doubles) need.
        return [Task(f"{self.game}-{split}-{i}", f"Game {base + i}: trade so that your inventory "
                     "gains more value than your opponent's.", split, {"seed": base + i})
                for i in range(self.num_tasks)]

    def reset(self, task: Task) -> str:
        saved = random.getstate()
        try:  # a fresh game each time: textarena's wrappers keep their messages across resets
            self._env = self._textarena.make(self.game)
            self._env.reset(num_players=2, seed=task.data["seed"])
        finally:
            random.setstate(saved)
        self._task = task
        return self._observation()

    def current_role(self) -> str:
        return self.roles[self._state.current_player_id] if self._env is not None else self.roles[0]

    def available_actions(self) -> list[str]:
        if self._env is None or self._state.done:
            return []
        game, me = self._state.game_state, self._state.current_player_id
        mine, values = game["player_resources"][me], game["player_values"][me]
        ranked = sorted(values, key=lambda r: (values[r], r))
        cheap, dear = ranked[0], ranked[-1]
        offers = [f"[Offer: {n} {cheap} -> 1 {dear}]" for n in (1, 3) if mine[cheap] >= n]
        offers += [f"[Offer: 1 {dear} -> 2 {cheap}]"] if mine[dear] >= 1 else []
        offer = game["current_offer"]
        pending = offer is not None and offer["to_player"] == me
        return offers + (["[Accept]"] if pending else []) + ["[Deny]"]

    def step(self, action: str) -> StepResult:
        if self._env is None or self._state.done:
            return StepResult("The game is over.", 0.0, False, False, {"invalid": True})
        parsed = CODEC.parse(action) if isinstance(action, str) else None
        if parsed is None or parsed != " ".join(str(action).split()):
            return self._invalid(f"Invalid action {str(action)[:80]!r}: write {CODEC.syntax}.")
        before, acting = self.snapshot(), self.current_role()
        done, _ = self._env.step(parsed)
        if self._state.error_count > 0:  # textarena rejected it: leave the game as it was
            reason = self._reason()
            self.restore(before)
            return self._invalid(f"Invalid action {parsed!r}: {reason}")
        rewards = {role: 0.0 for role in self.roles}
        if done:
            rewards = {self.roles[pid]: float(r) for pid, r in (self._state.rewards or {}).items()}
        info: dict[str, Any] = {"rewards": rewards}
        if done:
            info["success"] = rewards[acting] > 0
        return StepResult(self._observation(), rewards[acting], bool(done), False, info)

    def snapshot(self) -> Any:
        return copy.deepcopy((self._env, self._task))

    def restore(self, state: Any) -> None:
        self._env, self._task = copy.deepcopy(state)

    @property
    def _state(self) -> Any:
        return self._env.state

    def _observation(self) -> str:
        _, observation = self._env.get_observation()
        return observation.strip() if observation.strip() else "(no new messages)"

    def _reason(self) -> str:
        notes = [m for _, m, _ in self._state.observations.get(self._state.current_player_id, [])]
        return notes[-1].split("Reason: ")[-1].split(" Please")[0] if notes else "textarena rejected it."

    def _invalid(self, message: str) -> StepResult:
        # textarena's wrapper keeps the messages it has shown, so this reads the same page again.
        return StepResult(f"{message}\n{self._observation()}", 0.0, False, False, {"invalid": True})
