"""The official `openai` Python client against a running Switchyard.

Usage: python openai_client.py BASE_URL MASTER_KEY
Run by the Rust test `official_openai_python_client` (crates/switchyard/tests/binary.rs),
which starts the gateway in front of a mock OpenAI upstream.
"""

import sys
import traceback

import openai

BASE, KEY = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0)
MSGS = [{"role": "user", "content": "hi"}]
results = []


def case(fn):
    try:
        fn()
        results.append((fn.__name__, None))
    except Exception:  # noqa: BLE001 - report every failure, keep going
        results.append((fn.__name__, traceback.format_exc()))
    return fn


@case
def models_list():
    ids = [m.id for m in client.models.list()]
    assert "echo" in ids and "mock" in ids, ids


@case
def non_stream():
    raw = client.chat.completions.with_raw_response.create(model="echo", messages=MSGS, seed=1)
    assert raw.headers["x-litellm-call-id"]
    r = raw.parse()
    assert r.choices[0].message.content == "echo", r
    assert r.usage.total_tokens == 12
    assert r.usage.prompt_tokens_details.cached_tokens == 4


@case
def stream_with_usage():
    text, usage = "", None
    for chunk in client.chat.completions.create(
        model="echo", messages=MSGS, stream=True, stream_options={"include_usage": True}
    ):
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == "abc", text
    assert usage is not None and usage.completion_tokens == 3



@case
def translating_providers():
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    for model, expected in [("claude-text", "You said: hi"), ("gemini-text", "You said: hi"), ("azure-echo", "echo")]:
        r = client.chat.completions.create(model=model, messages=MSGS)
        assert r.choices[0].message.content == expected, (model, r)
        assert r.usage.total_tokens > 0, (model, r.usage)
        text = ""
        for chunk in client.chat.completions.create(model=model, messages=MSGS, stream=True):
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
        assert text == (expected if model != "azure-echo" else "abc"), (model, text)
    for model in ["claude-tool", "gemini-tool"]:
        r = client.chat.completions.create(model=model, messages=MSGS, tools=tools)
        call = r.choices[0].message.tool_calls[0]
        assert call.function.name == "lookup", (model, r)
        assert r.choices[0].finish_reason == "tool_calls", (model, r)
        args = ""
        for chunk in client.chat.completions.create(model=model, messages=MSGS, tools=tools, stream=True):
            if chunk.choices and chunk.choices[0].delta.tool_calls:
                args += chunk.choices[0].delta.tool_calls[0].function.arguments or ""
        assert args.replace(" ", "") == '{"q":"x"}', (model, args)

@case
def tool_calls():
    r = client.chat.completions.create(
        model="tools",
        messages=MSGS,
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    )
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"city":"Paris"}'


@case
def mock_stream():
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="mock", messages=MSGS, stream=True)
        if c.choices
    )
    assert text == "Hi from mock", text


@case
def unknown_model_is_bad_request():
    try:
        client.chat.completions.create(model="no-such-model", messages=MSGS)
    except openai.BadRequestError as e:
        assert "/v1/models" in str(e), e
    else:
        raise AssertionError("expected BadRequestError")


@case
def upstream_rate_limit_is_rate_limit_error():
    try:
        client.chat.completions.create(model="status-429", messages=MSGS)
    except openai.RateLimitError as e:
        assert "upstream says 429" in str(e), e
    else:
        raise AssertionError("expected RateLimitError")


@case
def wrong_key_is_authentication_error():
    bad = openai.OpenAI(base_url=BASE + "/v1", api_key="sk-wrong", max_retries=0)
    try:
        bad.models.list()
    except openai.AuthenticationError:
        pass
    else:
        raise AssertionError("expected AuthenticationError")



@case
def embeddings():
    # The client asks for base64 by default and decodes it: both encodings are exercised.
    r = client.embeddings.create(model="mock", input=["same", "same", "other"])
    assert len(r.data) == 3 and len(r.data[0].embedding) == 8, r
    assert r.data[0].embedding == r.data[1].embedding != r.data[2].embedding, r
    f = client.embeddings.create(model="mock", input="x", encoding_format="float", dimensions=4)
    assert len(f.data[0].embedding) == 4 and f.usage.prompt_tokens > 0, f


@case
def legacy_completions():
    r = client.completions.create(model="echo", prompt="Say this", max_tokens=5)
    assert r.object == "text_completion" and r.choices[0].text == "re: Say this", r
    text = "".join(c.choices[0].text for c in client.completions.create(model="echo", prompt="yo", stream=True) if c.choices)
    assert text == "re: yo", text


@case
def responses_api():
    r = client.responses.create(model="echo", input="hi")
    assert r.output_text == "echo: hi", r
    deltas = [e.delta for e in client.responses.create(model="echo", input="yo", stream=True) if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "echo: yo", deltas
    # Bridged through chat to Anthropic, with a stored conversation.
    first = client.responses.create(model="claude-text", input="hello")
    assert first.output_text == "You said: hello", first
    second = client.responses.create(model="claude-text", input="again", previous_response_id=first.id)
    assert second.output_text == "You said: again", second
    with client.responses.stream(model="claude-text", input="streamed") as s:
        final = s.get_final_response()
    assert final.output_text == "You said: streamed", final
    assert client.responses.retrieve(first.id).id == first.id


@case
def audio_transcription():
    r = client.audio.transcriptions.create(model="echo", file=("talk.mp3", b"x" * 300000, "audio/mpeg"))
    assert r.text == "heard 300000 bytes", r
    t = client.audio.transcriptions.create(model="echo", file=("t.mp3", b"abc", "audio/mpeg"), response_format="text")
    assert "heard 3 bytes" in str(t), t

failed = [(n, tb) for n, tb in results if tb]
for name, tb in failed:
    print(f"FAIL {name}\n{tb}")
print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
