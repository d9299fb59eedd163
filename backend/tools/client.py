"""Client tools: offered to the model for one send, run by the client, never by the server.

A call to one always takes the approval path: the run stops with ``requires_approval`` and the
client answers with the tool's result (Letta Code runs its shell and file tools this way).
"""

from typing import Any

from backend.tools.base import function
from shared_schema import ClientTool


def offered(tools: list[ClientTool]) -> list[dict[str, Any]]:
    """The client's tools as the model sees them."""
    return [function(t.name, t.description or "", t.parameters) for t in tools]
