"""The fake OpenAI-compatible server itself: other tests rely on it behaving like the real one."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from backend.llm import OpenAICompatProvider, TextDelta
from tests.fakes import FakeOpenAI, Fault


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=("fake-model", "fake-large")) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key="k", base_url=fake.base_url, max_retries=0, timeout=5)
    yield client
    await client.close()


async def ask(provider: OpenAICompatProvider, text: str) -> str:
    messages = [{"role": "user", "content": text}]
    events = [e async for e in provider.stream_chat("fake-model", messages)]
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_lists_its_models(client):
    models = await client.models.list()
    assert [m.id for m in models.data] == ["fake-model", "fake-large"]


async def test_answers_without_streaming(fake, client):
    fake.tool_call = {"id": "call_1", "name": "f", "arguments": "{}"}
    completion = await client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "ping"}]
    )
    assert completion.choices[0].message.content == "Fake reply to: ping"
    assert completion.choices[0].message.tool_calls[0].function.name == "f"
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_usage_chunk_only_when_asked(fake):
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        plain = (await http.post("/chat/completions", json=body)).text
        with_usage = (
            await http.post(
                "/chat/completions", json={**body, "stream_options": {"include_usage": True}}
            )
        ).text

    def chunks(text: str) -> list[dict]:
        frames = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
        assert frames[-1] == "[DONE]"
        return [json.loads(frame) for frame in frames[:-1]]

    assert not any("usage" in chunk for chunk in chunks(plain))
    assert chunks(with_usage)[-1]["usage"]["prompt_tokens"] > 0
    assert chunks(with_usage)[-1]["choices"] == []


async def test_records_every_request_from_concurrent_clients(fake):
    provider = OpenAICompatProvider("fake", api_key="k", base_url=fake.base_url)
    try:
        replies = await asyncio.gather(*(ask(provider, f"n{i}") for i in range(10)))
    finally:
        await provider.aclose()
    assert replies == [f"Fake reply to: n{i}" for i in range(10)]
    said = sorted(r["messages"][0]["content"] for r in fake.requests)
    assert said == sorted(f"n{i}" for i in range(10))


async def test_hold_keeps_replies_open_until_released(fake):
    provider = OpenAICompatProvider("fake", api_key="k", base_url=fake.base_url)
    fake.hold()
    try:
        tasks = [asyncio.create_task(ask(provider, f"q{i}")) for i in range(3)]
        await asyncio.to_thread(fake.wait_for_held, 3)
        assert not any(task.done() for task in tasks)
        fake.release()
        replies = await asyncio.gather(*tasks)
    finally:
        fake.release()
        await provider.aclose()
    assert replies == ["Fake reply to: q0", "Fake reply to: q1", "Fake reply to: q2"]


async def test_faults_can_be_counted(fake):
    provider = OpenAICompatProvider("fake", api_key="k", base_url=fake.base_url)
    fake.fail_next(Fault.SERVER_ERROR, times=2)
    outcomes = []
    try:
        for _ in range(3):
            try:
                outcomes.append(await ask(provider, "x"))
            except Exception as exc:
                outcomes.append(type(exc).__name__)
    finally:
        await provider.aclose()
    assert outcomes == ["LLMProviderError", "LLMProviderError", "Fake reply to: x"]


async def test_requires_the_configured_key(fake, client):
    fake.api_key = "sk-right"
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model="m", messages=[])
    assert len(fake.requests) == 1


async def test_wait_for_requests_times_out_clearly(fake):
    with pytest.raises(TimeoutError, match="0 of 1 requests"):
        await asyncio.to_thread(fake.wait_for_requests, 1, 0.05)


async def test_stop_does_not_wait_for_hanging_requests():
    fake = FakeOpenAI().start()
    fake.fail_always(Fault.HANG)
    client = openai.AsyncOpenAI(api_key="k", base_url=fake.base_url, max_retries=0, timeout=30)
    request = asyncio.create_task(
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    )
    try:
        await asyncio.to_thread(fake.wait_for_requests, 1)
        await asyncio.wait_for(asyncio.to_thread(fake.stop), timeout=5)
        assert not fake.running
    finally:
        request.cancel()
        await asyncio.gather(request, return_exceptions=True)
        await client.close()
