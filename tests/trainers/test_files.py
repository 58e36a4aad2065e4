"""Training files (ours and TRL's formats) and the `agentloop train` command."""

from __future__ import annotations

import json

import pytest
from agentloop.trainers.files import load_conversations, load_pairs, parse_overrides
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
    assert (pairs[0].chosen_logprob, pairs[0].rejected_logprob) == (-1.0, -2.0)
    assert pairs[1].chosen_logprob is None


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


def test_parse_overrides():
    assert parse_overrides(["lr=0.001", "lora.r=8", "bf16=false"]) == {"lr": 0.001, "lora": {"r": 8}, "bf16": False}
    with pytest.raises(ValueError):
        parse_overrides(["lr"])


def test_train_command_writes_a_checkpoint(tiny_model_dir, tmp_path):
    rows = [{"prompt": [{"role": "user", "content": f"Buy {i}"}],
             "chosen": [{"role": "assistant", "content": f"search[{i}]"}],
             "rejected": [{"role": "assistant", "content": "click[x]"}]} for i in range(4)]
    data = write_lines(tmp_path / "trl.jsonl", rows)
    out = tmp_path / "ckpt"
    result = CliRunner().invoke(app, ["train", str(data), "lr=1e-3", "batch_size=2", "progress=false",
                                      "device=cpu", "-o", str(out), "--model", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert "2 steps" in result.output and (out / "model.safetensors").is_file()
    bad = CliRunner().invoke(app, ["train", str(data), "nonsense=1", "-o", str(tmp_path / "x"),
                                   "--model", str(tiny_model_dir)])
    assert bad.exit_code != 0 and "nonsense" in bad.output
