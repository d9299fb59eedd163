"""The one interface every model provider implements, and the events and errors it speaks.

The agent turn consumes a provider as an async stream of small typed events (the way a chat UI
consumes parts), so it can forward text as it arrives and decide for itself what to store.
Failures surface as ``LLMError`` subclasses carrying a sentence a person can read, so nothing
above this package needs to know which SDK raised what.
"""

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from backend.llm.prompt import Prompt

# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    """The next fragment of the assistant's visible reply."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """The next fragment of the model's reasoning, for models that expose it."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call as it streams: ``index`` says which call of the step it is.

    The first fragment of a call carries its ``id`` and ``name``; later ones only the next piece
    of ``arguments``. The complete call still follows as a ``ToolCall``.
    """

    index: int
    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call; providers assemble streamed fragments before emitting it."""

    id: str
    name: str
    arguments: str  # a JSON document, as the model wrote it


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of the whole call; emitted at most once, when the provider reports them."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Finish:
    """Always the last event of a successful stream: ``stop``, ``length``, ``tool_calls`` …"""

    reason: str


Event = TextDelta | ReasoningDelta | ToolCallDelta | ToolCall | Usage | Finish


# --- errors ---------------------------------------------------------------------------------


class LLMError(Exception):
    """Base of every model failure. ``str(error)`` is a sentence fit to show a person.

    ``error_type`` is a stable name a program can branch on; ``retryable`` says whether the same
    request might succeed later (the caller decides whether to retry, providers never do).
    """

    default_message: ClassVar[str] = "The model request failed."
    error_type: ClassVar[str] = "llm_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class LLMAuthError(LLMError):
    default_message = "The model provider rejected the credentials."
    error_type = "llm_auth_error"


class LLMRateLimitError(LLMError):
    default_message = "The model provider is rate limiting requests; try again shortly."
    error_type = "llm_rate_limit"
    retryable = True


class LLMTimeoutError(LLMError):
    default_message = "The model did not answer in time."
    error_type = "llm_timeout"
    retryable = True


class LLMContextLengthError(LLMError):
    default_message = "The conversation is too long for the model's context window."
    error_type = "context_window_exceeded"


class LLMProviderError(LLMError):
    default_message = "The model provider failed to answer."
    error_type = "llm_provider_error"
    retryable = True


class LLMNotConfiguredError(LLMError):
    """The provider is known but lacks credentials; ``setting`` names what to fill in."""

    default_message = "The model provider is not configured."
    error_type = "llm_not_configured"

    def __init__(self, message: str | None = None, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class UnknownProviderError(LLMError):
    """A handle that is malformed or names a provider (or builtin model) that does not exist."""

    default_message = "Unknown model handle."
    error_type = "unknown_model"


# --- the interface --------------------------------------------------------------------------


class Provider(ABC):
    """A source of chat completions. One instance serves many concurrent turns."""

    name: str

    @abstractmethod
    def stream_chat(
        self,
        model: str,
        messages: Sequence[dict] | Prompt,
        *,
        max_tokens: int | None = None,
        tools: list[dict] | None = None,
    ) -> AsyncIterator[Event]:
        """Stream one completion of OpenAI-style ``messages``; ends with exactly one ``Finish``.

        A turn passes a :class:`Prompt` (the conversation's kept prompt, its JSON and token
        estimate at hand); ``Prompt.of`` takes either.

        ``messages`` may hold assistant ``tool_calls`` and ``role: tool`` results; ``tools`` are
        the OpenAI function definitions (``{"type": "function", "function": {...}}``) the model
        may call. Implementations are async generators; closing the generator early (a cancelled
        turn) must release the underlying request.
        """

    async def summarize(
        self, model: str, *, prompt: str, transcript: str, max_tokens: int | None = None
    ) -> str:
        """Summarize ``transcript`` as instructed by ``prompt``; used by compaction.

        A real model follows the prompt, so the default is one ordinary completion. An empty
        answer is an error because a compaction must leave a non-empty summary behind.
        """
        messages = [
            {"role": "system", "content": prompt},
            {"role": "user", "content": transcript},
        ]
        parts = [
            event.text
            async for event in self.stream_chat(model, messages, max_tokens=max_tokens)
            if isinstance(event, TextDelta)
        ]
        summary = "".join(parts).strip()
        if not summary:
            raise LLMProviderError("The model returned an empty summary.")
        return summary

    async def aclose(self) -> None:  # noqa: B027 - an optional hook, not an abstract one
        """Release connections; the default provider holds none."""
