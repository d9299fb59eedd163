"""One agent turn: a loop of model steps and tool calls, streamed as it goes.

Each step calls the model with the context and the turn's tools. A step without tool calls ends
the turn (``end_turn``). A step with tool calls runs them, streams a ``tool_call_message`` and a
``tool_return_message`` for each, stores the step (call and return together, so neither exists
without the other) and calls the model again, up to ``max_steps``. A call that needs an answer
from outside (a tool that requires approval, or a client tool) ends the turn with
``requires_approval``; the answer starts the next turn, which resumes here with
:class:`Resolution`s before its first model call.

Finishing the run (storing the last step, releasing the lock) belongs to the run driver
(``backend.runs.manager``), which also asks the turn what it had produced when it is cancelled.
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
    ToolCallDelta,
    Usage,
)
from backend.llm.prompt import Prompt
from backend.runs.stream import ChunkLog
from backend.store import NewMessage
from backend.store.approvals import WaitingCall
from backend.store.db import now_iso
from backend.tools import Toolbox, ToolContext, ToolResult
from shared_schema import ApprovalReturn, ToolReturnInput, new_id
from shared_schema.messages import ROLE_BY_TYPE, text_of

log = logging.getLogger("chinwag.turn")

MAX_OVERFLOW_RETRIES = 4
DENIED = "Error: request to call tool denied. User reason: {reason}"
CANCELLED = "The user cancelled the request, so the tool call was denied."

Context = Prompt
# Called when the context does not fit the model: returns a smaller context, or None if it
# could not make room. ``reported`` is True when the model itself rejected the context.
MakeRoom = Callable[[bool], Awaitable[Context | None]]
LoadContext = Callable[[], Awaitable[Context]]
Checkpoint = Callable[[list[NewMessage]], Awaitable[None]]


@dataclass(frozen=True)
class Resolution:
    """A waiting call and the answer it got: approve, deny, or the client's result."""

    call: WaitingCall
    answer: ApprovalReturn | ToolReturnInput


@dataclass
class Outcome:
    """How a turn ended and what it leaves behind that is not stored yet."""

    status: str  # completed | failed | cancelled
    stop_reason: str
    messages: list[NewMessage]
    usage: dict[str, int]
    error: LLMError | Exception | None = None
    waiting: list[WaitingCall] = field(default_factory=list)

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
    call_ids: dict[int | str, str] = field(default_factory=dict)  # stream index or call id
    waiting: set[str] = field(default_factory=set)  # call ids that need an answer
    returns: list[NewMessage] = field(default_factory=list)

    def message_id(self, key: int | str) -> str:
        return self.call_ids.setdefault(key, new_id("message"))


