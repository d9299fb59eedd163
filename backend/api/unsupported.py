"""Letta request fields this server cannot honour (API.md section 1).

A field that would change what happens gets ``400 INVALID_ARGUMENT`` naming it, rather than a
200 that silently does something else. Fields that change nothing here are accepted.
"""

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from backend.errors import InvalidArgument

Rule = tuple[str, Callable[[Any], bool], str]

AGENT_CREATE: list[Rule] = [
    (
        "tool_rules",
        lambda rules: any(
            not isinstance(r, dict) or r.get("type") != "requires_approval" for r in rules
        ),
        "this server enforces only requires_approval tool rules",
    ),
    ("initial_message_sequence", bool, "a conversation starts with its system message only"),
    ("message_buffer_autoclear", bool, "this server keeps every message until compaction"),
    ("source_ids", bool, "this server has no data sources"),
    ("folder_ids", bool, "this server has no folders"),
]
SEND: list[Rule] = [
    ("override_model", bool, "the agent's own model answers; change it with PATCH"),
    ("override_system", bool, "the conversation's system message is compiled from the agent"),
    ("use_assistant_message", lambda v: v is False, "replies are always assistant messages"),
    ("callback_url", bool, "this server makes no callbacks"),
]


def refuse(body: BaseModel, rules: list[Rule]) -> None:
    """Raise a 400 for the first field of ``body`` set to a value this server cannot honour."""
    extra = body.model_extra or {}
    for name, unsupported, why in rules:
        value = getattr(body, name, extra.get(name))
        if value is not None and unsupported(value):
            raise InvalidArgument(f"{name} is not supported: {why}.", field=name)
