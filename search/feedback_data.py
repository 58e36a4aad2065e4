"""Game-level training data from ICL-AIF runs: a replay that beat the previous price.

ICL-AIF (`agentloop.run.icl_aif`, Fu et al. 2023) replays a bargaining task with the
critic's feedback and the target "sell higher than $p" in the seller's prompt. The paper
stops at the in-context gain; these builders keep it. Wherever game k+1 of an experiment
was played with feedback and closed in range at a higher price than game k (also in
range), that replay is better play of the same task:

- `feedback_pairs`: a game-level `PreferencePair`, chosen = the replay's seller turns,
  rejected = game k's, both as multi-turn continuations with the buyer's lines as user
  messages between (`trainers.encoding` trains only the assistant turns and drops the
  buyer's closing line). The prompt is the seller's plain prompt at the start of a game:
  its briefing without feedback or target, then the two openings. Both games started
  from it; the replay had read the feedback, so its reference log-prob under this prompt
  is not the one it was generated with, and the pairs carry none (the DPO trainer
  computes it, `trainers.dpo.reference_logps`).
- `feedback_sft`: the replay as a `RevisionTrajectory` (kind "good") under the same plain
  prompt, only the seller's own turns trained: the seller learns to play as if it had
  read the feedback.

The chat is ICL-AIF's player format (`run.icl_aif.player_prompt`: briefing as system
prompt, each utterance a message), not the ReAct format of the search agent.

Example:
    >>> results = asyncio.run(run_experiments(llm, tasks, ["ai"], 5, Path("runs/aif/db.sqlite")))
    >>> pairs, sft = feedback_pairs(results), feedback_sft(results)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from agentloop.environments.negotiation.env import briefing, openings
from agentloop.environments.negotiation.game import Verdict, reward
from agentloop.environments.protocol import Task

from agentloop.records import Message, PreferencePair, Provenance, RevisionTrajectory

Game = Mapping[str, Any]
"""One finished ICL-AIF game: `dialogue` ([speaker, text] lines), `deal`, `price`,
`in_range` and the `feedback` the critic gave after it."""


def plain_prompt(result: Mapping[str, Any], role: str = "seller") -> list[Message]:
    """`role`'s prompt at the start of any game of the experiment, without feedback or
    target: what `run.icl_aif.player_prompt` shows before the first game."""
    task = Task(result["task"]["id"], "", data=result["task"]["data"])
    chat = [Message(role="assistant" if speaker == role else "user", content=text)
            for speaker, text in openings(task.data)]
    return [Message(role="system", content=briefing(task, role)), *chat]


def game_turns(game: Game, role: str = "seller") -> list[Message]:
    """The game after the openings as a continuation for `role`: its lines as assistant
    messages, the other side's as user messages, ending at `role`'s last line."""
    played = [Message(role="assistant" if speaker == role else "user", content=text)
              for speaker, text in game["dialogue"][2:]]
    while played and played[-1].role != "assistant":
        played.pop()
    return played


def improvements(result: Mapping[str, Any]) -> Iterator[tuple[int, Game, Game]]:
    """(index of the replay, previous game, replay) for every replay of `result` that was
    played with feedback and beat the previous game's price, both deals in range."""
    games = result["games"]
    for k in range(1, len(games)):
        previous, replay = games[k - 1], games[k]
        if previous["in_range"] and replay["in_range"] and previous["feedback"] \
                and replay["price"] > previous["price"]:
            yield k, previous, replay


def _reward(result: Mapping[str, Any], game: Game) -> float:
    data = result["task"]["data"]
    return reward("seller", Verdict(bool(game["deal"]), game["price"], True), data["low"], data["high"])


def feedback_pairs(results: Sequence[Mapping[str, Any]], run: str = "",
                   round: int = 0) -> list[PreferencePair]:
    """Replay over previous game, for every improvement in `results` (`run_experiments`'
    final states), under the seller's plain prompt; no reference log-probs."""
    pairs = []
    for result in results:
        prompt = tuple(plain_prompt(result))
        for k, previous, replay in improvements(result):
            chosen, rejected = game_turns(replay), game_turns(previous)
            if not chosen or not rejected:
                continue
            pairs.append(PreferencePair(
                prompt=prompt, chosen=tuple(chosen), rejected=tuple(rejected),
                chosen_q=_reward(result, replay), rejected_q=_reward(result, previous),
                provenance=Provenance(run=run, round=round, task_id=result["task"]["id"])))
    return pairs


def feedback_sft(results: Sequence[Mapping[str, Any]], run: str = "",
                 round: int = 0) -> list[RevisionTrajectory]:
    """Every improving replay in `results` as masked SFT data under the plain prompt: the
    seller's turns trained, the briefing, openings and buyer's lines not."""
    records = []
    for result in results:
        prompt = plain_prompt(result)
        for _, _, replay in improvements(result):
            turns = game_turns(replay)
            if not turns:
                continue
            records.append(RevisionTrajectory(
                messages=(*prompt, *turns),
                train=(False,) * len(prompt) + tuple(m.role == "assistant" for m in turns),
                kind="good", good_reward=_reward(result, replay),
                provenance=Provenance(run=run, round=round, task_id=result["task"]["id"])))
    return records
