"""A fake OpenAI-compatible server for tests: real HTTP on loopback, scriptable from the test.

It runs uvicorn in a background thread with its own event loop, so the code under test talks to
it exactly as it would to OpenAI or Ollama: through the ``openai`` SDK over a socket. Every
request body is recorded; replies, pacing and faults are set per test from the test thread::

    with FakeOpenAI() as fake:
        fake.reply = "Hello there"            # default: "Fake reply to: <last user message>"
        fake.fail_next(Fault.RATE_LIMIT)      # the next request gets a 429, later ones succeed
        ...
        assert fake.requests[-1]["messages"][-1]["content"] == "hi"

A tool loop is scripted step by step: ``fake.script(Reply(tool_calls=[call(...), ...]), "done")``
answers the next requests in order (a ``str`` is a plain reply; several calls in one ``Reply``
are parallel tool calls; ``arguments`` is sent as given, so malformed JSON can be scripted).

Faults are one-shot (``fail_next``) or persistent (``fail_always``). ``hold()`` makes replies wait
until ``release()``, so a test can keep a turn open deterministically and ``wait_for_held(n)``
until n replies are waiting. Prompt size is measured with the server's own estimate
(``backend.llm.tokens.estimate_tokens``) so tests can choose windows exactly.
"""

import asyncio
import itertools
import json
import logging
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from backend.llm.tokens import (
    BYTES_PER_TOKEN,
    estimate_text_tokens,
    estimate_tokens,
    message_text,
)

POLL_SECONDS = 0.005
STARTUP_TIMEOUT = 10.0


class Fault(StrEnum):
    SERVER_ERROR = "server_error"  # HTTP 500
    UNAUTHORIZED = "unauthorized"  # HTTP 401
    RATE_LIMIT = "rate_limit"  # HTTP 429
    CONTEXT_LENGTH = "context_length"  # HTTP 400 in OpenAI's context_length_exceeded shape
    HANG = "hang"  # never answer: the client's timeout fires
    DROP_MIDWAY = "drop_midway"  # stream part of the reply, then break the connection


@dataclass(frozen=True)
class Reply:
    """One scripted answer: text, tool calls (each ``{"id", "name", "arguments"}``), or both."""

    text: str = ""
    tool_calls: list[dict[str, str]] = field(default_factory=list)


def call(name: str, arguments: dict[str, Any] | str, call_id: str | None = None) -> dict[str, str]:
    """A scripted tool call; a ``str`` ``arguments`` is sent verbatim (malformed JSON too)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id or f"call_{next(_CALL_IDS)}", "name": name, "arguments": args}


_CALL_IDS = itertools.count(1)


class _DroppedConnection(Exception):
    """Raised inside a started stream: uvicorn then closes the socket mid-body."""


def _not_a_planned_drop(record: logging.LogRecord) -> bool:
    """Keep uvicorn from logging a traceback for a connection dropped on purpose."""
    return not (record.exc_info and isinstance(record.exc_info[1], _DroppedConnection))


logging.getLogger("uvicorn.error").addFilter(_not_a_planned_drop)


def _error(status: int, message: str, type_: str, code: str | None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    headers = {"retry-after": "1"} if status == 429 else None
    return JSONResponse(body, status_code=status, headers=headers)


def context_length_error(window: int, tokens: int) -> JSONResponse:
    """OpenAI's exact answer to a prompt that does not fit."""
    return _error(
        400,
        f"This model's maximum context length is {window} tokens. However, your messages "
        f"resulted in {tokens} tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        "context_length_exceeded",
    )


_FAULT_RESPONSES: dict[Fault, Callable[[], JSONResponse]] = {
    Fault.SERVER_ERROR: lambda: _error(
        500, "The server had an error while processing your request.", "server_error", None
    ),
    Fault.UNAUTHORIZED: lambda: _error(
        401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
    ),
    Fault.RATE_LIMIT: lambda: _error(
        429, "Rate limit reached for requests.", "requests", "rate_limit_exceeded"
    ),
}


