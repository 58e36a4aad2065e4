"""GraphEnv: a user's graph paused at its model calls and searched by forking checkpoints.
Two different answers at the same paused call give two different continuations (the
replay of the first answer, langgraph #6663, does not bite), also inside a node that
makes two calls; MCTS over the graph on a tiny model builds a tree whose prompts are the
graph's own."""

from __future__ import annotations

import json
from typing import TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from agentloop.agents.chat_model import AgentloopChatModel
from agentloop.agents.graph_search import GraphAgent, GraphEnv, paused_messages
from agentloop.environments.maze import MazeEnv
from agentloop.search import SearchConfig, search_tasks, step_pairs


class State(TypedDict):
    instruction: str
    observation: str
    plan: str
    done: bool


def think_then_move(model, checkpointer=None):
    """think (two calls in one node) -> move (one call, steps the maze) -> think ... until done."""
    def think(state: State) -> dict:
        first = model.invoke([HumanMessage(state["observation"])])
        second = model.invoke([HumanMessage(state["observation"]), AIMessage(first.content),
                               HumanMessage("Decide.")])
        return {"plan": f"{first.content} / {second.content}"}

    def move(state: State, config) -> dict:
        reply = model.invoke([HumanMessage(f"{state['observation']}\nPlan: {state['plan']}\nMove:")])
        result = config["configurable"]["env"].step(reply.content.strip())
        return {"observation": result.observation, "done": result.terminated or result.truncated}

    return (StateGraph(State).add_node("think", think).add_node("move", move)
            .add_edge(START, "think").add_edge("think", "move")
            .add_conditional_edges("move", lambda s: END if s.get("done") else "think")
            .compile(checkpointer=checkpointer or InMemorySaver()))


def maze_env():
    env = GraphEnv(think_then_move(AgentloopChatModel(llm=None)), lambda: MazeEnv(size=5, max_steps=4))
    task = env.tasks("train")[0]
    return env, task


def test_two_answers_at_one_paused_call_give_two_continuations():
    env, task = maze_env()
    start = json.loads(env.reset(task))
    assert start["node"] == "think" and len(start["prompt"]) == 1
    at_first = env.snapshot()
    second_call = json.loads(env.step("plan A").observation)  # same node, its second call
    assert second_call["node"] == "think" and second_call["prompt"][1]["content"] == "plan A"
    at_second = env.snapshot()
    outcomes = {}
    for answer in ("right", "left"):
        env.restore(at_second)
        moving = paused_messages(env.step(answer).observation)
        assert moving[-1].content.endswith(f"Plan: plan A / {answer}\nMove:")
        outcomes[answer] = env.step("move[right]").observation
    # From the first call again: a different first answer, not the replayed "plan A".
    env.restore(at_first)
    assert json.loads(env.step("plan B").observation)["prompt"][1]["content"] == "plan B"
    # Both continuations moved right from the same cell, so the maze reads the same after them.
    assert len(set(outcomes.values())) == 1


def test_the_environment_goes_back_with_the_checkpoint():
    env, task = maze_env()
    env.reset(task)
    env.step("p")
    env.step("q")
    at_move = env.snapshot()
    moved = env.step("move[right]")
    assert moved.info["env_steps"] == ["move[right]"]
    env.restore(at_move)
    walled = env.step("move[up]")  # the start cell of this maze opens only to the right
    assert paused_messages(walled.observation)[0].content.startswith("You cannot move up: there is a wall")
    assert "You are at (3, 2)" in paused_messages(moved.observation)[0].content


@pytest.fixture(scope="module")
def llm(tiny_model_dir):
    from agentloop.llm.transformers_backend import TransformersBackend

    return TransformersBackend.from_pretrained(tiny_model_dir)


def test_mcts_over_a_graph_builds_a_tree_of_the_graphs_own_prompts(llm):
    graph = think_then_move(AgentloopChatModel(llm=llm))
    make = lambda: GraphEnv(graph, lambda: MazeEnv(size=5, max_steps=2))  # noqa: E731
    tasks = make().tasks("train")[:2]
    agent = GraphAgent(llm)
    config = SearchConfig(simulations=2, k=2, max_depth=4, max_new_tokens=4)
    trees = search_tasks(make, tasks, agent, None, config)
    assert len(trees) == 2
    for tree in trees:
        assert tree.graph.number_of_nodes() > 3
        for node in tree.graph.nodes:
            if node == tree.root or tree.node(node)["done"]:
                continue
            paused = json.loads(tree.node(node)["observation"])
            came_from = json.loads(tree.node(next(iter(tree.graph.predecessors(node))))["observation"])
            prompt, answer = agent.prompt(tree.state(node)), tree.edge(node)["completion"]
            # Each paused prompt is the graph's own, built from the answer that led to it.
            if paused["node"] == "move":
                assert prompt[-1].content.endswith(f" / {answer}\nMove:")
            elif came_from["node"] == "think":
                assert prompt[1].content == answer
            else:
                assert answer.strip()[:20] in prompt[0].content or "You are at" in prompt[0].content
    pairs = step_pairs(trees, agent.prompt)
    for pair in pairs:
        assert pair.prompt[-1].role == "user"


def test_the_env_cutting_the_episode_off_is_a_truncation():
    env = GraphEnv(think_then_move(AgentloopChatModel(llm=None)), lambda: MazeEnv(size=5, max_steps=1))
    env.reset(env.tasks("train")[0])
    env.step("p")
    env.step("q")
    result = env.step("move[right]")  # one valid move, not the goal: the maze's step limit
    assert result.truncated and not result.terminated and result.info["success"] is False
