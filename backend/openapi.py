"""The OpenAPI document, generated from the route table and the shared pydantic models."""

import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from backend import __version__
from backend.routes import Endpoint


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
    for ep in endpoints:
        op: dict[str, Any] = {"summary": ep.summary, "operationId": ep.handler.__name__}
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)(?::\w+)?}", ep.path)
        ]
        params += [
            {"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
            for q in ep.query
        ]
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {"content": {"application/json": {"schema": _ref(ep.body)}}}
        ok: dict[str, Any] = {"description": "OK"}
        if ep.response is not None:
            ok["content"] = {"application/json": {"schema": _ref(ep.response)}}
        op["responses"] = {"200": ok, "default": error}
        path = re.sub(r"{(\w+):\w+}", r"{\1}", ep.path)  # Starlette's convertors are ours
        paths.setdefault(path, {})[ep.method.lower()] = op
    components = schema.get("$defs", {})
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
