"""API errors: every failure a client can cause becomes one of these, never a traceback.

Each error renders as API.md's body ``{"detail", "code", ...extra}`` with its HTTP status.
"""

from typing import Any


class ApiError(Exception):
    status = 500
    code = "INTERNAL"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class InvalidArgument(ApiError):
    status = 400
    code = "INVALID_ARGUMENT"


class Unauthorized(ApiError):
    status = 401
    code = "UNAUTHORIZED"


class ForbiddenHost(ApiError):
    status = 403
    code = "FORBIDDEN_HOST"


class ForbiddenOrigin(ApiError):
    status = 403
    code = "FORBIDDEN_ORIGIN"


class NotFound(ApiError):
    status = 404
    code = "NOT_FOUND"

    @classmethod
    def of(cls, kind: str, object_id: str) -> "NotFound":
        return cls(f"{kind} {object_id} not found.")


class ConversationBusy(ApiError):
    status = 409
    code = "CONVERSATION_BUSY"

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"Another request (run_id={run_id}) is currently being processed for this "
            "conversation. Please wait for it to complete.",
            headers={"x-should-retry": "false"},
            run_id=run_id,
        )


class ApprovalPending(ApiError):
    """A send that is not an answer, while a tool call waits for one (Letta's wording)."""

    status = 409
    code = "APPROVAL_PENDING"

    def __init__(self, pending_request_id: str) -> None:
        super().__init__(
            "Cannot send a new message: The agent is waiting for approval on a tool call. "
            "Please approve or deny the pending request before continuing.",
            headers={"x-should-retry": "false"},
            pending_request_id=pending_request_id,
        )


class OtidConflict(ApiError):
    """An ``otid`` names a message already stored in the conversation with other content."""

    status = 409
    code = "OTID_CONFLICT"

    def __init__(self, detail: str, run_id: str) -> None:
        super().__init__(detail, headers={"x-should-retry": "false"}, run_id=run_id)


class NoActiveRun(ApiError):
    status = 409
    code = "NO_ACTIVE_RUN"


class NoActiveRunToAttach(NoActiveRun):
    """Re-attaching with nothing running is a 400 in Letta, and so here (API.md 5.3)."""

    status = 400


class PayloadTooLarge(ApiError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class ValidationFailed(ApiError):
    status = 422
    code = "VALIDATION_ERROR"


class LLMNotConfigured(ApiError):
    status = 400
    code = "LLM_NOT_CONFIGURED"


class ContextWindowExceeded(ApiError):
    status = 400
    code = "CONTEXT_WINDOW_EXCEEDED"


class NothingToCompact(ApiError):
    status = 400
    code = "NOTHING_TO_COMPACT"


class ModelFailed(ApiError):
    """The model failed a request made outside a streamed turn (a compaction's summary)."""

    status = 502
    code = "LLM_API_ERROR"


class Internal(ApiError):
    """A failure of the server itself; the body's ``request_id`` finds it in the log."""

    status = 500
    code = "INTERNAL"


class StorageReadOnly(ApiError):
    """The database file cannot be written (read-only file or disk, or moved away)."""

    status = 503
    code = "STORAGE_READ_ONLY"


class ShuttingDown(ApiError):
    status = 503
    code = "SHUTTING_DOWN"


class StorageFull(ApiError):
    """The disk holding the database is full: nothing more can be saved until space is freed."""

    status = 507
    code = "STORAGE_FULL"
