"""Conversations and their message history (API.md sections 5, 5.1, 8 and 9)."""

from starlette.requests import Request
from starlette.responses import JSONResponse

from backend.agent.context import compile_system
from backend.api import addressing
from backend.api.common import (
    parse_body,
    query_bool,
    query_int,
    query_order,
    query_str,
    query_values,
    respond,
)
from backend.errors import ValidationFailed
from backend.services import services
from shared_schema import ConversationCreate, ConversationUpdate

# Letta's ``last_run_completion`` is when a run last stored its reply: the last message here.
ORDER_BY = {
    "created_at": "created_at",
    "last_message_at": "last_message_at",
    "last_run_completion": "last_message_at",
}
LISTED_TYPES = frozenset(
    {
        "system_message",
        "user_message",
        "assistant_message",
        "reasoning_message",
        "hidden_reasoning_message",
        "tool_call_message",
        "tool_return_message",
        "approval_request_message",
        "approval_response_message",
        "summary_message",
        "event_message",
    }
)


async def create_conversation(request: Request) -> JSONResponse:
    svc = services(request)
    agent_id = query_str(request, "agent_id")
    if agent_id is None:
        raise ValidationFailed("Query parameter 'agent_id' is required.")
    body = await parse_body(request, ConversationCreate)
    return respond(await svc.store.conversations.create(agent_id, body.summary))


async def list_conversations(request: Request) -> JSONResponse:
    svc = services(request)
    agent_id = query_str(request, "agent_id")
    if agent_id is None:
        raise ValidationFailed("Query parameter 'agent_id' is required.")
    order_by = query_str(request, "order_by") or "created_at"
    if order_by not in ORDER_BY:
        raise ValidationFailed(
            f"Query parameter 'order_by' must be one of {', '.join(ORDER_BY)}, not {order_by!r}."
        )
    conversations = await svc.store.conversations.page(
        agent_id,
        limit=query_int(request, "limit", 50, low=1, high=1000),
        order=query_order(request, "desc"),
        after=query_str(request, "after"),
        before=query_str(request, "before"),
        order_by=ORDER_BY[order_by],  # type: ignore[arg-type]
    )
    return respond(conversations)


async def get_conversation(request: Request) -> JSONResponse:
    conversation_id = await addressing.conversation_id(request)
    return respond(await services(request).store.conversations.get(conversation_id))


async def update_conversation(request: Request) -> JSONResponse:
    svc = services(request)
    conversation_id = await addressing.conversation_id(request)
    await svc.store.conversations.row(conversation_id)
    body = await parse_body(request, ConversationUpdate)
    return respond(await svc.store.conversations.update_summary(conversation_id, body.summary))


async def delete_conversation(request: Request) -> JSONResponse:
    conversation_id = await addressing.conversation_id(request)
    svc = services(request)
    await svc.runs.delete(
        [conversation_id], lambda: svc.store.conversations.delete(conversation_id)
    )
    return respond(None)


async def fork_conversation(request: Request) -> JSONResponse:
    """A new conversation sharing the source's in-context messages, with a fresh system
    message compiled from the agent's memory as it is now."""
    svc = services(request)
    conversation_id = await addressing.conversation_id(request)
    source = await svc.store.conversations.row(conversation_id)
    agent = await svc.store.agents.get(source["agent_id"])
    fork = await svc.store.conversations.fork(
        conversation_id, compile_system(agent), query_str(request, "message_id")
    )
    return respond(fork)


async def list_messages(request: Request) -> JSONResponse:
    svc = services(request)
    conversation_id = await addressing.conversation_id(request)
    messages = await svc.store.messages.page(
        conversation_id,
        limit=query_int(request, "limit", 100, low=1, high=1000),
        order=query_order(request, "asc"),
        after=query_str(request, "after"),
        before=query_str(request, "before"),
        include_compacted=query_bool(request, "include_compacted", False),
        message_types=_message_types(request),
    )
    return respond(messages)


def _message_types(request: Request) -> list[str] | None:
    """``include_return_message_types`` (repeated or comma-separated); None lists every type."""
    raw = query_values(request).get("include_return_message_types", [])
    types = [t for value in raw for t in value.split(",") if t]
    if not types:
        return None
    unknown = sorted(set(types) - LISTED_TYPES)
    if unknown:
        raise ValidationFailed(
            f"Unknown message type {', '.join(unknown)} in include_return_message_types."
        )
    return types
