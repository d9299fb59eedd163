"""The route table: every endpoint once, with the models the OpenAPI document shows."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.api import (
    agents,
    blocks,
    context,
    conversations,
    health,
    messages,
    streams,
    tools,
)
from backend.api.addressing import on_default
from shared_schema import (
    Agent,
    AgentCreate,
    AgentUpdate,
    Block,
    BlockCreate,
    BlockHistoryEntry,
    BlockPatch,
    BlockRestore,
    BlockUpdate,
    CompactRequest,
    CompactResponse,
    Conversation,
    ConversationCreate,
    ConversationUpdate,
    Health,
    ModelInfo,
    RecompileRequest,
    Run,
    SearchRequest,
    SearchResult,
    SendRequest,
    StreamRequest,
    Tool,
    ToolApprovalUpdate,
)

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    body: Any = None
    response: Any = None
    collection: bool = False  # answers with and without a trailing slash
    query: tuple[str, ...] = ()


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/v1/health/",
        health.health,
        "Liveness and version",
        response=Health,
        collection=True,
    ),
    Endpoint(
        "GET",
        "/v1/models/",
        agents.list_models,
        "Model handles the providers offer",
        response=list[ModelInfo],
        collection=True,
    ),
    Endpoint(
        "POST",
        "/v1/agents/",
        agents.create_agent,
        "Create an agent",
        body=AgentCreate,
        response=Agent,
        collection=True,
    ),
    Endpoint(
        "GET",
        "/v1/agents/",
        agents.list_agents,
        "List agents",
        response=list[Agent],
        collection=True,
        query=("limit", "after", "before", "order", "name"),
    ),
    Endpoint("GET", "/v1/agents/{agent_id}", agents.get_agent, "Retrieve an agent", response=Agent),
    Endpoint(
        "PATCH",
        "/v1/agents/{agent_id}",
        agents.update_agent,
        "Update an agent",
        body=AgentUpdate,
        response=Agent,
    ),
    Endpoint(
        "DELETE",
        "/v1/agents/{agent_id}",
        agents.delete_agent,
        "Delete an agent with its conversations, messages and runs",
    ),
    Endpoint(
        "GET",
        "/v1/agents/{agent_id}/core-memory/blocks",
        blocks.list_agent_blocks,
        "List an agent's memory blocks",
        response=list[Block],
        collection=True,
    ),
    Endpoint(
        "PATCH",
        "/v1/agents/{agent_id}/core-memory/blocks/attach/{block_id}",
        blocks.attach_block,
        "Give an agent a block (a block can be shared by several agents)",
        response=Agent,
    ),
    Endpoint(
        "PATCH",
        "/v1/agents/{agent_id}/core-memory/blocks/detach/{block_id}",
        blocks.detach_block,
        "Take a block from an agent",
        response=Agent,
    ),
    Endpoint(
        "GET",
        "/v1/agents/{agent_id}/core-memory/blocks/{label:path}",
        blocks.get_agent_block,
        "Retrieve an agent's block by its label (URL-encoded)",
        response=Block,
    ),
    Endpoint(
        "PATCH",
        "/v1/agents/{agent_id}/core-memory/blocks/{label:path}",
        agents.update_block,
        "Change a memory block",
        body=BlockUpdate,
        response=Block,
    ),
    Endpoint(
        "GET",
        "/v1/tools/",
        tools.list_tools,
        "List the server's tools",
        response=list[Tool],
        collection=True,
        query=("name", "limit", "after"),
    ),
    Endpoint(
        "POST",
        "/v1/tools/add-base-tools",
        tools.add_base_tools,
        "Make sure the builtin tools exist; lists them",
        response=list[Tool],
    ),
    Endpoint("GET", "/v1/tools/{tool_id}", tools.get_tool, "Retrieve a tool", response=Tool),
    Endpoint(
        "GET",
        "/v1/agents/{agent_id}/tools",
        tools.list_agent_tools,
        "List an agent's tools",
        response=list[Tool],
        collection=True,
    ),
    Endpoint(
        "PATCH",
        "/v1/agents/{agent_id}/tools/attach/{tool_id}",
        tools.attach_tool,
        "Give an agent a tool",
        response=Agent,
    ),
    Endpoint(
        "PATCH",
        "/v1/agents/{agent_id}/tools/detach/{tool_id}",
        tools.detach_tool,
        "Take a tool from an agent",
        response=Agent,
    ),
    Endpoint(
        "PATCH",
        "/v1/agents/{agent_id}/tools/approval/{tool_name}",
        tools.set_tool_approval,
        "Whether a call to this tool waits for a person's approval",
        body=ToolApprovalUpdate,
        response=Agent,
    ),
    Endpoint(
        "POST",
        "/v1/blocks/",
        blocks.create_block,
        "Create a block on its own (attach it to agents afterwards)",
        body=BlockCreate,
        response=Block,
        collection=True,
    ),
    Endpoint(
        "GET",
        "/v1/blocks/",
        blocks.list_blocks,
        "List blocks",
        response=list[Block],
        collection=True,
        query=("label", "after", "limit"),
    ),
    Endpoint("GET", "/v1/blocks/{block_id}", blocks.get_block, "Retrieve a block", response=Block),
    Endpoint(
        "PATCH",
        "/v1/blocks/{block_id}",
        blocks.update_block,
        "Change a block (for every agent that has it)",
        body=BlockPatch,
        response=Block,
    ),
    Endpoint("DELETE", "/v1/blocks/{block_id}", blocks.delete_block, "Delete a block"),
    Endpoint(
        "GET",
        "/v1/blocks/{block_id}/history",
        blocks.block_history,
        "Every change of a block, newest first: who, when, the value before and after",
        response=list[BlockHistoryEntry],
        query=("limit", "before"),
    ),
    Endpoint(
        "POST",
        "/v1/blocks/{block_id}/restore",
        blocks.restore_block,
        "Put an earlier version of a block back (itself a change)",
        body=BlockRestore,
        response=Block,
    ),
    Endpoint(
        "POST",
        "/v1/conversations/",
        conversations.create_conversation,
        "Create a conversation",
        body=ConversationCreate,
        response=Conversation,
        collection=True,
        query=("agent_id",),
    ),
    Endpoint(
        "GET",
        "/v1/conversations/",
        conversations.list_conversations,
        "List an agent's conversations",
        response=list[Conversation],
        collection=True,
        query=("agent_id", "limit", "after", "before", "order", "order_by"),
    ),
    Endpoint(
        "GET",
        "/v1/conversations/{conversation_id}",
        conversations.get_conversation,
        "Retrieve a conversation",
        response=Conversation,
    ),
    Endpoint(
        "PATCH",
        "/v1/conversations/{conversation_id}",
        conversations.update_conversation,
        "Change a conversation's summary",
        body=ConversationUpdate,
        response=Conversation,
    ),
    Endpoint(
        "DELETE",
        "/v1/conversations/{conversation_id}",
        conversations.delete_conversation,
        "Delete a conversation",
    ),
    Endpoint(
        "GET",
        "/v1/conversations/{conversation_id}/messages",
        conversations.list_messages,
        "List a conversation's messages",
        query=(
            "agent_id",
            "limit",
            "order",
            "before",
            "after",
            "include_compacted",
            "include_return_message_types",
        ),
    ),
    Endpoint(
        "POST",
        "/v1/conversations/{conversation_id}/messages",
        streams.send_message,
        "Send messages; streams the agent's reply (text/event-stream) unless streaming is false",
        body=SendRequest,
    ),
    Endpoint(
        "POST",
        "/v1/conversations/{conversation_id}/stream",
        streams.attach_stream,
        "Re-attach to a run's stream (text/event-stream)",
        body=StreamRequest,
    ),
    Endpoint(
        "POST",
        "/v1/conversations/{conversation_id}/cancel",
        streams.cancel_run,
        "Cancel the conversation's active run",
    ),
    Endpoint(
        "POST",
        "/v1/conversations/{conversation_id}/compact",
        streams.compact_conversation,
        "Summarize the oldest part of the context",
        body=CompactRequest,
        response=CompactResponse,
    ),
    Endpoint(
        "POST",
        "/v1/conversations/{conversation_id}/recompile",
        blocks.recompile,
        "Compile the system message from current memory (stored unless dry_run); the text",
        body=RecompileRequest,
        query=("dry_run",),
    ),
    Endpoint(
        "POST",
        "/v1/conversations/{conversation_id}/fork",
        conversations.fork_conversation,
        "Fork a conversation (optionally at a message): same message ids, own system message",
        response=Conversation,
        query=("agent_id", "message_id"),
    ),
    Endpoint(
        "GET",
        "/v1/agents/{agent_id}/messages",
        on_default(conversations.list_messages),
        "List the agent's default conversation",
        query=("limit", "order", "before", "after", "include_compacted"),
    ),
    Endpoint(
        "POST",
        "/v1/agents/{agent_id}/messages",
        on_default(streams.send_agent_message),
        "Send to the agent's default conversation (JSON unless streaming is true)",
        body=SendRequest,
    ),
    Endpoint(
        "POST",
        "/v1/agents/{agent_id}/messages/stream",
        on_default(streams.stream_agent_message),
        "Send to the agent's default conversation and stream the reply",
        body=SendRequest,
    ),
    Endpoint(
        "POST",
        "/v1/agents/{agent_id}/messages/async",
        on_default(streams.send_agent_message_async),
        "Start a turn in the agent's default conversation; answers with its run at once",
        body=SendRequest,
        response=Run,
    ),
    Endpoint(
        "POST",
        "/v1/agents/{agent_id}/messages/cancel",
        on_default(streams.cancel_run),
        "Cancel the active run of the agent's default conversation",
    ),
    Endpoint(
        "POST",
        "/v1/agents/{agent_id}/recompile",
        on_default(blocks.recompile),
        "Recompile the system message of the agent's default conversation",
        query=("dry_run",),
    ),
    Endpoint(
        "POST",
        "/v1/agents/{agent_id}/summarize",
        on_default(streams.compact_conversation),
        "Compact the agent's default conversation",
        body=CompactRequest,
        response=CompactResponse,
    ),
    *[
        Endpoint(
            "GET",
            f"/v1/agents/{{agent_id}}/{what}",
            agents.none_of_these,
            f"The agent's {what}: always none here (Letta Code asks at start-up)",
        )
        for what in ("secrets", "mcp-servers", "repositories")
    ],
    Endpoint(
        "GET",
        "/v1/agents/{agent_id}/context",
        context.agent_context,
        "The context window overview of a conversation (the default one unless named)",
        query=("conversation_id",),
    ),
    Endpoint(
        "PATCH",
        "/v1/agents/{agent_id}/reset-messages",
        agents.reset_messages,
        "Forget the messages of the agent's default conversation",
        response=Agent,
    ),
    Endpoint(
        "GET",
        "/v1/messages/{message_id}",
        messages.get_message,
        "Retrieve a message (a list of one, as in Letta)",
    ),
    Endpoint(
        "POST",
        "/v1/messages/search",
        messages.search_messages,
        "Full-text search of messages, best first, each with its conversation",
        body=SearchRequest,
        response=list[SearchResult],
    ),
    Endpoint(
        "GET",
        "/v1/runs/",
        streams.list_runs,
        "List runs",
        response=list[Run],
        collection=True,
        query=(
            "agent_id",
            "conversation_id",
            "statuses",
            "active",
            "limit",
            "after",
            "before",
            "order",
        ),
    ),
    Endpoint("GET", "/v1/runs/{run_id}", streams.get_run, "Retrieve a run", response=Run),
    Endpoint(
        "GET",
        "/v1/runs/{run_id}/messages",
        streams.run_messages,
        "The messages a run stored (its input and its reply)",
        query=("limit", "order", "after", "before"),
    ),
    Endpoint(
        "GET",
        "/v1/runs/{run_id}/usage",
        streams.run_usage,
        "A run's token counts",
    ),
    Endpoint(
        "POST",
        "/v1/runs/{run_id}/stream",
        streams.attach_run_stream,
        "Replay a run's chunks after starting_after, then follow it (text/event-stream)",
        body=StreamRequest,
    ),
]


def starlette_routes(endpoints: list[Endpoint]) -> list[Route]:
    """Group endpoints by path; collection paths are served with and without the slash."""
    by_path: dict[str, dict[str, Handler]] = {}
    for ep in endpoints:
        paths = [ep.path, ep.path.rstrip("/")] if ep.collection else [ep.path]
        for path in paths:
            by_path.setdefault(path, {})[ep.method] = ep.handler
    # A fixed path comes before a templated one that also matches it (``/v1/messages/search``
    # before ``/v1/messages/{message_id}``), so it wins, and its 405 names its own methods.
    ordered = sorted(by_path.items(), key=lambda item: item[0].count("{"))
    return [Route(path, _dispatch(methods), methods=list(methods)) for path, methods in ordered]


def _dispatch(methods: dict[str, Handler]) -> Handler:
    """One handler per method; ``HEAD`` runs the ``GET`` handler (the server drops the body)."""

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await methods[method](request)

    return endpoint
