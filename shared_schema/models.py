"""Agents, blocks, conversations, runs and the bodies that create or change them."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Request(BaseModel):
    """Request bodies ignore keys they do not know: the Letta SDK sends many we do not use."""

    model_config = ConfigDict(extra="ignore")


class _Wire(BaseModel):
    """Response objects keep unknown keys so a client can read newer or foreign servers."""

    model_config = ConfigDict(extra="allow")


class Block(_Wire):
    id: str
    label: str
    value: str
    limit: int = 5000
    description: str | None = None
    read_only: bool = False


class Memory(_Wire):
    blocks: list[Block] = Field(default_factory=list)


class LLMConfig(_Wire):
    handle: str | None = None
    model: str
    model_endpoint_type: str = "openai"
    model_endpoint: str | None = None
    context_window: int = 8192


class Agent(_Wire):
    id: str
    name: str
    model: str | None = None
    embedding: str | None = None
    system: str = ""
    agent_type: str = "letta_v1_agent"
    blocks: list[Block] = Field(default_factory=list)
    memory: Memory = Field(default_factory=Memory)
    llm_config: LLMConfig | None = None
    tools: list[Any] = Field(default_factory=list)
    tool_rules: list[Any] = Field(default_factory=list)
    sources: list[Any] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    description: str | None = None
    message_ids: list[str] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None


# The largest block ``limit`` accepted: a block goes into every prompt and every agent listing,
# so an unbounded one would let a single edit stall the server (issue 8).
MAX_BLOCK_LIMIT = 1_000_000


class BlockCreate(_Request):
    label: str = Field(min_length=1, max_length=100)
    value: str = ""
    limit: int = Field(default=5000, ge=1, le=MAX_BLOCK_LIMIT)
    description: str | None = None
    read_only: bool = False


class AgentCreate(_Request):
    name: str | None = Field(default=None, max_length=200)
    model: str | None = None
    embedding: str | None = None
    system: str | None = None
    agent_type: str | None = None
    memory_blocks: list[BlockCreate] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    description: str | None = Field(default=None, max_length=10000)
    tools: list[str] | None = None
    tool_ids: list[str] | None = None
    include_base_tools: bool = True
    block_ids: list[str] | None = None
    enable_sleeptime: bool | None = None
    compaction_settings: "CompactionSettings | None" = None
    # Only ``{"tool_name", "type": "requires_approval"}`` rules are honoured; others are refused.
    tool_rules: list[Any] | None = None
    # Letta fields this server cannot honour: refused when they would change behaviour.
    initial_message_sequence: list[Any] | None = None
    message_buffer_autoclear: bool | None = None
    source_ids: list[str] | None = None
    folder_ids: list[str] | None = None


class AgentUpdate(_Request):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    model: str | None = None
    system: str | None = None
    tags: list[str] | None = None
    description: str | None = Field(default=None, max_length=10000)
    compaction_settings: "CompactionSettings | None" = None
    # The agent's whole set of tools or blocks, replacing the current one (as in Letta).
    tool_ids: list[str] | None = None
    block_ids: list[str] | None = None


class BlockUpdate(_Request):
    value: str
    limit: int | None = Field(default=None, ge=1, le=MAX_BLOCK_LIMIT)
    description: str | None = None


class ModelInfo(_Wire):
    handle: str
    model: str
    provider: str
    context_window: int


class Conversation(_Wire):
    id: str
    agent_id: str
    summary: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    last_message_at: str | None = None
    in_context_message_ids: list[str] = Field(default_factory=list)


class ConversationCreate(_Request):
    summary: str | None = Field(default=None, max_length=2000)


class ConversationUpdate(_Request):
    summary: str = Field(max_length=2000)


class StreamRequest(_Request):
    run_id: str | None = None
    agent_id: str | None = None  # with the ``default`` conversation
    otid: str | None = None  # finds the run that stored the message with this otid
    starting_after: int = Field(default=0, ge=0)
    include_pings: bool = True


class CompactionSettings(_Request):
    """How to compact. Letta's ``self_compact_*`` modes (the agent's own model writes the
    summary) are what this server always does, so they are read as ``all``/``sliding_window``;
    a ``model`` that names no configured model (Letta Code sends ``letta/auto``) means the
    conversation's own model."""

    mode: Literal["sliding_window", "all", "self_compact_all", "self_compact_sliding_window"] = (
        "sliding_window"
    )
    sliding_window_percentage: float = Field(default=0.3, gt=0, lt=1)
    prompt: str | None = None
    model: str | None = None
    clip_chars: int | None = Field(default=None, ge=100)

    @field_validator("mode", mode="after")
    @classmethod
    def _plain_mode(cls, mode: str) -> str:
        return mode.removeprefix("self_compact_")


class CompactRequest(_Request):
    agent_id: str | None = None  # with the ``default`` conversation
    compaction_settings: CompactionSettings = Field(default_factory=CompactionSettings)


class SearchRequest(_Request):
    """``POST /v1/messages/search``; ``vector`` and ``hybrid`` fall back to full-text."""

    query: str = Field(max_length=2000)
    agent_id: str | None = None
    conversation_id: str | None = None
    limit: int = Field(default=50, ge=1, le=100)
    search_mode: Literal["vector", "fts", "hybrid"] = "hybrid"
    start_date: datetime | None = None
    end_date: datetime | None = None


class SearchResult(_Wire):
    message_id: str
    message_type: str
    content: str | None = None
    reasoning: str | None = None
    agent_id: str | None = None
    conversation_id: str | None = None
    created_at: str


class CompactResponse(_Wire):
    summary: str
    num_messages_before: int
    num_messages_after: int


RunStatus = Literal["created", "running", "completed", "failed", "cancelled"]


class Run(_Wire):
    id: str
    conversation_id: str | None = None
    agent_id: str | None = None
    status: RunStatus
    stop_reason: str | None = None
    created_at: str | None = None
    completed_at: str | None = None
    error: str | None = None


class ErrorBody(_Wire):
    detail: str
    code: str


class Health(_Wire):
    status: str
    version: str  # the Letta API version this server is compatible with
    server: str | None = None
    chinwag_version: str | None = None
