"""One agent turn: call the model step by step, stream what it says, collect what to store.

The turn only talks to the model and to the run's chunk log. Storing the reply, finishing the run
and releasing the lock belong to the run driver (``backend.runs.manager``), which also asks the
turn for what it had produced so far when the run is cancelled.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from backend.agent.context import fits
from backend.llm import (
    Finish,
    LLMContextLengthError,
    LLMError,
    ReasoningDelta,
    ResolvedModel,
    TextDelta,
    ToolCall,
    Usage,
)
from backend.runs.stream import ChunkLog
from backend.store import NewMessage
from backend.store.db import dumps, now_iso
from shared_schema import new_id
from shared_schema.messages import ROLE_BY_TYPE

log = logging.getLogger("chinwag.turn")

MAX_OVERFLOW_RETRIES = 4

# Called when the context does not fit the model: returns a smaller context, or None if it
# could not make room. ``reported`` is True when the model itself rejected the context.
MakeRoom = Callable[[bool], Awaitable[list[dict[str, str]] | None]]


@dataclass
class Outcome:
    """How a turn ended and what it leaves behind."""

    status: str  # completed | failed | cancelled
    stop_reason: str
    messages: list[NewMessage]
    usage: dict[str, int]
    error: LLMError | Exception | None = None

    @property
    def input_left_context(self) -> bool:
        """A rejected context takes the failed input out of it, so the next turn works."""
        return isinstance(self.error, LLMContextLengthError)


@dataclass
class _Step:
    """What the current model call has produced so far (kept for a cancel mid-stream)."""

    reasoning_id: str = field(default_factory=lambda: new_id("message"))
    assistant_id: str = field(default_factory=lambda: new_id("message"))
    reasoning: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)


class Turn:
    def __init__(
        self,
        *,
        log: ChunkLog,
        model: ResolvedModel,
        context: list[dict[str, str]],
        stream_tokens: bool,
        max_steps: int,
        make_room: MakeRoom | None = None,
    ) -> None:
        self.log = log
        self.model = model
        self.context = context
        self.stream_tokens = stream_tokens
        self.max_steps = max_steps
        self.make_room = make_room
        self.done: list[NewMessage] = []
        self.step: _Step | None = None
        self.steps = 0
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

    def _chunk(self, message_id: str, message_type: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": message_id,
            "date": now_iso(),
            "message_type": message_type,
            "role": ROLE_BY_TYPE[message_type],
            "run_id": self.log.run_id,
            "otid": None,
            "is_err": None,
            **fields,
        }

    async def execute(self) -> Outcome:
        """Run the turn to its end; model failures become a failed outcome, never an exception."""
        try:
            if not fits(self.context, self.model):
                await self._shrink(reported=False)
            for _ in range(self.max_steps):
                tool_calls = await self._call_model_with_room()
                if not tool_calls:
                    return self._outcome("completed", "end_turn")
                self._answer_tool_calls(tool_calls)
            return self._outcome("completed", "max_steps")
        except LLMError as exc:
            log.info("run %s: model failed: %s", self.log.run_id, exc)
            return self.failed(exc, "llm_api_error")

    async def _shrink(self, *, reported: bool) -> None:
        smaller = await self.make_room(reported) if self.make_room else None
        if smaller is None:
            if reported:
                raise LLMContextLengthError()
            return
        self.context = smaller

    async def _call_model_with_room(self) -> list[ToolCall]:
        """Call the model; each time it rejects the context, compact and call again."""
        for _ in range(MAX_OVERFLOW_RETRIES):
            try:
                return await self._call_model()
            except LLMContextLengthError:
                if self.make_room is None or (
                    self.step and (self.step.text or self.step.reasoning)
                ):
                    raise
                await self._shrink(reported=True)
        return await self._call_model()

    async def _call_model(self) -> list[ToolCall]:
        """One model call; returns the tool calls it made (none ends the turn)."""
        self.step = step = _Step()
        self.steps += 1
        provider = self.model.provider
        async for event in provider.stream_chat(self.model.model_name, self.context):
            match event:
                case TextDelta(text=text):
                    step.text.append(text)
                    if self.stream_tokens:
                        await self.log.publish(
                            self._chunk(step.assistant_id, "assistant_message", content=text)
                        )
                case ReasoningDelta(text=text):
                    step.reasoning.append(text)
                    if self.stream_tokens:
                        await self.log.publish(
                            self._chunk(step.reasoning_id, "reasoning_message", reasoning=text)
                        )
                case ToolCall():
                    step.tool_calls.append(event)
                    await self.log.publish(self._tool_call_chunk(event))
                case Usage(prompt_tokens=prompt, completion_tokens=completion):
                    self.usage["prompt_tokens"] += prompt
                    self.usage["completion_tokens"] += completion
                    self.usage["total_tokens"] += prompt + completion
                case Finish():
                    pass
        if not self.stream_tokens:
            if step.reasoning:
                await self.log.publish(
                    self._chunk(
                        step.reasoning_id, "reasoning_message", reasoning="".join(step.reasoning)
                    )
                )
            if step.text:
                await self.log.publish(
                    self._chunk(step.assistant_id, "assistant_message", content="".join(step.text))
                )
        self.done += self._step_messages(step)
        self.step = None
        return step.tool_calls

    def _tool_call_chunk(self, call: ToolCall) -> dict[str, Any]:
        return self._chunk(
            new_id("message"),
            "tool_call_message",
            tool_call={"name": call.name, "arguments": call.arguments, "tool_call_id": call.id},
        )

    def _step_messages(self, step: _Step | None, *, failed: bool = False) -> list[NewMessage]:
        """The messages a step leaves; a failed step's fragment stays out of the context."""
        if step is None:
            return []
        run_id = self.log.run_id
        keep = {"run_id": run_id, "is_err": True if failed else None, "in_context": not failed}
        messages = []
        if step.reasoning:
            messages.append(
                NewMessage(
                    "reasoning_message", "".join(step.reasoning), id=step.reasoning_id, **keep
                )
            )
        messages += [
            NewMessage(
                "tool_call_message",
                extra={"name": c.name, "arguments": c.arguments, "tool_call_id": c.id},
                **keep,
            )
            for c in step.tool_calls
        ]
        if step.text:
            messages.append(
                NewMessage("assistant_message", "".join(step.text), id=step.assistant_id, **keep)
            )
        return messages

    def _answer_tool_calls(self, tool_calls: list[ToolCall]) -> None:
        """No tools are offered to the model; a call it makes anyway gets an error result."""
        for call in tool_calls:
            result = f"Tool {call.name!r} is not available to this agent."
            self.done.append(
                NewMessage(
                    "tool_return_message",
                    result,
                    run_id=self.log.run_id,
                    extra={"status": "error", "tool_call_id": call.id},
                )
            )
            self.context += [
                {"role": "assistant", "content": f"[tool call] {dumps({'name': call.name})}"},
                {"role": "user", "content": f"[tool result] {result}"},
            ]

    def _outcome(self, status: str, stop_reason: str) -> Outcome:
        return Outcome(status, stop_reason, self.done, self._usage())

    def _usage(self) -> dict[str, int]:
        return {**self.usage, "step_count": self.steps}

    def cancelled(self) -> Outcome:
        """What a cancelled turn keeps: finished steps plus the text of the interrupted one."""
        kept = self.done + self._step_messages(self.step)
        return Outcome("cancelled", "cancelled", kept, self._usage())

    def failed(self, error: Exception, stop_reason: str = "error") -> Outcome:
        """A failed turn keeps finished steps; the interrupted fragment is kept but marked."""
        kept = self.done + self._step_messages(self.step, failed=True)
        return Outcome("failed", stop_reason, kept, self._usage(), error)
