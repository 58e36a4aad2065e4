"""Records round-trip through JSONL, and a malformed file is rejected with file, line and field."""

from __future__ import annotations

import pytest

from agentloop.jsonl import JsonlError, JsonlWriter, read_jsonl, write_jsonl
from agentloop.records import (
    EvalResult,
    Message,
    PreferencePair,
    Provenance,
    RevisionTrajectory,
    Step,
    Trajectory,
)

PROVENANCE = Provenance(run="r", round=2, task_id="t7", node_ids=("n0", "n3"))
RECORDS = [
    Trajectory(task_id="t7", instruction="buy a lamp", reward=0.5, provenance=PROVENANCE,
               steps=(Step(observation="o", completion="Thought: x\nAction: search[lamp]",
                           action="search[lamp]", token_ids=(1, 2), logprobs=(-0.5, -0.25)),),
               messages=(Message(role="user", content="o"), Message(role="assistant", content="a"))),
    PreferencePair(prompt=(Message(role="user", content="o"),),
                   chosen=(Message(role="assistant", content="click[b1]"),),
                   rejected=(Message(role="assistant", content="click[b2]"),),
                   chosen_logprob=-1.5, rejected_logprob=-2.0, chosen_q=0.9, provenance=PROVENANCE),
    RevisionTrajectory(messages=(Message(role="user", content="o"), Message(role="assistant", content="a")),
                       train=(False, True), revision_step=1, provenance=PROVENANCE),
    EvalResult(num_tasks=50, success_rate=0.1, success_ci95=(0.04, 0.21), mean_reward=0.3,
               mean_steps=4.2, invalid_action_rate=0.05),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_round_trip(tmp_path, record):
    path = write_jsonl(tmp_path / "x.jsonl", [record, record])
    assert read_jsonl(path, type(record)) == [record, record]


def test_writer_appends_and_flushes_each_record(tmp_path):
    path = tmp_path / "t.jsonl"
    writer = JsonlWriter(path)
    writer.write(RECORDS[0])
    assert read_jsonl(path, Trajectory) == [RECORDS[0]]  # readable before close
    writer.close()


def test_records_are_frozen():
    with pytest.raises(Exception):
        RECORDS[0].reward = 1.0


def test_step_logprob_sums_token_logprobs():
    assert RECORDS[0].steps[0].logprob == -0.75


def test_malformed_file_names_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = RECORDS[0].model_dump_json()
    bad = good.replace('"reward":0.5', '"reward":"high"')
    path.write_text(good + "\n" + bad + "\n")
    with pytest.raises(JsonlError) as error:
        read_jsonl(path, Trajectory)
    assert error.value.line == 2 and str(path) in str(error.value) and "'reward'" in str(error.value)


@pytest.mark.parametrize("line,detail", [("{not json", "not JSON"), ("", "empty line"),
                                          ('{"task_id": "t", "surprise": 1}', "surprise")])
def test_bad_lines_are_never_skipped(tmp_path, line, detail):
    path = tmp_path / "bad.jsonl"
    path.write_text(RECORDS[0].model_dump_json() + "\n" + line + "\n" + RECORDS[0].model_dump_json() + "\n")
    with pytest.raises(JsonlError, match=detail) as error:
        read_jsonl(path, Trajectory)
    assert error.value.line == 2


def test_revision_flags_must_match_messages_and_train_only_the_assistant():
    with pytest.raises(ValueError, match="flags"):
        RevisionTrajectory(messages=(Message(role="user", content="o"),), train=(False, True))
    with pytest.raises(ValueError, match="assistant"):
        RevisionTrajectory(messages=(Message(role="user", content="o"),), train=(True,))
