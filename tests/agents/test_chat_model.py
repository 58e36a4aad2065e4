"""AgentloopChatModel and the graph episode runner on a tiny random model: every LLM
call of concurrent graph runs is recorded once, under its own episode and node, with
the token ids and log-probs the backend gives the same tokens; calls are batched
across episodes; records come out as one conversation per node."""

from __future__ import annotations

import threading
from typing import TypedDict

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph

from agentloop.agents.chat_model import AgentloopChatModel, Episode, to_messages
from agentloop.agents.graph_episodes import merge_calls, run_graph_episodes
from agentloop.environments.protocol import Task
from agentloop.llm.protocol import Sampling
from agentloop.llm.transformers_backend import TransformersBackend
from agentloop.progress import bars_to
from agentloop.records import Message


class State(TypedDict):
    instruction: str
    observation: str
    plan: str
    answer: str


def two_node_graph(model):
    """plan -> act, each node one model call; act's prompt carries the plan."""
    def plan(state: State) -> dict:
        reply = model.invoke([SystemMessage("Plan briefly."), HumanMessage(state["instruction"])])
        return {"plan": reply.content}

    async def act(state: State) -> dict:
        reply = await model.ainvoke([SystemMessage("Act."),
                                     HumanMessage(f"{state['instruction']}\nPlan: {state['plan']}")])
        return {"answer": reply.content}

    return (StateGraph(State).add_node("plan", plan).add_node("act", act)
            .add_edge(START, "plan").add_edge("plan", "act").add_edge("act", END).compile())


class RecordingBar:
    """A progress bar that remembers what it was told."""

    def __init__(self):
        self.done, self.facts, self.closed = 0, {}, False

    def update(self, n=1):
        self.done += n

    def set_postfix(self, **facts):
        self.facts = facts

    def close(self):
        self.closed = True


@pytest.fixture(scope="module")
def llm(tiny_model_dir):
    return TransformersBackend.from_pretrained(tiny_model_dir)


def test_every_concurrent_episode_runs_its_synchronous_node_at_once(llm):
    # LangGraph runs a sync node in the loop's default executor (6 threads on 2 cores,
    # at most 32 anywhere): unless the runner sizes it, 40 episodes never wait on the
    # model together, so their calls cannot form one batch.
    together = threading.Barrier(40, timeout=30)

    def wait(state: State) -> dict:
        together.wait()  # returns only when all 40 runs are inside this node
        return {"answer": "done"}

    graph = StateGraph(State).add_node("wait", wait).add_edge(START, "wait").add_edge("wait", END).compile()
    tasks = [Task(id=f"t{i}", instruction="Wait.") for i in range(40)]
    runs = run_graph_episodes(graph, tasks, llm, reward=lambda s: float(s["answer"] == "done"), concurrency=40,
                              progress=False)
    assert all(run.success for run in runs)


def test_eight_concurrent_episodes_record_each_call_once_with_the_backends_logprobs(llm):
    model = AgentloopChatModel(llm=llm, sampling=Sampling(max_new_tokens=8))
    graph = two_node_graph(model)
    tasks = [Task(id=f"t{i}", instruction=f"Buy item number {i}.") for i in range(8)]
    generate_calls = []
    original = llm.generate
    llm.generate = lambda prompts, n=1, sampling=None: generate_calls.append(len(prompts)) or \
        original(prompts, n, sampling)
    bar = RecordingBar()
    try:
        with bars_to(lambda **_: bar):
            runs = run_graph_episodes(graph, tasks, llm, reward=lambda s: float(len(s["answer"]) > 0),
                                      concurrency=8)
    finally:
        del llm.generate
    assert [run.task.id for run in runs] == [t.id for t in tasks]
    assert bar.done == 8 and bar.closed and bar.facts == {"success": f"{sum(r.success for r in runs)}/8"}
    # 16 calls in all, merged across episodes (the sync plan node's calls too: LangGraph
    # runs it in a worker thread, which hands its call to the batcher's loop).
    assert sum(generate_calls) == 16 and len(generate_calls) <= 4
    pairs = []
    for run, task in zip(runs, tasks):
        assert [c.node for c in run.episode.calls] == ["plan", "act"]
        plan_call, act_call = run.episode.calls
        assert plan_call.prompt[-1].content == task.instruction  # its own episode's prompt
        assert run.final_state["plan"] == plan_call.completion
        assert act_call.prompt[-1].content == f"{task.instruction}\nPlan: {plan_call.completion}"
        assert run.final_state["answer"] == act_call.completion
        for call in run.episode.calls:
            assert call.token_ids and len(call.token_ids) == len(call.logprobs)
            pairs.append((call, llm.encode(llm.render(list(call.prompt)))))
    scores = llm.score_ids([(ids, call.token_ids) for call, ids in pairs])
    for (call, _), score in zip(pairs, scores):
        assert list(score.token_ids) == list(call.token_ids)
        assert call.logprobs == pytest.approx(score.logprobs, abs=1e-4)
    # One conversation per node, only the generated turn trained.
    conversations = runs[0].conversations()
    assert len(conversations) == 2
    for conversation, call in zip(conversations, runs[0].episode.calls):
        assert conversation.messages[-1] == Message(role="assistant", content=call.completion)
        assert conversation.train == (False, False, True)
    trajectory = runs[0].trajectory()
    assert [s.role for s in trajectory.steps] == ["plan", "act"]
    assert trajectory.steps[1].token_ids == runs[0].episode.calls[1].token_ids


def test_calls_outside_an_episode_are_not_recorded_and_stop_strings_apply(llm):
    model = AgentloopChatModel(llm=llm, sampling=Sampling(max_new_tokens=6, temperature=0))
    episode = Episode("x")
    with episode.active():
        first = model.invoke("Hello")
    model.invoke("Hello")  # no episode: nothing to record into
    assert len(episode.calls) == 1 and episode.calls[0].completion == first.content
    assert first.response_metadata["token_ids"] == list(episode.calls[0].token_ids)
    word = first.content[1:3]
    if word.strip():
        stopped = model.invoke("Hello", stop=[word])
        assert stopped.content.endswith(word) and len(stopped.content) <= len(first.content)


def test_a_node_whose_prompts_grow_is_one_conversation_and_others_split():
    from agentloop.agents.chat_model import LLMCall

    user = lambda text: Message(role="user", content=text)  # noqa: E731
    first = LLMCall("act", (user("a"),), "x", (1,), (-0.1,))
    second = LLMCall("act", (user("a"), Message(role="assistant", content="x"), user("b")), "y", (2,), (-0.2,))
    other = LLMCall("plan", (user("p"),), "z", (3,), (-0.3,))
    restart = LLMCall("act", (user("fresh"),), "w", (4,), (-0.4,))
    merged = merge_calls([first, other, second, restart])
    assert [[m.content for m in ms] for ms, _ in merged] == [["a", "x", "b", "y"], ["p", "z"], ["fresh", "w"]]
    assert merged[0][1] == [False, True, False, True]


def test_tool_messages_become_user_turns():
    from langchain_core.messages import AIMessage, ToolMessage

    messages = to_messages([SystemMessage("s"), HumanMessage("h"), AIMessage("a"),
                            ToolMessage("page 2", tool_call_id="1")])
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1].content == "Tool result: page 2"
