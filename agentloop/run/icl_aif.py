"""In-context learning from AI feedback (ICL-AIF, Fu et al. 2023) as a LangGraph graph.

One experiment is one bargaining task replayed up to `games` times. Seller,
buyer, moderator and critic are nodes of a compiled `StateGraph`:

    seller -> moderator -> buyer -> moderator -> ... -> critic -> seller (next game) | END

After each game the critic gives the seller feedback, and the seller replays
with it in its system prompt together with the paper's target ("sell at a
higher price than the previous game, i.e. higher than $p"); the buyer is reset
each game (it keeps no memory of earlier games). Three feedback modes, as in the
paper: `ai` (the same model, as critic, reads the seller's game and gives three
suggestions), `constant` ("Nice game! Can you do better next time?" and the
target), and `none` (a plain replay: no feedback, no target). Unrolling stops
after a game without a deal or with a price outside [buyer's opening, seller's
opening]. The moderator is the rule of `environments/negotiation/game.py`.

Every experiment is a thread of an `AsyncSqliteSaver` checkpointer in the run
directory, checkpointed after every node; the transcript is reset per game and
finished games are kept in their own list (a growing transcript would make the
checkpoints grow quadratically). Rerunning the same command resumes each thread
from its last checkpoint: a killed run loses at most the node in flight. All
experiments run concurrently and their model calls are merged into batched
backend calls (`agentloop.serve.batcher.Batcher`); decoding is greedy, so the
batches need no seeds.

Example:
    >>> results = asyncio.run(run_experiments(llm, env.tasks("test")[:100], ["none", "ai"], 5,
    ...                                       Path("runs/aif/icl-aif.sqlite")))
    >>> feedback_table(results)
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypedDict

from agentloop.environments.negotiation.env import openings, briefing
from agentloop.environments.negotiation.game import moderate, other
from agentloop.environments.protocol import Task
from agentloop.llm.protocol import LLM, Sampling
from agentloop.records import Message
from agentloop.run.evaluate import wilson_interval

MODES = ("none", "constant", "ai")
CONSTANT_FEEDBACK = "Nice game! Can you do better next time?"
PLAYER_SAMPLING = Sampling(temperature=0.0, max_new_tokens=40, stop=("\n",))
CRITIC_SAMPLING = Sampling(temperature=0.0, max_new_tokens=96)

Ask = Callable[[list[Message], Sampling], Awaitable[str]]
"""An async model call: chat messages in, completion text out."""


class Experiment(TypedDict):
    """The graph's state: one task, one feedback mode, the current game and the finished ones."""

    task: dict[str, Any]
    mode: str
    dialogue: list[list[str]]
    games: list[dict[str, Any]]
    feedback: str
    next: str
    """Who acts next, as the moderator decided: "seller", "buyer" or "critic" (the game is over)."""


def initial_state(task: Task, mode: str) -> Experiment:
    if mode not in MODES:
        raise ValueError(f"unknown feedback mode {mode!r}; use one of {MODES}")
    return Experiment(task={"id": task.id, "data": dict(task.data)}, mode=mode,
                      dialogue=[list(u) for u in openings(task.data)], games=[], feedback="",
                      next="seller")


def _task(state: Experiment) -> Task:
    return Task(state["task"]["id"], "", data=state["task"]["data"])


def player_prompt(state: Experiment, role: str) -> list[Message]:
    """A player's prompt: its briefing (the seller's with feedback and target), the game as chat."""
    system = briefing(_task(state), role)
    if role == "seller" and state["games"] and state["mode"] != "none":
        price = state["games"][-1]["price"]
        system += (f"\n\nFeedback on your previous game: {state['feedback']}\nSell at a higher price "
                   f"than the previous game, i.e. higher than ${price:g}.")
    chat = [Message(role="assistant" if speaker == role else "user", content=text)
            for speaker, text in state["dialogue"]]
    return [Message(role="system", content=system), *chat]


def critic_prompt(state: Experiment, game: dict[str, Any]) -> list[Message]:
    transcript = "\n".join(f"{s.capitalize()}: {t}" for s, t in game["dialogue"])
    return [Message(role="system", content="You coach the seller of a bargaining game."),
            Message(role="user", content=f"Here is the seller's game:\n{transcript}\nThe deal was at "
                                         f"${game['price']:g}. Give three short suggestions that would "
                                         "help the seller sell at a higher price next time.")]


def _utterance(text: str) -> str:
    line = next((part.strip() for part in text.strip().splitlines() if part.strip()), "")
    return line[:300] or "..."


