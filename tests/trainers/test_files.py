"""Training files (ours and TRL's formats) and the `agentloop train` command."""

from __future__ import annotations

import json

import pytest
from agentloop.trainers.files import load_conversations, load_pairs
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.jsonl import JsonlError, write_jsonl
from agentloop.records import Message, PreferencePair, RevisionTrajectory


def write_lines(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_trl_formats_become_pairs(tmp_path):
    rows = [
        {"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "a"}],
         "rejected": [{"role": "assistant", "content": "b"}], "ref_chosen_logps": -1.0, "ref_rejected_logps": -2.0},
        {"prompt": "hi", "chosen": "a", "rejected": "b"},
        {"chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}],
         "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "b"}]},
    ]
    pairs = load_pairs(write_lines(tmp_path / "trl.jsonl", rows))
    user, a, b = Message(role="user", content="hi"), Message(role="assistant", content="a"), Message(
        role="assistant", content="b")
    assert all(p.prompt == (user,) and p.chosen == (a,) and p.rejected == (b,) for p in pairs)
    # TRL's ref_*_logps also cover the "\n" after the end-of-turn token: not our reference.
    assert all(p.chosen_logprob is None and p.rejected_logprob is None for p in pairs)


def test_our_exports_round_trip_and_bad_lines_name_the_line(tmp_path):
    pair = PreferencePair(prompt=(Message(role="user", content="x"),), chosen=(Message(role="assistant", content="y"),),
                          rejected=(Message(role="assistant", content="z"),), chosen_logprob=-3.0)
    assert load_pairs(write_jsonl(tmp_path / "pairs.jsonl", [pair])) == [pair]
    record = RevisionTrajectory(messages=(Message(role="user", content="x"), Message(role="assistant", content="y")),
                                train=(False, True))
    assert load_conversations(write_jsonl(tmp_path / "rev.jsonl", [record])) == [record]
    trl = load_conversations(write_lines(tmp_path / "sft.jsonl", [{"messages": [
        {"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}]))
    assert trl[0].train == (False, True)
    with pytest.raises(JsonlError, match=":2:"):
        load_pairs(write_lines(tmp_path / "bad.jsonl", [{"prompt": "a", "chosen": "b", "rejected": "c"}, {"x": 1}]))


def test_train_command_takes_run_config_keys(tiny_model_dir, tmp_path):
    rows = [{"prompt": [{"role": "user", "content": f"Buy {i}"}],
             "chosen": [{"role": "assistant", "content": f"search[{i}]"}],
             "rejected": [{"role": "assistant", "content": "click[x]"}]} for i in range(4)]
    data = write_lines(tmp_path / "trl.jsonl", rows)
    config = tmp_path / "run.yaml"
    config.write_text(f"llm: {{model: {tiny_model_dir}}}\n"
                      "trainer: {dpo: {batch_size: 2, progress: false, device: cpu}}\n")
    out = tmp_path / "ckpt"
    result = CliRunner().invoke(app, ["train", str(data), "trainer.dpo.lr=1e-3", "-o", str(out),
                                      "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "2 steps" in result.output and (out / "model.safetensors").is_file()
    for wrong in ("lr=1e-3", "trainer.dpo.nonsense=1"):  # the old dialect is an unknown key now
        bad = CliRunner().invoke(app, ["train", str(data), wrong, "-o", str(tmp_path / "x"),
                                       "--config", str(config)])
        assert bad.exit_code != 0 and wrong.split("=")[0] in bad.output


def test_train_command_follows_trainer_reference(tiny_model_dir, tmp_path):
    """Recorded log-probs far from the model's: "recorded" trains against them (the margin is
    huge, the loss ~0), "recompute" replaces them with the model's own (loss ~log 2 at a tiny lr)."""
    user = Message(role="user", content="Buy it")
    pairs = [PreferencePair(prompt=(user,), chosen=(Message(role="assistant", content=f"search[{i}]"),),
                            rejected=(Message(role="assistant", content="click[x]"),),
                            chosen_logprob=-1000.0, rejected_logprob=0.0) for i in range(4)]
    data = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    losses = {}
    for reference in ("recorded", "recompute"):
        result = CliRunner().invoke(app, [
            "train", str(data), "-o", str(tmp_path / reference), "--model", str(tiny_model_dir),
            "trainer.dpo.lr=1e-7", "trainer.dpo.batch_size=4", "trainer.dpo.progress=false",
            "trainer.dpo.device=cpu", f"trainer.reference={reference}"])
        assert result.exit_code == 0, result.output
        losses[reference] = float(result.output.split("final loss ")[1].split(";")[0])
    assert losses["recorded"] < 0.01
    assert losses["recompute"] == pytest.approx(0.6931, abs=0.01)


def test_trl_scores_one_token_more_than_our_trainer(tokenizer, make_tiny_model, tmp_path):
    """Why TRL's ref_*_logps are not our reference (and ours are not exported under that name):
    TRL's completion is ours (content + end-of-turn) followed by the template's "\\n"."""
    from datasets import Dataset
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    from agentloop.trainers.encoding import encode_pairs

    pair = PreferencePair(prompt=(Message(role="user", content="Buy shoes"),),
                          chosen=(Message(role="assistant", content="Thought: search.\nAction: search[shoes]"),),
                          rejected=(Message(role="assistant", content="Thought: buy.\nAction: click[buy]"),))
    row = {"prompt": [m.model_dump() for m in pair.prompt], "chosen": [m.model_dump() for m in pair.chosen],
           "rejected": [m.model_dump() for m in pair.rejected]}
    args = TRLDPOConfig(output_dir=str(tmp_path), report_to=[], use_cpu=True, max_length=None)
    trl = DPOTrainer(model=make_tiny_model(0), ref_model=make_tiny_model(0), args=args,
                     train_dataset=Dataset.from_list([row]), processing_class=tokenizer).train_dataset[0]
    encoded = encode_pairs(tokenizer, [pair])
    assert list(encoded.prompts[0]) == trl["prompt_ids"]
    newline = tokenizer("\n", add_special_tokens=False).input_ids
    for side, c in zip(("chosen_ids", "rejected_ids"), encoded.pairs[0]):
        assert trl[side] == list(encoded.candidates[c][1].ids) + newline
