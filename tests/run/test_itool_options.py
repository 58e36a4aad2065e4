"""iTool as loop options, not a separate code path: one config selects the hardest
tasks, builds best-vs-worst pairs with iTool's filters and trains SimPO; the round
loop's train phase trains SimPO on a tiny model from those settings."""

from __future__ import annotations

import json
import math

from agentloop.config import load_config
from agentloop.jsonl import write_jsonl
from agentloop.records import Message, PreferencePair

ITOOL = ["loop.select_hardest=0.3", "build.pairs.mode=best_worst", "build.pairs.max_word_overlap=0.95",
         "build.pairs.min_chosen_q=0.35", "trainer.dpo.loss=simpo", "trainer.dpo.beta=2.5",
         "trainer.dpo.gamma=0.5", "trainer.dpo.lr=1e-6"]


def test_itool_settings_load_as_overrides(tmp_path):
    config = load_config(None, ["env.kind=tooluse", f"loop.runs_dir={tmp_path}", *ITOOL])
    assert config.loop.select_hardest == 0.3
    assert (config.build.pairs.mode, config.build.pairs.max_word_overlap, config.build.pairs.min_chosen_q) == (
        "best_worst", 0.95, 0.35)
    dpo = config.trainer.dpo
    assert (dpo.loss, dpo.beta, dpo.gamma, dpo.lr) == ("simpo", 2.5, 0.5, 1e-6)


def test_the_train_phase_trains_simpo_from_the_config(tmp_path, tiny_model_dir, monkeypatch):
    from agentloop.trainers import dpo

    from agentloop.run import rounds
    from agentloop.run.rundir import RunDir

    built = []
    real = dpo.build_preference_loss
    monkeypatch.setattr(dpo, "build_preference_loss", lambda *args: built.append(args) or real(*args))

    overrides = ["env.kind=tooluse", "env.num_tasks=20", "loop.train_tasks=10", "loop.rounds=1",
                 f"loop.runs_dir={tmp_path}", "trainer.dpo.batch_size=2", "trainer.dpo.epochs=1",
                 "trainer.dpo.progress=false", *ITOOL]
    config = load_config(None, overrides)
    run = RunDir.open(config)
    run.set_model(0, str(tiny_model_dir))
    prompt = (Message(role="user", content="What is 2 + 3?"),)
    pairs = [PreferencePair(prompt=prompt, chosen=(Message(role="assistant", content=good),),
                            rejected=(Message(role="assistant", content=bad),), chosen_q=1.0, rejected_q=0.0)
             for good, bad in [('Action: {"answer": "5"}', 'Action: {"answer": "6"}'),
                               ('Action: {"tool": "calculator", "arguments": {"expression": "2 + 3"}}',
                                "Action: I do not know")]]
    out = run.round_dir(1)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "pairs.jsonl", pairs)
    write_jsonl(out / "revisions.jsonl", [])
    write_jsonl(out / "best.jsonl", [])
    rounds.train_phase(rounds.Session(config, run), 1)
    log = [json.loads(line) for line in (out / "train-dpo.jsonl").read_text().splitlines()]
    assert [args[:3] for args in built] == [("simpo", 2.5, 0.5)]
    assert log and all(math.isfinite(entry["loss"]) for entry in log)
    assert run.model_of(1) == str(out / "checkpoint")
    assert (out / "checkpoint" / "config.json").exists()