def build_graph(ask: Ask, games: int = 5, max_exchanges: int = 10):
    """The uncompiled ICL-AIF `StateGraph` over the model call `ask`."""
    from langgraph.graph import END, START, StateGraph

    def player(role: str):
        async def move(state: Experiment) -> dict:
            said = _utterance(await ask(player_prompt(state, role), PLAYER_SAMPLING))
            return {"dialogue": state["dialogue"] + [[role, said]]}
        return move

    def moderator(state: Experiment) -> dict:
        verdict = moderate([tuple(u) for u in state["dialogue"]])
        exchanges = sum(1 for speaker, _ in state["dialogue"][2:] if speaker == "buyer")
        over = verdict.ended or exchanges >= max_exchanges
        return {"next": "critic" if over else other(state["dialogue"][-1][0])}

    async def critic(state: Experiment) -> dict:
        verdict = moderate([tuple(u) for u in state["dialogue"]])
        data = state["task"]["data"]
        game = {"dialogue": state["dialogue"], "deal": verdict.deal,
                "price": verdict.price if verdict.deal else None,
                "in_range": verdict.deal and data["low"] <= verdict.price <= data["high"]}
        feedback = ""
        if game["in_range"] and state["mode"] == "ai":
            feedback = (await ask(critic_prompt(state, game), CRITIC_SAMPLING)).strip()
        elif game["in_range"] and state["mode"] == "constant":
            feedback = CONSTANT_FEEDBACK
        game["feedback"] = feedback
        return {"games": state["games"] + [game], "feedback": feedback, "next": "seller",
                "dialogue": [list(u) for u in openings(data)]}

    def after_game(state: Experiment) -> str:
        last = state["games"][-1]
        return "seller" if len(state["games"]) < games and last["in_range"] else END

    graph = StateGraph(Experiment)
    graph.add_node("seller", player("seller"))
    graph.add_node("buyer", player("buyer"))
    graph.add_node("moderator", moderator)
    graph.add_node("critic", critic)
    graph.add_edge(START, "seller")
    graph.add_edge("seller", "moderator")
    graph.add_edge("buyer", "moderator")
    graph.add_conditional_edges("moderator", lambda state: state["next"], ["seller", "buyer", "critic"])
    graph.add_conditional_edges("critic", after_game, ["seller", END])
    return graph


def recursion_limit(games: int, max_exchanges: int) -> int:
    """Steps one experiment may take (langgraph's default of 25 is far too few)."""
    return games * (4 * max_exchanges + 2) + 10


async def run_experiments(llm: LLM, tasks: Sequence[Task], modes: Sequence[str], games: int,
                          database: Path, max_exchanges: int = 10,
                          progress: Callable[[int, int], None] | None = None) -> list[Experiment]:
    """Run (or resume) one experiment per task and mode; return their final states in order."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from agentloop.serve.batcher import Batcher

    database.parent.mkdir(parents=True, exist_ok=True)
    batcher = Batcher(llm, window_s=0.02)
    await batcher.start()

    async def ask(messages: list[Message], sampling: Sampling) -> str:
        (completions,) = await batcher.generate([messages], 1, sampling)
        return completions[0].text

    done = 0
    try:
        async with AsyncSqliteSaver.from_conn_string(str(database)) as saver:
            graph = build_graph(ask, games, max_exchanges).compile(checkpointer=saver)

            async def one(task: Task, mode: str) -> Experiment:
                nonlocal done
                config = {"configurable": {"thread_id": f"{mode}/{task.id}"},
                          "recursion_limit": recursion_limit(games, max_exchanges)}
                saved = await graph.aget_state(config)
                # Finished threads have no tasks left; a thread killed after a node ran but
                # before its checkpoint has tasks holding pending writes, which resuming applies.
                if saved.values and not saved.tasks:
                    result = saved.values
                else:
                    result = await graph.ainvoke(None if saved.values else initial_state(task, mode), config)
                done += 1
                if progress:
                    progress(done, len(tasks) * len(modes))
                return result

            return list(await asyncio.gather(*(one(t, m) for m in modes for t in tasks)))
    finally:
        await batcher.stop()


def feedback_table(results: Sequence[Experiment], games: int) -> dict[str, list[dict[str, Any]]]:
    """Per mode and game index: experiments that played it, deal rate (Wilson 95% interval)
    and mean deal price (over in-range deals). Prices are scaled to the paper's $10-$20 range
    (tasks vary the scale) so experiments on different tasks average together."""
    table: dict[str, list[dict[str, Any]]] = {}
    for mode in dict.fromkeys(r["mode"] for r in results):
        rows = []
        for index in range(games):
            played = [r for r in results if r["mode"] == mode and len(r["games"]) > index]
            deals = [r for r in played if r["games"][index]["in_range"]]
            prices = [10 + 10 * (r["games"][index]["price"] - r["task"]["data"]["low"])
                      / (r["task"]["data"]["high"] - r["task"]["data"]["low"]) for r in deals]
            rows.append({"game": index + 1, "played": len(played), "deals": len(deals),
                         "deal_rate": len(deals) / len(played) if played else None,
                         "deal_rate_ci95": wilson_interval(len(deals), len(played)) if played else None,
                         "mean_price": statistics.fmean(prices) if prices else None})
        table[mode] = rows
    return table
