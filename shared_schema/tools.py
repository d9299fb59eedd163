"""Tools, approvals and memory history on the wire (API.md section 7).

The approval shapes are Letta 0.16.8's (``letta/schemas/message.py``: ``ApprovalCreate``,
``ToolReturnCreate``; ``letta/schemas/letta_message.py``: ``ApprovalReturn``, ``ToolReturn``), so
Letta's own clients answer approvals here unchanged.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class Tool(_Wire):
    id: str
    name: str
    description: str | None = None
    json_schema: dict[str, Any] = Field(default_factory=dict)
    tool_type: str = "letta_core"
    requires_approval: bool | None = None


class ClientTool(_Request):
    """A tool the client runs itself, offered to the model for one send."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ApprovalReturn(_Request):
    """A person's answer to one tool call: run it, or refuse with a reason."""

    type: Literal["approval"] = "approval"
    tool_call_id: str = Field(min_length=1)
    approve: bool
    reason: str | None = None


def _tool_return_schema(schema: dict[str, Any]) -> None:
    """Without a ``type`` an answer is an approval (see ``_answer``), so a tool result needs
    one: ``tool``, or ``tool_return`` as some clients write it."""
    schema["required"] = sorted({*schema.get("required", []), "type"})
    schema["properties"]["type"] = {"type": "string", "enum": ["tool", "tool_return"]}


class ToolReturnInput(_Request):
    """The result of a tool the client ran (Letta's ``ToolReturn``)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_tool_return_schema)

    type: Literal["tool"] = "tool"
    tool_call_id: str = Field(min_length=1)
    tool_return: str | list[dict[str, Any]]
    status: Literal["success", "error"] = "success"
    stdout: list[str] | None = None
    stderr: list[str] | None = None


Answer = ApprovalReturn | ToolReturnInput


def _answer(data: Any) -> Any:
    """Letta's union is discriminated by ``type``; a bare item without one is an approval."""
    if isinstance(data, dict) and data.get("type") in ("tool", "tool_return"):
        return ToolReturnInput.model_validate({**data, "type": "tool"})
    return ApprovalReturn.model_validate(data)


def _approval_schema(schema: dict[str, Any]) -> None:
    """The schema says what ``_migrate_single`` checks: one of the two forms, filled in; and
    ``type``, which tells a send's items apart, is required."""
    schema["required"] = ["type"]
    schema["anyOf"] = [
        {"required": ["approvals"], "properties": {"approvals": {"type": "array", "minItems": 1}}},
        {
            "required": ["approve", "approval_request_id"],
            "properties": {
                "approve": {"type": "boolean"},
                "approval_request_id": {"type": "string", "minLength": 1},
            },
        },
    ]


class ApprovalCreate(_Request):
    """``{"type": "approval", "approvals": [...]}``, or the older single-call form."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_approval_schema)

    type: Literal["approval"] = "approval"
    approvals: list[Answer] | None = None
    approve: bool | None = None
    approval_request_id: str | None = None
    reason: str | None = None
    otid: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse_answers(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("approvals"), list):
            data = {**data, "approvals": [_answer(item) for item in data["approvals"]]}
        return data

    @model_validator(mode="after")
    def _migrate_single(self) -> "ApprovalCreate":
        if not self.approvals and self.approve is not None and self.approval_request_id:
            self.approvals = [
                ApprovalReturn(
                    tool_call_id=self.approval_request_id, approve=self.approve, reason=self.reason
                )
            ]
        if not self.approvals:
            raise ValueError(
                "an approval needs 'approvals' (a non-empty list) or 'approve' with "
                "'approval_request_id'"
            )
        return self


def _type_required(schema: dict[str, Any]) -> None:
    """``type`` tells a send's items apart, so the schema requires it."""
    schema["required"] = sorted({*schema.get("required", []), "type"})


class ToolReturnCreate(_Request):
    """``{"type": "tool_return", "tool_returns": [...]}``: client tool results, shorter form."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_type_required)

    type: Literal["tool_return"] = "tool_return"
    tool_returns: list[ToolReturnInput] = Field(min_length=1)
    otid: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("tool_returns"), list):
            items = [
                {**item, "type": "tool"} if isinstance(item, dict) else item
                for item in data["tool_returns"]
            ]
            data = {**data, "tool_returns": items}
        return data


class ToolApprovalUpdate(_Request):
    requires_approval: bool


class BlockHistoryEntry(_Wire):
    """One change of a block: who made it, when, and the value before and after."""

    id: str
    block_id: str
    version: int
    actor: Literal["person", "agent"]
    agent_id: str | None = None
    tool_name: str | None = None
    run_id: str | None = None
    before: str | None = None
    after: str
    created_at: str


class BlockRestore(_Request):
    version: int = Field(ge=1)


class BlockPatch(_Request):
    """A person's change to a block through ``PATCH /v1/blocks/{id}``; every field optional."""

    value: str | None = None
    limit: int | None = Field(default=None, ge=1)
    description: str | None = None
    label: str | None = Field(default=None, min_length=1, max_length=100)
    read_only: bool | None = None


class RecompileRequest(_Request):
    """Letta's recompile body; only ``agent_id`` (for the default conversation) matters."""

    agent_id: str | None = None
