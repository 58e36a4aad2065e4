"""Pairs from a real search, written as JSONL, read by `datasets` and trained one step by TRL."""

from __future__ import annotations

import copy

import pytest
import torch
from agentloop.environments.maze import MazeEnv
from agentloop.search import PairConfig, SearchConfig, search_tasks, step_pairs
from search_doubles import DistanceCritic, RandomMazeAgent

from agentloop.jsonl import read_jsonl, write_jsonl
from agentloop.records import PreferencePair


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    tasks = MazeEnv(size=7, num_tasks=4).tasks("train")
    agent = RandomMazeAgent(seed=11)
    trees = search_tasks(lambda: MazeEnv(size=7), tasks, agent, DistanceCritic(tasks),
                         SearchConfig(simulations=10, k=4, max_depth=8))
    pairs = step_pairs(trees, agent.prompt, PairConfig(threshold=0.1), run="test", round=1)
    assert len(pairs) >= 4
    return write_jsonl(tmp_path_factory.mktemp("pairs") / "pairs.jsonl", pairs)


def test_pairs_jsonl_is_trl_conversational_with_reference_logprobs(pairs_file):
    from datasets import load_dataset

    records = read_jsonl(pairs_file, PreferencePair)
    dataset = load_dataset("json", data_files=str(pairs_file), split="train")
    assert len(dataset) == len(records)
    row = dataset[0]
    assert row["prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
    assert row["rejected"][0]["role"] == "assistant" and row["chosen_q"] > row["rejected_q"]
    assert row["chosen_logprob"] == pytest.approx(-1.5)  # the agent's token log-probs, summed
    assert row["provenance"]["run"] == "test" and len(row["provenance"]["node_ids"]) == 3


@pytest.mark.slow  # a whole TRL DPOTrainer step: the heaviest import of the suite
def test_one_dpo_trainer_step(pairs_file, tmp_path):
    from datasets import load_dataset
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from trl import DPOConfig, DPOTrainer

    from agentloop.llm.model_path import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default"))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id))
    before = [p.detach().clone() for p in model.parameters()]
    dataset = load_dataset("json", data_files=str(pairs_file), split="train")
    args = DPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2,
                     learning_rate=1e-2, report_to=[], save_strategy="no", logging_steps=1,
                     use_cpu=True, max_length=512, disable_tqdm=True)
    trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(model), args=args,
                         train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    assert result.global_step == 1 and torch.isfinite(torch.tensor(result.training_loss))
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))
