"""What every tool is: a name, a JSON schema, and an async run that returns a tool return.

A tool never raises for a bad call: a failure the model can act on (a missing argument, text
not found in a block, a block full) is a ``ToolResult`` with ``ok=False`` and a sentence, and
the turn goes on. Letta's texts are kept where Letta has one.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from backend.store import Store


@dataclass(frozen=True)
class ToolContext:
    """Where a tool runs: whose memory it may change, and which run is asking."""

    store: Store
    agent_id: str
    conversation_id: str
    run_id: str


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    text: str

    @property
    def status(self) -> str:
        return "success" if self.ok else "error"


class ToolFailed(Exception):
    """Raised inside a tool's run for a call the model can correct; becomes an error result."""


Run = Callable[[ToolContext, dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True)
class ToolSpec:
    """A server-side tool. ``run`` returns the text of a successful return or raises
    :class:`ToolFailed`."""

    name: str
    description: str
    parameters: dict[str, Any]
    tool_type: str
    run: Run

    @property
    def json_schema(self) -> dict[str, Any]:
        """Letta's ``json_schema`` of a tool: the function definition without its wrapper."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


def function(name: str, description: str, parameters: dict[str, Any] | None) -> dict[str, Any]:
    """A tool as the OpenAI chat API takes it."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": parameters or {"type": "object", "properties": {}},
        },
    }


def check_arguments(spec: ToolSpec, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments after checking them against the schema's names, required keys and types."""
    properties: dict[str, Any] = spec.parameters.get("properties", {})
    unknown = [k for k in args if k not in properties]
    if unknown:
        raise ToolFailed(
            f"{spec.name}() got an unexpected keyword argument {unknown[0]!r}; "
            f"it takes {', '.join(properties) or 'no arguments'}."
        )
    missing = [k for k in spec.parameters.get("required", []) if k not in args]
    if missing:
        raise ToolFailed(
            f"{spec.name}() missing required argument{'s' if len(missing) > 1 else ''}: "
            + ", ".join(repr(k) for k in missing)
            + "."
        )
    for key, value in args.items():
        expected = properties[key].get("type")
        if expected and value is not None and not _matches(value, expected):
            raise ToolFailed(
                f"{spec.name}() argument {key!r} must be of type {expected}, "
                f"not {type(value).__name__}."
            )
    return args


def _matches(value: Any, expected: str | list[str]) -> bool:
    if isinstance(expected, list):
        return any(_matches(value, e) for e in expected)
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    return checks.get(expected, lambda v: True)(value)
