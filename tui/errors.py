"""Typed errors of the API client: what went wrong, where, and what a program can branch on.

Kept apart from the client so widgets can catch them without importing the HTTP machinery.
Foreign servers (Letta) send no ``code``; it is derived from the status and the detail text.
"""

from __future__ import annotations

import re
from typing import Any

_RUN_ID_RE = re.compile(r"run-[0-9a-f-]{36}")
_CODE_BY_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHORIZED",
    403: "UNAUTHORIZED",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "VALIDATION_ERROR",
}


class ClientError(Exception):
    """Base of every error raised by :mod:`tui.client`; ``url`` is the address that was tried."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConnectionFailed(ClientError):
    """The server could not be reached at all (refused, unknown host, timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"Cannot reach the server at {url}: {reason}", url)
        self.reason = reason


class StreamDropped(ClientError):
    """A stream ended before ``[DONE]`` and could not be re-attached."""


class ApiError(ClientError):
    """The server answered with a status ≥ 400."""

    def __init__(
        self, status: int, code: str, detail: str, url: str, run_id: str | None = None
    ) -> None:
        super().__init__(f"{detail} (HTTP {status} from {url})", url)
        self.status = status
        self.code = code
        self.detail = detail
        self.run_id = run_id


class Unauthorized(ApiError):
    """401/403: the token is missing or wrong."""


class NotFound(ApiError):
    """404: the object does not exist (any more)."""


class ConversationBusy(ApiError):
    """409 on send or compact: another run holds the conversation; ``run_id`` names it."""


class NoActiveRun(ApiError):
    """Nothing to attach to or cancel."""


class ApprovalPending(ApiError):
    """409 on send: the conversation waits for an answer to a tool call first."""


def error_from_response(status: int, body: Any, text: str, url: str) -> ApiError:
    """Build the typed error for a response, from either our error body or Letta's."""
    detail = text.strip() or f"HTTP {status}"
    code = ""
    run_id = None
    if isinstance(body, dict):
        if isinstance(body.get("detail"), str):
            detail = body["detail"]
        elif body.get("detail") is not None:
            detail = str(body["detail"])
        code = str(body.get("code") or "")
        run_id = body.get("run_id")
    if not code:
        code = _derive_code(status, detail)
    if run_id is None and code == "CONVERSATION_BUSY":
        match = _RUN_ID_RE.search(detail)
        run_id = match.group(0) if match else None
    cls: type[ApiError] = ApiError
    if status in (401, 403):
        cls = Unauthorized
    elif status == 404:
        cls = NotFound
    elif code == "CONVERSATION_BUSY":
        cls = ConversationBusy
    elif code == "NO_ACTIVE_RUN":
        cls = NoActiveRun
    elif code == "APPROVAL_PENDING":
        cls = ApprovalPending
    return cls(status, code, detail, url, run_id)


def _derive_code(status: int, detail: str) -> str:
    """Letta writes ``CONFLICT: …`` or plain sentences; map the ones the TUI branches on."""
    lowered = detail.lower()
    if status == 409 and "another request" in lowered:
        return "CONVERSATION_BUSY"
    if status == 409 and "approval" in lowered:
        return "APPROVAL_PENDING"
    if "no active run" in lowered:
        return "NO_ACTIVE_RUN"
    if status == 400 and ("compact" in lowered or "summariz" in lowered):
        return "NOTHING_TO_COMPACT"
    prefix = detail.split(":", 1)[0]
    if re.fullmatch(r"[A-Z][A-Z_]+", prefix):
        return prefix
    return _CODE_BY_STATUS.get(status, "INTERNAL" if status >= 500 else "ERROR")
