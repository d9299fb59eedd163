"""Request parsing shared by the route modules: bodies, query parameters, JSON responses."""

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from backend.errors import ValidationFailed

ModelT = TypeVar("ModelT", bound=BaseModel)


def describe_validation_error(exc: ValidationError) -> str:
    """One readable sentence per problem, e.g. ``memory_blocks.0.label: Field required``."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        problems.append(f"{where}: {err['msg']}")
    return "Invalid request body: " + "; ".join(problems) + "."


async def parse_body(request: Request, model: type[ModelT], *, optional: bool = False) -> ModelT:
    """Validate the JSON body against ``model``; an empty body is ``{}`` when ``optional``."""
    raw = await request.body()
    if not raw.strip():
        if optional:
            return model()
        raise ValidationFailed("The request needs a JSON body.")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(describe_validation_error(exc)) from None


def query_int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(
            f"Query parameter {name!r} must be a whole number, not {raw!r}."
        ) from None
    if not low <= value <= high:
        raise ValidationFailed(f"Query parameter {name!r} must be between {low} and {high}.")
    return value


def query_order(request: Request, default: str) -> Any:
    value = request.query_params.get("order") or default
    if value not in ("asc", "desc"):
        raise ValidationFailed(f"Query parameter 'order' must be 'asc' or 'desc', not {value!r}.")
    return value


def query_bool(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValidationFailed(f"Query parameter {name!r} must be true or false, not {raw!r}.")


def query_str(request: Request, name: str) -> str | None:
    return request.query_params.get(name) or None


def respond(data: Any) -> JSONResponse:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return JSONResponse(data)
