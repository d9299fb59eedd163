"""Agents, their memory blocks and the model handles they can use (API.md section 3)."""

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api import addressing, unsupported
from backend.api.common import parse_body, query_int, query_order, query_str, respond
from backend.errors import InvalidArgument, NotFound
from backend.llm import ProviderRegistry, UnknownProviderError
from backend.services import Services, services
from backend.store.agents import AgentJson
from backend.store.db import JsonText, dumps, json_array
from backend.tools import DEFAULT_TOOLS
from shared_schema import AgentCreate, AgentUpdate, BlockUpdate

AGENT_TYPE = "letta_v1_agent"  # the one agent loop this server runs

DEFAULT_SYSTEM = (
    "You are a helpful assistant with a persistent memory. Your memory blocks below describe "
    "who you are (persona) and who you are talking to (human); use them, and answer concisely."
)


def resolve_handle(registry: ProviderRegistry, handle: str) -> dict[str, Any]:
    """The ``llm_config`` of a handle; a malformed handle or unknown provider is a 400."""
    try:
        resolved = registry.resolve(handle)
    except UnknownProviderError as exc:
        raise InvalidArgument(str(exc)) from None
    return {
        "handle": resolved.handle,
        "model": resolved.model_name,
        "model_endpoint_type": resolved.endpoint_type,
        "model_endpoint": resolved.endpoint,
        "context_window": resolved.context_window,
    }


def llm_config_json(registry: ProviderRegistry, handle: str) -> str:
    """The ``llm_config`` of an agent's model handle, as JSON text."""
    try:
        llm_config = resolve_handle(registry, handle)
    except InvalidArgument:  # a provider removed from the config since the agent was made
        llm_config = {
            "handle": handle,
            "model": handle.partition("/")[2],
            "model_endpoint_type": "openai",
            "model_endpoint": None,
            "context_window": 0,
        }
    return dumps(llm_config)


async def agents_json(svc: Services, agents: list[AgentJson]) -> list[str]:
    """Each agent's answer (API.md 3), joined from the store's JSON parts, its ``llm_config``
    and ``message_ids`` (its default conversation's in-context ids), in Letta's key order."""
    with_default = [a.id for a in agents if a.has_default]
    ids = await svc.store.conversations.default_context_ids(with_default) if with_default else {}
    configs: dict[str, str] = {}
    out = []
    for a in agents:
        config = configs.get(a.model)
        if config is None:
            config = configs[a.model] = llm_config_json(svc.registry, a.model)
        message_ids = dumps(ids[a.id]) if a.id in ids else "[]"
        out.append(
            f'{a.head[:-1]},"blocks":{a.blocks},"tools":{a.tools},{a.times[1:-1]},'
            f'"memory":{{"blocks":{a.blocks}}},"llm_config":{config},'
            f'"tool_rules":{a.tool_rules},"sources":[],"message_ids":{message_ids}}}'
        )
    return out


async def create_agent(request: Request) -> JSONResponse:
    svc = services(request)
    body = await parse_body(request, AgentCreate)
    if body.agent_type not in (None, AGENT_TYPE):
        raise InvalidArgument(
            f"agent_type {body.agent_type!r} is not supported: this server runs only "
            f"{AGENT_TYPE!r} agents."
        )
    if body.enable_sleeptime:
        raise InvalidArgument(
            "enable_sleeptime is not supported: this server has no sleep-time agents."
        )
    unsupported.refuse(body, unsupported.AGENT_CREATE)
    model = body.model or svc.registry.default_handle()
    resolve_handle(svc.registry, model)
    names = list(body.tools or [])
    if body.include_base_tools:
        names += [n for n in DEFAULT_TOOLS if n not in names]
    tool_ids = await svc.store.tools.resolve(names, body.tool_ids or [])
    for block_id in body.block_ids or []:
        try:
            await svc.store.blocks.get(block_id)
        except NotFound:
            raise InvalidArgument(f"Unknown block id {block_id!r} in block_ids.") from None
    approvals = [str(rule.get("tool_name")) for rule in body.tool_rules or []]
    if approvals:
        attached = {t["name"] for t in await svc.store.tools.find() if t["id"] in tool_ids}
        missing = [name for name in approvals if name not in attached]
        if missing:
            raise InvalidArgument(
                f"tool_rules names {missing[0]!r}, which is not one of the agent's tools."
            )
    agent_id = await svc.store.agents.insert(
        name=body.name,
        model=model,
        embedding=body.embedding,
        system=body.system if body.system is not None else DEFAULT_SYSTEM,
        agent_type=AGENT_TYPE,
        tags=body.tags,
        blocks=[b.model_dump() for b in body.memory_blocks],
        description=body.description,
        tool_ids=tool_ids,
        block_ids=body.block_ids,
    )
    for name in approvals:
        await svc.store.tools.set_approval(agent_id, name, True)
    if body.compaction_settings is not None:
        settings = body.compaction_settings.model_dump(exclude_unset=True)
        await svc.store.agents.update(agent_id, {"compaction_settings": settings})
    return await agent_response(svc, agent_id)


