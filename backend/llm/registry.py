"""Which providers exist, which are usable, and what a handle like ``ollama/llama3.2`` means.

Providers come from three places: ``builtin`` always; ``openai`` always known and usable once
``OPENAI_API_KEY`` is set (``OPENAI_BASE_URL`` moves it, as in the SDK); and every
``[providers.<name>]`` table of the config file, an OpenAI-compatible server::

    [providers.ollama]
    base_url = "http://localhost:11434/v1"
    api_key_env = "OLLAMA_API_KEY"         # or api_key = "…", or neither for a keyless server
    models = ["llama3.2", "qwen2.5:7b"]
    context_windows = { "llama3.2" = 131072 }
    default_context_window = 8192
    timeout = 120                          # seconds without a byte from the server
    max_retries = 0                        # SDK retries per call; a turn should not retry
    endpoint_type = "ollama"               # reported in llm_config; "openai" by default

    [providers.openai]                     # optional: the same keys adjust the openai provider
    models = ["gpt-4o-mini", "gpt-4.1"]

    [providers.builtin]
    context_window = 2048                  # small, to exercise overflow
    delta_delay = 0.02                     # seconds between streamed deltas, for demos

A handle whose provider is known but lacks credentials still resolves (an agent can be created
with it); ``ensure_configured`` is the check that turns it into a clear error before a send.
"""

import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.llm.base import (
    Event,
    LLMNotConfiguredError,
    Provider,
    UnknownProviderError,
)
from backend.llm.builtin import DEFAULT_CONTEXT_WINDOW as BUILTIN_CONTEXT_WINDOW
from backend.llm.builtin import DESCRIPTION as BUILTIN_DESCRIPTION
from backend.llm.builtin import MODEL as BUILTIN_MODEL
from backend.llm.builtin import BuiltinProvider

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o4-mini",
    "o3",
)
UNKNOWN_CONTEXT_WINDOW = 8192
# A placeholder key for servers that need none: the SDK insists on one, and passing our own
# stops it from falling back to OPENAI_API_KEY and sending that key to a third-party server.
NO_KEY = "not-needed"

# Published context windows, first match wins. A model served by Ollama may run with a smaller
# window (its ``num_ctx``) than the model supports; set ``context_windows`` in that case.
KNOWN_CONTEXT_WINDOWS: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(pattern), window)
    for pattern, window in (
        (r"^gpt-4\.1", 1_047_576),
        (r"^gpt-5", 400_000),
        (r"^gpt-4o", 128_000),
        (r"^gpt-4-turbo", 128_000),
        (r"^gpt-4(-\d|$)", 8_192),
        (r"^gpt-3\.5-turbo", 16_385),
        (r"^o1-mini", 128_000),
        (r"^o(1|3|4-mini)", 200_000),
        (r"^llama-?3\.[1-3]", 131_072),
        (r"^llama-?3(?![.\d])", 8_192),
        (r"^qwen2\.5", 32_768),
        (r"^(mistral|mixtral)", 32_768),
        (r"^gemma-?2", 8_192),
    )
)
RESOLVED_CACHE_SIZE = 1024
_PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class ProviderConfigError(ValueError):
    """A ``[providers.…]`` table that cannot work; raised when the config is loaded."""


def known_context_window(model: str, default: int = UNKNOWN_CONTEXT_WINDOW) -> int:
    """The published window of a well-known model, else ``default``.

    Only the last path segment counts, so ``meta-llama/llama-3.1-8b`` is a llama 3.1.
    """
    name = model.lower().rsplit("/", 1)[-1]
    matches = (window for pattern, window in KNOWN_CONTEXT_WINDOWS if pattern.match(name))
    return next(matches, default)


@dataclass(frozen=True)
class ResolvedModel:
    """What the turn code needs to call a model, and what ``llm_config`` reports."""

    provider: Provider
    model_name: str
    handle: str
    context_window: int
    endpoint_type: str
    endpoint: str | None
    configured: bool


class _Unconfigured(Provider):
    """Stands in for a provider without credentials; every call says what to set."""

    def __init__(self, name: str, setting: str) -> None:
        self.name = name
        self.setting = setting

    def error(self, model: str) -> LLMNotConfiguredError:
        return LLMNotConfiguredError(
            f"Set {self.setting} to use {self.name}/{model}.", setting=self.setting
        )

    async def stream_chat(
        self,
        model: str,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        tools: list[dict] | None = None,
    ) -> AsyncIterator[Event]:
        raise self.error(model)
        yield  # never reached; makes this an async generator like every other provider


