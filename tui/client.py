"""Typed async client of the chinwag/Letta HTTP API (see API.md). Knows nothing of Textual.

Works against the bundled server and against real Letta servers, which list messages without
``role``, send ``content`` as a list of parts, and use absolute paging cursors: the convention is
detected once per client (:meth:`ChinwagClient.cursor_convention`). Letta also answers
``order=desc`` for an agent's default conversation with the newest page in chronological order;
that too is detected, once for default conversations and once for the others.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx
from httpx_sse import aconnect_sse
from pydantic import BaseModel

from shared_schema import (
    Agent,
    Block,
    CompactResponse,
    Conversation,
    ErrorMessage,
    ModelInfo,
    Run,
    StopReason,
    parse_message,
)
from tui.errors import (
    ApiError,
    ConnectionFailed,
    NoActiveRun,
    StreamDropped,
    error_from_response,
)

CursorConvention = Literal["relative", "absolute"]
Order = Literal["asc", "desc"]

_DROP_ERRORS = (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout)


@dataclass(frozen=True)
class ServerInfo:
    """What ``GET /v1/health/`` said, and how long it took."""

    version: str
    latency_ms: float


@dataclass(frozen=True)
class Reattached:
    """Yielded by :meth:`ChinwagClient.send` after a dropped stream was re-attached.

    ``replayed`` is true when the server gave no ``seq_id`` to resume from, so the run is replayed
    from its start and the consumer must forget the partial text it has shown.
    """

    run_id: str | None
    starting_after: int
    replayed: bool


@dataclass(frozen=True)
class ApprovalAnswer:
    """A person's answer to one tool call waiting for approval."""

    tool_call_id: str
    approve: bool
    reason: str | None = None


@dataclass(frozen=True)
class BlockChange:
    """One entry of a block's history: who changed it (a person, or the agent through which
    tool), when, and the value before and after."""

    version: int
    actor: str
    tool_name: str | None
    run_id: str | None
    before: str
    after: str
    created_at: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> BlockChange:
        return cls(
            version=int(data.get("version") or 0),
            actor=str(data.get("actor") or "person"),
            tool_name=data.get("tool_name"),
            run_id=data.get("run_id"),
            before=str(data.get("before") or ""),
            after=str(data.get("after") or data.get("value") or ""),
            created_at=str(data.get("created_at") or ""),
        )


@dataclass(frozen=True)
class SearchHit:
    """A search result: the message, the conversation it belongs to, and its agent."""

    message: BaseModel
    conversation_id: str | None
    agent_id: str | None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SearchHit:
        # Letta's search results name the message ``message_id`` and its time ``created_at``.
        data = {"id": data.get("message_id") or "", "date": data.get("created_at"), **data}
        message = parse_message(data)
        conversation = data.get("conversation_id")
        agent = data.get("agent_id")
        # Letta lists agent-level (default conversation) messages without a conversation.
        if not conversation and agent:
            conversation = agent
        return cls(message, conversation, agent)


@dataclass(frozen=True)
class ContextOverview:
    """Tokens by part of the context window, against its size."""

    window: int
    current: int
    system: int
    core_memory: int
    summary: int
    messages: int
    tools: int
    num_messages: int
    note: str = ""  # what the app estimated itself, if anything

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ContextOverview:
        def n(key: str) -> int:
            return int(data.get(key) or 0)

        return cls(
            window=n("context_window_size_max"),
            current=n("context_window_size_current"),
            system=n("num_tokens_system"),
            core_memory=n("num_tokens_core_memory"),
            summary=n("num_tokens_summary_memory") + n("num_tokens_external_memory_summary"),
            messages=n("num_tokens_messages"),
            tools=n("num_tokens_functions_definitions"),
            num_messages=n("num_messages"),
        )


@dataclass(frozen=True)
class MessagePage:
    """A page of messages, always oldest first, with whether more exist beyond it."""

    messages: list[BaseModel]
    more: bool


