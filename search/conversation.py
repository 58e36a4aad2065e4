"""A sequence of turns as the chat the model trains on, with one flag per turn.

The builders render through the agent's own `prompt(state)`, so training data
reads exactly like what the agent saw when it acted. The agent's prompt must
render each past turn it shows as one assistant message holding the turn's
completion. An agent that shortens its history (ReActAgent's max_history) never
sees early turns next to later ones, so `conversations` gives one chat per
stretch of turns the prompt shows together: every trained turn is trained once,
under the prompt the agent read when it took it. A sequence that only makes
sense read whole (an Agent-R revision shows the steps it revises) goes through
`whole_conversation`, which refuses a prompt that leaves a turn out.

Example:
    >>> messages, flags = conversation(agent.prompt, "Reach the goal.", turns, [False, True])
    >>> [m.role for m in messages][-1], flags[-1]
    ('assistant', True)
    >>> chats = conversations(agent.prompt, "Reach the goal.", turns, [True, True])
    >>> messages, flags = whole_conversation(agent.prompt, "Reach the goal.", turns, [False, True])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agentloop.agents.protocol import AgentState, Turn
from agentloop.records import Message

PromptFn = Callable[[AgentState], list[Message]]


def conversation(prompt: PromptFn, instruction: str, turns: Sequence[Turn],
                 train: Sequence[bool], role: str = "") -> tuple[list[Message], list[bool]]:
    """Messages of `turns` (each: observation seen, completion given) and per-message flags.

    `train[t]` says whether turn t's completion is trained; every other message
    (system, user/environment) gets False.
    """
    if not turns or len(turns) != len(train):
        raise ValueError(f"need one flag per turn and at least one turn; got {len(turns)} turns, "
                         f"{len(train)} flags")
    last = turns[-1]
    state = AgentState(instruction, last.observation, tuple(turns[:-1]), role)
    messages = list(prompt(state)) + [Message(role="assistant", content=last.completion)]
    flags = [False] * len(messages)
    # Pair assistant messages with turns from the end: an agent that shortens long
    # histories (ReActAgent's max_history) drops early turns or stands a summary in for
    # them, and those are never trained.
    assistant = [i for i, m in enumerate(messages) if m.role == "assistant"][::-1]
    for index, turn, flag in zip(assistant, reversed(turns), reversed(list(train))):
        if messages[index].content != turn.completion:
            break
        flags[index] = bool(flag)
    return messages, flags


def conversations(prompt: PromptFn, instruction: str, turns: Sequence[Turn],
                  train: Sequence[bool], role: str = "") -> list[tuple[list[Message], list[bool], int]]:
    """Chats that together train every turn flagged in `train`, each once, with the
    number of turns each chat runs to (earliest chat first).

    The first chat ends at the last turn; if the agent's prompt leaves out an earlier
    trained turn, another chat ends at the latest such turn, and so on. With a full
    history this is one chat; with `max_history=0` it is one chat per trained turn.
    """
    if len(turns) != len(train):
        raise ValueError(f"need one flag per turn; got {len(turns)} turns, {len(train)} flags")
    chats = []
    wanted = [t for t, flag in enumerate(train) if flag]
    while wanted:
        end = wanted[-1] + 1
        messages, flags = conversation(prompt, instruction, turns[:end], train[:end], role)
        chats.append((messages, flags, end))
        covered = sum(flags)  # trained turns are covered from the end of the chat backwards
        wanted = wanted[:-covered]
    return chats[::-1]


def whole_conversation(prompt: PromptFn, instruction: str, turns: Sequence[Turn],
                       train: Sequence[bool], role: str = "") -> tuple[list[Message], list[bool]]:
    """`conversation` for turns that must be read in one chat; raises ValueError when
    `prompt` leaves one of them out (ReActAgent: `max_history` below `len(turns) - 1`)."""
    messages, flags = conversation(prompt, instruction, turns, train, role)
    shown = [m.content for m in messages if m.role == "assistant"][-len(turns):]
    if shown != [turn.completion for turn in turns]:
        raise ValueError(f"the prompt does not show all {len(turns)} turns in one chat; give one "
                         f"that shows every past turn (ReActAgent: max_history >= {len(turns) - 1})")
    return messages, flags
