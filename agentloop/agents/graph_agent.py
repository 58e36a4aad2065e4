"""A user's LangGraph graph as the agent of agentloop's workflows (`agent.kind: graph`).

The config names a builder by import path, `agent: {kind: graph, target:
"mypkg.agent:build_graph"}`; agentloop calls `build_graph(model, env, **kwargs)`
with an `AgentloopChatModel` and the environment the graph acts in, and takes
the graph it returns (compiled or not; it is compiled again with an in-memory
checkpointer when it has none, since search forks checkpoints).

In `rollout`, `run` (collect, build, train, evaluate) and `search`, the
environment the workflows see is then a `GraphEnv` over the graph and the
agent is a `GraphAgent` on the round's model: every model call of the graph is
a step whose prompt is the graph's own, so MCTS searches the graph, the
builders make pairs, revisions and best paths from its calls, and the next
round's `GraphAgent` completes them with the new checkpoint. (The graph's own
chat model only pauses the graph there; it generates when the graph is run
outside a search, e.g. by `agentloop.agents.graph_episodes`.)

Example:
    >>> env = build_graph_env("mypkg.agent:build_graph", {}, lambda: WebShopEnv(num_products=2000))
    >>> agent = GraphAgent(llm)
    >>> run_episodes(env, env.tasks("test")[:8], agent)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentloop.agents.chat_model import AgentloopChatModel
from agentloop.agents.graph_search import GraphEnv
from agentloop.environments.protocol import Environment


class GraphTargetError(ValueError):
    """An agent target that does not give a LangGraph graph; the message names it."""


def load_builder(target: str) -> Callable[..., Any]:
    """The graph builder function `target` ("package.module:function") names."""
    from agentloop.environments.factory import EnvTargetError, resolve_target

    try:
        return resolve_target(target)
    except EnvTargetError as error:
        raise GraphTargetError(str(error).replace("env target", "agent target")) from None


def with_checkpointer(graph: Any) -> Any:
    """`graph` compiled with a checkpointer (search forks checkpoints): a `StateGraph` is
    compiled with an in-memory one; a compiled graph without one is compiled again from
    its builder (its other compile options are not kept)."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import StateGraph

    if isinstance(graph, StateGraph):
        return graph.compile(checkpointer=InMemorySaver())
    if getattr(graph, "checkpointer", None) is not None:
        return graph
    builder = getattr(graph, "builder", None)
    if not isinstance(builder, StateGraph):
        raise GraphTargetError(f"{type(graph).__name__} is not a LangGraph StateGraph or compiled graph")
    return builder.compile(checkpointer=InMemorySaver())


def build_graph_env(target: str, kwargs: dict[str, Any], make_env: Callable[[], Environment],
                    recursion_limit: int = 50) -> GraphEnv:
    """The user's graph over a fresh environment from `make_env`, as a `GraphEnv`."""
    builder, inner = load_builder(target), make_env()
    try:
        graph = builder(AgentloopChatModel(llm=None), inner, **kwargs)
    except Exception as error:  # the user's builder may fail in any way
        raise GraphTargetError(f"agent target {target!r}: calling it failed: {error!r}") from error
    # The builder read the env the graph will act in: the GraphEnv drives that one.
    return GraphEnv(with_checkpointer(graph), lambda: inner, recursion_limit=recursion_limit)
