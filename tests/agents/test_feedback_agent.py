"""Context distillation of AI feedback: half the K proposals read the critic's feedback,
the prompt (and so every pair built from the tree) is the plain one, and the coached
proposals carry no log-probs of the feedback prompt."""

from __future__ import annotations

from types import SimpleNamespace

from agentloop.environments.negotiation import NegotiationEnv
from agentloop.environments.negotiation.env import rules
from agentloop.search.config import SearchConfig
from agentloop.search.mcts import MCTS
from agentloop.search.pairs import PairConfig, step_pairs

from agentloop.agents.feedback_agent import FEEDBACK_HEADER, FeedbackAgent
from agentloop.agents.protocol import AgentState, Proposal
from agentloop.agents.react import ReActAgent
from agentloop.llm.protocol import Completion, Sampling, Score
from agentloop.llm.transformers_backend import TransformersBackend
from agentloop.run.game_feedback import game_feedback

ADVICE = "Open high and concede slowly."


class Seller:
    """Accepts the buyer's last price (a $10 deal, reward 0) unless it read feedback, then
    it asks $18 or $16 first; prompts as a ReAct seller. Records what each call read."""

    def __init__(self):
        self.react = ReActAgent(None, system_prompt=rules("seller"))
        self.calls: list[tuple[list[str], int]] = []

    def propose(self, states, k=1, sampling=None):
        self.calls.append(([s.instruction for s in states], k))
        out = []
        for state in states:
            if FEEDBACK_HEADER in state.instruction and not state.history:
                moves = ["say[How about $18?]", "say[How about $16?]"]
            else:
                moves = ["say[Deal!]"]
            out.append([Proposal(f"Thought: go.\nAction: {moves[i % len(moves)]}", moves[i % len(moves)],
                                 (1, 2), (-0.5, -1.0)) for i in range(k)])
        return out

    def prompt(self, state):
        return self.react.prompt(state)


class Scorer:
    """A backend double that scores continuations (-0.25 per character) and records prompts."""

    tokenizer = SimpleNamespace(eos_token="<eot>", chat_template=None)

    def __init__(self):
        self.scored: list = []

    def score(self, prompts, continuations):
        self.scored += list(zip(prompts, continuations))
        return [Score(tuple(range(len(c))), (-0.25,) * len(c)) for c in continuations]


def _tasks(n=2):
    """Unit-scale train tasks with distinct instructions (feedback is keyed by instruction)."""
    env = NegotiationEnv(num_tasks=60)
    by_instruction = {t.instruction: t for t in env.tasks("train") if t.data["low"] == 10.0}
    return list(by_instruction.values())[:n]


def test_half_the_proposals_read_the_feedback_in_one_call_and_the_prompt_is_plain():
    seller = Seller()
    a, b = (AgentState(t.instruction, "Seller: ...\nBuyer: ...") for t in _tasks())
    agent = FeedbackAgent(seller, {a.instruction: ADVICE})
    rows = agent.propose([a, b], k=4)
    # One call: a's plain half and its coached half; b (no feedback) asks plain twice.
    assert seller.calls == [([a.instruction, b.instruction, a.instruction + f"\n\n{FEEDBACK_HEADER} {ADVICE}",
                              b.instruction], 2)]
    assert [p.action for p in rows[0]] == ["say[Deal!]", "say[Deal!]", "say[How about $18?]",
                                           "say[How about $16?]"]
    assert [p.action for p in rows[1]] == ["say[Deal!]"] * 4
    # The plain half keeps its log-probs; the coached half has none (nothing to rescore with).
    assert [p.logprobs for p in rows[0]] == [(-0.5, -1.0)] * 2 + [()] * 2
    assert agent.prompt(a) == seller.prompt(a)
    assert all(ADVICE not in m.content for m in agent.prompt(a))
    assert agent.propose([a], k=1)[0][0].action == "say[Deal!]"  # K=1 is plain


def test_coached_proposals_are_rescored_under_the_plain_prompt():
    seller, scorer = Seller(), Scorer()
    (task,) = _tasks(1)
    state = AgentState(task.instruction, "Seller: ...\nBuyer: ...")
    rows = FeedbackAgent(seller, {task.instruction: ADVICE}, scorer).propose([state], k=2)
    (prompt, continuation), = scorer.scored
    assert prompt == seller.prompt(state) and continuation == rows[0][1].completion + "<eot>"
    assert rows[0][1].logprobs == (-0.25,) * len(continuation)
    assert rows[0][0].logprobs == (-0.5, -1.0)


