"""Resolving model handles, provider configuration, context windows and token estimates."""

from collections.abc import Iterator

import pytest

from backend.llm import (
    BuiltinProvider,
    LLMContextLengthError,
    LLMNotConfiguredError,
    OpenAICompatProvider,
    ProviderConfigError,
    ProviderRegistry,
    TextDelta,
    UnknownProviderError,
    estimate_tokens,
)
from backend.llm.registry import known_context_window
from backend.llm.tokens import estimate_text_tokens
from tests.fakes import FakeOpenAI

OLLAMA = {
    "providers": {
        "ollama": {
            "base_url": "http://localhost:11434/v1",
            "models": ["llama3.2", "mystery-model"],
            "context_windows": {"mystery-model": 4096},
            "endpoint_type": "ollama",
        }
    }
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


# --- nothing configured ---------------------------------------------------------------------


def test_without_configuration_only_builtin_is_usable():
    registry = ProviderRegistry.from_config({}, env={})

    assert registry.providers() == ["builtin", "openai"]
    assert registry.configured_providers() == ["builtin"]
    assert registry.default_handle() == "builtin/echo"
    [builtin] = registry.list_models()
    assert builtin == {
        "handle": "builtin/echo",
        "model": "echo",
        "provider": "builtin",
        "context_window": 8192,
        "description": builtin["description"],
    }
    assert "offline stand-in for trying chinwag and for tests" in builtin["description"]


def test_builtin_resolves_to_the_offline_provider():
    resolved = ProviderRegistry.from_config(None, env={}).ensure_configured("builtin/echo")

    assert isinstance(resolved.provider, BuiltinProvider)
    assert (resolved.model_name, resolved.handle) == ("echo", "builtin/echo")
    assert (resolved.endpoint_type, resolved.endpoint) == ("openai", None)
    assert resolved.configured is True


def test_openai_without_a_key_resolves_but_is_not_configured():
    registry = ProviderRegistry.from_config({}, env={})

    resolved = registry.resolve("openai/gpt-4o-mini")
    assert resolved.configured is False
    assert resolved.context_window == 128_000
    assert resolved.endpoint == "https://api.openai.com/v1"

    with pytest.raises(LLMNotConfiguredError) as caught:
        registry.ensure_configured("openai/gpt-4o-mini")
    assert str(caught.value) == "Set OPENAI_API_KEY to use openai/gpt-4o-mini."
    assert caught.value.setting == "OPENAI_API_KEY"


async def test_streaming_from_an_unconfigured_provider_says_what_to_set():
    resolved = ProviderRegistry.from_config({}, env={}).resolve("openai/gpt-4.1")
    with pytest.raises(LLMNotConfiguredError) as caught:
        async for _ in resolved.provider.stream_chat("gpt-4.1", []):
            pass
    assert str(caught.value) == "Set OPENAI_API_KEY to use openai/gpt-4.1."


# --- handles --------------------------------------------------------------------------------


@pytest.mark.parametrize("handle", ["gpt-4o", "/gpt-4o", "openai/", "", "open ai/x", "openai/a b"])
def test_malformed_handles_are_rejected_with_the_known_providers(handle):
    with pytest.raises(UnknownProviderError) as caught:
        ProviderRegistry.from_config(OLLAMA, env={}).resolve(handle)
    assert "malformed" in str(caught.value)
    assert "Known providers: builtin, openai, ollama." in str(caught.value)


def test_unknown_provider_lists_the_known_ones():
    with pytest.raises(UnknownProviderError) as caught:
        ProviderRegistry.from_config(OLLAMA, env={}).resolve("anthropic/claude")
    assert str(caught.value) == (
        "Unknown provider 'anthropic' in 'anthropic/claude'. "
        "Known providers: builtin, openai, ollama."
    )


def test_builtin_offers_only_echo():
    with pytest.raises(UnknownProviderError, match="offers: builtin/echo"):
        ProviderRegistry.from_config({}, env={}).resolve("builtin/gpt-4o")


def test_model_names_may_contain_slashes():
    config = {"providers": {"router": {"base_url": "http://localhost:1/v1"}}}
    resolved = ProviderRegistry.from_config(config, env={}).resolve(
        "router/meta-llama/llama-3.1-8b-instruct"
    )
    assert resolved.model_name == "meta-llama/llama-3.1-8b-instruct"
    assert resolved.context_window == 131_072


# --- OpenAI ---------------------------------------------------------------------------------


def test_openai_key_makes_openai_usable_and_the_default():
    registry = ProviderRegistry.from_config({}, env={"OPENAI_API_KEY": "sk-x"})

    assert registry.default_handle() == "openai/gpt-4o-mini"
    models = {m["handle"]: m["context_window"] for m in registry.list_models()}
    assert models["builtin/echo"] == 8192
    assert models["openai/gpt-4o-mini"] == 128_000
    assert models["openai/gpt-4.1"] == 1_047_576
    assert models["openai/o3"] == 200_000
    resolved = registry.ensure_configured("openai/gpt-4o")
    assert isinstance(resolved.provider, OpenAICompatProvider)
    assert resolved.provider.max_tokens_param == "max_completion_tokens"


def test_openai_base_url_comes_from_the_environment():
    env = {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}
    resolved = ProviderRegistry.from_config({}, env=env).resolve("openai/gpt-4o")
    assert resolved.endpoint == "http://127.0.0.1:8000/v1"
    assert resolved.provider.base_url == "http://127.0.0.1:8000/v1"


async def test_openai_provider_uses_the_key_from_the_environment(fake):
    fake.reset()
    env = {"OPENAI_API_KEY": "sk-from-env", "OPENAI_BASE_URL": fake.base_url}
    registry = ProviderRegistry.from_config({}, env=env)
    resolved = registry.ensure_configured("openai/gpt-4o-mini")
    try:
        events = [
            e
            async for e in resolved.provider.stream_chat(
                "gpt-4o-mini", [{"role": "user", "content": "hi"}]
            )
        ]
    finally:
        await registry.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Fake reply to: hi"
    assert fake.authorizations == ["Bearer sk-from-env"]
    assert fake.requests[0]["model"] == "gpt-4o-mini"


# --- providers from the config file ---------------------------------------------------------


def test_config_providers_are_listed_and_become_the_default():
    registry = ProviderRegistry.from_config(OLLAMA, env={"OPENAI_API_KEY": "sk-x"})

    assert registry.default_handle() == "ollama/llama3.2"
    ollama = [m for m in registry.list_models() if m["provider"] == "ollama"]
    assert ollama == [
        {
            "handle": "ollama/llama3.2",
            "model": "llama3.2",
            "provider": "ollama",
            "context_window": 131_072,
        },
        {
            "handle": "ollama/mystery-model",
            "model": "mystery-model",
            "provider": "ollama",
            "context_window": 4096,
        },
    ]
    resolved = registry.ensure_configured("ollama/llama3.2")
    assert (resolved.endpoint_type, resolved.endpoint) == ("ollama", "http://localhost:11434/v1")


def test_unlisted_models_of_a_config_provider_resolve_with_the_default_window():
    config = {
        "providers": {
            "local": {"base_url": "http://localhost:8080/v1", "default_context_window": 32_000}
        }
    }
    registry = ProviderRegistry.from_config(config, env={})
    assert registry.resolve("local/whatever").context_window == 32_000
    assert registry.resolve("local/gpt-4o").context_window == 128_000
    assert ProviderRegistry.from_config(OLLAMA, env={}).resolve("ollama/odd").context_window == 8192


def test_api_key_env_names_the_variable_to_set():
    config = {
        "providers": {
            "groq": {
                "base_url": "https://api.groq.com/openai/v1",
                "api_key_env": "GROQ_API_KEY",
                "models": ["llama-3.3-70b"],
            }
        }
    }

    missing = ProviderRegistry.from_config(config, env={})
    with pytest.raises(LLMNotConfiguredError) as caught:
        missing.ensure_configured("groq/llama-3.3-70b")
    assert str(caught.value) == "Set GROQ_API_KEY to use groq/llama-3.3-70b."
    assert [m["provider"] for m in missing.list_models()] == ["builtin"]
    assert missing.default_handle() == "builtin/echo"

    present = ProviderRegistry.from_config(config, env={"GROQ_API_KEY": "gsk"})
    assert present.ensure_configured("groq/llama-3.3-70b").configured
    assert present.default_handle() == "groq/llama-3.3-70b"


async def test_config_provider_sends_its_own_key_and_never_the_openai_one(fake):
    fake.reset()
    config = {
        "providers": {
            "keyed": {"base_url": fake.base_url, "api_key_env": "KEYED_TOKEN"},
            "keyless": {"base_url": fake.base_url},
            "inline": {"base_url": fake.base_url, "api_key": "inline-key"},
        }
    }
    env = {"KEYED_TOKEN": "from-env", "OPENAI_API_KEY": "sk-must-not-leak"}
    registry = ProviderRegistry.from_config(config, env=env)
    try:
        for name in ("keyed", "keyless", "inline"):
            provider = registry.ensure_configured(f"{name}/m").provider
            async for _ in provider.stream_chat("m", [{"role": "user", "content": "x"}]):
                pass
    finally:
        await registry.aclose()
    assert fake.authorizations == ["Bearer from-env", "Bearer not-needed", "Bearer inline-key"]


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ({"ollama": {"models": ["x"]}}, "needs base_url"),
        ({"ollama": "http://localhost"}, "must be a table"),
        ({"ollama": {"base_url": "http://h/v1", "models": "llama3.2"}}, "list of model names"),
        ({"ollama": {"base_url": "http://h/v1", "context_windows": {"m": "big"}}}, "positive"),
        ({"ollama": {"base_url": "http://h/v1", "timeout": -1}}, "non-negative"),
        ({"Bad Name": {"base_url": "http://h/v1"}}, "lower-case"),
        ({"builtin": {"context_window": "small"}}, "non-negative number"),
    ],
)
def test_broken_provider_tables_are_reported_clearly(providers, message):
    with pytest.raises(ProviderConfigError, match=message):
        ProviderRegistry.from_config({"providers": providers}, env={})


