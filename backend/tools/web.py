"""``web_search`` and ``fetch_webpage``: Letta's web tools, known here but not served.

Letta runs them through Exa (an API key on the server). chinwag has no search provider and
does not fetch pages for the model (a fetch from the server could reach the user's own local
services), so an agent may have these tools (Letta Code asks for them when it makes an agent)
and a call to one is an error return that says why, which the model can act on.
"""

from typing import Any

from backend.tools.base import ToolContext, ToolFailed, ToolSpec

TOOL_TYPE = "letta_builtin"


async def unavailable(ctx: ToolContext, args: dict[str, Any]) -> str:
    raise ToolFailed(
        "This tool is not available on this server: chinwag has no web search provider and "
        "does not fetch web pages. Answer from what you know, or ask the user for the content."
    )


TOOLS = [
    ToolSpec(
        "web_search",
        "Search the web using Exa's AI-powered search engine and retrieve relevant content.",
        {
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "description": "The search query to find relevant web content.",
                },
                "num_results": {
                    "type": "integer",
                    "description": "Number of results to return (1-100). Defaults to 10.",
                },
                "category": {"type": "string", "description": "Focus on a content type."},
                "include_text": {
                    "type": "boolean",
                    "description": "Whether to retrieve full page content.",
                },
                "include_domains": {"type": "array", "items": {"type": "string"}},
                "exclude_domains": {"type": "array", "items": {"type": "string"}},
                "start_published_date": {"type": "string"},
                "end_published_date": {"type": "string"},
                "user_location": {"type": "string"},
            },
            "required": ["query"],
        },
        TOOL_TYPE,
        unavailable,
    ),
    ToolSpec(
        "fetch_webpage",
        "Fetch a webpage and convert it to markdown/text format.",
        {
            "type": "object",
            "properties": {
                "url": {
                    "type": "string",
                    "description": "The URL of the webpage to fetch and convert",
                }
            },
            "required": ["url"],
        },
        TOOL_TYPE,
        unavailable,
    ),
]
