"""What one search step over a user's LangGraph graph costs: `GraphEnv.step` (fork the
paused checkpoint with `update_state(..., as_node="__copy__")`, replay the node's
earlier answers, resume to the next model call) against the plain Environment step
it wraps, with the in-memory and the SQLite checkpointer. No model runs: the answers
are fixed strings, so only the graph machinery is timed.

The graph is the plan-then-act shape of examples/langgraph_agent.py on the
WebShop-style shop: a plan node (one call) and an act node (one call, then a shop step).

    python benchmarks/bench_graph_search.py --steps 200
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from typing import TypedDict

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph

from agentloop.agents.chat_model import AgentloopChatModel
from agentloop.agents.graph_search import GraphEnv
from agentloop.environments.webshop import WebShopEnv


class State(TypedDict):
    instruction: str
    observation: str
    plan: str
    done: bool


def plan_then_act(model, checkpointer):
    def plan(state: State) -> dict:
        return {"plan": model.invoke([SystemMessage("Plan."), HumanMessage(state["observation"])]).content}

    def act(state: State, config) -> dict:
        reply = model.invoke([SystemMessage("Act."), HumanMessage(f"{state['observation']}\n{state['plan']}")])
        result = config["configurable"]["env"].step(reply.content)
        return {"observation": result.observation, "done": result.terminated or result.truncated}

    return (StateGraph(State).add_node("plan", plan).add_node("act", act).add_edge(START, "plan")
            .add_edge("plan", "act").add_conditional_edges("act", lambda s: END if s["done"] else "plan")
            .compile(checkpointer=checkpointer))


def time_steps(env: GraphEnv, steps: int, seed: int = 0) -> float:
    """Seconds per `step` from random earlier states (as MCTS does)."""
    rng = random.Random(seed)
    task = env.tasks("train")[0]
    env.reset(task)
    snapshots, spent, taken = [env.snapshot()], 0.0, 0
    while taken < steps:
        env.restore(rng.choice(snapshots))
        start = time.perf_counter()
        result = env.step(rng.choice(["I look for it.", "search[" + task.data["query"] + "]", "click[buy now]"]))
        spent += time.perf_counter() - start
        taken += 1
        if not (result.terminated or result.truncated):
            snapshots.append(env.snapshot())
    return spent / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.sqlite import SqliteSaver

    make_shop = lambda: WebShopEnv(num_products=2000, max_steps=8)  # noqa: E731
    shop = make_shop()
    task = shop.tasks("train")[0]
    shop.reset(task)
    start = time.perf_counter()
    for _ in range(args.steps):
        snapshot = shop.snapshot()
        shop.step("search[" + task.data["query"] + "]")
        shop.restore(snapshot)
    plain = (time.perf_counter() - start) / args.steps
    model = AgentloopChatModel(llm=None)
    memory = time_steps(GraphEnv(plan_then_act(model, InMemorySaver()), make_shop), args.steps)
    with tempfile.TemporaryDirectory() as folder, \
            SqliteSaver.from_conn_string(f"{folder}/checkpoints.sqlite") as saver:
        sqlite = time_steps(GraphEnv(plan_then_act(model, saver), make_shop), args.steps)
    for name, seconds in (("plain env step", plain), ("GraphEnv step, memory", memory),
                          ("GraphEnv step, sqlite", sqlite)):
        print(f"{name}: {seconds * 1e3:.2f} ms")
    print(json.dumps({"env_step_ms": round(plain * 1e3, 3), "graph_step_memory_ms": round(memory * 1e3, 3),
                      "graph_step_sqlite_ms": round(sqlite * 1e3, 3)}))


if __name__ == "__main__":
    main()