async def test_builtin_window_and_pacing_are_configurable():
    config = {"providers": {"builtin": {"context_window": 64, "delta_delay": 0.001}}}
    registry = ProviderRegistry.from_config(config, env={})

    resolved = registry.resolve("builtin/echo")
    assert resolved.context_window == 64
    assert registry.list_models()[0]["context_window"] == 64
    assert resolved.provider.delta_delay == 0.001
    with pytest.raises(LLMContextLengthError):
        async for _ in resolved.provider.stream_chat(
            "echo", [{"role": "user", "content": "w " * 200}]
        ):
            pass


# --- context windows and tokens -------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "window"),
    [
        ("gpt-4o", 128_000),
        ("gpt-4o-mini", 128_000),
        ("gpt-4.1-nano", 1_047_576),
        ("o3", 200_000),
        ("o4-mini", 200_000),
        ("o1-mini", 128_000),
        ("gpt-4", 8_192),
        ("llama3.2", 131_072),
        ("llama3.1:8b", 131_072),
        ("Llama-3.3-70B", 131_072),
        ("llama3", 8_192),
        ("qwen2.5:7b", 32_768),
        ("some-new-model", 8_192),
    ],
)
def test_known_context_windows(model, window):
    assert known_context_window(model) == window


def test_unknown_models_take_the_given_default():
    assert known_context_window("mystery", default=2048) == 2048


def test_token_estimate_is_chars_over_four_plus_overhead():
    assert estimate_tokens([]) == 3
    assert estimate_tokens([{"role": "user", "content": "abcd"}]) == 3 + 4 + 1
    assert estimate_tokens([{"role": "user", "content": "a" * 400}]) == 3 + 4 + 100
    assert estimate_text_tokens("日本語") == 3  # nine UTF-8 bytes: cautious for such scripts


def test_token_estimate_counts_parts_and_tool_calls():
    as_text = [{"role": "user", "content": "hello world"}]
    as_parts = [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]
    with_call = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}],
        }
    ]
    assert estimate_tokens(as_text) == estimate_tokens(as_parts)
    assert estimate_tokens(with_call) > estimate_tokens([{"role": "assistant", "content": None}])
