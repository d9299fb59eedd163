"""Messages by id and full-text search across conversations (API.md section 9)."""

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse

from backend.api import addressing
from backend.api.common import parse_body, respond
from backend.errors import InvalidArgument
from backend.services import services
from shared_schema import SearchRequest


async def get_message(request: Request) -> JSONResponse:
    """``GET /v1/messages/{id}``: a list, as in Letta (one item here)."""
    message = await services(request).store.messages.get(request.path_params["message_id"])
    return respond([message])


async def search_messages(request: Request) -> JSONResponse:
    """``POST /v1/messages/search``: ranked full-text hits, each with its conversation."""
    svc = services(request)
    body = await parse_body(request, SearchRequest)
    if not body.query.strip():
        raise InvalidArgument("The search query is empty; give some words to look for.")
    conversation_id = body.conversation_id
    if conversation_id == addressing.DEFAULT or (conversation_id or "").startswith("agent-"):
        agent_id = body.agent_id if conversation_id == addressing.DEFAULT else conversation_id
        if not agent_id:
            raise InvalidArgument("conversation_id=default needs an agent_id to say whose.")
        conversation_id = await addressing.default_of(request, agent_id)
    hits = await svc.store.search.search(
        body.query,
        agent_id=body.agent_id,
        conversation_id=conversation_id,
        limit=body.limit,
        start=_iso(body.start_date),
        end=_iso(body.end_date),
    )
    return respond(hits)


def _iso(moment: datetime | None) -> str | None:
    """A bound in the stored timestamps' form, so that they compare as text."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
