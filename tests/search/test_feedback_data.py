"""Game-level data from ICL-AIF: a replay that beat the previous game's price is chosen
over it and is SFT data, under the seller's plain prompt (no feedback, no target)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest
from agentloop.environments.negotiation import NegotiationEnv
from agentloop.environments.protocol import Task
from agentloop.search.feedback_data import (
    feedback_pairs,
    feedback_sft,
    game_turns,
    improvements,
    plain_prompt,
)

from agentloop.records import Message
from agentloop.run.icl_aif import initial_state, player_prompt, run_experiments


def _scripted_llm():
    """tests/run/icl_aif_script.py's ScriptedLLM (loaded by path: tests/run is not a package)."""
    path = Path(__file__).parents[1] / "run" / "icl_aif_script.py"
    spec = importlib.util.spec_from_file_location("icl_aif_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ScriptedLLM()


ADVICE = "1. Open high."


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    env = NegotiationEnv(num_tasks=60)
    tasks = [t for t in env.tasks("test") if t.data["low"] == 10.0][:2]
    # The scripted seller: $16 in game 1; told to beat $16 it deals at $17; told to beat $17
    # it holds at $18 and gets no deal. Without feedback every game is the same $16.
    return asyncio.run(run_experiments(_scripted_llm(), tasks, ["none", "constant", "ai"], 3,
                                       tmp_path_factory.mktemp("aif") / "aif.sqlite"))


def test_pairs_only_where_the_replay_beat_the_previous_price(results):
    pairs = feedback_pairs(results, run="r", round=2)
    by_mode = {m: [r for r in results if r["mode"] == m] for m in ("none", "constant", "ai")}
    assert [k for r in by_mode["ai"] for k, _, _ in improvements(r)] == [1, 1]
    assert not [k for r in by_mode["none"] for k, _, _ in improvements(r)]
    assert len(pairs) == 4  # game 2 over game 1, in the constant and the ai experiments
    for pair in pairs:
        assert pair.chosen_q == pytest.approx(0.7) and pair.rejected_q == pytest.approx(0.6)
        assert pair.chosen_logprob is None and pair.rejected_logprob is None
        assert pair.chosen[0].role == pair.chosen[-1].role == "assistant"
        # The replay held at $17 (told to beat $16); game 1 came down $18, $17, $16.
        assert {m.content for m in pair.chosen if m.role == "assistant"} == {"I can do $17."}
        assert pair.rejected[-1].content == "I can do $16."
        assert {m.role for m in pair.chosen} == {"assistant", "user"}
        assert pair.provenance.run == "r" and pair.provenance.round == 2


def test_no_feedback_or_target_in_any_prompt(results):
    records = feedback_sft(results)
    prompts = [p.prompt for p in feedback_pairs(results)] + [r.messages for r in records]
    assert prompts
    for messages in prompts:
        text = "\n".join(m.content for m in messages)
        assert ADVICE not in text and "Feedback" not in text and "higher than" not in text
    # The plain prompt is what the seller reads before its first game.
    result = results[0]
    task = Task(result["task"]["id"], "", data=result["task"]["data"])
    assert plain_prompt(result) == player_prompt(initial_state(task, result["mode"]), "seller")


def test_sft_records_train_the_sellers_own_turns_only(results):
    records = feedback_sft(results)
    assert len(records) == 4
    for record in records:
        assert record.kind == "good" and record.good_reward == pytest.approx(0.7)
        trained = [m for m, flag in zip(record.messages, record.train) if flag]
        assert trained and all(m.role == "assistant" for m in trained)
        # Every seller turn of the replay is trained; the opening line (context) and the buyer's are not.
        assert record.train[:3] == (False, False, False) and record.messages[1].role == "assistant"
        assert [m.role == "assistant" for m in record.messages[3:]] == list(record.train[3:])
        assert record.messages[-1].role == "assistant"


def test_the_trainers_train_only_the_sellers_lines(results, tokenizer):
    from agentloop.trainers.encoding import encode_pairs
    from agentloop.trainers.sft import encode_record

    def trained_text(continuation):
        return tokenizer.decode([i for i, m in zip(continuation.ids, continuation.mask) if m])

    pairs = feedback_pairs(results)
    encoded = encode_pairs(tokenizer, pairs)
    chosen = trained_text(encoded.candidates[encoded.pairs[0][0]][1])
    seller_lines = sum(m.role == "assistant" for m in pairs[0].chosen)
    assert chosen.count("I can do $17.") == seller_lines > 1 and "Would you take" not in chosen
    _, continuation = encode_record(tokenizer, feedback_sft(results)[0])
    text = trained_text(continuation)
    assert "I can do $17." in text and "Would you take" not in text and "its price is" not in text


def test_game_turns_end_at_the_sellers_last_line():
    game = {"dialogue": [["seller", "It is $20."], ["buyer", "$10?"], ["seller", "$18."],
                         ["buyer", "Deal!"]]}
    assert game_turns(game) == [Message(role="assistant", content="$18.")]
