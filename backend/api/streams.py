"""Sending, re-attaching, cancelling, compacting and runs (API.md sections 4, 5.2–5.5, 6, 8)."""

import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from backend.api import addressing, unsupported
from backend.api.common import (
    parse_body,
    query_bool,
    query_int,
    query_order,
    query_str,
    respond,
)
from backend.compaction import effective_settings
from backend.errors import InvalidArgument
from backend.runs.manager import SendOptions
from backend.runs.stream import answer_of
from backend.services import Services, services
from backend.store.db import JsonText
from backend.store.runs import RUN_STATUSES, run_to_wire
from shared_schema import CompactRequest, MessageCreate, SendRequest, StreamRequest

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


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
    """The non-streaming answer of a run whose chunks these are (see :func:`answer_of`)."""
    return answer_of([chunk async for chunk in chunks])


async def send_message(request: Request) -> Response:
    """``POST /v1/conversations/{id}/messages``: streams unless ``streaming`` is false."""
    return await _send(request, streaming=None)


async def send_agent_message(request: Request) -> Response:
    """``POST /v1/agents/{id}/messages``: JSON, as in Letta, unless the body asks to stream."""
    return await _send(request, streaming=False)


async def stream_agent_message(request: Request) -> Response:
    """``POST /v1/agents/{id}/messages/stream``: always a stream."""
    return await _send(request, streaming=True)


async def _send(request: Request, *, streaming: bool | None) -> Response:
    """Send to the conversation the path names; ``streaming`` is the route's default (``None``:
    the body's field with its own default)."""
    svc = services(request)
    body = await parse_body(request, SendRequest)
    if streaming is None or (streaming is False and "streaming" in body.model_fields_set):
        streaming = body.streaming
    conversation_id, inputs, earlier = await _retried(svc, request, body)
    if earlier is not None and earlier["answer"] is not None and not streaming:
        return respond(JsonText(earlier["answer"]))  # kept since the retried send's run ended
    _, chunks = await _start(svc, body, conversation_id, inputs, earlier)
    if not streaming:
        return respond(await collect(chunks))
    return event_stream(chunks, body.include_pings)


async def send_agent_message_async(request: Request) -> JSONResponse:
    """``POST /v1/agents/{id}/messages/async``: start the turn and answer with its run at once;
    the run goes on in the server (follow it with ``/v1/runs/{id}/stream``)."""
    svc = services(request)
    body = await parse_body(request, SendRequest)
    conversation_id, inputs, earlier = await _retried(svc, request, body)
    if earlier is not None:
        return respond(run_to_wire(earlier))
    run_id, _ = await _start(svc, body, conversation_id, inputs, None)
    return respond(run_to_wire(await svc.store.runs.get(run_id)))


async def _retried(
    svc: Services, request: Request, body: SendRequest
) -> tuple[str, list[MessageCreate], sqlite3.Row | None]:
    """The conversation and inputs of a send, and the row of the run that stored these inputs
    already when the send is a retry (known by its otids)."""
    unsupported.refuse(body, unsupported.SEND)
    conversation_id = await addressing.conversation_id(request, body.agent_id)
    inputs = body.inputs()
    return conversation_id, inputs, await svc.runs.sent_before(conversation_id, inputs)


async def _start(
    svc: Services,
    body: SendRequest,
    conversation_id: str,
    inputs: list[MessageCreate],
    earlier: sqlite3.Row | None,
) -> tuple[str, AsyncIterator[dict[str, Any] | None]]:
    """The id and chunks of the send's run: a new one, or ``earlier``, the run of a retried
    send (live, or replayed once it has ended)."""
    if earlier is not None:
        return earlier["id"], await svc.runs.follow(earlier, 0)
    return await svc.runs.send(
        conversation_id,
        inputs,
        SendOptions(
            stream_tokens=body.stream_tokens,
            max_steps=body.max_steps,
            client_tools=body.client_tools or [],
        ),
        body.answers(),
    )