def split_text(text: str, parts: int) -> list[str]:
    """``text`` in up to ``parts`` word groups whose concatenation is ``text``."""
    words = re.findall(r"\s*\S+\s*", text) or [text]
    size = -(-len(words) // max(1, parts))
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


class FakeOpenAI:
    """The fake server. Set the public attributes between requests; each request reads them once.

    ``reply``: the answer (``None``: "Fake reply to: <last user message>"); ``responder``: a
    function of the request's messages that may script the answer per request (``None`` from it
    falls back to ``reply``); ``deltas``: how many
    content chunks a stream has; ``delta_delay``: seconds before each chunk; ``reasoning``:
    reasoning text streamed before the reply, under ``reasoning_field`` (``reasoning_content``
    as vLLM, or ``reasoning`` as Ollama); ``tool_call``: ``{"id", "name", "arguments"}`` streamed
    in fragments; ``context_window``: reject prompts estimated above it; ``api_key``: require
    this bearer token.
    """

    def __init__(self, *, models: tuple[str, ...] = ("fake-model",)) -> None:
        self.models = models
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[dict[str, Any]] = []
        self._authorizations: list[str | None] = []
        self._faults: list[Fault] = []
        self._persistent_fault: Fault | None = None
        self._held = 0
        self._hold_after: int | None = None
        self._hold_from = 0
        self._gate = threading.Event()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.reset()

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Self:
        """Serve on a free loopback port; returns once the server accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-openai", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The fake OpenAI server did not start.")
            time.sleep(POLL_SECONDS)
        return self

    def stop(self) -> None:
        """Unblock held and hanging requests, shut the server down and join its thread."""
        self._stopping.set()
        self._gate.set()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=STARTUP_TIMEOUT)
            if self._thread.is_alive():
                raise RuntimeError("The fake OpenAI server did not stop.")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to the default script, no faults, nothing held, no recorded requests."""
        self.reply: str | None = None
        self.responder: Callable[[list[dict[str, Any]]], str | None] | None = None
        self.deltas = 3
        self.delta_delay = 0.0
        self.reasoning: str | None = None
        self.reasoning_field = "reasoning_content"
        self.tool_call: dict[str, str] | None = None
        self.context_window: int | None = None
        self._script: list[Reply] = []
        self.api_key: str | None = None
        with self._lock:
            self._requests.clear()
            self._authorizations.clear()
            self._faults.clear()
            self._persistent_fault = None
            self._hold_after = None
            self._hold_from = 0
            self._gate.set()
            # A reply a previous test left held must be let go and no longer counted, or the
            # next test's wait_for_held() would count it as its own.
            if not self._changed.wait_for(lambda: self._held == 0, STARTUP_TIMEOUT):
                raise RuntimeError(f"{self._held} held replies did not let go.")

    # --- what the model received ------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every chat request body so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def authorizations(self) -> list[str | None]:
        """The ``Authorization`` header of every chat request, in the order of ``requests``."""
        with self._lock:
            return list(self._authorizations)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` chat requests arrived; returns them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"{len(self._requests)} of {count} requests arrived.")
            return list(self._requests)

    def script(self, *replies: "Reply | str") -> None:
        """Answer the next requests with these replies, in order; then the usual default."""
        with self._lock:
            self._script.extend(r if isinstance(r, Reply) else Reply(text=r) for r in replies)

    def _next_scripted(self) -> Reply | None:
        with self._lock:
            return self._script.pop(0) if self._script else None

    # --- faults and the gate ----------------------------------------------------------------

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        """The next ``times`` requests fail with ``fault``; later ones behave normally."""
        with self._lock:
            self._faults.extend([fault] * times)

    def fail_always(self, fault: Fault | None) -> None:
        """Every request fails with ``fault`` until called with ``None`` (or ``reset``)."""
        with self._lock:
            self._persistent_fault = fault

    def hold(self, after_deltas: int = 0, *, from_request: int = 0) -> None:
        """Replies wait for ``release()``: before answering, or after ``after_deltas`` chunks.

        With ``from_request`` only the requests from that number on (1 = the first request
        since ``reset``) wait, so a test can let a loop's first steps through.
        """
        with self._lock:
            self._hold_after = after_deltas
            self._hold_from = from_request
            self._gate.clear()

    def release(self) -> None:
        """Let every held reply continue, and stop holding new ones."""
        with self._lock:
            self._hold_after = None
            self._gate.set()

    def wait_for_held(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until ``count`` replies are waiting at the gate."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._held >= count, timeout):
                raise TimeoutError(f"{self._held} of {count} replies are held.")

    # --- the HTTP side ----------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
            ]
        )

    async def _list_models(self, request: Request) -> Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return JSONResponse({"object": "list", "data": data})

    def _admit(
        self, body: dict[str, Any], authorization: str | None
    ) -> tuple[Fault | None, int | None]:
        """Record the request and take its fault and hold point, atomically."""
        with self._changed:
            self._requests.append(body)
            self._authorizations.append(authorization)
            fault = self._faults.pop(0) if self._faults else self._persistent_fault
            self._changed.notify_all()
            held = len(self._requests) >= self._hold_from
            return fault, self._hold_after if held else None

    async def _wait(self, event: threading.Event, request: Request | None = None) -> bool:
        """Wait for ``event`` (or shutdown); False if the client went away first."""
        while not (event.is_set() or self._stopping.is_set()):
            if request is not None and await request.is_disconnected():
                return False
            await asyncio.sleep(POLL_SECONDS)
        return True

    async def _held_here(self, request: Request | None = None) -> bool:
        with self._changed:
            self._held += 1
            self._changed.notify_all()
        try:
            return await self._wait(self._gate, request)
        finally:
            with self._changed:
                self._held -= 1
                self._changed.notify_all()

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        authorization = request.headers.get("authorization")
        fault, hold_after = self._admit(body, authorization)
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return _FAULT_RESPONSES[Fault.UNAUTHORIZED]()
        if fault in _FAULT_RESPONSES:
            return _FAULT_RESPONSES[fault]()
        messages = body.get("messages", [])
        tokens = estimate_tokens(messages)
        if fault is Fault.CONTEXT_LENGTH:
            return context_length_error(self.context_window or tokens - 1, tokens)
        if self.context_window is not None and tokens > self.context_window:
            return context_length_error(self.context_window, tokens)
        if fault is Fault.HANG:
            await self._wait(threading.Event(), request)
            return Response(status_code=503)
        if hold_after == 0 and not await self._held_here(request):
            return Response(status_code=499)
        step = self._next_scripted()
        tool_calls = [self.tool_call] if self.tool_call else []
        if step is not None:
            scripted: str | None = step.text
            tool_calls = step.tool_calls
        else:
            scripted = self.responder(messages) if self.responder else None
        if step is not None and (step.text or step.tool_calls):
            reply = step.text
        else:
            reply = scripted or (
                self.reply if self.reply is not None else self._default_reply(messages)
            )
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit:  # like a real model: stop at the token limit
            reply = reply.encode()[: limit * BYTES_PER_TOKEN].decode(errors="ignore")
        usage = {
            "prompt_tokens": tokens,
            "completion_tokens": estimate_text_tokens(reply),
            "total_tokens": tokens + estimate_text_tokens(reply),
        }
        script = _Script(
            model=body.get("model", ""),
            reply=reply,
            deltas=self.deltas,
            delay=self.delta_delay,
            reasoning=self.reasoning,
            reasoning_field=self.reasoning_field,
            tool_calls=tool_calls,
            usage=usage,
            completion_id=f"chatcmpl-fake-{next(self._ids)}",
        )
        if not body.get("stream"):
            return JSONResponse(script.completion())
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            self._sse(script, include_usage, fault is Fault.DROP_MIDWAY, hold_after or None),
            media_type="text/event-stream",
        )

    @staticmethod
    def _default_reply(messages: list[dict[str, Any]]) -> str:
        said = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
        return f"Fake reply to: {said[-1] if said else '(nothing)'}"

    async def _sse(
        self, script: "_Script", include_usage: bool, drop: bool, hold_after: int | None
    ) -> AsyncIterator[str]:
        pieces = split_text(script.reply, script.deltas)
        drop_after = max(1, len(pieces) // 2) if drop else None
        yield _frame(script.chunk({"role": "assistant", "content": ""}))
        if script.reasoning:
            for piece in split_text(script.reasoning, 2):
                yield _frame(script.chunk({script.reasoning_field: piece}))
        for sent, piece in enumerate(pieces, start=1):
            if script.delay:
                await asyncio.sleep(script.delay)
            yield _frame(script.chunk({"content": piece}))
            if sent == drop_after:
                raise _DroppedConnection("dropping the connection on purpose")
            if sent == hold_after:
                await self._held_here()
        for delta in script.tool_call_deltas():
            yield _frame(script.chunk(delta))
        yield _frame(script.chunk({}, finish_reason=script.finish_reason))
        if include_usage:
            yield _frame(script.usage_chunk())
        yield "data: [DONE]\n\n"


def _frame(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"


class _Script:
    """One reply, fixed when the request arrived, in the shapes OpenAI sends."""

    def __init__(
        self,
        *,
        model: str,
        reply: str,
        deltas: int,
        delay: float,
        reasoning: str | None,
        reasoning_field: str,
        tool_calls: list[dict[str, str]],
        usage: dict[str, int],
        completion_id: str,
    ) -> None:
        self.model = model
        self.reply = reply
        self.deltas = deltas
        self.delay = delay
        self.reasoning = reasoning
        self.reasoning_field = reasoning_field
        self.tool_calls = tool_calls
        self.usage = usage
        self.completion_id = completion_id
        self.finish_reason = "tool_calls" if tool_calls else "stop"

    def _envelope(self, obj: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": obj,
            "created": 0,
            "model": self.model,
            "choices": choices,
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return self._envelope("chat.completion.chunk", [choice])

    def usage_chunk(self) -> dict[str, Any]:
        return {**self._envelope("chat.completion.chunk", []), "usage": self.usage}

    def tool_call_deltas(self) -> list[dict[str, Any]]:
        """The tool calls as OpenAI streams them: per call, id and name first, then the
        arguments in two parts; several calls are told apart by ``index``."""
        deltas: list[dict[str, Any]] = []
        for index, call in enumerate(self.tool_calls):
            head = {
                "index": index,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": ""},
            }
            half = len(call["arguments"]) // 2
            parts = [call["arguments"][:half], call["arguments"][half:]]
            deltas.append({"tool_calls": [head]})
            deltas += [
                {"tool_calls": [{"index": index, "function": {"arguments": part}}]}
                for part in parts
            ]
        return deltas

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.reply}
        if self.reasoning:
            message[self.reasoning_field] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in self.tool_calls
            ]
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason}
        return {**self._envelope("chat.completion", [choice]), "usage": self.usage}