class Turn:
    def __init__(
        self,
        *,
        log: ChunkLog,
        model: ResolvedModel,
        toolbox: Toolbox,
        tool_context: ToolContext,
        load_context: LoadContext,
        checkpoint: Checkpoint,
        stream_tokens: bool,
        max_steps: int,
        make_room: MakeRoom | None = None,
        resolutions: list[Resolution] | None = None,
    ) -> None:
        self.log = log
        self.model = model
        self.toolbox = toolbox
        self.tools = toolbox.offered()
        self.tool_context = tool_context
        self.load_context = load_context
        self.checkpoint = checkpoint
        self.stream_tokens = stream_tokens
        self.max_steps = max_steps
        self.make_room = make_room
        self.resolutions = resolutions or []
        self.context: Context = Prompt.of([])
        self.step: _Step | None = None
        self.steps = 0
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        self.context_tokens = 0

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
            if self.resolutions:
                await self._resume()
            self.context = await self.load_context()
            if not fits(self.context, self.model, self.tools):
                await self._shrink(reported=False)
            for _ in range(self.max_steps):
                calls = await self._call_model_with_room()
                if not calls:
                    return self._outcome("completed", "end_turn")
                waiting = await self._answer(calls)
                if waiting:
                    outcome = self._outcome("completed", "requires_approval")
                    outcome.waiting = waiting
                    return outcome
            return self._outcome("completed", "max_steps")
        except LLMError as exc:
            log.info("run %s: model failed: %s", self.log.run_id, exc)
            return self.failed(exc, "llm_api_error")

    # --- the model step ------------------------------------------------------------------

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
        # The context size Letta Code shows (/context): the model's count when it reports one.
        self.context_tokens = self.context.tokens
        provider = self.model.provider
        async for event in provider.stream_chat(
            self.model.model_name, self.context, tools=self.tools or None
        ):
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
                case ToolCallDelta():
                    if self.stream_tokens:
                        await self._publish_fragment(step, event)
                case ToolCall():
                    step.tool_calls.append(event)
                    if self.toolbox.needs_answer(event.name):
                        step.waiting.add(event.id)
                case Usage(prompt_tokens=prompt, completion_tokens=completion):
                    self.usage["prompt_tokens"] += prompt
                    self.usage["completion_tokens"] += completion
                    self.usage["total_tokens"] += prompt + completion
                    self.context_tokens = prompt or self.context_tokens
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
            for call in step.tool_calls:
                await self.log.publish(self._call_chunk(step, call))
        return step.tool_calls

    def _call_kind(self, name: str) -> str:
        return (
            "approval_request_message" if self.toolbox.needs_answer(name) else "tool_call_message"
        )

    async def _publish_fragment(self, step: _Step, delta: ToolCallDelta) -> None:
        """A piece of a call's arguments as it streams; its first piece names the tool."""
        first = delta.index not in step.call_ids
        message_id = step.message_id(delta.index)
        step.call_ids[delta.id] = message_id
        if not first and not delta.arguments:
            return
        call: dict[str, Any] = {"tool_call_id": delta.id, "arguments": delta.arguments}
        if first:
            call["name"] = delta.name
        # As Letta streams a fragment: ``tool_calls`` is the same delta object, not a list.
        kind = self._call_kind(delta.name)
        await self.log.publish(self._chunk(message_id, kind, tool_call=call, tool_calls=call))

    def _call_chunk(self, step: _Step, call: ToolCall) -> dict[str, Any]:
        wire = {"name": call.name, "arguments": call.arguments, "tool_call_id": call.id}
        return self._chunk(
            step.message_id(call.id), self._call_kind(call.name), tool_call=wire, tool_calls=[wire]
        )

    # --- answering tool calls ------------------------------------------------------------

    async def _answer(self, calls: list[ToolCall]) -> list[WaitingCall]:
        """Run the calls that need nobody; store the step unless some call must wait."""
        step = self.step
        assert step is not None
        for call in calls:
            if call.id not in step.waiting:
                result = await self.toolbox.run(self.tool_context, call)
                step.returns.append(await self._return(call.id, call.name, result))
        messages = self._step_messages(step)
        waiting = [
            WaitingCall(
                c.id,
                self.log.run_id,
                step.message_id(c.id),
                c.name,
                c.arguments,
                self.toolbox.is_client(c.name),
            )
            for c in calls
            if c.id in step.waiting
        ]
        if waiting:
            return waiting  # the step is stored with the run's end, with what it waits for
        self.step = None  # stored below, whatever happens to this task meanwhile
        await self.checkpoint(messages)
        self.context = await self.load_context()
        return []

    async def _return(
        self,
        call_id: str,
        name: str,
        result: ToolResult,
        *,
        stdout: list[str] | None = None,
        stderr: list[str] | None = None,
    ) -> NewMessage:
        """Stream a tool return and give back the message that stores it."""
        message = NewMessage(
            "tool_return_message",
            result.text,
            run_id=self.log.run_id,
            extra={
                "status": result.status,
                "tool_call_id": call_id,
                "name": name,
                "stdout": stdout,
                "stderr": stderr,
            },
        )
        await self.log.publish(
            self._chunk(
                message.id,
                "tool_return_message",
                tool_return=result.text,
                status=result.status,
                tool_call_id=call_id,
                name=name,
                stdout=stdout,
                stderr=stderr,
                tool_returns=[
                    {
                        "type": "tool",
                        "tool_call_id": call_id,
                        "status": result.status,
                        "tool_return": result.text,
                        "stdout": stdout,
                        "stderr": stderr,
                    }
                ],
            )
        )
        return message

    async def _resume(self) -> None:
        """Answer the calls the previous turn left waiting, before the first model call."""
        returns = []
        for resolution in self.resolutions:
            call, answer = resolution.call, resolution.answer
            if isinstance(answer, ToolReturnInput):
                result = ToolResult(answer.status == "success", text_of(answer.tool_return))
                returns.append(
                    await self._return(
                        call.tool_call_id,
                        call.name,
                        result,
                        stdout=answer.stdout,
                        stderr=answer.stderr,
                    )
                )
            elif answer.approve:
                result = await self.toolbox.run(
                    self.tool_context, ToolCall(call.tool_call_id, call.name, call.arguments)
                )
                returns.append(await self._return(call.tool_call_id, call.name, result))
            else:
                denied = ToolResult(False, DENIED.format(reason=answer.reason or "none given"))
                returns.append(await self._return(call.tool_call_id, call.name, denied))
        await self.checkpoint(returns)

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
        if step.text:
            messages.append(
                NewMessage("assistant_message", "".join(step.text), id=step.assistant_id, **keep)
            )
        for c in step.tool_calls:
            call = {"name": c.name, "arguments": c.arguments, "tool_call_id": c.id}
            messages.append(
                NewMessage(
                    self._call_kind(c.name),
                    extra=call,
                    id=step.message_id(c.id),
                    **keep,
                )
            )
        return messages + step.returns

    def _outcome(self, status: str, stop_reason: str) -> Outcome:
        messages = self._step_messages(self.step)
        self.step = None
        return Outcome(status, stop_reason, messages, self._usage())

    def _usage(self) -> dict[str, int]:
        return {**self.usage, "step_count": self.steps, "context_tokens": self.context_tokens}

    def _unfinished(self, *, failed: bool = False) -> list[NewMessage]:
        """The interrupted step: its calls that never got a return get one saying so."""
        step = self.step
        if step is None:
            return []
        answered = {m.extra["tool_call_id"] for m in step.returns if m.extra}
        step.returns += [
            NewMessage(
                "tool_return_message",
                CANCELLED,
                run_id=self.log.run_id,
                extra={"status": "error", "tool_call_id": call.id, "name": call.name},
            )
            for call in step.tool_calls
            if call.id not in answered
        ]
        return self._step_messages(step, failed=failed)

    def cancelled(self) -> Outcome:
        """What a cancelled turn keeps: finished steps plus what the interrupted one made."""
        return Outcome("cancelled", "cancelled", self._unfinished(), self._usage())

    def failed(self, error: Exception, stop_reason: str = "error") -> Outcome:
        """A failed turn keeps finished steps; the interrupted fragment is kept but marked."""
        return Outcome("failed", stop_reason, self._unfinished(failed=True), self._usage(), error)