async def attach_stream(request: Request) -> Response:
    svc = services(request)
    body = await parse_body(request, StreamRequest)
    conversation_id = await addressing.conversation_id(request, body.agent_id)
    run_id = body.run_id
    if run_id is None and body.otid is not None:
        await svc.store.conversations.row(conversation_id)  # its 404 before the otid's
        run_id = await svc.runs.run_of_otid(conversation_id, body.otid)
    chunks = await svc.runs.attach(conversation_id, run_id, body.starting_after)
    return event_stream(chunks, body.include_pings)


async def attach_run_stream(request: Request) -> Response:
    """``POST /v1/runs/{run_id}/stream``: the same replay-then-tail, addressed by run."""
    svc = services(request)
    body = await parse_body(request, StreamRequest)
    row = await svc.store.runs.get(request.path_params["run_id"])
    chunks = await svc.runs.attach(row["conversation_id"], row["id"], body.starting_after)
    return event_stream(chunks, body.include_pings)


async def cancel_run(request: Request) -> JSONResponse:
    svc = services(request)
    conversation_id = await addressing.conversation_id(request)
    run_id = await svc.runs.cancel(conversation_id)
    return respond({run_id: "cancelled"})


async def get_run(request: Request) -> JSONResponse:
    row = await services(request).store.runs.get(request.path_params["run_id"])
    return respond(run_to_wire(row))


async def run_messages(request: Request) -> JSONResponse:
    """``GET /v1/runs/{id}/messages``: what the run stored (its input and its reply)."""
    svc = services(request)
    row = await svc.store.runs.get(request.path_params["run_id"])
    messages = await svc.store.messages.of_run(
        row["conversation_id"],
        row["id"],
        limit=query_int(request, "limit", 100, low=1, high=1000),
        order=query_order(request, "asc"),
        after=query_str(request, "after"),
        before=query_str(request, "before"),
    )
    return respond(messages)


async def run_usage(request: Request) -> JSONResponse:
    """``GET /v1/runs/{id}/usage``: the run's token counts (zeros while it runs)."""
    row = await services(request).store.runs.get(request.path_params["run_id"])
    usage = json.loads(row["usage"]) if row["usage"] else {}
    keys = ("prompt_tokens", "completion_tokens", "total_tokens", "step_count", "context_tokens")
    return respond({"message_type": "usage_statistics", **{k: usage.get(k, 0) for k in keys}})


async def list_runs(request: Request) -> JSONResponse:
    """``GET /v1/runs/``: newest first unless ``order=asc``, filtered as Letta filters."""
    svc = services(request)
    statuses = [s for raw in request.query_params.getlist("statuses") for s in raw.split(",") if s]
    unknown = sorted(set(statuses) - set(RUN_STATUSES))
    if unknown:
        raise InvalidArgument(
            f"Unknown run status {', '.join(unknown)}; use {', '.join(RUN_STATUSES)}."
        )
    if not statuses and query_bool(request, "active", False):
        statuses = ["created", "running"]
    conversation_id = query_str(request, "conversation_id")
    agent_id = query_str(request, "agent_id")
    if conversation_id == addressing.DEFAULT:
        if agent_id is None:
            raise InvalidArgument("conversation_id=default needs an agent_id to say whose.")
        conversation_id = await addressing.default_of(request, agent_id)
    rows = await svc.store.runs.page(
        agent_id=agent_id,
        conversation_id=conversation_id,
        statuses=statuses,
        limit=query_int(request, "limit", 100, low=1, high=1000),
        order=query_order(request, "desc"),
        after=query_str(request, "after"),
        before=query_str(request, "before"),
    )
    return respond([run_to_wire(r) for r in rows])


async def compact_conversation(request: Request) -> JSONResponse:
    svc = services(request)
    body = await parse_body(request, CompactRequest)
    conversation_id = await addressing.conversation_id(request, body.agent_id)
    conversation = await svc.store.conversations.row(conversation_id)
    agent = await svc.store.agents.get(conversation["agent_id"])
    settings = effective_settings(agent.get("compaction_settings"), body.compaction_settings)
    result = await svc.runs.compact(conversation_id, settings)
    return respond(result.to_wire())
