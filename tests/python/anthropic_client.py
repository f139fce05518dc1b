"""The official `anthropic` Python client against a running Switchyard (`/v1/messages`).

Usage: python anthropic_client.py BASE_URL MASTER_KEY
Run by the Rust test `official_anthropic_python_client` (crates/switchyard/tests/binary.rs),
which starts the gateway in front of mock Anthropic and OpenAI upstreams: `claude-*` models
are `anthropic/` deployments (the body passes through), `echo` and `tools` are `openai/` ones
(translated both ways).
"""

import sys
import traceback

import anthropic

BASE, KEY = sys.argv[1], sys.argv[2]
client = anthropic.Anthropic(base_url=BASE, api_key=KEY, max_retries=0)
MSGS = [{"role": "user", "content": "hi"}]
TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
results = []


def case(fn):
    try:
        fn()
        results.append((fn.__name__, None))
    except Exception:  # noqa: BLE001 - report every failure, keep going
        results.append((fn.__name__, traceback.format_exc()))
    return fn


@case
def anthropic_non_stream():
    m = client.messages.create(model="claude-text", max_tokens=50, messages=MSGS)
    assert m.content[0].text == "You said: hi", m
    assert m.stop_reason == "end_turn", m
    assert m.usage.input_tokens == 11 and m.usage.cache_read_input_tokens == 3, m.usage


@case
def openai_non_stream():
    raw = client.messages.with_raw_response.create(
        model="echo", max_tokens=50, system="be brief", messages=MSGS
    )
    assert raw.headers["x-litellm-call-id"]
    m = raw.parse()
    assert m.type == "message" and m.role == "assistant", m
    assert m.content[0].text == "echo", m
    assert m.usage.input_tokens == 5 and m.usage.output_tokens == 3, m.usage


@case
def anthropic_stream():
    with client.messages.stream(model="claude-text", max_tokens=50, messages=MSGS) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "You said: hi", text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 5, final


@case
def openai_stream():
    with client.messages.stream(model="echo", max_tokens=50, messages=MSGS) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "abc", text
    assert final.stop_reason == "end_turn", final
    assert final.usage.output_tokens == 3, final.usage


@case
def openai_tool_use():
    m = client.messages.create(model="tools", max_tokens=50, tools=TOOLS, messages=MSGS)
    assert m.stop_reason == "tool_use", m
    block = m.content[0]
    assert block.type == "tool_use" and block.name == "get_weather", block
    assert block.input == {"city": "Paris"}, block
    # The tool result goes back and is accepted.
    follow = client.messages.create(
        model="echo",
        max_tokens=50,
        tools=TOOLS,
        messages=MSGS
        + [
            {"role": "assistant", "content": [block.model_dump()]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]},
        ],
    )
    assert follow.content[0].text == "echo", follow


@case
def anthropic_tool_stream():
    with client.messages.stream(model="claude-tool", max_tokens=50, tools=TOOLS, messages=MSGS) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use", final
    assert final.content[0].input == {"q": "x"}, final


@case
def openai_tool_stream():
    with client.messages.stream(model="tools", max_tokens=50, tools=TOOLS, messages=MSGS) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use", final
    assert final.content[0].name == "get_weather", final
    assert final.content[0].input == {"city": "Paris"}, final


@case
def count_tokens():
    n = client.messages.count_tokens(model="echo", messages=MSGS)
    assert n.input_tokens > 0, n


@case
def errors():
    bad = anthropic.Anthropic(base_url=BASE, api_key="sk-wrong", max_retries=0)
    try:
        bad.messages.create(model="echo", max_tokens=5, messages=MSGS)
        raise AssertionError("a wrong key was accepted")
    except anthropic.AuthenticationError as e:
        assert e.body["type"] == "authentication_error" or e.status_code == 401, e
    try:
        client.messages.create(model="no-such-model", max_tokens=5, messages=MSGS)
        raise AssertionError("an unknown model was accepted")
    except anthropic.BadRequestError as e:
        assert e.status_code == 400, e
    try:
        client.messages.create(model="status-429", max_tokens=5, messages=MSGS)
        raise AssertionError("a rate limit was not reported")
    except anthropic.RateLimitError as e:
        assert e.status_code == 429, e


failed = [(n, tb) for n, tb in results if tb]
for name, tb in results:
    print(("FAIL " if tb else "ok   ") + name)
    if tb:
        print(tb)
print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
