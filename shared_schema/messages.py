"""Messages as listed and streamed (API.md section 2), and the send request.

Clients parse with :func:`parse_message`, which copes with what real Letta servers send:
messages without ``role`` and ``content`` given as a list of parts.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from shared_schema.tools import Answer, ApprovalCreate, ClientTool, ToolReturnCreate

ROLE_BY_TYPE: dict[str, str] = {
    "system_message": "system",
    "user_message": "user",
    "assistant_message": "assistant",
    "reasoning_message": "assistant",
    "hidden_reasoning_message": "assistant",
    "tool_call_message": "assistant",
    "approval_request_message": "assistant",
    "approval_response_message": "user",
    "tool_return_message": "tool",
    "summary_message": "summary",
    "event_message": "event",
}


def text_of(content: Any) -> str:
    """Flatten ``content`` that may be a string or a list of ``{"type": "text", "text"}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                parts.append(str(part.get("text") or part.get("content") or ""))
        return "".join(parts)
    return str(content)


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    date: str | None = None
    message_type: str
    role: str | None = None
    run_id: str | None = None
    otid: str | None = None
    seq_id: int | None = None
    in_context: bool | None = None
    is_err: bool | None = None

    @model_validator(mode="after")
    def _derive_role(self) -> "_Message":
        if self.role is None:
            self.role = ROLE_BY_TYPE.get(self.message_type)
        return self


class _TextMessage(_Message):
    content: str = ""

    @field_validator("content", mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> str:
        return text_of(value)


class SystemMessage(_TextMessage):
    message_type: Literal["system_message"] = "system_message"


class UserMessage(_TextMessage):
    message_type: Literal["user_message"] = "user_message"


class AssistantMessage(_TextMessage):
    message_type: Literal["assistant_message"] = "assistant_message"


class ReasoningMessage(_Message):
    message_type: Literal["reasoning_message"] = "reasoning_message"
    reasoning: str = ""


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = None
    arguments: str | None = None
    tool_call_id: str | None = None


class _ToolCallingMessage(_Message):
    tool_call: ToolCall | None = None
    tool_calls: list[ToolCall] | None = None

    @field_validator("tool_calls", mode="before")
    @classmethod
    def _one_fragment(cls, value: Any) -> Any:
        """Letta streams each fragment of the call as a single object, not a list."""
        return [value] if isinstance(value, dict) else value


class ToolCallMessage(_ToolCallingMessage):
    message_type: Literal["tool_call_message"] = "tool_call_message"


class ApprovalRequestMessage(_ToolCallingMessage):
    """The model called a tool that waits for a person (or for the client to run it)."""

    message_type: Literal["approval_request_message"] = "approval_request_message"


class ApprovalResponseMessage(_Message):
    message_type: Literal["approval_response_message"] = "approval_response_message"
    approvals: list[dict[str, Any]] | None = None
    approve: bool | None = None
    approval_request_id: str | None = None
    reason: str | None = None


class ToolReturnMessage(_Message):
    message_type: Literal["tool_return_message"] = "tool_return_message"
    tool_return: str = ""
    status: Literal["success", "error"] = "success"
    tool_call_id: str | None = None


class SummaryMessage(_TextMessage):
    message_type: Literal["summary_message"] = "summary_message"
    summary: str = ""


class EventMessage(_Message):
    """A server-side event shown in the transcript, e.g. an automatic compaction."""

    message_type: Literal["event_message"] = "event_message"
    event_type: str = ""
    event_data: dict[str, Any] = Field(default_factory=dict)


class PingMessage(_Message):
    message_type: Literal["ping"] = "ping"


class StopReason(BaseModel):
    model_config = ConfigDict(extra="allow")

    message_type: Literal["stop_reason"] = "stop_reason"
    stop_reason: str
    seq_id: int | None = None


class UsageStatistics(BaseModel):
    model_config = ConfigDict(extra="allow")

    message_type: Literal["usage_statistics"] = "usage_statistics"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    step_count: int = 0
    seq_id: int | None = None


class ErrorMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    message_type: Literal["error_message"] = "error_message"
    run_id: str | None = None
    error_type: str = "internal_error"
    message: str = ""
    detail: str | None = None
    seq_id: int | None = None


LettaMessage = Annotated[
    SystemMessage
    | UserMessage
    | AssistantMessage
    | ReasoningMessage
    | ToolCallMessage
    | ToolReturnMessage
    | ApprovalRequestMessage
    | ApprovalResponseMessage
    | SummaryMessage
    | EventMessage
    | PingMessage
    | StopReason
    | UsageStatistics
    | ErrorMessage,
    Field(discriminator="message_type"),
]

_ADAPTER: TypeAdapter[Any] = TypeAdapter(LettaMessage)
_KNOWN_TYPES = {
    "system_message",
    "user_message",
    "assistant_message",
    "reasoning_message",
    "tool_call_message",
    "tool_return_message",
    "approval_request_message",
    "approval_response_message",
    "summary_message",
    "event_message",
    "ping",
    "stop_reason",
    "usage_statistics",
    "error_message",
}


def parse_message(data: dict[str, Any]) -> BaseModel:
    """Parse one listed or streamed message; unknown types keep their data as a generic message."""
    if data.get("message_type") in _KNOWN_TYPES:
        return _ADAPTER.validate_python(data)
    return _Message.model_validate({"id": data.get("id") or "", **data})


def _message_create_schema(schema: dict[str, Any]) -> None:
    """An item whose ``type`` names another kind of input is parsed as that kind."""
    schema["properties"]["type"] = {"not": {"enum": ["approval", "tool_return"]}}


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_message_create_schema)

    role: Literal["user", "system"] = "user"
    content: str | list[dict[str, Any]]
    otid: str | None = None

    @property
    def text(self) -> str:
        return text_of(self.content)


