"""Request parsing shared by the route modules: bodies, query parameters, JSON responses."""

import functools
import json
import re
from typing import Any, TypeVar, get_args
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.errors import ValidationFailed
from backend.store.db import JsonText

ModelT = TypeVar("ModelT", bound=BaseModel)

MAX_JSON_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# What a body needs before it can hold an integer outside 64 bits: 19 digits in a row, which
# a string may break with underscores (an integer field takes "9_223_…"), or digits written
# as ``\u`` escapes, or a UTF-16 or UTF-32 body (NUL bytes between its digits). (An integer
# field refuses a float such as ``1e19`` beyond 64 bits by itself.)
_BIG_NUMBER = re.compile(rb"[0-9][0-9_]{18}|\\u|\x00")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# ``json.loads`` with an option builds a decoder per call; this one is built once. Bytes are
# decoded as ``json.loads`` decodes them.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def load_json(raw: bytes) -> Any:
    """Parse a request body as strict JSON that the store can hold, or raise a 422.

    Refused: malformed JSON, ``NaN``/``Infinity``, nesting deeper than ``MAX_JSON_DEPTH``,
    number literals too long to convert, and lone UTF-16 surrogates, which no UTF-8 text can
    contain. (Integers too big for SQLite are refused once the body is validated: see
    :func:`parse_body`; a field the server ignores may hold any number.)
    """
    try:
        data = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except RecursionError:
        raise ValidationFailed(
            f"The request body is nested too deeply (more than {MAX_JSON_DEPTH} levels)."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"The request body is not valid JSON: {exc}.") from None
    except ValueError as exc:  # a number literal too long to convert, NaN, Infinity
        raise ValidationFailed(
            f"The request body has a number that is not allowed: {exc}."
        ) from None
    if _may_break_limits(raw):
        _check_json(data)
    return data


def _may_break_limits(raw: bytes) -> bool:
    """Whether a parsed body needs the walk of :func:`_check_json`: it can nest too deeply
    only with that many brackets, and hold a lone surrogate only through a ``\\u`` escape or
    the byte 0xED that starts one in UTF-8 (a UTF-16 or UTF-32 body has NUL bytes)."""
    if raw.count(b"{") + raw.count(b"[") >= MAX_JSON_DEPTH:
        return True
    return b"\\u" in raw or b"\xed" in raw or b"\x00" in raw


def _check_json(data: Any) -> None:
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif value is None or isinstance(value, bool | int | float):
            continue
        else:
            if depth >= MAX_JSON_DEPTH:
                raise ValidationFailed(
                    f"The request body is nested too deeply (more than {MAX_JSON_DEPTH} levels)."
                )
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationFailed(
                "The request body has text with a lone surrogate (such as \\ud800), "
                "which is not valid Unicode text."
            ) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One readable sentence per problem, e.g. ``memory_blocks.0.label: Field required``."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        problems.append(f"{where}: {err['msg']}")
    return "Invalid request body: " + "; ".join(problems) + "."


async def parse_body(request: Request, model: type[ModelT]) -> ModelT:
    """Validate the JSON body against ``model``; an empty body is ``{}``, which is enough
    when every field of ``model`` has a default (the OpenAPI document says the same)."""
    raw = await request.body()
    if not raw.strip():
        try:
            return model.model_validate({})
        except ValidationError as exc:
            raise ValidationFailed(
                "The request needs a JSON body. " + describe_validation_error(exc)
            ) from None
    data = load_json(raw)
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    try:
        body = model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(describe_validation_error(exc)) from None
    if _BIG_NUMBER.search(raw):
        _check_integers(body)
    return body


def _check_integers(body: BaseModel) -> None:
    """Every integer field the server uses must fit SQLite's 64-bit integers. Free-form
    fields (``Any``) are stored as JSON text, where any number fits, so they are left alone."""
    stack: list[Any] = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, BaseModel):
            stack.extend(getattr(value, name) for name in _typed_fields(type(value)))
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            raise ValidationFailed(
                "The request body has an integer outside the 64-bit range "
                f"({INT64_MIN} to {INT64_MAX})."
            )


@functools.cache
def _typed_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` that are not free-form: worked out once per model, since
    walking type annotations costs more than the rest of a request's parsing."""
    return tuple(
        name for name, field in model.model_fields.items() if not _mentions_any(field.annotation)
    )


def _mentions_any(annotation: Any) -> bool:
    return annotation is Any or any(_mentions_any(arg) for arg in get_args(annotation))


_QUERY = "chinwag.query"


def query_values(request: Request) -> dict[str, list[str]]:
    """The query string's values by name, parsed once per request.

    The same values as Starlette's ``request.query_params``, which takes about 15 us to build
    (more than the rest of a list route's parsing): a query without escapes (``%``, ``+``) is
    split as it stands, any other one parsed as Starlette parses it.
    """
    found: dict[str, list[str]] | None = request.scope.get(_QUERY)
    if found is None:
        raw = request.scope["query_string"].decode("latin-1")
        if "%" in raw or "+" in raw:
            pairs = parse_qsl(raw, keep_blank_values=True)
        else:
            pairs = [(k, v) for k, _, v in (p.partition("=") for p in raw.split("&") if p)]
        found = {}
        for key, value in pairs:
            found.setdefault(key, []).append(value)
        request.scope[_QUERY] = found
    return found


def query_value(request: Request, name: str) -> str | None:
    """The query parameter's last value, as ``request.query_params.get`` gives it."""
    values = query_values(request).get(name)
    return values[-1] if values else None


def query_int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = query_value(request, name)
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
    value = query_value(request, "order") or default
    if value not in ("asc", "desc"):
        raise ValidationFailed(f"Query parameter 'order' must be 'asc' or 'desc', not {value!r}.")
    return value


def query_bool(request: Request, name: str, default: bool) -> bool:
    raw = query_value(request, name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValidationFailed(f"Query parameter {name!r} must be true or false, not {raw!r}.")


def query_str(request: Request, name: str) -> str | None:
    return query_value(request, name) or None


def respond(data: Any) -> Response:
    if isinstance(data, JsonText):  # serialised by the store already
        return Response(data.encode(), media_type="application/json")
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return JSONResponse(data)
