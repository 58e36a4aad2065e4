"""`agentloop serve` with OpenAI function tools, driven by the `openai` client: a
scripted backend that answers a JSON call shows the response shape
(`tool_calls`, `finish_reason`, ids, JSON-string arguments) and what the model
was shown (the plain-text tool list, tool results as user turns, or a tool-aware
chat template); the reader keeps only well-formed calls to offered tools; and a
real tiny model answers a tools request with a well-formed response."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence

import openai
import pytest
from serving_fixtures import MODEL_NAME, served, tiny_dir, tiny_llm  # noqa: F401 (fixtures)

from agentloop.llm.protocol import Completion, Prompt, Sampling, Score, as_messages
from agentloop.serve.server import running_server
from agentloop.serve.tools import read_tool_calls

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


class ScriptedReply:
    """An LLM that answers every prompt with `reply` and keeps the prompts it saw."""

    def __init__(self, reply: str):
        self.reply = reply
        self.prompts: list[Prompt] = []

    def render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return "".join(f"<{m.role}>{m.content}\n" for m in as_messages(prompt))

    def generate(self, prompts: Sequence[Prompt], n: int = 1,
                 sampling: Sampling | None = None) -> list[list[Completion]]:
        self.prompts += list(prompts)
        return [[Completion(self.reply, (1, 2), (-0.5, -0.25), "stop")] * n for _ in prompts]

    def score(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[Score]:
        return [Score((1,), (-1.0,)) for _ in prompts]


def ask(llm, tokenizer=None, **request):
    with running_server(llm, MODEL_NAME, tokenizer=tokenizer) as url:
        client = openai.OpenAI(base_url=url, api_key="none")
        return client.chat.completions.create(model=MODEL_NAME, max_tokens=20, **request)


def test_a_json_call_comes_back_as_openai_tool_calls():
    llm = ScriptedReply('Thought: I need the weather.\n{"tool": "get_weather", "arguments": {"city": "Paris"}}')
    response = ask(llm, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER])
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    [prompt] = llm.prompts
    system = prompt[0]
    assert system.role == "system" and "get_weather: The weather in a city." in system.content
    assert '{"tool": "<name>"' in system.content


def test_tool_results_and_earlier_calls_are_shown_in_agentloops_roles():
    llm = ScriptedReply("It is sunny in Paris.")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
    ]
    choice = ask(llm, messages=messages, tools=[WEATHER]).choices[0]
    assert choice.finish_reason == "stop" and choice.message.content == "It is sunny in Paris."
    assert choice.message.tool_calls is None
    prompt = llm.prompts[0]
    assert [m.role for m in prompt] == ["system", "user", "assistant", "user"]
    assert prompt[0].content.startswith("Be brief.\n\nYou can call these tools:")
    assert json.loads(prompt[2].content) == {"tool": "get_weather", "arguments": {"city": "Paris"}}
    assert prompt[3].content == "Tool get_weather returned: sunny, 21 C"


def test_tool_choice_none_named_and_parallel_calls():
    two = '{"tool": "get_time", "arguments": {}} {"name": "get_weather", "parameters": {"city": "Rome"}}'
    user = [{"role": "user", "content": "Time and weather?"}]
    both = ask(ScriptedReply(two), messages=user, tools=[WEATHER, TIME]).choices[0].message.tool_calls
    assert [c.function.name for c in both] == ["get_time", "get_weather"]
    assert len({c.id for c in both}) == 2
    first = ask(ScriptedReply(two), messages=user, tools=[WEATHER, TIME], parallel_tool_calls=False)
    assert [c.function.name for c in first.choices[0].message.tool_calls] == ["get_time"]
    named = ScriptedReply(two)
    choice = {"type": "function", "function": {"name": "get_weather"}}
    calls = ask(named, messages=user, tools=[WEATHER, TIME], tool_choice=choice).choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather"]
    assert "You must call the tool get_weather now." in named.prompts[0][0].content
    silent = ScriptedReply(two)
    reply = ask(silent, messages=user, tools=[WEATHER, TIME], tool_choice="none").choices[0]
    assert reply.finish_reason == "stop" and reply.message.content == two
    assert all("get_weather" not in m.content for m in silent.prompts[0])


def test_calls_to_tools_not_offered_or_not_well_formed_stay_text():
    for reply in ['{"tool": "delete_everything", "arguments": {}}', "__import__('os').system('echo hi')",
                  "get_weather(city=open('/etc/passwd').read())", '{"tool": "get_weather", "arguments": [1]}']:
        choice = ask(ScriptedReply(reply), messages=[{"role": "user", "content": "x"}], tools=[WEATHER]).choices[0]
        assert choice.finish_reason == "stop" and choice.message.content == reply


def test_a_tool_choice_that_names_no_offered_tool_is_a_bad_request():
    with pytest.raises(openai.BadRequestError, match="not in tools"):
        ask(ScriptedReply("x"), messages=[{"role": "user", "content": "x"}], tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "get_time"}})


def test_reader_takes_nested_json_and_literal_calls_only():
    nested = 'ok {"tool": "plot", "arguments": {"points": [[1, 2], [3, {"z": 4}]]}} done'
    assert read_tool_calls(nested, {"plot"}) == [{"name": "plot", "arguments": {"points": [[1, 2], [3, {"z": 4}]]}}]
    assert read_tool_calls('get_weather(city="Oslo")', {"get_weather"}) == [
        {"name": "get_weather", "arguments": {"city": "Oslo"}}]
    assert read_tool_calls('get_weather(city=city.__class__)', {"get_weather"}) == []
    assert read_tool_calls('{"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}', {"get_weather"}) == [
        {"name": "get_weather", "arguments": {"city": "Oslo"}}]


TOOL_TEMPLATE = (
    "{% if tools %}<tools>{% for t in tools %}{{ t.function.name }};{% endfor %}</tools>\n{% endif %}"
    "{% for m in messages %}<{{ m.role }}>{% if m.tool_calls %}{% for c in m.tool_calls %}"
    "<call>{{ c.function.name }} {{ c.function.arguments.city }}</call>{% endfor %}{% endif %}"
    "{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")


def test_a_tool_aware_chat_template_renders_the_tools(tokenizer):
    tooled = copy.deepcopy(tokenizer)
    tooled.chat_template = TOOL_TEMPLATE
    llm = ScriptedReply('{"tool": "get_weather", "arguments": {"city": "Oslo"}}')
    messages = [{"role": "user", "content": "Weather?"},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {
                    "name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "rain"}]
    choice = ask(llm, tokenizer=tooled, messages=messages, tools=[WEATHER, TIME]).choices[0]
    assert choice.finish_reason == "tool_calls"
    expected = ("<tools>get_weather;get_time;</tools>\n<user>Weather?\n"
                "<assistant><call>get_weather Rome</call>\n<tool>rain\n<assistant>")
    assert llm.prompts == [expected]


def test_the_default_template_does_not_know_tools(tokenizer):
    from agentloop.serve.tools import template_knows_tools

    assert not template_knows_tools(tokenizer)  # so the default model gets the plain-text tool list


def test_a_real_tiny_model_answers_a_tools_request_well_formed(served):
    url, _ = served
    client = openai.OpenAI(base_url=url, api_key="none")
    response = client.chat.completions.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER],
        max_tokens=8, seed=0)
    choice = response.choices[0]
    assert choice.finish_reason in ("tool_calls", "stop", "length")
    if choice.finish_reason == "tool_calls":
        assert all(c.function.name == "get_weather" for c in choice.message.tool_calls)
    else:
        assert isinstance(choice.message.content, str)
    assert response.usage.prompt_tokens > 50  # the tool list is in the prompt
