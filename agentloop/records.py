"""The records agentloop produces and exchanges: messages, steps, trajectories,
preference pairs, revision trajectories and evaluation results.

All are frozen pydantic models, so a record never changes after it is made and
reads and writes as JSON (see `agentloop.jsonl`). Every record carries its
`Provenance`: which run, round and task it came from and, for records built
from a search tree, which tree nodes.

Example:
    >>> step = Step(observation="Search page", action="search[red shoes]",
    ...             completion="Thought: look.\\nAction: search[red shoes]")
    >>> Trajectory(task_id="t1", steps=(step,), reward=1.0, success=True).num_steps
    1
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


class Record(BaseModel):
    """Base of every record: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Message(Record):
    """One chat message."""

    role: Role
    content: str


class Provenance(Record):
    """Where a record came from."""

    run: str = ""
    round: int = 0
    task_id: str = ""
    node_ids: tuple[str, ...] = ()
    """Ids of the search-tree nodes the record was built from (empty for plain rollouts)."""


class Step(Record):
    """One agent turn: what the agent saw, what it generated, what it did, what followed."""

    observation: str
    """The environment's observation the agent acted on."""
    completion: str
    """The model's full generated text for this turn (thought and action)."""
    action: str
    """The parsed action sent to the environment (may be invalid; see `invalid`)."""
    token_ids: tuple[int, ...] = ()
    """Token ids of `completion` plus the end-of-turn token, as the trainer tokenises them."""
    logprobs: tuple[float, ...] = ()
    """Log-probability of each of `token_ids` under the generating policy."""
    reward: float = 0.0
    invalid: bool = False
    """True when the action could not be parsed or the environment rejected it."""
    role: str = ""
    """The acting role in a multi-agent environment (empty for single-agent)."""

    @property
    def logprob(self) -> float:
        """Total log-probability of the completion under the generating policy."""
        return float(sum(self.logprobs))


class Trajectory(Record):
    """One episode: the task, the agent's steps and the outcome."""

    task_id: str
    instruction: str = ""
    role: str = ""
    """The role played, in a multi-agent environment (empty for single-agent)."""
    steps: tuple[Step, ...] = ()
    reward: float = 0.0
    """Final reward of the episode (the environment's terminal reward)."""
    success: bool = False
    terminated: bool = False
    truncated: bool = False
    provenance: Provenance = Field(default_factory=Provenance)
    messages: tuple[Message, ...] = ()
    """The conversation as the model saw it, ending with its last turn (for training and export)."""

    @property
    def num_steps(self) -> int:
        return len(self.steps)


class PreferencePair(Record):
    """A step-level preference (Agent Q): two actions at the same state, one preferred.

    `prompt`, `chosen` and `rejected` follow TRL's conversational preference
    format, so `datasets.load_dataset("json", ...)` feeds it to TRL's
    `DPOTrainer` unchanged. `chosen_logprob`/`rejected_logprob` are the summed
    log-probabilities, under the policy that generated them, of exactly the tokens
    agentloop's trainer scores for each side (its content and the end-of-turn
    token): the off-policy DPO reference (`trainer.reference: recorded`). They are
    not TRL's `ref_chosen_logps`, which also cover the "\n" the chat template puts
    after the end-of-turn token, so they are not exported under that name and TRL
    computes its own reference.
    """

    prompt: tuple[Message, ...]
    chosen: tuple[Message, ...]
    rejected: tuple[Message, ...]
    chosen_q: float = 0.0
    rejected_q: float = 0.0
    chosen_logprob: float | None = None
    rejected_logprob: float | None = None
    provenance: Provenance = Field(default_factory=Provenance)


class RevisionTrajectory(Record):
    """A conversation to train on with masked SFT (Agent-R revision or a good trajectory).

    `train[i]` says whether message `i` counts in the loss. Only assistant
    messages may be trained; environment/user turns and the bad prefix of a
    revision are excluded.
    """

    messages: tuple[Message, ...]
    train: tuple[bool, ...]
    kind: Literal["revision", "good"] = "revision"
    bad_reward: float | None = None
    good_reward: float | None = None
    revision_step: int | None = None
    """Index (t') of the first bad step the actor found in the bad path."""
    provenance: Provenance = Field(default_factory=Provenance)

    def model_post_init(self, __context: object) -> None:
        if len(self.train) != len(self.messages):
            raise ValueError(
                f"train has {len(self.train)} flags but there are {len(self.messages)} messages"
            )
        for message, flag in zip(self.messages, self.train):
            if flag and message.role != "assistant":
                raise ValueError(f"only assistant messages can be trained, not {message.role!r}")


EvalSetting = Literal["greedy", "mcts", "mcts-oracle"]
EVAL_SETTINGS: tuple[str, ...] = get_args(EvalSetting)
"""How a run evaluates its own policy; `loop.held_out` names may not take these."""


class EvalResult(Record):
    """Evaluation of one policy on a set of tasks."""

    setting: EvalSetting = "greedy"
    num_tasks: int
    success_rate: float
    success_ci95: tuple[float, float]
    mean_reward: float
    mean_steps: float
    invalid_action_rate: float
    provenance: Provenance = Field(default_factory=Provenance)
