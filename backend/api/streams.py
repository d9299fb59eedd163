"""Sending, re-attaching and cancelling (API.md sections 4, 5.2, 5.3, 5.4, 6)."""

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from backend.api.common import parse_body, respond
from backend.runs.manager import SendOptions
from backend.services import services
from backend.store.runs import run_to_wire
from shared_schema import CompactRequest, SendRequest, StreamRequest

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
MESSAGE_TYPES_IN_RESPONSE = frozenset(
    {
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
        "event_message",
    }
)


def frame(chunk: dict[str, Any]) -> str:
    """One SSE frame; chunks marked as errors go out as ``event: error``."""
    data = {k: v for k, v in chunk.items() if k != "__frame__"}
    prefix = f"event: {chunk['__frame__']}\n" if "__frame__" in chunk else ""
    return f"{prefix}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def sse(
    chunks: AsyncIterator[dict[str, Any] | None], include_pings: bool
) -> AsyncIterator[str]:
    async for chunk in chunks:
        if chunk is None:
            yield ": keep-alive\n\n"
        elif include_pings or chunk["message_type"] != "ping":
            yield frame(chunk)
    yield "data: [DONE]\n\n"


def event_stream(
    chunks: AsyncIterator[dict[str, Any] | None], include_pings: bool
) -> StreamingResponse:
    return StreamingResponse(
        sse(chunks, include_pings), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def collect(chunks: AsyncIterator[dict[str, Any] | None]) -> dict[str, Any]:
    """The non-streaming answer: the turn's messages (token chunks merged), stop reason, usage."""
    messages: dict[str, dict[str, Any]] = {}
    stop_reason: dict[str, Any] = {"message_type": "stop_reason", "stop_reason": "error"}
    usage: dict[str, Any] = {"message_type": "usage_statistics"}
    async for chunk in chunks:
        if chunk is None:
            continue
        kind = chunk["message_type"]
        if kind in MESSAGE_TYPES_IN_RESPONSE:
            seen = messages.get(chunk["id"])
            if seen is None:
                messages[chunk["id"]] = dict(chunk)
            else:
                for key in ("content", "reasoning"):
                    if key in chunk:
                        seen[key] = seen.get(key, "") + chunk[key]
        elif kind == "stop_reason":
            stop_reason = chunk
        elif kind == "usage_statistics":
            usage = chunk
    return {"messages": list(messages.values()), "stop_reason": stop_reason, "usage": usage}


async def send_message(request: Request) -> Response:
    svc = services(request)
    conversation_id = request.path_params["conversation_id"]
    await svc.store.conversations.row(conversation_id)
    body = await parse_body(request, SendRequest)
    run = await svc.runs.start(
        conversation_id,
        body.inputs(),
        SendOptions(stream_tokens=body.stream_tokens, max_steps=body.max_steps),
    )
    chunks = run.log.follow(0, wait=svc.settings.keepalive_seconds)
    if not body.streaming:
        return respond(await collect(chunks))
    return event_stream(chunks, body.include_pings)


async def attach_stream(request: Request) -> Response:
    svc = services(request)
    conversation_id = request.path_params["conversation_id"]
    await svc.store.conversations.row(conversation_id)
    body = await parse_body(request, StreamRequest, optional=True)
    chunks = await svc.runs.attach(conversation_id, body.run_id, body.starting_after)
    return event_stream(chunks, body.include_pings)


async def cancel_run(request: Request) -> JSONResponse:
    run_id = await services(request).runs.cancel(request.path_params["conversation_id"])
    return respond({run_id: "cancelled"})


async def get_run(request: Request) -> JSONResponse:
    row = await services(request).store.runs.get(request.path_params["run_id"])
    return respond(run_to_wire(row))


async def compact_conversation(request: Request) -> JSONResponse:
    svc = services(request)
    conversation_id = request.path_params["conversation_id"]
    await svc.store.conversations.row(conversation_id)
    body = await parse_body(request, CompactRequest, optional=True)
    result = await svc.runs.compact(conversation_id, body.compaction_settings)
    return respond(result.to_wire())
