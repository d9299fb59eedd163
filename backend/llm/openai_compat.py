"""Chat completions from any OpenAI-compatible server: OpenAI itself, Ollama, vLLM, llama.cpp …

One ``AsyncOpenAI`` client per provider, streaming with usage. The SDK's own retries are off by
default: a retry inside a turn would re-run a half-streamed reply, so the caller decides.
"""

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from backend.llm.base import (
    Event,
    Finish,
    LLMAuthError,
    LLMContextLengthError,
    LLMError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
    Provider,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from backend.llm.prompt import Prompt, encode

DEFAULT_TIMEOUT = 120.0

# How servers say "the prompt is too long": OpenAI's error code, and the messages of OpenAI,
# vLLM ("maximum context length"), llama.cpp ("exceeds the available context size") and others.
_CONTEXT_CODES = {"context_length_exceeded", "exceed_context_size_error"}
_CONTEXT_PHRASES = ("maximum context length", "context length", "context size", "context window")


def _is_context_error(exc: openai.APIError) -> bool:
    message = (exc.message or "").lower()
    return exc.code in _CONTEXT_CODES or any(p in message for p in _CONTEXT_PHRASES)


def _detail(exc: openai.OpenAIError) -> str:
    """The server's own words: the body's message, without the SDK's "Error code: N -" prefix."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return getattr(exc, "message", None) or str(exc)


def map_error(exc: openai.OpenAIError, provider: str) -> LLMError:
    """Translate an ``openai`` exception into the typed error the turn code understands."""
    detail = _detail(exc)
    if isinstance(exc, openai.APITimeoutError):
        return LLMTimeoutError(f"The {provider} model did not answer in time.")
    if isinstance(exc, openai.APIConnectionError):
        return LLMProviderError(
            f"The connection to the {provider} provider failed or broke off mid-reply."
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in (401, 403):
            return LLMAuthError(
                f"The {provider} provider rejected the credentials (HTTP {status}): {detail}"
            )
        if status == 429:
            return LLMRateLimitError(
                f"The {provider} provider is rate limiting requests (HTTP 429): {detail}"
            )
        if status in (400, 413) and _is_context_error(exc):
            return LLMContextLengthError(
                f"The conversation is too long for the {provider} model: {detail}"
            )
        return LLMProviderError(f"The {provider} provider failed (HTTP {status}): {detail}")
    if isinstance(exc, openai.APIError) and _is_context_error(exc):
        return LLMContextLengthError(
            f"The conversation is too long for the {provider} model: {detail}"
        )
    return LLMProviderError(f"The {provider} provider failed: {detail}")


def request_body(prompt: Prompt, request: dict[str, Any]) -> bytes:
    """The JSON of ``request`` with the prompt's messages first after ``model``.

    The SDK's ``chat.completions.create`` would first walk every message against its typed
    parameter definitions (about 0.25 ms per message, on the event loop: 250 ms for a
    1,000-message context) only to produce the same JSON; and encoding the messages anew would
    still cost time in proportion to the context. The prompt's messages are encoded once, as
    they come (``backend.llm.prompt``): the body is the same bytes as ``json.dumps`` of the
    whole request, made by joining. The client still sends it, with its own headers, timeouts
    and errors.
    """
    head = encode({"model": request.pop("model")})
    after = encode(request)
    return prompt.json_body(head[:-1] + b',"messages":', (b"," + after[1:]) if request else b"}")


@dataclass
class _PendingToolCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAICompatProvider(Provider):
    """A provider speaking the OpenAI chat-completions protocol at ``base_url``.

    ``max_tokens_param`` exists because OpenAI's newer models accept only
    ``max_completion_tokens`` while most compatible servers know only ``max_tokens``.
    """

    def __init__(
        self,
        name: str,
        *,
        api_key: str,
        base_url: str,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 0,
        max_tokens_param: str = "max_tokens",
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.max_tokens_param = max_tokens_param
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    async def stream_chat(
        self,
        model: str,
        messages: Sequence[dict] | Prompt,
        *,
        max_tokens: int | None = None,
        tools: list[dict] | None = None,
    ) -> AsyncIterator[Event]:
        """Stream text, reasoning, tool call fragments and assembled calls, usage, ``Finish``."""
        request: dict[str, Any] = {
            "model": model,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if max_tokens is not None:
            request[self.max_tokens_param] = max_tokens
        if tools:
            request["tools"] = tools
        try:
            stream = await self._client.post(
                "/chat/completions",
                cast_to=ChatCompletion,
                content=request_body(Prompt.of(messages), request),
                options={"headers": {"Content-Type": "application/json"}},
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )
            async with stream:
                async for event in self._events(stream):
                    yield event
        except openai.OpenAIError as exc:
            raise map_error(exc, self.name) from exc

    async def _events(self, stream: openai.AsyncStream) -> AsyncIterator[Event]:
        tool_calls: dict[int, _PendingToolCall] = {}
        finish_reason: str | None = None
        async for chunk in stream:
            if chunk.usage is not None:
                yield Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices[:1]:
                delta = choice.delta
                # vLLM and Ollama send reasoning as an extra delta field under one of two names.
                reasoning = getattr(delta, "reasoning_content", None) or getattr(
                    delta, "reasoning", None
                )
                if isinstance(reasoning, str) and reasoning:
                    yield ReasoningDelta(reasoning)
                if delta.content:
                    yield TextDelta(delta.content)
                for fragment in delta.tool_calls or []:
                    pending = tool_calls.setdefault(fragment.index, _PendingToolCall())
                    pending.id = fragment.id or pending.id or f"call_{uuid.uuid4().hex[:24]}"
                    piece = ""
                    if fragment.function is not None:
                        pending.name = fragment.function.name or pending.name
                        piece = fragment.function.arguments or ""
                        pending.arguments.append(piece)
                    yield ToolCallDelta(fragment.index, pending.id, pending.name, piece)
                if choice.finish_reason:
                    finish_reason = choice.finish_reason
        if finish_reason is None:
            raise LLMProviderError(
                f"The {self.name} provider ended the reply before the model finished."
            )
        for _, pending in sorted(tool_calls.items()):
            yield ToolCall(pending.id, pending.name, "".join(pending.arguments))
        yield Finish(finish_reason)

    async def aclose(self) -> None:
        await self._client.close()