@dataclass
class _Entry:
    """One provider as the registry knows it."""

    provider: Provider
    models: tuple[str, ...]
    context_windows: dict[str, int] = field(default_factory=dict)
    default_context_window: int = UNKNOWN_CONTEXT_WINDOW
    endpoint_type: str = "openai"
    endpoint: str | None = None
    closed_model_list: bool = False  # only the listed models exist (builtin)
    description: str | None = None

    @property
    def configured(self) -> bool:
        return not isinstance(self.provider, _Unconfigured)

    def context_window(self, model: str) -> int:
        if model in self.context_windows:
            return self.context_windows[model]
        return known_context_window(model, self.default_context_window)


class ProviderRegistry:
    """Named providers, built once from the config file and the environment."""

    def __init__(self, entries: dict[str, _Entry], default_handle: str) -> None:
        self._entries = entries
        self._default_handle = default_handle
        # The entries never change, so a handle resolves the same way every time: an agent
        # list resolves one handle per agent, and the lookup costs more than the rest of it.
        self._resolved: dict[str, ResolvedModel] = {}

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any] | None = None, env: Mapping[str, str] = os.environ
    ) -> "ProviderRegistry":
        """Build the registry from the parsed config file (the whole TOML document)."""
        tables = dict((config or {}).get("providers") or {})
        for name, table in tables.items():
            if not isinstance(table, Mapping):
                raise ProviderConfigError(f"[providers.{name}] must be a table.")
        entries = {
            "builtin": _builtin_entry(tables.pop("builtin", {})),
            "openai": _openai_entry(tables.pop("openai", {}), env),
        }
        for name, table in tables.items():
            entries[name] = _compatible_entry(name, table, env)
        return cls(entries, _choose_default(entries))

    def providers(self) -> list[str]:
        """Every known provider name, configured or not."""
        return list(self._entries)

    def configured_providers(self) -> list[str]:
        return [name for name, entry in self._entries.items() if entry.configured]

    def resolve(self, handle: str) -> ResolvedModel:
        """Split and look up ``<provider>/<model>``; raises ``UnknownProviderError``."""
        resolved = self._resolved.get(handle)
        if resolved is None:
            resolved = self._lookup(handle)
            if len(self._resolved) >= RESOLVED_CACHE_SIZE:
                self._resolved.clear()
            self._resolved[handle] = resolved
        return resolved

    def _lookup(self, handle: str) -> ResolvedModel:
        provider_name, _, model = handle.partition("/")
        known = ", ".join(self.providers())
        if not provider_name or not model or any(c.isspace() for c in handle):
            raise UnknownProviderError(
                f"Model handle {handle!r} is malformed: use <provider>/<model>, "
                f"e.g. {self._default_handle}. Known providers: {known}."
            )
        entry = self._entries.get(provider_name)
        if entry is None:
            raise UnknownProviderError(
                f"Unknown provider {provider_name!r} in {handle!r}. Known providers: {known}."
            )
        if entry.closed_model_list and model not in entry.models:
            offered = ", ".join(f"{provider_name}/{m}" for m in entry.models)
            raise UnknownProviderError(
                f"Unknown model {handle!r}. The {provider_name} provider offers: {offered}."
            )
        return ResolvedModel(
            provider=entry.provider,
            model_name=model,
            handle=handle,
            context_window=entry.context_window(model),
            endpoint_type=entry.endpoint_type,
            endpoint=entry.endpoint,
            configured=entry.configured,
        )

    def ensure_configured(self, handle: str) -> ResolvedModel:
        """``resolve``, and raise ``LLMNotConfiguredError`` if the provider lacks credentials."""
        resolved = self.resolve(handle)
        if isinstance(resolved.provider, _Unconfigured):
            raise resolved.provider.error(resolved.model_name)
        return resolved

    def list_models(self) -> list[dict[str, Any]]:
        """The models of every configured provider, builtin first, as ``GET /v1/models/`` shows.

        Entries may carry a ``description`` (the builtin model says what it is).
        """
        return [
            {
                "handle": f"{name}/{model}",
                "model": model,
                "provider": name,
                "context_window": entry.context_window(model),
                **({"description": entry.description} if entry.description else {}),
            }
            for name, entry in self._entries.items()
            if entry.configured
            for model in entry.models
        ]

    def default_handle(self) -> str:
        """The model of new agents that name none.

        The first model of the first configured provider from the config file, since a table
        written there is a deliberate choice; else OpenAI's first model if its key is set; else
        ``builtin/echo``, so chinwag always works out of the box.
        """
        return self._default_handle

    async def aclose(self) -> None:
        """Close every provider's connections (at server shutdown)."""
        for entry in self._entries.values():
            await entry.provider.aclose()


