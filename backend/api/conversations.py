"""Conversations and their message history (API.md sections 5 and 5.1)."""

from starlette.requests import Request
from starlette.responses import JSONResponse

from backend.api.common import (
    parse_body,
    query_bool,
    query_int,
    query_order,
    query_str,
    respond,
)
from backend.errors import ValidationFailed
from backend.services import services
from shared_schema import ConversationCreate, ConversationUpdate


async def create_conversation(request: Request) -> JSONResponse:
    svc = services(request)
    agent_id = query_str(request, "agent_id")
    if agent_id is None:
        raise ValidationFailed("Query parameter 'agent_id' is required.")
    body = await parse_body(request, ConversationCreate, optional=True)
    return respond(await svc.store.conversations.create(agent_id, body.summary))


async def list_conversations(request: Request) -> JSONResponse:
    svc = services(request)
    agent_id = query_str(request, "agent_id")
    if agent_id is None:
        raise ValidationFailed("Query parameter 'agent_id' is required.")
    conversations = await svc.store.conversations.page(
        agent_id,
        limit=query_int(request, "limit", 50, low=1, high=1000),
        order=query_order(request, "desc"),
        after=query_str(request, "after"),
        before=query_str(request, "before"),
    )
    return respond(conversations)


async def get_conversation(request: Request) -> JSONResponse:
    conversation_id = request.path_params["conversation_id"]
    return respond(await services(request).store.conversations.get(conversation_id))


async def update_conversation(request: Request) -> JSONResponse:
    svc = services(request)
    conversation_id = request.path_params["conversation_id"]
    await svc.store.conversations.row(conversation_id)
    body = await parse_body(request, ConversationUpdate)
    return respond(await svc.store.conversations.update_summary(conversation_id, body.summary))


async def delete_conversation(request: Request) -> JSONResponse:
    await services(request).store.conversations.delete(request.path_params["conversation_id"])
    return respond(None)


async def list_messages(request: Request) -> JSONResponse:
    svc = services(request)
    messages = await svc.store.messages.page(
        request.path_params["conversation_id"],
        limit=query_int(request, "limit", 100, low=1, high=1000),
        order=query_order(request, "asc"),
        after=query_str(request, "after"),
        before=query_str(request, "before"),
        include_compacted=query_bool(request, "include_compacted", False),
    )
    return respond(messages)
