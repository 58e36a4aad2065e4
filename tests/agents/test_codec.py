"""An environment's own action syntax reaches the parser, the well-formed filter and the
ReAct agent; on a parse failure only the text after `Action:` goes to the environment."""

from __future__ import annotations

import pytest

from agentloop.agents.parsing import parse_action, well_formed
from agentloop.agents.react import ReActAgent, system_prompt_of
from agentloop.agents.protocol import AgentState
from agentloop.config import BuildConfig
from agentloop.environments.codec import BracketCodec, RegexCodec, codec_of
from agentloop.environments.maze import MazeEnv
from agentloop.llm.protocol import Completion

CRAFT = RegexCodec(r"get \d+ [a-z]+(?: [a-z]+)?|craft \d+ [a-z]+(?: [a-z]+)?", "get|craft <n> <item>")
TRADE = RegexCodec(r"\[(?:accept|reject|offer: [^\]]+)\]", "[Accept] | [Reject] | [Offer: ...]", lower=False)


@pytest.mark.parametrize("codec,text,action", [
    (CRAFT, "Thought: I need wood.\nAction: get 1 oak log", "get 1 oak log"),
    (CRAFT, "Thought: now planks.\n**Action:** `Craft 4 oak planks`", "craft 4 oak planks"),
    (TRADE, "Thought: fair price.\nAction: [Accept]", "[Accept]"),
    (TRADE, "Thought: too low.\nAction: [Offer: 3 wood for 2 gold]", "[Offer: 3 wood for 2 gold]"),
    (BracketCodec(("move",)), "Thought: right.\nAction: Move [right", "move[right]"),
])
def test_native_syntax_parses_with_its_codec(codec, text, action):
    parsed = parse_action(text, codec=codec)
    assert parsed.action == action and parsed.error is None


def test_a_failure_names_the_syntax_and_keeps_only_what_was_written_as_the_action():
    parsed = parse_action("Thought: I think I should trade now.\nAction: give them wood", codec=TRADE)
    assert parsed.action is None and "[Accept] | [Reject]" in parsed.error
    assert parsed.written == "give them wood"


def test_well_formed_reads_the_action_with_the_codec():
    native = "Thought: I need wood.\nAction: get 1 oak log"
    assert not well_formed(native)  # not verb[argument]: the default codec does not read it
    assert well_formed(native, CRAFT)
    assert not well_formed("Thought: I need wood.\nAction: fetch wood please", CRAFT)
    assert BuildConfig().imitable_with(CRAFT)(native)
    assert BuildConfig(well_formed_only=False).imitable_with(CRAFT)("anything at all")


def test_the_default_codec_is_verb_brackets_over_the_envs_verbs():
    codec = codec_of(MazeEnv())
    assert isinstance(codec, BracketCodec) and codec.verbs == ("move",)
    assert codec.parse("move[up]") == "move[up]" and codec.parse("jump[up]") is None

    class Native:
        action_codec = CRAFT

    assert codec_of(Native()) is CRAFT


class CannedLLM:
    """Generates the given texts (no tokenizer: the agent records no log-probs)."""

    def __init__(self, texts):
        self.texts = texts

    def render(self, messages):
        return "prompt"

    def generate(self, prompts, n=1, sampling=None):
        return [[Completion(t, (1,), (-0.5,), "stop") for t in self.texts[:n]] for _ in prompts]


def test_react_agent_sends_the_parsed_action_or_only_the_text_after_action():
    llm = CannedLLM([" I need wood.\nAction: get 1 oak log",
                     " Long reasoning about the market and what to do.\nAction: trade wood",
                     " I do not know."])
    agent = ReActAgent(llm, codec=CRAFT)
    good, unparsed, unlabelled = agent.propose([AgentState("Make planks.", "You are in a forest.")], k=3)[0]
    assert good.action == "get 1 oak log" and good.parse_error is None
    assert unparsed.action == "trade wood" and "get|craft" in unparsed.parse_error  # not the thought
    assert unlabelled.action == "Thought: I do not know." and unlabelled.parse_error is not None


def test_an_env_without_a_system_prompt_gets_the_default_naming_its_syntax():
    class Native:
        action_codec = CRAFT

    assert system_prompt_of(Native()).endswith("Actions are written get|craft <n> <item>.")
    assert system_prompt_of(MazeEnv()) == MazeEnv.system_prompt
