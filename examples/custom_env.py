"""Bring your own environment: a number-guessing game with its own action syntax
(`guess 7`, read by a RegexCodec), checked by `check_env`, then run by `agentloop run`
through `env: {kind: import, target: "custom_env:GuessEnv"}`.

    python examples/custom_env.py --tiny     # a tiny random model, one tiny round (seconds)
    python examples/custom_env.py            # the default model, one small round
"""

import random
import sys
import tempfile
from pathlib import Path

from agentloop.cli import app
from agentloop.environments import RegexCodec, StepResult, Task, check_env
from agentloop.llm.tiny import save_tiny_model


class GuessEnv:
    """Find a secret in 1..`high`; each guess is answered "higher"/"lower". Reward 1 for
    the secret (terminated); after `max_guesses` wrong guesses the episode is truncated."""

    name = "guess"
    action_codec = RegexCodec(r"guess\s+\d+", "guess <number>")
    system_prompt = ("Find the secret number. Each turn write one line 'Thought: <reasoning>' "
                     "and one line 'Action: guess <number>'.")

    def __init__(self, high: int = 16, max_guesses: int = 5, num_tasks: int = 20):
        self.high, self.max_guesses, self.num_tasks = high, max_guesses, num_tasks
        self.task, self.guesses = None, ()

    def tasks(self, split: str) -> list[Task]:
        rng = random.Random(f"{split}-{self.high}")  # seeded by a string: the same in every process
        return [Task(f"guess-{split}-{i}", f"Find the secret number from 1 to {self.high}.", split,
                     {"secret": rng.randint(1, self.high)}) for i in range(self.num_tasks)]

    def reset(self, task: Task) -> str:
        self.task, self.guesses = task, ()
        return self._observe()

    def _observe(self) -> str:  # every hint so far: enough to act on without the history
        if self.guesses and self.guesses[-1] == self.task.data["secret"]:
            return f"You guessed {self.guesses[-1]}. The episode is over."
        hints = [f"{g}: {'higher' if g < self.task.data['secret'] else 'lower'}" for g in self.guesses]
        return f"Guesses so far: {', '.join(hints) or 'none'}. Write guess <number>."

    def step(self, action: str) -> StepResult:
        parsed = self.action_codec.parse(action) if isinstance(action, str) else None
        number = int(parsed.split()[1]) if parsed == " ".join(str(action).split()) else 0
        if self._over() or not 1 <= number <= self.high:
            return StepResult(f"Not a move: write guess <number> from 1 to {self.high}. "
                              + self._observe(), 0.0, False, False, {"invalid": True})
        self.guesses += (number,)
        found = number == self.task.data["secret"]
        return StepResult(self._observe(), float(found), found, not found and self._over(),
                          {"success": found} if found or self._over() else {})

    def _over(self) -> bool:
        return bool(self.guesses) and (self.guesses[-1] == self.task.data["secret"]
                                       or len(self.guesses) >= self.max_guesses)

    def available_actions(self) -> list[str]:
        return [f"guess {n}" for n in range(1, self.high + 1)]

    def solution(self, task: Task) -> list[str]:  # binary search: check_env plays it to the end
        low, high, moves = 1, self.high, []
        while (middle := (low + high) // 2) != task.data["secret"]:
            moves.append(f"guess {middle}")
            low, high = (middle + 1, high) if middle < task.data["secret"] else (low, middle - 1)
        return moves + [f"guess {middle}"]

    def snapshot(self) -> tuple:
        return (self.task, self.guesses)

    def restore(self, state: tuple) -> None:
        self.task, self.guesses = state


def main() -> None:
    tiny = "--tiny" in sys.argv[1:]  # a tiny random model and budget: seconds, not minutes
    check_env(GuessEnv(), factory=GuessEnv)  # the contract, across instances and processes
    out = Path(tempfile.mkdtemp(prefix="custom-env-"))
    model = str(save_tiny_model(out / "model")) if tiny else "default"
    n, steps = (2, 2) if tiny else (8, 5)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # so "custom_env:GuessEnv" imports
    app(["run", "env.kind=import", "env.target=custom_env:GuessEnv", f"env.kwargs.num_tasks={n}",
         "llm.kind=transformers", f"llm.model={model}", f"agent.max_steps={steps}",
         f"agent.max_new_tokens={8 if tiny else 48}", f"search.simulations={1 if tiny else 8}",
         "search.k=2", f"search.max_depth={steps}", "loop.name=guess", f"loop.runs_dir={out}",
         "loop.rounds=1", f"loop.train_tasks={n}", f"loop.test_tasks={n}", f"loop.search_batch={n}"],
        standalone_mode=False)  # `agentloop run ...`, in this process


if __name__ == "__main__":
    main()