async def list_agents(request: Request) -> JSONResponse:
    svc = services(request)
    agents = await svc.store.agents.page_json(
        limit=query_int(request, "limit", 50, low=1, high=1000),
        order=query_order(request, "desc"),
        after=query_str(request, "after"),
        before=query_str(request, "before"),
        name=query_str(request, "name"),
    )
    return respond(json_array(await agents_json(svc, agents)))


async def get_agent(request: Request) -> Response:
    return await agent_response(services(request), request.path_params["agent_id"])


async def update_agent(request: Request) -> JSONResponse:
    svc = services(request)
    agent_id = request.path_params["agent_id"]
    await svc.store.agents.require(agent_id)
    body = await parse_body(request, AgentUpdate)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    tool_ids, block_ids = changes.pop("tool_ids", None), changes.pop("block_ids", None)
    if "model" in changes:
        resolve_handle(svc.registry, changes["model"])
    resolved = None if tool_ids is None else await svc.store.tools.resolve([], tool_ids)
    if block_ids is not None:
        await svc.store.blocks.replace(agent_id, block_ids)
    if resolved is not None:
        await svc.store.tools.replace(agent_id, resolved)
    await svc.store.agents.update(agent_id, changes)
    return await agent_response(svc, agent_id)


async def agent_response(svc: Services, agent_id: str) -> Response:
    """The agent as it is now (404 if there is none), also for routes that change it and
    answer with it (as Letta does)."""
    (agent,) = await agents_json(svc, [await svc.store.agents.get_json(agent_id)])
    return respond(JsonText(agent))


async def change_agent(
    request: Request, change: Callable[[Services, str], Awaitable[Any]]
) -> JSONResponse:
    """Apply ``change`` to the addressed agent (404 if there is none), answer with the agent."""
    svc = services(request)
    agent_id = request.path_params["agent_id"]
    await svc.store.agents.require(agent_id)
    await change(svc, agent_id)
    return await agent_response(svc, agent_id)


async def update_block(request: Request) -> JSONResponse:
    svc = services(request)
    agent_id = request.path_params["agent_id"]
    await svc.store.agents.require(agent_id)
    body = await parse_body(request, BlockUpdate)
    block = await svc.store.agents.update_block(
        agent_id, request.path_params["label"], body.model_dump(exclude_none=True)
    )
    return respond(block)


async def none_of_these(request: Request) -> JSONResponse:
    """An agent's secrets, MCP servers or repositories (Letta Code asks at start-up): this
    server has none of them, which is an empty list, not a 404."""
    await services(request).store.agents.require(request.path_params["agent_id"])
    return respond([])


async def reset_messages(request: Request) -> JSONResponse:
    """``PATCH /v1/agents/{id}/reset-messages``: empty the default conversation."""
    svc = services(request)
    agent_id = request.path_params["agent_id"]
    await svc.runs.reset(await addressing.default_of(request, agent_id))
    return await agent_response(svc, agent_id)


async def delete_agent(request: Request) -> JSONResponse:
    agent_id = request.path_params["agent_id"]
    svc = services(request)
    rows = await svc.store.db.fetchall(
        "SELECT id FROM conversations WHERE agent_id = ?", (agent_id,)
    )
    await svc.runs.delete([r["id"] for r in rows], lambda: svc.store.agents.delete(agent_id))
    return respond({"message": f"Agent {agent_id} deleted"})


async def list_models(request: Request) -> JSONResponse:
    return respond(services(request).registry.list_models())
