"""Tools: the server's builtin tools, and which of them an agent has (API.md section 7)."""

from starlette.requests import Request
from starlette.responses import JSONResponse

from backend.api.agents import agent_response, change_agent
from backend.api.common import parse_body, query_bool, query_int, query_str, respond
from backend.services import services
from backend.tools import definitions
from shared_schema import ToolApprovalUpdate


async def list_tools(request: Request) -> JSONResponse:
    tools = await services(request).store.tools.find(
        query_str(request, "name"),
        after=query_str(request, "after"),
        limit=query_int(request, "limit", 100, low=1, high=1000),
    )
    return respond(tools)


async def get_tool(request: Request) -> JSONResponse:
    return respond(await services(request).store.tools.get(request.path_params["tool_id"]))


async def add_base_tools(request: Request) -> JSONResponse:
    """Letta Code calls this on start-up; the builtin tools are always there, so it only
    lists them (and puts back any definition an older version stored differently)."""
    store = services(request).store
    await store.tools.ensure(definitions())
    return respond(await store.tools.find())


async def list_agent_tools(request: Request) -> JSONResponse:
    """An agent has a handful of tools: one page, and an empty one after any cursor."""
    svc = services(request)
    agent = await svc.store.agents.get(request.path_params["agent_id"])
    return respond([] if query_str(request, "after") else agent["tools"])


async def attach_tool(request: Request) -> JSONResponse:
    tool_id = request.path_params["tool_id"]
    return await change_agent(request, lambda svc, agent: svc.store.tools.attach(agent, tool_id))


async def detach_tool(request: Request) -> JSONResponse:
    tool_id = request.path_params["tool_id"]
    return await change_agent(request, lambda svc, agent: svc.store.tools.detach(agent, tool_id))


async def set_tool_approval(request: Request) -> JSONResponse:
    """``{"requires_approval": bool}`` in the body, or Letta's older query parameter."""
    svc = services(request)
    agent_id = request.path_params["agent_id"]
    await svc.store.agents.get(agent_id)
    if request.query_params.get("requires_approval") and not (await request.body()).strip():
        requires = query_bool(request, "requires_approval", False)
    else:
        requires = (await parse_body(request, ToolApprovalUpdate)).requires_approval
    await svc.store.tools.set_approval(agent_id, request.path_params["tool_name"], requires)
    return await agent_response(svc, agent_id)
