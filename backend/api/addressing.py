"""Which conversation a route names: a ``conv-…`` id, ``default`` with an agent, or an agent id.

Letta addresses an agent's default conversation as ``/v1/conversations/default/…`` with
``agent_id`` (in the query, or in the body of a send, stream, compact or recompile), as
``/v1/conversations/{agent_id}/…``, and through the agent routes. All of them resolve here to
the default conversation's ordinary row, so nothing below the routes treats it specially.
"""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from backend.api.common import query_value
from backend.errors import InvalidArgument
from backend.services import services

DEFAULT = "default"
Handler = Callable[[Request], Awaitable[Response]]


async def conversation_id(request: Request, agent_id: str | None = None) -> str:
    """The conversation row the path's ``conversation_id`` names.

    ``agent_id`` is the one a request body carries; the query's ``agent_id`` is used otherwise.
    """
    named = request.path_params["conversation_id"]
    if named == DEFAULT:
        agent_id = agent_id or query_value(request, "agent_id")
        if not agent_id:
            raise InvalidArgument(
                "The default conversation belongs to an agent: add agent_id (a query parameter,"
                " or a field of the request body) to say whose."
            )
        return await services(request).store.conversations.default_for(agent_id)
    if named.startswith("agent-"):
        return await default_of(request, named)
    return named


async def default_of(request: Request, agent_id: str) -> str:
    """The agent's default conversation (404 for an unknown agent)."""
    return await services(request).store.conversations.default_for(agent_id)


def on_default(handler: Handler) -> Handler:
    """An agent route (``/v1/agents/{agent_id}/messages`` …) served by the conversation route
    ``handler`` on the agent's default conversation, or on the agent's conversation that the
    query's ``conversation_id`` names (Letta Code lists history this way)."""

    async def endpoint(request: Request) -> Response:
        named = query_value(request, "conversation_id")
        target = request.path_params["agent_id"]
        if named and named != DEFAULT:
            row = await services(request).store.conversations.row(named)
            if row["agent_id"] != target:
                raise InvalidArgument(f"Conversation {named} belongs to another agent.")
            target = named
        request.scope["path_params"]["conversation_id"] = target
        return await handler(request)

    endpoint.__doc__ = handler.__doc__
    return endpoint
