"""``conversation_search``: the agent looks back through its own past messages.

Letta 0.16.8's arguments and result shape (``{"message": "Showing N results:", "results": [...]}``
with each result's timestamp, how long ago, role and content). Tool messages and the agent's own
earlier searches are left out, as in Letta, so results never nest. Matches come from the
full-text index (every word of the query, else any), best first, each message once.
"""

import json
from datetime import UTC, datetime, time
from typing import Any

from backend.errors import InvalidArgument
from backend.tools.base import ToolContext, ToolFailed, ToolSpec

DEFAULT_LIMIT = 5
_KINDS = {"user": "user_message", "assistant": "assistant_message"}


def _bound(text: str | None, name: str, *, end: bool) -> str | None:
    """An inclusive ISO bound; a date alone means the start (or the end) of that day."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ToolFailed(
            f"Invalid {name} format: {text}. Use ISO 8601 format (YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
        ) from None
    if len(text) == 10 and end:
        moment = datetime.combine(moment.date(), time.max)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _ago(created: str, now: datetime) -> str:
    seconds = int((now - datetime.fromisoformat(created)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(0, seconds)}s ago"


async def conversation_search(ctx: ToolContext, args: dict[str, Any]) -> str:
    roles = args.get("roles") or ["user", "assistant"]
    kinds = [_KINDS[r] for r in roles if r in _KINDS]
    if not kinds:
        return json.dumps({"message": "No results found.", "results": []})
    limit = args.get("limit") or DEFAULT_LIMIT
    if limit < 1:
        raise ToolFailed("limit must be a positive number of results.")
    try:
        rows = await ctx.store.search.agent_history(
            ctx.agent_id,
            query=args.get("query"),
            kinds=kinds,
            limit=min(limit, 100),
            start=_bound(args.get("start_date"), "start_date", end=False),
            end=_bound(args.get("end_date"), "end_date", end=True),
        )
    except InvalidArgument as exc:  # a query without a word to look for
        raise ToolFailed(str(exc)) from None
    if not rows:
        return json.dumps({"message": "No results found.", "results": []})
    now = datetime.now(UTC)
    results = [
        {
            "timestamp": r["created_at"],
            "time_ago": _ago(r["created_at"], now),
            "role": r["role"],
            "content": r["content"],
        }
        for r in rows
    ]
    return json.dumps(
        {"message": f"Showing {len(results)} results:", "results": results}, ensure_ascii=False
    )


TOOLS = [
    ToolSpec(
        "conversation_search",
        "Search prior conversation history using hybrid search (text + semantic similarity).",
        {
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "description": "String to search for using both text matching and semantic "
                    "similarity. If not provided, returns messages based on other filters "
                    "(time range, roles).",
                },
                "roles": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["assistant", "user", "tool"]},
                    "description": "Optional list of message roles to filter by.",
                },
                "limit": {
                    "type": "integer",
                    "description": "Maximum number of results to return. Uses system default "
                    "if not specified.",
                },
                "start_date": {
                    "type": "string",
                    "description": "Filter results to messages created on or after this date "
                    '(INCLUSIVE). ISO 8601 format: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM".',
                },
                "end_date": {
                    "type": "string",
                    "description": "Filter results to messages created on or before this date "
                    '(INCLUSIVE). ISO 8601 format: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM".',
                },
            },
            "required": [],
        },
        "letta_core",
        conversation_search,
    )
]