def _search(llm=None):
    env_tasks = _tasks(2)
    agent = FeedbackAgent(Seller(), {t.instruction: ADVICE for t in env_tasks}, llm)
    mcts = MCTS(agent, None, SearchConfig(simulations=12, k=4, max_depth=4), progress=False)
    trees = mcts.search([NegotiationEnv(num_tasks=60) for _ in env_tasks], env_tasks)
    return trees, agent


def test_pairs_from_a_coached_search_have_plain_prompts_and_no_stale_reference():
    trees, agent = _search()
    pairs = step_pairs(trees, agent.prompt, PairConfig(threshold=0.01))
    assert pairs and any("How about" in p.chosen[0].content for p in pairs)
    for pair in pairs:
        assert all(ADVICE not in m.content and FEEDBACK_HEADER not in m.content for m in pair.prompt)
        for side, logprob in ((pair.chosen, pair.chosen_logprob), (pair.rejected, pair.rejected_logprob)):
            # A coached move has no recorded reference (the DPO trainer computes it under
            # this prompt); a plain one keeps the generating policy's.
            assert logprob is None if "How about" in side[0].content else logprob == -1.5


def test_rescored_pairs_carry_the_plain_prompt_reference():
    scorer = Scorer()
    trees, agent = _search(scorer)
    pairs = step_pairs(trees, agent.prompt, PairConfig(threshold=0.01))
    coached = [p for p in pairs if "How about" in p.chosen[0].content]
    assert coached
    for pair in coached:
        assert pair.chosen_logprob == -0.25 * len(pair.chosen[0].content + "<eot>")
    assert all(FEEDBACK_HEADER not in m.content for prompt, _ in scorer.scored for m in prompt)


class Critic:
    """Greedy critic double: fixed suggestions, records its prompts."""

    def __init__(self):
        self.prompts: list = []

    def generate(self, prompts, n=1, sampling=None):
        self.prompts += list(prompts)
        return [[Completion(f" 1. {ADVICE} 2. Smile. 3. Wait. ", (1,), (-0.1,), "stop")] for _ in prompts]


def test_game_feedback_plays_each_task_and_asks_the_critic_about_it():
    tasks, critic = _tasks(2), Critic()
    env = NegotiationEnv(num_tasks=60)
    feedback = game_feedback(critic, env, Seller(), tasks, role="seller")
    assert feedback == {t.instruction: f"1. {ADVICE} 2. Smile. 3. Wait." for t in tasks}
    assert len(critic.prompts) == 2
    assert "Here is the seller's game" in critic.prompts[0][1].content
    assert "You answered: say[Deal!]" in critic.prompts[0][1].content


def test_coached_references_equal_the_trainers_under_the_plain_prompt(tokenizer, make_tiny_model):
    from test_recorded_logprobs import (
        STATES,
        assert_recorded_is_trained,
        pairs_of,
        recomputed,
    )

    llm = TransformersBackend(make_tiny_model(0), tokenizer)
    agent = FeedbackAgent(ReActAgent(llm, max_history=2), {s.instruction: ADVICE for s in STATES})
    proposals, pairs = pairs_of(agent, STATES, k=4, sampling=Sampling(temperature=1.0, max_new_tokens=6, seed=1))
    # Per state: a pair of two plain proposals, then one of two coached ones, whose recorded
    # references must be the plain prompt's.
    assert all(ADVICE not in m.content for pair in pairs for m in pair.prompt)
    values, encoded = recomputed(make_tiny_model(0), tokenizer, pairs)
    assert_recorded_is_trained(proposals, pairs, values, encoded, atol=1e-4)
    # Under the feedback prompt the same tokens score differently: keeping those would be stale.
    coached = agent.coached(STATES[0])
    (under_feedback,) = llm.score([agent.agent.prompt(coached)], [proposals[2].completion + "<|im_end|>"])
    assert abs(under_feedback.logprob - proposals[2].logprob) > 1e-3