class ChinwagClient:
    """One connection to one server. Create, use in a single event loop, then :meth:`aclose`."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        reattach_attempts: int = 5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, read=None),
            transport=transport,
        )
        self._convention: CursorConvention | None = None
        # Keyed by "is the default conversation": whether ``order=desc`` pages come oldest first.
        self._desc_chronological: dict[bool, bool] = {}
        self._reattach_attempts = reattach_attempts
        # Told whether the server answered (True) or could not be reached (False), on every
        # request: a status line can then follow the real state instead of a periodic check.
        self.on_reachable: Callable[[bool], None] | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing -------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """The absolute URL of an API path, as shown in error messages."""
        return f"{self.base_url}{path}"

    def _reached(self, reachable: bool) -> None:
        if self.on_reachable is not None:
            self.on_reachable(reachable)

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            self._reached(False)
            raise ConnectionFailed(self.url(path), _reason(exc)) from exc
        if response.status_code not in (401, 403):  # a refused token is not a working link
            self._reached(True)
        if response.status_code >= 400:
            raise _api_error(response, self.url(path))
        if not response.content:
            return None
        return response.json()

    # -- server ----------------------------------------------------------------------------

    async def health(self) -> ServerInfo:
        """Check the server and measure the round trip (the status bar shows it)."""
        started = time.perf_counter()
        body = await self._request("GET", "/v1/health/")
        latency = (time.perf_counter() - started) * 1000
        return ServerInfo(version=str(body.get("version", "?")), latency_ms=latency)

    async def list_models(self) -> list[ModelInfo]:
        body = await self._request("GET", "/v1/models/")
        return [
            ModelInfo.model_validate(
                {
                    "provider": m.get("provider") or m.get("provider_name") or "",
                    "context_window": m.get("context_window") or 0,
                    **{k: v for k, v in m.items() if v is not None},
                }
            )
            for m in body
            if m.get("handle")
        ]

    # -- agents ----------------------------------------------------------------------------

    async def list_agents(self, limit: int = 100, *, name: str | None = None) -> list[Agent]:
        """Every agent (named ``name``, if given), newest first, ``limit`` a page."""
        params: dict[str, Any] = {"name": name} if name else {}
        body = await self._every("/v1/agents/", params, limit)
        return [Agent.model_validate(a) for a in body]

    async def _every(self, path: str, params: dict[str, Any], limit: int) -> list[Any]:
        """All items of a listing, newest first. Paged in ascending order, where both cursor
        conventions (see :meth:`cursor_convention`) agree that ``after`` means newer."""
        items: list[Any] = []
        after: str | None = None
        for _ in range(1000):  # a server that ignores ``after`` must not loop forever
            query = {**params, "limit": limit, "order": "asc"}
            if after:
                query["after"] = after
            page = await self._request("GET", path, params=query)
            items += page
            if len(page) < limit or page[-1].get("id") in (None, after):
                break
            after = page[-1]["id"]
        return items[::-1]

    async def get_agent(self, agent_id: str) -> Agent:
        return Agent.model_validate(await self._request("GET", f"/v1/agents/{agent_id}"))

    async def create_agent(
        self,
        name: str,
        model: str | None = None,
        *,
        persona: str = "",
        human: str = "",
        system: str | None = None,
    ) -> Agent:
        body: dict[str, Any] = {
            "name": name,
            "memory_blocks": [
                {"label": "persona", "value": persona},
                {"label": "human", "value": human},
            ],
        }
        if model:
            body["model"] = model
        if system:
            body["system"] = system
        return Agent.model_validate(await self._request("POST", "/v1/agents/", json=body))

    async def update_agent(self, agent_id: str, **changes: Any) -> Agent:
        body = await self._request("PATCH", f"/v1/agents/{agent_id}", json=changes)
        return Agent.model_validate(body)

    async def update_block(self, agent_id: str, label: str, value: str) -> Block:
        path = f"/v1/agents/{agent_id}/core-memory/blocks/{quote(label, safe='')}"
        return Block.model_validate(await self._request("PATCH", path, json={"value": value}))

    # -- memory blocks ---------------------------------------------------------------------

    async def list_blocks(self, agent_id: str) -> list[Block]:
        body = await self._request("GET", f"/v1/agents/{agent_id}/core-memory/blocks")
        return [Block.model_validate(b) for b in body]

    async def add_block(self, agent_id: str, label: str, value: str, limit: int | None) -> Block:
        """Create a block and attach it to the agent (two calls, as on Letta)."""
        payload: dict[str, Any] = {"label": label, "value": value}
        if limit:
            payload["limit"] = limit
        block = Block.model_validate(await self._request("POST", "/v1/blocks/", json=payload))
        await self._request("PATCH", f"/v1/agents/{agent_id}/core-memory/blocks/attach/{block.id}")
        return block

    async def detach_block(self, agent_id: str, block_id: str) -> None:
        await self._request("PATCH", f"/v1/agents/{agent_id}/core-memory/blocks/detach/{block_id}")

    async def block_history(
        self, block_id: str, limit: int = 50, before: str | None = None
    ) -> list[BlockChange]:
        """The block's changes, newest first (chinwag's own route; 404 on Letta)."""
        params: dict[str, Any] = {"limit": limit}
        if before:
            params["before"] = before
        body = await self._request("GET", f"/v1/blocks/{block_id}/history", params=params)
        return [BlockChange.from_wire(item) for item in body]

    async def restore_block(self, block_id: str, version: int) -> Block:
        path = f"/v1/blocks/{block_id}/restore"
        return Block.model_validate(await self._request("POST", path, json={"version": version}))

    async def set_tool_approval(self, agent_id: str, tool_name: str, required: bool) -> None:
        path = f"/v1/agents/{agent_id}/tools/approval/{quote(tool_name, safe='')}"
        await self._request("PATCH", path, json={"requires_approval": required})

    async def context_overview(
        self, agent_id: str, conversation_id: str | None = None
    ) -> ContextOverview:
        """Letta's context window overview: of ``conversation_id``, else of the agent's default
        conversation."""
        params = {"conversation_id": conversation_id} if conversation_id else {}
        body = await self._request("GET", f"/v1/agents/{agent_id}/context", params=params)
        return ContextOverview.from_wire(body)

    async def delete_agent(self, agent_id: str) -> None:
        await self._request("DELETE", f"/v1/agents/{agent_id}")

    # -- conversations ---------------------------------------------------------------------

    async def list_conversations(self, agent_id: str, limit: int = 100) -> list[Conversation]:
        """Every conversation of the agent, newest first, ``limit`` a page."""
        body = await self._every("/v1/conversations/", {"agent_id": agent_id}, limit)
        return [Conversation.model_validate(c) for c in body]

    async def conversations_waiting(self, agent_id: str, conversation_ids: list[str]) -> set[str]:
        """Which of the agent's conversations wait for a tool call's approval: those whose
        newest run stopped with ``requires_approval`` (among the agent's 100 newest runs).

        A run of a conversation not in ``conversation_ids`` is the default conversation's
        (Letta names it with ``conversation_id`` null, chinwag with its own row's id), which
        the app names by the agent's id.
        """
        runs = await self._request(
            "GET", "/v1/runs/", params={"agent_id": agent_id, "limit": 100, "order": "desc"}
        )
        known = set(conversation_ids)
        newest: dict[str, dict[str, Any]] = {}
        for run in runs if isinstance(runs, list) else []:
            conversation_id = run.get("conversation_id")
            newest.setdefault(conversation_id if conversation_id in known else agent_id, run)
        return {c for c, run in newest.items() if run.get("stop_reason") == "requires_approval"}

    async def get_conversation(self, conversation_id: str) -> Conversation:
        if is_default(conversation_id):
            return default_conversation(await self.get_agent(conversation_id))
        body = await self._request("GET", f"/v1/conversations/{conversation_id}")
        return Conversation.model_validate(body)

    async def create_conversation(self, agent_id: str, summary: str | None = None) -> Conversation:
        payload = {"summary": summary} if summary else {}
        body = await self._request(
            "POST", "/v1/conversations/", params={"agent_id": agent_id}, json=payload
        )
        return Conversation.model_validate(body)

    async def rename_conversation(self, conversation_id: str, summary: str) -> Conversation:
        path = f"/v1/conversations/{conversation_id}"
        body = await self._request("PATCH", path, json={"summary": summary})
        return Conversation.model_validate(body)

    async def delete_conversation(self, conversation_id: str) -> None:
        await self._request("DELETE", f"/v1/conversations/{conversation_id}")

    async def fork(self, conversation_id: str, message_id: str | None = None) -> Conversation:
        """A new conversation with the source's context (up to ``message_id`` if given)."""
        params: dict[str, Any] = dict(_owner(conversation_id))
        if message_id:
            params["message_id"] = message_id
        path = f"/v1/conversations/{_segment(conversation_id)}/fork"
        return Conversation.model_validate(await self._request("POST", path, params=params))

    # -- search ----------------------------------------------------------------------------

    async def search(
        self, query: str, *, agent_id: str | None = None, limit: int = 50
    ) -> list[SearchHit]:
        """Messages matching ``query``, best first, with the conversation each belongs to."""
        payload: dict[str, Any] = {"query": query, "limit": limit}
        if agent_id:
            payload["agent_id"] = agent_id
        body = await self._request("POST", "/v1/messages/search", json=payload)
        items = body.get("messages", []) if isinstance(body, dict) else body
        return [SearchHit.from_wire(item) for item in items]

    async def get_message(self, message_id: str) -> BaseModel:
        body = await self._request("GET", f"/v1/messages/{message_id}")
        return parse_message(body[0] if isinstance(body, list) else body)

    async def page_around(
        self, conversation_id: str, message_id: str, limit: int = 50
    ) -> tuple[MessagePage, MessagePage, BaseModel]:
        """The pages just older and just newer than ``message_id``, and the message itself:
        two cursor reads however deep the message lies (compacted messages included)."""
        message = await self.get_message(message_id)
        half = max(limit // 2, 1)
        older = await self.older_page(conversation_id, message_id, half, include_compacted=True)
        newer = await self.newer_page(conversation_id, message_id, half, include_compacted=True)
        return older, newer, message

    # -- messages --------------------------------------------------------------------------

    async def list_messages(
        self,
        conversation_id: str,
        *,
        order: Order,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
        include_compacted: bool = False,
    ) -> list[BaseModel]:
        """One raw page in the server's own cursor semantics; ``order`` is always explicit."""
        params: dict[str, Any] = {"order": order, "limit": limit}
        if before:
            params["before"] = before
        if after:
            params["after"] = after
        if include_compacted:
            params["include_compacted"] = "true"
        path = f"/v1/conversations/{_segment(conversation_id)}/messages"
        params.update(_owner(conversation_id))
        body = await self._request("GET", path, params=params)
        return [parse_message(m) for m in body]

    async def newest_page(
        self, conversation_id: str, limit: int = 50, *, include_compacted: bool = False
    ) -> MessagePage:
        """The newest ``limit`` messages, oldest first, and whether older ones exist."""
        items = await self._newest_first(
            conversation_id,
            await self.list_messages(
                conversation_id, order="desc", limit=limit + 1, include_compacted=include_compacted
            ),
            include_compacted,
        )
        if self._convention is None and len(items) >= 2:
            await self._detect_convention(conversation_id, items, include_compacted)
        more = len(items) > limit
        return MessagePage(list(reversed(items[:limit])), more)

    async def oldest_page(
        self, conversation_id: str, limit: int = 50, *, include_compacted: bool = False
    ) -> MessagePage:
        """The oldest ``limit`` messages, oldest first, and whether newer ones exist."""
        items = await self.list_messages(
            conversation_id, order="asc", limit=limit + 1, include_compacted=include_compacted
        )
        return MessagePage(items[:limit], len(items) > limit)

    async def older_page(
        self,
        conversation_id: str,
        before_id: str,
        limit: int = 50,
        *,
        include_compacted: bool = False,
    ) -> MessagePage:
        """The ``limit`` messages just older than ``before_id``, oldest first."""
        cursor = {"after": before_id}
        if await self.cursor_convention(conversation_id, before_id) == "absolute":
            cursor = {"before": before_id}
        items = await self._newest_first(
            conversation_id,
            await self.list_messages(
                conversation_id,
                order="desc",
                limit=limit + 1,
                include_compacted=include_compacted,
                **cursor,
            ),
            include_compacted,
        )
        return MessagePage(list(reversed(items[:limit])), len(items) > limit)

    async def newer_page(
        self,
        conversation_id: str,
        after_id: str,
        limit: int = 50,
        *,
        include_compacted: bool = False,
    ) -> MessagePage:
        """The ``limit`` messages just newer than ``after_id``, oldest first.

        In ascending order both cursor conventions agree that ``after`` means newer.
        """
        items = await self.list_messages(
            conversation_id,
            order="asc",
            limit=limit + 1,
            after=after_id,
            include_compacted=include_compacted,
        )
        return MessagePage(items[:limit], len(items) > limit)

    async def cursor_convention(
        self, conversation_id: str, known_id: str | None = None
    ) -> CursorConvention:
        """Which paging convention the server follows; probed once, then remembered."""
        if self._convention is None:
            page = await self._newest_first(
                conversation_id,
                await self.list_messages(conversation_id, order="desc", limit=2),
                False,
            )
            if len(page) >= 2:
                await self._detect_convention(conversation_id, page, False)
        return self._convention or "relative"

    async def _newest_first(
        self, conversation_id: str, items: list[BaseModel], include_compacted: bool
    ) -> list[BaseModel]:
        """An ``order=desc`` page as newest first, whichever way round the server sent it.

        Probed once per kind of conversation with ``order=asc&after=<first item>`` (both cursor
        conventions agree on that one): the page was chronological exactly when the message
        just newer than its first item is its second.
        """
        kind = is_default(conversation_id)
        if kind not in self._desc_chronological:
            if len(items) < 2:
                return items
            newer = await self.list_messages(
                conversation_id,
                order="asc",
                limit=1,
                after=items[0].id,  # type: ignore[attr-defined]
                include_compacted=include_compacted,
            )
            second = items[1].id  # type: ignore[attr-defined]
            self._desc_chronological[kind] = bool(newer) and newer[0].id == second  # type: ignore[attr-defined]
        return items[::-1] if self._desc_chronological[kind] else items

    async def _detect_convention(
        self, conversation_id: str, newest_first: list[BaseModel], include_compacted: bool
    ) -> None:
        """Ask for ``order=desc&after=<newest>``: order-relative servers answer with the next
        older message, absolute ones (self-hosted Letta) with nothing newer than the newest."""
        probe = await self.list_messages(
            conversation_id,
            order="desc",
            limit=1,
            after=newest_first[0].id,  # type: ignore[attr-defined]
            include_compacted=include_compacted,
        )
        self._convention = "relative" if probe else "absolute"

    # -- runs ------------------------------------------------------------------------------

    async def send(
        self, conversation_id: str, text: str, *, otid: str | None = None
    ) -> AsyncIterator[Any]:
        """Send a user message and yield the reply's chunks (parsed), token by token.

        A stream that drops before ``[DONE]`` is re-attached with ``starting_after`` the last
        ``seq_id`` seen; a :class:`Reattached` marker is yielded each time. A busy conversation
        raises :class:`tui.errors.ConversationBusy` before anything is yielded.
        """
        message: dict[str, Any] = {"role": "user", "content": text}
        if otid:
            message["otid"] = otid
        # ``background``: Letta then numbers the chunks (``seq_id``) and keeps the run's stream,
        # so it can be attached to and resumed; the bundled server always does both.
        body = {
            "messages": [message],
            "stream_tokens": True,
            "include_pings": True,
            "background": True,
        }
        async for chunk in self._send_body(conversation_id, body):
            yield chunk

    async def send_approvals(
        self, conversation_id: str, approvals: list[ApprovalAnswer]
    ) -> AsyncIterator[Any]:
        """Answer pending tool calls; the same turn goes on and streams like :meth:`send`."""
        message = {
            "type": "approval",
            "approvals": [
                {
                    "type": "approval",
                    "tool_call_id": a.tool_call_id,
                    "approve": a.approve,
                    **({"reason": a.reason} if a.reason else {}),
                }
                for a in approvals
            ],
        }
        body = {
            "messages": [message],
            "stream_tokens": True,
            "include_pings": True,
            "background": True,
        }
        async for chunk in self._send_body(conversation_id, body):
            yield chunk

    async def _send_body(self, conversation_id: str, body: dict[str, Any]) -> AsyncIterator[Any]:
        path = f"/v1/conversations/{_segment(conversation_id)}/messages"
        async for chunk in self._follow(conversation_id, path, {**body, **_owner(conversation_id)}):
            yield chunk

    async def attach(
        self, conversation_id: str, run_id: str | None = None, starting_after: int = 0
    ) -> AsyncIterator[Any]:
        """Watch a running (or recent) run: replay after ``starting_after``, then the live tail."""
        body: dict[str, Any] = {"starting_after": starting_after, "include_pings": True}
        if run_id:
            body["run_id"] = run_id
        body.update(_owner(conversation_id))
        path = f"/v1/conversations/{_segment(conversation_id)}/stream"
        async for chunk in self._follow(conversation_id, path, body):
            yield chunk

    async def _follow(
        self, conversation_id: str, path: str, body: dict[str, Any]
    ) -> AsyncIterator[Any]:
        """Stream ``path`` and keep following the run across dropped connections."""
        last_seq = int(body.get("starting_after", 0))
        run_id: str | None = body.get("run_id")
        seen_seq = False
        reattaching = False
        # Said only once the new stream answers: a re-attach that fails is not announced.
        announce: Reattached | None = None
        failures = 0
        while True:
            try:
                async for chunk in self._stream(path, body):
                    if announce is not None:
                        yield announce
                        announce = None
                    seq = getattr(chunk, "seq_id", None)
                    if seq is not None:
                        if seq <= last_seq:
                            continue
                        last_seq, seen_seq = seq, True
                    run_id = getattr(chunk, "run_id", None) or run_id
                    failures = 0
                    yield chunk
                if announce is not None:
                    yield announce
                return
            except (StreamDropped, ConnectionFailed) as exc:
                if isinstance(exc, ConnectionFailed) and not reattaching:
                    raise
                failures += 1
                if failures > self._reattach_attempts:
                    raise
                if not await self._resumable(run_id, seen_seq):
                    raise StreamDropped(
                        f"{exc.message} The reply cannot be resumed from there: reopen the "
                        "conversation to read what the server kept.",
                        exc.url,
                    ) from exc
            await asyncio.sleep(min(0.05 * 2**failures, 2.0))
            reattaching = True
            path = f"/v1/conversations/{_segment(conversation_id)}/stream"
            body = {"starting_after": last_seq if seen_seq else 0, "include_pings": True}
            body.update(_owner(conversation_id))
            if run_id:
                body["run_id"] = run_id
            announce = Reattached(run_id, body["starting_after"], replayed=not seen_seq)

    async def _resumable(self, run_id: str | None, seen_seq: bool) -> bool:
        """Whether re-attaching can pick up a dropped stream: the chunks were numbered (else the
        server keeps nothing to replay; Letta then sends pings forever) and the run is still
        going (a finished run has nothing left to follow)."""
        if not seen_seq:
            return False
        if run_id is None:
            return True
        try:
            run = await self.get_run(run_id)
        except (ApiError, ValueError):
            return True  # no run endpoint, or an unknown status: let the stream endpoint decide
        except ConnectionFailed:
            return True  # the server is restarting; re-attaching retries
        return run.status in ("created", "running")

    async def _stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[Any]:
        """One SSE request: parsed chunks until ``[DONE]``; :class:`StreamDropped` if cut.

        A ``stop_reason`` chunk ends the run: end-of-stream after it is a normal end (Letta
        closes some streams, e.g. a cancelled one, without ``[DONE]``).
        """
        url = self.url(path)
        stopped = False
        try:
            async with aconnect_sse(self._http, "POST", path, json=body) as source:
                response = source.response
                if response.status_code not in (401, 403):
                    self._reached(True)
                if response.status_code >= 400:
                    await response.aread()
                    raise _api_error(response, url)
                async for event in source.aiter_sse():
                    if event.data == "[DONE]":
                        return
                    if not event.data:
                        continue
                    data = json.loads(event.data)
                    if event.event == "error":
                        yield ErrorMessage.model_validate(data)
                    else:
                        chunk = parse_message(data)
                        stopped = stopped or isinstance(chunk, StopReason)
                        yield chunk
        except ApiError:
            raise
        except httpx.ConnectError as exc:
            self._reached(False)
            raise ConnectionFailed(url, _reason(exc)) from exc
        except _DROP_ERRORS as exc:
            if stopped:
                return
            raise StreamDropped(f"The stream from {url} dropped: {_reason(exc)}", url) from exc
        if stopped:
            return
        raise StreamDropped(f"The stream from {url} ended without [DONE]", url)

    async def cancel(self, conversation_id: str) -> dict[str, str]:
        """Cancel the active run; the server keeps the text produced so far."""
        if is_default(conversation_id):
            path = f"/v1/agents/{conversation_id}/messages/cancel"
        else:
            path = f"/v1/conversations/{conversation_id}/cancel"
        return await self._request("POST", path) or {}

    async def compact(
        self, conversation_id: str, mode: Literal["sliding_window", "all"] = "sliding_window"
    ) -> CompactResponse:
        body = {"compaction_settings": {"mode": mode}, **_owner(conversation_id)}
        path = f"/v1/conversations/{_segment(conversation_id)}/compact"
        return CompactResponse.model_validate(await self._request("POST", path, json=body))

    async def get_run(self, run_id: str) -> Run:
        return Run.model_validate(await self._request("GET", f"/v1/runs/{run_id}"))


# Letta lists an agent's blocks in no fixed order (the same agent's differ between agents and
# restarts): the app shows them in one, the core blocks first as in Letta's own prompt.
CORE_BLOCKS = ("persona", "human")


def in_display_order(blocks: list[Block]) -> list[Block]:
    """``persona``, ``human``, then the other blocks by label."""

    def rank(block: Block) -> tuple[int, str]:
        core = CORE_BLOCKS.index(block.label) if block.label in CORE_BLOCKS else len(CORE_BLOCKS)
        return core, block.label

    return sorted(blocks, key=rank)


def agent_blocks(agent: Agent) -> list[Block]:
    """The agent's memory blocks (Letta nests them in ``memory``), in display order."""
    return in_display_order(agent.memory.blocks or agent.blocks)


def is_default(conversation_id: str) -> bool:
    """The app names an agent's default conversation by the agent's id."""
    return conversation_id.startswith("agent-")


def default_conversation(agent: Agent) -> Conversation:
    """The agent's default conversation (its agent-level messages) as a list entry."""
    return Conversation(
        id=agent.id,
        agent_id=agent.id,
        summary="Default conversation",
        created_at=agent.created_at,
        last_message_at=agent.updated_at,
        in_context_message_ids=list(agent.message_ids),
    )


def _segment(conversation_id: str) -> str:
    """The path segment: Letta addresses the default conversation as ``default``."""
    return "default" if is_default(conversation_id) else conversation_id


def _owner(conversation_id: str) -> dict[str, str]:
    """The ``agent_id`` that goes with ``default``, in the query or the body."""
    return {"agent_id": conversation_id} if is_default(conversation_id) else {}


def _api_error(response: httpx.Response, url: str) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    return error_from_response(response.status_code, body, response.text, url)


def _reason(exc: BaseException) -> str:
    """A short human reason, digging out "connection refused" from under httpx's wrapping."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ExceptionGroup):
            cause = cause.exceptions[0]
            continue
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__


__all__ = [
    "ApprovalAnswer",
    "BlockChange",
    "ChinwagClient",
    "ContextOverview",
    "CursorConvention",
    "MessagePage",
    "NoActiveRun",
    "Reattached",
    "SearchHit",
    "ServerInfo",
]
