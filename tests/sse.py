"""Reading the server's SSE streams in tests, frame by frame, as a client sees them."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import connect_sse


@dataclass
class Frame:
    event: str
    data: Any  # parsed JSON, or the string "[DONE]"

    @property
    def type(self) -> str | None:
        return self.data.get("message_type") if isinstance(self.data, dict) else None


def frames(client: httpx.Client, method: str, url: str, **kwargs: Any) -> Iterator[Frame]:
    """Yield the frames of one streaming request; a non-200 answer raises with its body."""
    with connect_sse(client, method, url, **kwargs) as source:
        response = source.response
        if response.status_code != 200:
            response.read()
            raise httpx.HTTPStatusError(response.text, request=response.request, response=response)
        for sse in source.iter_sse():
            data = sse.data if sse.data == "[DONE]" else json.loads(sse.data)
            yield Frame(sse.event, data)


def send(client: httpx.Client, conversation_id: str, text: str, **options: Any) -> list[Frame]:
    body = {"messages": [{"role": "user", "content": text}], **options}
    return list(frames(client, "POST", f"/v1/conversations/{conversation_id}/messages", json=body))


def text_of(frames_: list[Frame]) -> str:
    """The assistant text of a stream, token chunks joined."""
    return "".join(f.data["content"] for f in frames_ if f.type == "assistant_message")
