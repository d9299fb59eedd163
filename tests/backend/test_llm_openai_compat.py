"""The OpenAI-compatible provider, through the real ``openai`` SDK, against the fake server."""

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from backend.llm import (
    Event,
    Finish,
    LLMAuthError,
    LLMContextLengthError,
    LLMError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
    OpenAICompatProvider,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
    estimate_tokens,
)
from tests.fakes import FakeOpenAI, Fault

HELLO = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hello there"},
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


@pytest.fixture
async def provider(fake: FakeOpenAI) -> AsyncIterator[OpenAICompatProvider]:
    provider = OpenAICompatProvider("fake", api_key="sk-test", base_url=fake.base_url, timeout=10)
    yield provider
    await provider.aclose()


async def collect(provider: OpenAICompatProvider, **kwargs) -> list[Event]:
    return [event async for event in provider.stream_chat("fake-model", HELLO, **kwargs)]


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_streams_text_in_deltas_then_usage_then_finish(fake, provider):
    fake.reply = "one two three four five six seven eight"
    fake.deltas = 4

    events = await collect(provider)

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) == 4
    assert text_of(events) == fake.reply
    assert events[-1] == Finish("stop")
    [usage] = [e for e in events if isinstance(e, Usage)]
    assert usage.prompt_tokens == estimate_tokens(HELLO)
    assert usage.completion_tokens > 0


async def test_default_fake_reply_quotes_the_last_user_message(provider):
    assert text_of(await collect(provider)) == "Fake reply to: Hello there"


async def test_sends_model_messages_and_asks_for_usage(fake, provider):
    await collect(provider)
    await collect(provider, max_tokens=64)

    first, second = fake.requests
    assert first["model"] == "fake-model"
    assert first["messages"] == HELLO
    assert first["stream"] is True
    assert first["stream_options"] == {"include_usage": True}
    assert "max_tokens" not in first
    assert second["max_tokens"] == 64
    assert fake.authorizations == ["Bearer sk-test", "Bearer sk-test"]


async def test_max_tokens_parameter_name_is_configurable(fake):
    provider = OpenAICompatProvider(
        "openai", api_key="k", base_url=fake.base_url, max_tokens_param="max_completion_tokens"
    )
    try:
        await collect(provider, max_tokens=10)
    finally:
        await provider.aclose()
    assert fake.requests[-1]["max_completion_tokens"] == 10
    assert "max_tokens" not in fake.requests[-1]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_deltas_from_either_field(fake, provider, field):
    fake.reasoning = "Let me think about greetings."
    fake.reasoning_field = field

    events = await collect(provider)

    reasoning = [e for e in events if isinstance(e, ReasoningDelta)]
    assert "".join(e.text for e in reasoning) == fake.reasoning
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert events.index(reasoning[-1]) < first_text


async def test_tool_call_fragments_are_assembled(fake, provider):
    fake.tool_call = {"id": "call_7", "name": "get_weather", "arguments": '{"city": "Paris"}'}

    events = await collect(provider)

    assert [e for e in events if isinstance(e, ToolCall)] == [
        ToolCall("call_7", "get_weather", '{"city": "Paris"}')
    ]
    assert events[-1] == Finish("tool_calls")


@pytest.mark.parametrize(
    ("fault", "error", "words"),
    [
        (Fault.SERVER_ERROR, LLMProviderError, "HTTP 500"),
        (Fault.UNAUTHORIZED, LLMAuthError, "credentials"),
        (Fault.RATE_LIMIT, LLMRateLimitError, "rate limiting"),
        (Fault.CONTEXT_LENGTH, LLMContextLengthError, "maximum context length"),
        (Fault.DROP_MIDWAY, LLMProviderError, "broke off"),
        (Fault.HANG, LLMTimeoutError, "did not answer in time"),
    ],
)
async def test_faults_become_typed_errors(fake, fault, error, words):
    # Only the hang waits for the timeout; the others get a generous one so load cannot matter.
    timeout = 0.5 if fault is Fault.HANG else 10
    provider = OpenAICompatProvider("fake", api_key="k", base_url=fake.base_url, timeout=timeout)
    fake.fail_next(fault)
    try:
        with pytest.raises(error) as caught:
            await collect(provider)
        assert words in str(caught.value)
        assert "fake" in str(caught.value)
        assert type(caught.value) is error
        # No hidden retries inside a turn: exactly one request reached the server.
        assert len(fake.requests) == 1
        # A one-shot fault is gone: the next call succeeds.
        assert text_of(await collect(provider)) == "Fake reply to: Hello there"
    finally:
        await provider.aclose()


