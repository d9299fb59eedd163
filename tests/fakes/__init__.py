"""Test doubles that speak real protocols over loopback."""

from tests.fakes.fake_openai import FakeOpenAI, Fault

__all__ = ["FakeOpenAI", "Fault"]