def _choose_default(entries: dict[str, _Entry]) -> str:
    file_providers = [name for name in entries if name not in ("builtin", "openai")]
    for name in [*file_providers, "openai"]:
        entry = entries[name]
        if entry.configured and entry.models:
            return f"{name}/{entry.models[0]}"
    return f"builtin/{BUILTIN_MODEL}"


def _number(table: Mapping[str, Any], key: str, name: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ProviderConfigError(f"[providers.{name}] {key} must be a non-negative number.")
    return value


def _windows(table: Mapping[str, Any], name: str) -> dict[str, int]:
    windows = table.get("context_windows") or {}
    if not isinstance(windows, Mapping) or not all(
        isinstance(v, int) and v > 0 for v in windows.values()
    ):
        raise ProviderConfigError(
            f"[providers.{name}] context_windows must map model names to positive integers."
        )
    return dict(windows)


def _models(table: Mapping[str, Any], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    models = table.get("models", default)
    if not isinstance(models, list | tuple) or not all(isinstance(m, str) and m for m in models):
        raise ProviderConfigError(f"[providers.{name}] models must be a list of model names.")
    return tuple(models)


def _builtin_entry(table: Mapping[str, Any]) -> _Entry:
    window = int(_number(table, "context_window", "builtin", BUILTIN_CONTEXT_WINDOW))
    provider = BuiltinProvider(
        context_window=window,
        delta_delay=_number(table, "delta_delay", "builtin", 0.0),
        words_per_delta=int(_number(table, "words_per_delta", "builtin", 3)),
    )
    # Letta's schema has a closed list of endpoint types; the builtin model speaks the
    # OpenAI chat shape, so it reports "openai" rather than breaking strict clients.
    return _Entry(
        provider,
        (BUILTIN_MODEL,),
        default_context_window=window,
        endpoint=None,
        closed_model_list=True,
        description=BUILTIN_DESCRIPTION,
    )


def _key(
    table: Mapping[str, Any], env: Mapping[str, str], default_var: str | None
) -> tuple[str | None, str | None]:
    """The API key to use and, when it is missing, the variable that would supply it."""
    if table.get("api_key"):
        return str(table["api_key"]), None
    var = table.get("api_key_env", default_var)
    if var is None:
        return NO_KEY, None
    if env.get(var):
        return env[var], None
    return None, var


def _openai_entry(table: Mapping[str, Any], env: Mapping[str, str]) -> _Entry:
    base_url = table.get("base_url") or env.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
    return _openai_like_entry("openai", table, env, base_url, "OPENAI_API_KEY", OPENAI_MODELS)


def _compatible_entry(name: str, table: Mapping[str, Any], env: Mapping[str, str]) -> _Entry:
    if not _PROVIDER_NAME.match(name):
        raise ProviderConfigError(
            f"Provider name {name!r} must be lower-case letters, digits, '.', '_' or '-'."
        )
    base_url = table.get("base_url")
    if not isinstance(base_url, str) or not base_url:
        raise ProviderConfigError(
            f'[providers.{name}] needs base_url, e.g. "http://localhost:11434/v1".'
        )
    return _openai_like_entry(name, table, env, base_url, None, ())


def _openai_like_entry(
    name: str,
    table: Mapping[str, Any],
    env: Mapping[str, str],
    base_url: str,
    default_key_var: str | None,
    default_models: tuple[str, ...],
) -> _Entry:
    api_key, missing_var = _key(table, env, default_key_var)
    provider: Provider
    if api_key is None:
        provider = _Unconfigured(name, missing_var)
    else:
        # Imported here: the openai SDK takes about a second to import, which a server that
        # only uses the builtin model should not pay at every start.
        from backend.llm.openai_compat import DEFAULT_TIMEOUT, OpenAICompatProvider

        provider = OpenAICompatProvider(
            name,
            api_key=api_key,
            base_url=base_url,
            timeout=_number(table, "timeout", name, DEFAULT_TIMEOUT),
            max_retries=int(_number(table, "max_retries", name, 0)),
            # OpenAI's reasoning models refuse max_tokens; compatible servers expect it.
            max_tokens_param="max_completion_tokens" if name == "openai" else "max_tokens",
        )
    return _Entry(
        provider,
        _models(table, name, default_models),
        context_windows=_windows(table, name),
        default_context_window=int(
            _number(table, "default_context_window", name, UNKNOWN_CONTEXT_WINDOW)
        ),
        endpoint_type=str(table.get("endpoint_type", "openai")),
        endpoint=base_url,
    )