async def test_a_dropped_stream_keeps_the_text_that_arrived_first(fake, provider):
    fake.reply = "alpha beta gamma delta epsilon zeta"
    fake.deltas = 6
    fake.fail_next(Fault.DROP_MIDWAY)
    received: list[Event] = []

    with pytest.raises(LLMProviderError):
        async for event in provider.stream_chat("fake-model", HELLO):
            received.append(event)

    assert text_of(received) == "alpha beta gamma "
    assert not any(isinstance(e, Finish) for e in received)


async def test_a_stream_that_stalls_midway_times_out(fake):
    provider = OpenAICompatProvider("fake", api_key="k", base_url=fake.base_url, timeout=1)
    fake.hold(after_deltas=1)
    received: list[Event] = []
    try:
        with pytest.raises(LLMTimeoutError):
            async for event in provider.stream_chat("fake-model", HELLO):
                received.append(event)
    finally:
        fake.release()
        await provider.aclose()
    assert len([e for e in received if isinstance(e, TextDelta)]) == 1


async def test_the_models_own_context_window_is_reported(fake, provider):
    fake.context_window = 10

    with pytest.raises(LLMContextLengthError) as caught:
        await collect(provider)

    assert "maximum context length is 10 tokens" in str(caught.value)
    assert caught.value.retryable is False


async def test_persistent_faults_last_until_cleared(fake, provider):
    fake.fail_always(Fault.RATE_LIMIT)
    for _ in range(3):
        with pytest.raises(LLMRateLimitError) as caught:
            await collect(provider)
        assert caught.value.retryable is True
    fake.fail_always(None)
    assert text_of(await collect(provider))


async def test_sdk_retries_only_when_asked(fake):
    provider = OpenAICompatProvider("fake", api_key="k", base_url=fake.base_url, max_retries=1)
    fake.fail_next(Fault.SERVER_ERROR)
    try:
        assert text_of(await collect(provider)) == "Fake reply to: Hello there"
    finally:
        await provider.aclose()
    assert len(fake.requests) == 2


async def test_closing_the_stream_early_does_not_wait_for_the_model(fake, provider):
    fake.hold(after_deltas=1)
    stream = provider.stream_chat("fake-model", HELLO)
    try:
        first = await anext(stream)
        while not isinstance(first, TextDelta):
            first = await anext(stream)
        await asyncio.wait_for(stream.aclose(), timeout=2)
    finally:
        fake.release()
    assert first.text


async def test_unreachable_server_is_a_provider_error():
    provider = OpenAICompatProvider("nowhere", api_key="k", base_url="http://127.0.0.1:9/v1")
    try:
        with pytest.raises(LLMProviderError, match="connection to the nowhere provider"):
            await collect(provider)
    finally:
        await provider.aclose()


async def test_summarize_sends_prompt_and_transcript_and_returns_the_text(fake, provider):
    fake.reply = "  Ada likes compilers.  "

    summary = await provider.summarize(
        "fake-model", prompt="Summarize this.", transcript="User: I am Ada."
    )

    assert summary == "Ada likes compilers."
    assert fake.requests[-1]["messages"] == [
        {"role": "system", "content": "Summarize this."},
        {"role": "user", "content": "User: I am Ada."},
    ]


async def test_an_empty_summary_is_an_error(fake, provider):
    fake.reply = ""
    with pytest.raises(LLMError, match="empty summary"):
        await provider.summarize("fake-model", prompt="p", transcript="t")
