"""``GET /v1/agents/{id}/context``: Letta's context window overview (API.md section 9).

What the model would see on the next turn of a conversation (the agent's default one unless
``conversation_id`` names another), split as Letta splits it: system prompt, core memory
(the memory blocks), the summary left by compaction, the messages, and the tool definitions.
Token counts are the server's own estimate, the one it uses to decide when to compact.
"""

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from backend.agent.context import chat_messages, compile_system
from backend.api import addressing
from backend.api.agents import resolve_handle
from backend.api.common import query_str, respond
from backend.errors import InvalidArgument
from backend.llm import ProviderRegistry, estimate_text_tokens, estimate_tokens
from backend.services import services
from backend.store.messages import to_wire
from backend.tools import Toolbox


async def agent_context(request: Request) -> JSONResponse:
    svc = services(request)
    agent_id = request.path_params["agent_id"]
    agent = await svc.store.agents.get(agent_id)
    named = query_str(request, "conversation_id")
    if named is None or named == addressing.DEFAULT:
        conversation_id = await addressing.default_of(request, agent_id)
    else:
        conversation = await svc.store.conversations.row(named)
        if conversation["agent_id"] != agent_id:
            raise InvalidArgument(f"Conversation {named} belongs to another agent.")
        conversation_id = named
    rows = await svc.store.messages.in_context_rows(conversation_id)
    system_rows = rows[:1] if rows and rows[0]["message_type"] == "system_message" else []
    system_text = system_rows[0]["content"] if system_rows else compile_system(agent)
    # The model reads the stored system message: its memory blocks section is the core memory.
    base, marker, blocks = system_text.partition("<memory_blocks>")
    base, core = base.rstrip(), marker + blocks
    summaries = [r for r in rows if r["message_type"] == "summary_message"]
    summary = summaries[-1]["content"] if summaries else None
    rest = [r for r in rows[len(system_rows) :] if r["message_type"] != "summary_message"]
    tools = Toolbox(agent.get("tools", [])).offered()
    total_messages = await svc.store.messages.count(conversation_id)
    external = (
        f"{max(0, total_messages - len(rows))} previous messages between you and the user are "
        "stored in recall memory (use tools to access them)."
    )
    parts = {
        "num_tokens_system": estimate_text_tokens(base) if system_text else 0,
        "num_tokens_core_memory": estimate_text_tokens(core) if core else 0,
        "num_tokens_summary_memory": estimate_text_tokens(summary) if summary else 0,
        "num_tokens_messages": estimate_tokens(chat_messages(rest)) if rest else 0,
        "num_tokens_functions_definitions": (
            estimate_text_tokens(json.dumps(tools)) if tools else 0
        ),
        "num_tokens_external_memory_summary": estimate_text_tokens(external),
    }
    overview: dict[str, Any] = {
        "context_window_size_max": _window(svc.registry, agent["model"]),
        "context_window_size_current": sum(parts.values()),
        "num_messages": len(rows),
        "num_archival_memory": 0,
        "num_recall_memory": total_messages,
        "external_memory_summary": external,
        "system_prompt": base,
        "core_memory": core,
        "summary_memory": summary,
        "functions_definitions": tools,
        "messages": [to_wire(r) for r in rows],
        "conversation_id": conversation_id,
        **parts,
    }
    return respond(overview)


def _window(registry: ProviderRegistry, handle: str) -> int:
    """The model's context window; 0 for a provider removed from the config since."""
    try:
        return resolve_handle(registry, handle)["context_window"]
    except InvalidArgument:
        return 0
