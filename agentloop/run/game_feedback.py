"""The critic's feedback per task, for `agents.feedback_agent.FeedbackAgent` (context
distillation of ICL-AIF, Fu et al. 2023).

One greedy game per task with the plain agent, then the same model, prompted as a coach
(`run.icl_aif.critic_prompt`'s style), reads the game and gives three suggestions. The
critic reads the last observation the player acted on (a negotiation observation is the
whole dialogue so far), its last action and its reward.

Example:
    >>> feedback = game_feedback(llm, NegotiationEnv(), agent, env.tasks("train")[:32], role="seller")
    >>> coached = FeedbackAgent(agent, feedback, llm)
"""

from __future__ import annotations

from collections.abc import Sequence

from agentloop.agents.protocol import Agent
from agentloop.environments.protocol import Environment, Task
from agentloop.llm.protocol import LLM, Sampling
from agentloop.records import Message, Trajectory
from agentloop.run.episodes import run_episodes
from agentloop.run.icl_aif import CRITIC_SAMPLING

GREEDY = Sampling(temperature=0.0, max_new_tokens=64, stop=("\nObservation",))
"""The plain agent's game: greedy, one ReAct turn."""


def game_transcript(trajectory: Trajectory) -> str:
    """What the critic reads of one game: the last observation the player acted on (a
    negotiation observation is the whole dialogue so far), its last action, the outcome."""
    if not trajectory.steps:
        return f"(no moves) Reward: {trajectory.reward:g}."
    last = trajectory.steps[-1]
    outcome = "the game ended" if trajectory.terminated else "the game was cut off"
    return f"{last.observation}\nYou answered: {last.action}\nThen {outcome}; your reward was {trajectory.reward:g}."


def feedback_prompt(trajectory: Trajectory, role: str = "player") -> list[Message]:
    """The critic's prompt (`agentloop.run.icl_aif.critic_prompt`'s style) for one game."""
    return [Message(role="system", content=f"You coach the {role} of a game."),
            Message(role="user", content=f"Here is the {role}'s game:\n{game_transcript(trajectory)}\n"
                                         f"Give three short suggestions that would help the {role} "
                                         "get a higher reward next time.")]


def game_feedback(llm: LLM, env: Environment, agent: Agent, tasks: Sequence[Task], role: str = "player",
                  max_steps: int = 15, sampling: Sampling = GREEDY) -> dict[str, str]:
    """The critic's feedback per task instruction: one greedy game per task with `agent`,
    then `llm` (the same model) gives three suggestions on each, in one batched call.
    Tasks sharing an instruction keep the last one's feedback.

    Example:
        >>> game_feedback(llm, NegotiationEnv(), agent, tasks, role="seller")[tasks[0].instruction]
        '1. Open higher. 2. ...'
    """
    games = run_episodes(env, tasks, agent, max_steps=max_steps, sampling=sampling, progress=False)
    if not games:
        return {}
    answers = llm.generate([feedback_prompt(g, role) for g in games], n=1, sampling=CRITIC_SAMPLING)
    by_id = {t.id: t for t in tasks}
    return {by_id[g.task_id].instruction: row[0].text.strip() for g, row in zip(games, answers)}
