"""Critics: Agent Q's ask-best-remove-ask-again ranking, Agent-R's step judging, values,
the mean of several critics, and one real pass over a tiny transformers model."""

from __future__ import annotations

import re

import pytest

from agentloop.agents.critic import (
    STRICT_PERSONA,
    CriticConfig,
    LLMCritic,
    MeanCritic,
    build_critic,
    rank_scores,
)
from agentloop.agents.protocol import AgentState
from agentloop.llm import Score

PREFERENCE = {"click[buy]": 3.0, "search[shoes]": 2.0, "click[back]": 1.0, "xyzzy": 0.0}


class ScriptedLLM:
    """Answers by reading the question: candidate numbers by PREFERENCE, 'bad' for turns
    whose action says 'wrong', 'yes' when the observation mentions 'Thank you'."""

    def __init__(self):
        self.calls: list[int] = []

    def score(self, prompts, continuations):
        self.calls.append(len(prompts))
        out = []
        for prompt, answer in zip(prompts, continuations):
            question = prompt[-1].content
            if answer.isdigit():
                listed = dict(re.findall(r"^(\d+)\. (.*)$", question, re.M))
                value = PREFERENCE[listed[answer]]
            elif answer in ("bad", "good"):
                last_action = question.split("Agent: ")[-1]
                value = float(("wrong" in last_action) == (answer == "bad"))
            else:
                value = float(("Thank you" in question) == (answer == "yes"))
            out.append(Score(token_ids=(1,), logprobs=(value - 5.0,)))
        return out

    def generate(self, prompts, n=1, sampling=None):
        raise AssertionError("critics answer by scoring, not generating")

    def render(self, prompt):
        return str(prompt)


STATE = AgentState("Buy shoes.", "Results: shoes")


def test_rank_asks_for_the_best_removes_it_and_asks_again():
    llm = ScriptedLLM()
    critic = LLMCritic(llm)
    candidates = [["click[back]", "click[buy]", "search[shoes]"],
                  ["xyzzy", "search[shoes]", "click[buy]", "click[back]"]]
    scores = critic.rank([STATE, STATE], candidates)
    assert scores[0] == [1 / 3, 1.0, 1 / 2]
    assert scores[1] == [1 / 4, 1 / 2, 1.0, 1 / 3]
    # K-1 rounds, each one batched call over every state still choosing: (3+4), (2+3), (0+2).
    assert llm.calls == [7, 5, 2]
    linear = LLMCritic(ScriptedLLM(), rank_score="linear").rank([STATE], [candidates[1]])
    assert linear == [[0.0, 2 / 3, 1.0, 1 / 3]]
    assert critic.rank([STATE], [["click[buy]"]]) == [[1.0]]
    assert rank_scores([2, 1], "linear") == [0.0, 1.0]


def test_judge_finds_bad_turns_and_value_reads_the_state():
    critic = LLMCritic(ScriptedLLM())
    path = (STATE.then("Thought: ok\nAction: search[shoes]", "Results")
            .then("Thought: this is wrong\nAction: click[back]", "Search page")
            .then("Thought: ok\nAction: click[buy]", "Thank you for shopping"))
    (verdict,) = critic.judge([path])
    assert len(verdict) == 3 and verdict[1] > 0.5 > verdict[0] and verdict[2] < 0.5
    assert critic.judge([STATE]) == [[]]
    done, not_done = critic.value([path, STATE])
    assert done > 0.5 > not_done


class FixedCritic:
    def __init__(self, score, bad, value):
        self.score, self.bad, self.v = score, bad, value

    def rank(self, states, candidates):
        return [[self.score] * len(c) for c in candidates]

    def judge(self, paths):
        return [[self.bad] * len(p.history) for p in paths]

    def value(self, states):
        return [self.v] * len(states)


def test_mean_critic_averages_with_weights():
    mean = MeanCritic([FixedCritic(1.0, 0.0, 0.2), FixedCritic(0.0, 1.0, 0.8)], weights=[3, 1])
    assert mean.rank([STATE], [["a", "b"]]) == [[0.75, 0.75]]
    assert mean.judge([STATE.then("x", "y")]) == [[0.25]]
    assert mean.value([STATE]) == [pytest.approx(0.35)]
    with pytest.raises(ValueError):
        MeanCritic([])
    with pytest.raises(ValueError):
        MeanCritic([FixedCritic(1, 0, 0)], weights=[0])


def test_build_critic_from_config():
    llm = ScriptedLLM()
    assert isinstance(build_critic(CriticConfig(), llm), LLMCritic)
    several = build_critic(CriticConfig(personas=("a critic", STRICT_PERSONA)), llm)
    assert isinstance(several, MeanCritic) and len(several.critics) == 2
    with pytest.raises(ValueError):
        CriticConfig(personas=())
    with pytest.raises(ValueError):
        CriticConfig(unknown=1)


def test_llm_critic_on_a_tiny_transformers_model():
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from agentloop.llm.model_path import resolve_model
    from agentloop.llm.transformers_backend import TransformersBackend

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default"))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, pad_token_id=tokenizer.pad_token_id))
    critic = LLMCritic(TransformersBackend(model.eval(), tokenizer))
    candidates = [["search[shoes]", "click[buy]", "click[back]"], ["click[buy]", "xyzzy"]]
    scores = critic.rank([STATE, STATE.then("Action: search[shoes]", "Results")], candidates)
    assert sorted(scores[0]) == [1 / 3, 1 / 2, 1.0] and sorted(scores[1]) == [1 / 2, 1.0]
    (verdict,) = critic.judge([STATE.then("Action: click[buy]", "Thank you")])
    assert len(verdict) == 1 and 0.0 < verdict[0] < 1.0
    assert 0.0 < critic.value([STATE])[0] < 1.0
