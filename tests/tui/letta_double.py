"""An in-memory stand-in for how a self-hosted Letta server lists messages and streams.

Follows the captures of a real Letta 0.16.8: no ``role``, ``content`` as a list of parts,
newest first by default, and absolute cursors (``before`` = older whatever the order). An
agent's default conversation (``/v1/conversations/default/messages?agent_id=…``) answers
``order=desc`` with the newest page in chronological order, as Letta 0.16.8 does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx


def letta_message(i: int) -> dict:
    kind = "user_message" if i % 2 == 0 else "assistant_message"
    return {
        "id": f"message-{uuid.UUID(int=i + 1)}",
        "date": "2026-11-24T00:59:53+00:00",
        "message_type": kind,
        "otid": None,
        "seq_id": None,
        "run_id": None,
        "is_err": None,
        "content": [{"type": "text", "text": f"message {i}"}],
    }


class LettaDouble:
    """``handler`` is an ``httpx.MockTransport`` handler; ``requests`` records what was asked."""

    def __init__(self, n: int) -> None:
        self.messages = [letta_message(i) for i in range(n)]
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/messages") and request.method == "GET":
            default = path.endswith("/conversations/default/messages")
            return httpx.Response(200, json=self._list(request.url.params, default))
        return httpx.Response(404, json={"detail": "Not found"})

    def _list(self, params: httpx.QueryParams, default: bool) -> list[dict]:
        ids = [m["id"] for m in self.messages]
        items = list(self.messages)
        if after := params.get("after"):
            items = items[ids.index(after) + 1 :]
        if before := params.get("before"):
            items = [m for m in items if ids.index(m["id"]) < ids.index(before)]
        order = params.get("order", "desc")
        limit = int(params.get("limit", 100))
        if order == "desc":
            items = items[::-1]
        return items[:limit][::-1] if default and order == "desc" else items[:limit]


def sse(frames: list[dict | str], error: dict | None = None) -> Iterator[bytes]:
    """SSE body bytes: one ``data:`` frame per item, an optional error event, then [DONE]."""
    for frame in frames:
        data = frame if isinstance(frame, str) else json.dumps(frame)
        yield f"data: {data}\n\n".encode()
    if error is not None:
        yield f"event: error\ndata: {json.dumps(error)}\n\n".encode()
    yield b"data: [DONE]\n\n"
