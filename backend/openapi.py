"""The OpenAPI document, generated from the route table and the shared pydantic models."""

import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from backend import __version__
from backend.api.common import INT64_MAX, INT64_MIN
from backend.api.conversations import LISTED_TYPES, ORDER_BY
from backend.routes import Endpoint
from backend.store.runs import RUN_STATUSES

# What each query parameter accepts (``backend.api.common``'s parsers); any other is a string.
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}
_BOOLEAN = {"type": "boolean"}
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "limit": _LIMIT,
    "order": {"type": "string", "enum": ["asc", "desc"]},
    "order_by": {"type": "string", "enum": sorted(ORDER_BY)},
    "include_compacted": _BOOLEAN,
    "active": _BOOLEAN,
    "dry_run": _BOOLEAN,
    "include_return_message_types": {
        "type": "array",
        "items": {"type": "string", "enum": sorted(LISTED_TYPES)},
    },
    "statuses": {"type": "array", "items": {"type": "string", "enum": list(RUN_STATUSES)}},
}
# Where one endpoint reads a parameter differently from the rest.
QUERY_OVERRIDES: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("GET", "/v1/blocks/{block_id}/history"): {
        "before": {"type": "integer", "minimum": 1, "maximum": 1 << 62}
    },
}
# Query parameters without which an endpoint answers 422.
REQUIRED_QUERY: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/v1/conversations/"): frozenset({"agent_id"}),
    ("POST", "/v1/conversations/"): frozenset({"agent_id"}),
}


def _models(endpoints: list[Endpoint]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for ep in endpoints:
        for model in (ep.body, ep.response):
            if get_origin(model) is list:
                model = get_args(model)[0]
            if isinstance(model, type) and issubclass(model, BaseModel) and model not in found:
                found.append(model)
    return found


def _ref(model: Any) -> dict[str, Any]:
    if get_origin(model) is list:
        return {"type": "array", "items": _ref(get_args(model)[0])}
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _bound_integers(node: Any) -> None:
    """Integers the server stores are SQLite's 64-bit ones (larger ones get a 422): say so."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("minimum", INT64_MIN)
            node.setdefault("maximum", INT64_MAX)
        for value in node.values():
            _bound_integers(value)
    elif isinstance(node, list):
        for value in node:
            _bound_integers(value)


def accepts_empty_body(model: type[BaseModel]) -> bool:
    """Whether ``model`` has a default for everything, so the body may be left out (this is
    what :func:`backend.api.common.parse_body` does with an empty body)."""
    try:
        model.model_validate({})
    except ValueError:
        return False
    return True


def _operation_id(ep: Endpoint, taken: set[str]) -> str:
    """The handler's name, or one made from the method and path when that is not unique."""
    name = ep.handler.__name__
    if name in taken:
        name = ep.method.lower() + re.sub(r"\W+", "_", ep.path).rstrip("_")
    taken.add(name)
    return name


def build_openapi(endpoints: list[Endpoint]) -> dict[str, Any]:
    models = _models(endpoints)
    _, schema = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, Any] = {}
    error = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    taken: set[str] = set()
    for ep in endpoints:
        op: dict[str, Any] = {"summary": ep.summary, "operationId": _operation_id(ep, taken)}
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)(?::\w+)?}", ep.path)
        ]
        required = REQUIRED_QUERY.get((ep.method, ep.path), frozenset())
        overrides = QUERY_OVERRIDES.get((ep.method, ep.path), {})
        params += [
            {
                "name": q,
                "in": "query",
                "required": q in required,
                "schema": overrides.get(q)
                or QUERY_SCHEMAS.get(
                    q, {"type": "string", "minLength": 1} if q in required else {"type": "string"}
                ),
            }
            for q in ep.query
        ]
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": not accepts_empty_body(ep.body),
                "content": {"application/json": {"schema": _ref(ep.body)}},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if ep.response is not None:
            ok["content"] = {"application/json": {"schema": _ref(ep.response)}}
        op["responses"] = {"200": ok, "default": error}
        path = re.sub(r"{(\w+):\w+}", r"{\1}", ep.path)  # Starlette's convertors are ours
        paths.setdefault(path, {})[ep.method.lower()] = op
    components = schema.get("$defs", {})
    for component in components.values():
        _bound_integers(component)
    components["ErrorBody"] = {
        "type": "object",
        "required": ["detail", "code"],
        "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "chinwag", "version": __version__},
        "paths": paths,
        "components": {"schemas": components},
    }
