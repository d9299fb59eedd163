"""Memory blocks on their own, shared between agents, their history, and recompiling a
conversation's system message from them (API.md section 7)."""

from starlette.requests import Request
from starlette.responses import JSONResponse

from backend.agent import memory
from backend.api import addressing
from backend.api.agents import change_agent
from backend.api.common import parse_body, query_bool, query_int, query_str, respond
from backend.services import services
from shared_schema import BlockCreate, BlockPatch, BlockRestore, RecompileRequest


def _label(request: Request) -> str:
    """Labels travel URL-encoded and may hold ``/``: the route takes the rest of the path,
    which the server has already decoded."""
    return request.path_params["label"]


async def list_agent_blocks(request: Request) -> JSONResponse:
    agent = await services(request).store.agents.get(request.path_params["agent_id"])
    return respond([] if query_str(request, "after") else agent["blocks"])


async def get_agent_block(request: Request) -> JSONResponse:
    store = services(request).store
    agent_id = request.path_params["agent_id"]
    await store.agents.get(agent_id)
    return respond(await store.blocks.get(await store.blocks.id_of(agent_id, _label(request))))


async def attach_block(request: Request) -> JSONResponse:
    block_id = request.path_params["block_id"]
    return await change_agent(request, lambda svc, agent: svc.store.blocks.attach(agent, block_id))


async def detach_block(request: Request) -> JSONResponse:
    block_id = request.path_params["block_id"]
    return await change_agent(request, lambda svc, agent: svc.store.blocks.detach(agent, block_id))


async def create_block(request: Request) -> JSONResponse:
    body = await parse_body(request, BlockCreate)
    return respond(await services(request).store.blocks.create(body.model_dump()))


async def list_blocks(request: Request) -> JSONResponse:
    blocks = await services(request).store.blocks.find(
        label=query_str(request, "label"),
        after=query_str(request, "after"),
        limit=query_int(request, "limit", 50, low=1, high=1000),
    )
    return respond(blocks)


async def get_block(request: Request) -> JSONResponse:
    return respond(await services(request).store.blocks.get(request.path_params["block_id"]))


async def update_block(request: Request) -> JSONResponse:
    store = services(request).store
    block_id = request.path_params["block_id"]
    await store.blocks.get(block_id)
    body = await parse_body(request, BlockPatch)
    return respond(await store.blocks.update(block_id, body.model_dump(exclude_none=True)))


async def delete_block(request: Request) -> JSONResponse:
    block_id = request.path_params["block_id"]
    await services(request).store.blocks.delete(block_id)
    return respond({"message": f"Block {block_id} deleted"})


async def block_history(request: Request) -> JSONResponse:
    """Every change of the block, newest first; ``before`` is a version to page from."""
    raw_before = query_str(request, "before")
    before = None
    if raw_before is not None:
        before = query_int(request, "before", 0, low=1, high=1 << 62)
    history = await services(request).store.blocks.history(
        request.path_params["block_id"],
        limit=query_int(request, "limit", 50, low=1, high=1000),
        before=before,
    )
    return respond(history)


async def restore_block(request: Request) -> JSONResponse:
    body = await parse_body(request, BlockRestore)
    block = await services(request).store.blocks.restore(
        request.path_params["block_id"], body.version
    )
    return respond(block)


async def recompile(request: Request) -> JSONResponse:
    """The system message compiled from current memory (a JSON string, as Letta answers);
    stored as the conversation's system message unless ``dry_run``."""
    body = await parse_body(request, RecompileRequest)
    conversation_id = await addressing.conversation_id(request, body.agent_id)
    text, _ = await memory.recompile(
        services(request).store,
        conversation_id,
        dry_run=query_bool(request, "dry_run", False),
    )
    return respond(text)
