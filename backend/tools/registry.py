"""The tool registry, and the toolbox of one turn: which tools the model is offered and how a
call to each is answered (run here, wait for a person, or wait for the client)."""

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from backend.llm import ToolCall
from backend.store.blocks import BlockEditError
from backend.tools import client, memory, search, web
from backend.tools.base import (
    ToolContext,
    ToolFailed,
    ToolResult,
    ToolSpec,
    check_arguments,
    function,
)
from shared_schema import ClientTool

log = logging.getLogger("chinwag.tools")

BUILTIN: dict[str, ToolSpec] = {
    spec.name: spec for spec in (*memory.TOOLS, *search.TOOLS, *web.TOOLS)
}
# What Letta 0.16.8 gives a new ``letta_v1_agent`` when ``include_base_tools`` is true.
DEFAULT_TOOLS = ("memory_insert", "memory_replace", "conversation_search")


def definitions() -> list[dict[str, Any]]:
    """Every builtin tool as the store keeps it."""
    return [
        {
            "name": spec.name,
            "description": spec.description,
            "json_schema": spec.json_schema,
            "tool_type": spec.tool_type,
        }
        for spec in BUILTIN.values()
    ]


def error_result(text: str) -> ToolResult:
    return ToolResult(False, text)


@dataclass
class Toolbox:
    """The tools of one turn: the agent's (with their approval setting) and the client's."""

    agent_tools: list[dict[str, Any]] = field(default_factory=list)
    client_tools: list[ClientTool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._client = {t.name for t in self.client_tools}
        # A client tool with a server tool's name replaces it for this send, as in Letta.
        self._server = {t["name"]: t for t in self.agent_tools if t["name"] not in self._client}

    def offered(self) -> list[dict[str, Any]]:
        """The OpenAI function definitions for the model."""
        server = [
            function(t["name"], t["description"], t["json_schema"].get("parameters"))
            for t in self._server.values()
        ]
        return server + client.offered(self.client_tools)

    @property
    def names(self) -> list[str]:
        return [*self._server, *self._client]

    def is_client(self, name: str) -> bool:
        return name in self._client

    def needs_answer(self, name: str) -> bool:
        """A call that waits: to a client tool, or to a tool that requires approval."""
        tool = self._server.get(name)
        return name in self._client or bool(tool and tool.get("requires_approval"))

    async def run(self, ctx: ToolContext, call: ToolCall) -> ToolResult:
        """Run a server tool; any problem with the call is an error result, never an exception."""
        if call.name not in self._server or call.name not in BUILTIN:
            available = ", ".join(self.names) or "none"
            return error_result(
                f"Error: there is no tool named {call.name!r} for this agent. "
                f"Available tools: {available}."
            )
        spec = BUILTIN[call.name]
        try:
            args = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            return error_result(
                f"Error executing function {call.name}: the arguments are not valid JSON "
                f"({exc.msg} at position {exc.pos}). Call it again with a JSON object."
            )
        if not isinstance(args, dict):
            return error_result(
                f"Error executing function {call.name}: the arguments must be a JSON object."
            )
        try:
            return ToolResult(True, await spec.run(ctx, check_arguments(spec, args)))
        except (ToolFailed, BlockEditError) as exc:
            return error_result(str(exc))
        except Exception as exc:
            log.exception("tool %s failed in run %s", call.name, ctx.run_id)
            return error_result(
                f"Error executing function {call.name}: {type(exc).__name__}: {exc}"
            )