def _input_kind(item: Any) -> str:
    kind = item.get("type") if isinstance(item, dict) else getattr(item, "type", None)
    return kind if kind in ("approval", "tool_return") else "message"


InputItem = Annotated[
    Annotated[MessageCreate, Tag("message")]
    | Annotated[ApprovalCreate, Tag("approval")]
    | Annotated[ToolReturnCreate, Tag("tool_return")],
    Discriminator(_input_kind),
]


# Some character that Python's ``str.strip`` keeps (it also strips \x1c-\x1f and \x85).
NOT_BLANK = "[^\\s\\x1c-\\x1f\\x85]"


def _send_request_schema(schema: dict[str, Any]) -> None:
    """The schema says what ``_needs_input`` checks: a non-empty ``messages``, or else an
    ``input`` with some text in it."""
    for branch in schema["properties"]["messages"].get("anyOf", []):
        if branch.get("type") == "array":
            branch["minItems"] = 1
    schema["anyOf"] = [
        {"required": ["messages"], "properties": {"messages": {"type": "array"}}},
        {"required": ["input"], "properties": {"input": {"type": "string", "pattern": NOT_BLANK}}},
    ]


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_send_request_schema)

    messages: list[InputItem] | None = None
    input: str | None = None
    agent_id: str | None = None  # with the ``default`` conversation
    streaming: bool = True
    stream_tokens: bool = False
    include_pings: bool = True
    max_steps: int = Field(default=10, ge=1, le=100)
    client_tools: list[ClientTool] | None = None
    # Letta fields this server cannot honour: refused when they would change behaviour.
    override_model: str | None = None
    override_system: str | None = None
    use_assistant_message: bool | None = None
    callback_url: str | None = None

    @model_validator(mode="after")
    def _needs_input(self) -> "SendRequest":
        if self.messages is None and self.input is None:
            raise ValueError("give either 'messages' (a non-empty list) or 'input' (a string)")
        if self.messages is not None and not self.messages:
            raise ValueError("'messages' must not be empty")
        if self.input is not None and self.messages is None and not self.input.strip():
            raise ValueError("'input' must not be empty")
        return self

    def inputs(self) -> list[MessageCreate]:
        """The ordinary messages to store, whichever form the client used."""
        if self.messages is not None:
            return [m for m in self.messages if isinstance(m, MessageCreate)]
        return [MessageCreate(role="user", content=self.input or "")]

    def answers(self) -> list[Answer]:
        """Answers to pending tool calls (approvals, denials, client tool results), in order."""
        found: list[Answer] = []
        for item in self.messages or []:
            if isinstance(item, ApprovalCreate):
                found += item.approvals or []
            elif isinstance(item, ToolReturnCreate):
                found += item.tool_returns
        return found


class SendResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    messages: list[dict[str, Any]]
    stop_reason: dict[str, Any]
    usage: dict[str, Any]
