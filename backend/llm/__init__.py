"""Model providers behind one small interface: OpenAI-compatible servers and a builtin model.

The turn code resolves a handle with ``ProviderRegistry``, streams ``Event``s from
``ResolvedModel.provider.stream_chat`` and handles ``LLMError``; compaction calls
``provider.summarize`` with a transcript from ``format_transcript``.
"""

from backend.llm.base import (
    Event,
    Finish,
    LLMAuthError,
    LLMContextLengthError,
    LLMError,
    LLMNotConfiguredError,
    LLMProviderError,
    LLMRateLimitError,
    LLMTimeoutError,
    Provider,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    UnknownProviderError,
    Usage,
)
from backend.llm.builtin import BuiltinProvider
from backend.llm.registry import ProviderConfigError, ProviderRegistry, ResolvedModel
from backend.llm.summary import extractive_summary, format_transcript
from backend.llm.tokens import estimate_text_tokens, estimate_tokens, message_text

__all__ = [
    "BuiltinProvider",
    "Event",
    "Finish",
    "LLMAuthError",
    "LLMContextLengthError",
    "LLMError",
    "LLMNotConfiguredError",
    "LLMProviderError",
    "LLMRateLimitError",
    "LLMTimeoutError",
    "OpenAICompatProvider",
    "Provider",
    "ProviderConfigError",
    "ProviderRegistry",
    "ReasoningDelta",
    "ResolvedModel",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "UnknownProviderError",
    "Usage",
    "estimate_text_tokens",
    "estimate_tokens",
    "extractive_summary",
    "format_transcript",
    "message_text",
]


def __getattr__(name: str) -> object:
    """``OpenAICompatProvider`` on first use, so importing this package stays fast."""
    if name == "OpenAICompatProvider":
        from backend.llm.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
