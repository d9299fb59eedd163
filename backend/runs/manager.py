"""Starts runs, drives their turns, finishes them, and lets clients attach or cancel.

A run is a server task: it outlives the HTTP request that started it, so a client that
disconnects loses nothing. Its end is always the same sequence: final chunks published, reply
stored, run row finished, lock released and chunk log persisted (one transaction), then the log
closed, which is what makes every reader write ``[DONE]``.

Several server processes may share one database file (two terminals, each with its bundled
server). The lock is a lease in the file; while a run lives, its process also writes the new
chunks there every ``run_poll_seconds`` and looks for a cancel asked by another process, so any
process can attach to any run and cancel it.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from backend import compaction
from backend.agent import memory
from backend.agent.context import compile_system, fits
from backend.agent.prompt_cache import PromptCache
from backend.agent.turn import CANCELLED, MakeRoom, Outcome, Resolution, Turn
from backend.compaction import Compaction
from backend.errors import (
    ApprovalPending,
    ContextWindowExceeded,
    InvalidArgument,
    LLMNotConfigured,
    ModelFailed,
    NoActiveRun,
    NoActiveRunToAttach,
    NotFound,
    NothingToCompact,
    OtidConflict,
    ShuttingDown,
)
from backend.llm import (
    LLMError,
    LLMNotConfiguredError,
    ProviderRegistry,
    ResolvedModel,
    UnknownProviderError,
    estimate_tokens,
)
from backend.llm.prompt import Prompt
from backend.runs.lock import LockLeases, fail_orphaned_runs
from backend.runs.stream import ChunkLog, answer_of
from backend.settings import Settings
from backend.store import NewMessage, Store
from backend.store.approvals import ApprovalStore, WaitingCall
from backend.store.db import Tx, dumps, now_iso
from backend.store.messages import (
    MessageStore,
    context_changed,
    conversation_pos,
)
from backend.tools import Toolbox, ToolContext
from shared_schema import (
    ApprovalReturn,
    ClientTool,
    CompactionSettings,
    MessageCreate,
    ToolReturnInput,
    new_id,
)

log = logging.getLogger("chinwag.runs")

CHUNK_RETENTION = timedelta(hours=2)
SWEEP_SECONDS = 10.0
MAX_AUTOMATIC_COMPACTIONS = 4
CANCEL_WAIT_SECONDS = 30.0
LIVE = ("created", "running")  # run statuses before its end


@dataclass
class ActiveRun:
    id: str
    conversation_id: str
    agent_id: str
    log: ChunkLog
    input_ids: list[str]
    resolutions: list[Resolution] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    finishing: bool = False
    persisted: int = 0  # chunks already in the database


@dataclass
class SendOptions:
    stream_tokens: bool = False
    max_steps: int = 10
    client_tools: list[ClientTool] = field(default_factory=list)


Answer = ApprovalReturn | ToolReturnInput


@dataclass
class _Prepared:
    agent: dict[str, Any]
    model: ResolvedModel
    system: str
    conversation: Any
    inputs: list[NewMessage] = field(default_factory=list)


class RunManager:
    def __init__(self, store: Store, registry: ProviderRegistry, settings: Settings) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings
        self.leases = LockLeases(store.db, settings.lock_lease_seconds)
        self.active: dict[str, ActiveRun] = {}
        self.prompts = PromptCache(store.messages)
        self._sweeper: asyncio.Task[None] | None = None
        self.stopping = False

    # --- lifecycle -----------------------------------------------------------------------

    async def start_up(self) -> None:
        failed = await fail_orphaned_runs(self.store.db)
        if failed:
            log.warning("marked %d run(s) of a stopped server as failed", failed)
        self._sweeper = asyncio.create_task(self._sweep())

    async def stop(self, timeout: float = 10.0) -> None:
        """The server is stopping: refuse new runs, and cancel the running ones so that each
        stream ends with ``stop_reason`` and ``[DONE]`` and each partial reply is stored."""
        self.stopping = True
        tasks = [run.task for run in self.active.values() if run.task]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def shut_down(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        await self.stop()

    async def _sweep(self) -> None:
        """Fail runs whose holder died (any process) and forget old chunk logs."""
        pruned_until = ""  # the first sweep after a start looks at every ended run once
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await fail_orphaned_runs(self.store.db)
                cutoff = (datetime.now(UTC) - CHUNK_RETENTION).isoformat()
                await self.store.runs.prune_chunks(pruned_until, cutoff)
                pruned_until = cutoff
            except Exception:
                log.exception("housekeeping failed; will retry")

    # --- starting a run ------------------------------------------------------------------

    def _model(self, handle: str) -> ResolvedModel:
        try:
            return self.registry.ensure_configured(handle)
        except LLMNotConfiguredError as exc:
            raise LLMNotConfigured(str(exc), setting=exc.setting) from None
        except UnknownProviderError as exc:
            raise InvalidArgument(f"The model {handle!r} cannot be used: {exc}") from None

    async def _prepare(self, conversation_id: str, inputs: list[MessageCreate]) -> _Prepared:
        """Everything that can refuse a send, checked before anything is stored."""
        conversation = await self.store.conversations.row(conversation_id)
        agent = await self.store.agents.get(conversation["agent_id"])
        model = self._model(agent["model"])
        system = compile_system(agent)
        chat = [{"role": "system", "content": system}]
        chat += [{"role": m.role, "content": m.text} for m in inputs]
        needed = estimate_tokens(chat)
        if needed > model.context_window:
            raise ContextWindowExceeded(
                f"This message needs about {needed} tokens with the system prompt, more than the "
                f"{model.context_window}-token context window of {model.handle}. Shorten it."
            )
        return _Prepared(agent, model, system, conversation, _news(inputs))

    async def sent_before(self, conversation_id: str, inputs: list[MessageCreate]) -> Any | None:
        """The row of the run that stored ``inputs`` already, found by their otids (None when
        they are new); 409 if an otid was used for another message."""
        with_otid = [m.otid for m in inputs if m.otid]
        if not with_otid:
            return None
        rows = await self.store.messages.find_otids(conversation_id, with_otid)
        sent = [_Sent(_message_type(m), m.text, m.otid) for m in inputs]
        return rows[0] if _sent_before(sent, rows) is not None else None  # rows carry the run

    async def send(
        self,
        conversation_id: str,
        inputs: list[MessageCreate],
        options: SendOptions,
        answers: list[Answer] | None = None,
    ) -> tuple[str, AsyncIterator[dict[str, Any] | None]]:
        """The id and chunks of a new run for ``inputs``; or, when a concurrent send stored
        them first (see :meth:`sent_before`), of that run."""
        try:
            run = await self.start(conversation_id, inputs, options, answers)
        except _SentBefore as again:
            return again.run_id, await self.attach(conversation_id, again.run_id, 0)
        return run.id, run.log.follow(0, wait=self.settings.keepalive_seconds)

    async def run_of_otid(self, conversation_id: str, otid: str) -> str:
        """The run of this conversation that stored the message with ``otid`` (404 if none)."""
        rows = await self.store.messages.find_otids(conversation_id, [otid])
        if not rows:
            raise NotFound(f"No message with otid {otid} was sent in this conversation.")
        return rows[0]["run_id"]

    async def start(
        self,
        conversation_id: str,
        inputs: list[MessageCreate],
        options: SendOptions,
        answers: list[Answer] | None = None,
    ) -> ActiveRun:
        """Lock the conversation, store the input and start the turn.

        409 if it is busy, or if a tool call waits for an answer and this send is not one;
        400 for an answer that does not match the waiting calls. ``answers`` (approvals,
        denials, client tool results) resume the turn that stopped for them.
        """
        if self.stopping:
            raise ShuttingDown("The server is shutting down; send this again once it is back.")
        prepared = await self._prepare(conversation_id, inputs)
        run_id = new_id("run")
        for message in prepared.inputs:
            message.run_id = run_id

        async def store_inputs(tx: Tx) -> list[Resolution]:
            with_otid = [m.otid for m in prepared.inputs if m.otid]
            if with_otid:
                rows = await MessageStore.sent_with_otids(tx, conversation_id, with_otid)
                known = _sent_before(prepared.inputs, rows)
                if known is not None:
                    raise _SentBefore(known)
            await self.leases.acquire(tx, conversation_id, run_id)
            waiting = await ApprovalStore.pending_in(tx, conversation_id)
            if waiting and not answers:
                raise ApprovalPending(waiting[0].message_id)
            resolutions = await _resolve(tx, conversation_id, waiting, answers or [])
            await self.store.runs.create(tx, run_id, conversation_id, prepared.agent["id"])
            async with tx.execute(
                "SELECT 1 FROM conversation_messages"
                f" WHERE conversation_pos = {conversation_pos('?')} LIMIT 1",
                (conversation_id,),
            ) as cur:
                first_send = await cur.fetchone() is None
            stored = list(prepared.inputs)
            if resolutions:
                stored.insert(0, _approval_message(run_id, resolutions))
                await ApprovalStore.settle_in(
                    tx, conversation_id, {r.call.tool_call_id: _state(r) for r in resolutions}
                )
            if first_send:
                stored.insert(0, NewMessage("system_message", prepared.system))
            elif await memory.stale(self.store, prepared.conversation):
                await memory.recompile_in(self.store, tx, conversation_id, prepared.agent)
            await self.store.messages.append(tx, conversation_id, stored)
            if first_send:
                await memory.mark_seen(self.store, tx, conversation_id)
            return resolutions

        resolutions = await self.store.db.batched(store_inputs)
        run = ActiveRun(
            run_id,
            conversation_id,
            prepared.agent["id"],
            ChunkLog(run_id),
            [m.id for m in prepared.inputs],
            resolutions,
        )
        self.active[run_id] = run
        await run.log.publish(
            {"message_type": "ping", "id": new_id("ping"), "date": now_iso(), "run_id": run_id}
        )
        run.task = asyncio.create_task(
            self._drive(run, prepared.agent, prepared.model, options), name=f"run {run_id}"
        )
        return run

    # --- driving and finishing -----------------------------------------------------------

    async def _drive(
        self,
        run: ActiveRun,
        agent: dict[str, Any],
        model: ResolvedModel,
        options: SendOptions,
    ) -> None:
        renewer = asyncio.create_task(self._renew(run.conversation_id, run.id))
        stop_sharing = asyncio.Event()
        sharer = asyncio.create_task(self._share(run, stop_sharing))
        turn: Turn | None = None
        try:
            toolbox = Toolbox(agent["tools"], options.client_tools)

            async def checkpoint(messages: list[NewMessage]) -> None:
                if messages:
                    await self.store.db.batched(
                        lambda tx: self.store.messages.append(tx, run.conversation_id, messages)
                    )

            turn = Turn(
                log=run.log,
                model=model,
                toolbox=toolbox,
                tool_context=ToolContext(self.store, agent["id"], run.conversation_id, run.id),
                load_context=lambda: self.prompts.load(run.conversation_id),
                checkpoint=lambda messages: asyncio.shield(checkpoint(messages)),
                stream_tokens=options.stream_tokens,
                max_steps=options.max_steps,
                make_room=self._make_room(
                    run,
                    model,
                    toolbox.offered(),
                    compaction.effective_settings(agent.get("compaction_settings")),
                ),
                resolutions=run.resolutions,
            )
            outcome = await turn.execute()
        except asyncio.CancelledError:
            outcome = turn.cancelled() if turn else Outcome("cancelled", "cancelled", [], {})
        except Exception as exc:
            log.exception("run %s failed unexpectedly", run.id)
            outcome = turn.failed(exc) if turn else Outcome("failed", "error", [], {}, exc)
        finally:
            renewer.cancel()
            stop_sharing.set()
            await sharer
        run.finishing = True
        await asyncio.shield(self._finish(run, outcome))

    async def _renew(self, conversation_id: str, run_id: str) -> None:
        """Keep the conversation's lock while a run (or a compaction) outlasts the lease."""
        while True:
            await asyncio.sleep(self.settings.lock_lease_seconds / 3)
            try:
                await self.leases.renew(conversation_id, run_id)
            except Exception:
                log.exception("could not renew the lock of run %s", run_id)

    async def _share(self, run: ActiveRun, stop: asyncio.Event) -> None:
        """Until ``stop``: write the run's new chunks for other server processes, and cancel the
        run when one of them asks."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.run_poll_seconds)
            if stop.is_set():
                return
            try:
                await self._persist_chunks(run)
                if await self.store.runs.cancel_requested(run.id) and run.task is not None:
                    run.task.cancel()  # once: the run's end writes the chunks left
                    return
            except Exception:
                log.exception("could not share the chunks of run %s", run.id)

    async def _persist_chunks(self, run: ActiveRun) -> None:
        new = run.log.chunks[run.persisted :]
        if new:
            await self.store.db.batched(lambda tx: self.store.runs.add_chunks(tx, run.id, new))
            run.persisted += len(new)

    async def _finish(self, run: ActiveRun, outcome: Outcome) -> None:
        try:
            await run.log.publish(
                {"message_type": "stop_reason", "stop_reason": outcome.stop_reason}
            )
            await run.log.publish(
                {
                    "message_type": "usage_statistics",
                    **{
                        k: outcome.usage.get(k, 0)
                        for k in (
                            "prompt_tokens",
                            "completion_tokens",
                            "total_tokens",
                            "step_count",
                            "context_tokens",
                        )
                    },
                }
            )
            if outcome.error is not None:
                await run.log.publish(_error_chunk(run.id, outcome.error), frame="error")
            await self._store_outcome(run, outcome)
        except Exception:
            log.exception("could not store the end of run %s", run.id)
            with contextlib.suppress(Exception):
                await self.leases.release(run.conversation_id, run.id)
        finally:
            await run.log.close()
            self.active.pop(run.id, None)

    async def _store_outcome(self, run: ActiveRun, outcome: Outcome) -> None:
        answer = dumps(answer_of(run.log.chunks))
        await self.store.db.batched(lambda tx: self._store_outcome_in(tx, run, outcome, answer))

    async def _store_outcome_in(
        self, tx: Tx, run: ActiveRun, outcome: Outcome, answer: str
    ) -> None:
        if outcome.messages:
            await self.store.messages.append(tx, run.conversation_id, outcome.messages)
        if outcome.waiting:
            await ApprovalStore.add_in(tx, run.conversation_id, outcome.waiting)
        if outcome.error is not None and run.input_ids:
            marks = ",".join("?" * len(run.input_ids))
            await tx.execute(
                f"UPDATE messages SET is_err = 1 WHERE id IN ({marks})", tuple(run.input_ids)
            )
            if outcome.input_left_context:
                # By key: the inputs are listed where they were sent, at their origin_ord.
                await tx.execute(
                    "UPDATE conversation_messages SET in_context = 0"
                    f" WHERE conversation_pos = {conversation_pos('?')} AND ord IN"
                    f" (SELECT origin_ord FROM messages WHERE id IN ({marks}))",
                    (run.conversation_id, *run.input_ids),
                )
                await context_changed(tx, run.conversation_id)
        await self.store.runs.finish(
            tx,
            run.id,
            status=outcome.status,
            stop_reason=outcome.stop_reason,
            error=str(outcome.error) if outcome.error else None,
            usage=outcome.usage,
            chunks=run.log.chunks[run.persisted :],
            answer=answer,
        )
        await self.leases.release_in(tx, run.conversation_id, run.id)

    # --- compaction ----------------------------------------------------------------------

    def _summarizer(self, requested: str | None, own: str) -> ResolvedModel:
        """The model named for a compaction, or the conversation's own when the name is no
        configured model (Letta Code asks for ``letta/auto``)."""
        if requested:
            try:
                return self.registry.ensure_configured(requested)
            except (LLMNotConfiguredError, UnknownProviderError):
                log.info("compaction model %r is not configured; using %s", requested, own)
        return self._model(own)

    async def compact(self, conversation_id: str, settings: CompactionSettings) -> Compaction:
        """Compact on request: under the conversation's lock, recorded as a short run."""
        conversation = await self.store.conversations.row(conversation_id)
        agent = await self.store.agents.get(conversation["agent_id"])
        model = self._summarizer(settings.model, agent["model"])
        run_id = new_id("run")
        async with self.store.db.transaction() as tx:
            await self.leases.acquire(tx, conversation_id, run_id)
            waiting = await ApprovalStore.pending_in(tx, conversation_id)
            if waiting:  # summarizing the call would leave its answer with nothing to answer
                raise ApprovalPending(waiting[0].message_id)
            await self.store.runs.create(tx, run_id, conversation_id, agent["id"])
        # A summary of a long history can take the model longer than a lease lasts.
        renewer = asyncio.create_task(self._renew(conversation_id, run_id))
        try:
            result = await compaction.compact(self.store, conversation_id, model, settings)
        except BaseException as exc:
            renewer.cancel()
            async with self.store.db.transaction() as tx:
                await tx.execute("DELETE FROM runs WHERE id = ?", (run_id,))
                await self.leases.release_in(tx, conversation_id, run_id)
            if isinstance(exc, LLMError):
                raise ModelFailed(
                    f"The model could not write the summary: {exc}", error_type=exc.error_type
                ) from None
            raise
        renewer.cancel()
        async with self.store.db.transaction() as tx:
            await self.store.runs.finish(
                tx,
                run_id,
                status="completed",
                stop_reason="compaction",
                error=None,
                usage={},
                chunks=[],
            )
            await memory.recompile_in(self.store, tx, conversation_id, agent)
            await self.leases.release_in(tx, conversation_id, run_id)
        return result

    async def reset(self, conversation_id: str) -> None:
        """Forget a conversation's messages (Letta's reset-messages); the next send compiles a
        new system message. Refused with 409 while a run holds the conversation."""
        holder = new_id("run")
        async with self.store.db.transaction(bulk=True) as tx:
            await self.leases.acquire(tx, conversation_id, holder)
            # Messages no other conversation lists go with their rows (store.schema).
            await tx.execute(
                "DELETE FROM conversation_messages"
                f" WHERE conversation_pos = {conversation_pos('?')}",
                (conversation_id,),
            )
            await tx.execute(
                "UPDATE conversations SET context_from = 0 WHERE id = ?", (conversation_id,)
            )
            await context_changed(tx, conversation_id)
            await tx.execute(
                "DELETE FROM tool_approvals WHERE conversation_id = ?", (conversation_id,)
            )
            await self.leases.release_in(tx, conversation_id, holder)

    def _make_room(
        self,
        run: ActiveRun,
        model: ResolvedModel,
        tools: list[dict[str, Any]],
        settings: CompactionSettings,
    ) -> MakeRoom:
        """Automatic compaction for a turn whose context does not fit (the run holds the lock)."""

        async def make_room(reported: bool) -> Prompt | None:
            compacted = False
            context = await self.prompts.load(run.conversation_id)
            if not reported and not fits(Prompt.of(context.messages[:1]), model, tools):
                return None  # the system message and tools alone overflow: compacting won't help
            for _ in range(MAX_AUTOMATIC_COMPACTIONS):
                if not reported and fits(context, model, tools):
                    break
                try:
                    result = await compaction.compact(
                        self.store, run.conversation_id, model, settings
                    )
                except NothingToCompact:
                    break
                compacted, reported = True, False
                await run.log.publish(
                    {
                        "id": new_id("message"),
                        "date": now_iso(),
                        "message_type": "event_message",
                        "role": "event",
                        "run_id": run.id,
                        "event_type": "compaction",
                        "event_data": {
                            "num_messages_before": result.num_messages_before,
                            "num_messages_after": result.num_messages_after,
                        },
                    }
                )
                context = await self.prompts.load(run.conversation_id)
            if compacted:  # compaction rebuilds the context, so the system message is renewed
                agent = await self.store.agents.get(run.agent_id)
                async with self.store.db.transaction() as tx:
                    await memory.recompile_in(self.store, tx, run.conversation_id, agent)
                context = await self.prompts.load(run.conversation_id)
            return context if compacted else None

        return make_room

    # --- attach and cancel ---------------------------------------------------------------

    def _active_in(self, conversation_id: str) -> ActiveRun | None:
        return next((r for r in self.active.values() if r.conversation_id == conversation_id), None)

    async def _elsewhere(self, conversation_id: str) -> str | None:
        """The run that another server process is driving in this conversation, if any."""
        run_id = await self.leases.active_run(conversation_id)
        if run_id is None or run_id in self.active:
            return None
        return run_id if await self.store.runs.status(run_id) in LIVE else None

    async def cancel(self, conversation_id: str) -> str:
        """Cancel the conversation's active run and wait until it has finished; its id."""
        await self.store.conversations.row(conversation_id)
        run = self._active_in(conversation_id)
        if run is not None and not run.finishing and run.task is not None:
            run.task.cancel()
            await asyncio.wait([run.task], timeout=CANCEL_WAIT_SECONDS)
            return run.id
        run_id = None if run is not None else await self._elsewhere(conversation_id)
        if run_id is None and run is None:
            run_id = await self._cancel_waiting(conversation_id)
            if run_id is not None:
                return run_id
        if run_id is None:
            raise NoActiveRun("No active run to cancel in this conversation.")
        await self.store.runs.request_cancel(run_id)
        status = await self._ended(run_id)
        if status != "cancelled":
            raise NoActiveRun(
                f"Run {run_id} could not be cancelled: it ended as {status}."
                if status
                else f"The server process running {run_id} did not answer the cancel request."
            )
        return run_id

    async def delete(
        self, conversation_ids: list[str], delete: Callable[[], Awaitable[None]]
    ) -> None:
        """Run ``delete`` (of these conversations, or of their agent) once their runs ended.

        A run is cancelled first, so it ends once, cleanly (its partial reply stored, its
        stream closed), instead of writing into rows that are gone. Holding the conversations'
        locks while deleting makes a send that arrives meanwhile a 409, not a half-made run.
        """
        await self._end_runs(set(conversation_ids))
        holder = new_id("run")
        async with self.store.db.transaction() as tx:
            for conversation_id in conversation_ids:
                await self.leases.acquire(tx, conversation_id, holder)
        try:
            await delete()
        except BaseException:
            async with self.store.db.transaction() as tx:
                for conversation_id in conversation_ids:
                    await self.leases.release_in(tx, conversation_id, holder)
            raise

    async def _end_runs(self, conversation_ids: set[str]) -> None:
        tasks = []
        for run in list(self.active.values()):
            if run.conversation_id in conversation_ids and run.task is not None:
                if not run.finishing:
                    run.task.cancel()
                tasks.append(run.task)
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_WAIT_SECONDS)
        for conversation_id in conversation_ids:
            run_id = await self._elsewhere(conversation_id)
            if run_id is not None:
                await self.store.runs.request_cancel(run_id)
                await self._ended(run_id)

    async def _cancel_waiting(self, conversation_id: str) -> str | None:
        """Cancel a run stopped for approval: its waiting calls are denied, as in Letta, so the
        context stays whole and the next send works. The run's id, or None if none waits."""
        holder = new_id("run")
        async with self.store.db.transaction() as tx:
            await self.leases.acquire(tx, conversation_id, holder)  # 409 if a run is live
            waiting = await ApprovalStore.pending_in(tx, conversation_id)
            if waiting:
                run_id = waiting[0].run_id
                await ApprovalStore.settle_in(
                    tx, conversation_id, {c.tool_call_id: "cancelled" for c in waiting}
                )
                returns = [
                    NewMessage(
                        "tool_return_message",
                        CANCELLED,
                        run_id=run_id,
                        extra={"status": "error", "tool_call_id": c.tool_call_id, "name": c.name},
                    )
                    for c in waiting
                ]
                await self.store.messages.append(tx, conversation_id, returns)
                await tx.execute(
                    "UPDATE runs SET status = 'cancelled', stop_reason = 'cancelled' WHERE id = ?",
                    (run_id,),
                )
            await self.leases.release_in(tx, conversation_id, holder)
        return waiting[0].run_id if waiting else None

    async def _ended(self, run_id: str) -> str | None:
        """Wait (bounded) until a run driven elsewhere has ended; its final status."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CANCEL_WAIT_SECONDS
        while loop.time() < deadline:
            status = await self.store.runs.status(run_id)
            if status not in LIVE:
                return status or "deleted"
            await asyncio.sleep(self.settings.run_poll_seconds)
        return None

    async def attach(
        self, conversation_id: str, run_id: str | None, starting_after: int
    ) -> AsyncIterator[dict[str, Any] | None]:
        """The run's chunks after ``starting_after``: replayed, then live until the end."""
        await self.store.conversations.row(conversation_id)
        wait = self.settings.keepalive_seconds
        if run_id is None:
            run = self._active_in(conversation_id)
            if run is not None:
                return run.log.follow(starting_after, wait=wait)
            elsewhere = await self._elsewhere(conversation_id)
            if elsewhere is None:
                raise NoActiveRunToAttach("No active runs found for this conversation.")
            return self._tail(elsewhere, starting_after)
        row = await self.store.runs.get(run_id)
        if row["conversation_id"] != conversation_id:
            raise NotFound(f"Run {run_id} is not a run of conversation {conversation_id}.")
        return await self.follow(row, starting_after)

    async def follow(self, row: Any, starting_after: int) -> AsyncIterator[dict[str, Any] | None]:
        """The chunks of the run whose row is ``row``, after ``starting_after``."""
        run_id = row["id"]
        active = self.active.get(run_id)
        if active is not None:
            return active.log.follow(starting_after, wait=self.settings.keepalive_seconds)
        if row["status"] in LIVE:
            return self._tail(run_id, starting_after)
        chunks = await self.store.runs.chunks_after(run_id, starting_after)
        if not chunks and starting_after == 0:
            chunks = await self._retold(row)
        return _replay(chunks)

    async def _retold(self, run: Any) -> list[dict[str, Any]]:
        """An ended run's chunks rebuilt from what it stored, once its chunk log was pruned."""
        stored = await self.store.messages.by_run(run["conversation_id"], run["id"])
        usage = json.loads(run["usage"]) if run["usage"] else {}
        chunks = [m for m in stored if m["message_type"] not in ("user_message", "system_message")]
        chunks.append({"message_type": "stop_reason", "stop_reason": run["stop_reason"]})
        chunks.append({"message_type": "usage_statistics", **usage})
        return [{**c, "seq_id": i} for i, c in enumerate(chunks, start=1)]

    async def _tail(self, run_id: str, starting_after: int) -> AsyncIterator[dict[str, Any] | None]:
        """Follow a run driven by another server process through the chunks it writes; yields
        ``None`` for a keep-alive when nothing came for ``keepalive_seconds``."""
        position, quiet = starting_after, 0.0
        interval = self.settings.run_poll_seconds
        while True:
            # The status first: a run writes its last chunks and ends in one transaction.
            ended = await self.store.runs.status(run_id) not in LIVE
            chunks = await self.store.runs.chunks_after(run_id, position)
            for chunk in chunks:
                yield chunk
            if chunks:
                position, quiet = chunks[-1]["seq_id"], 0.0
            if ended:
                return
            await asyncio.sleep(interval)
            quiet += interval
            if quiet >= self.settings.keepalive_seconds:
                quiet = 0.0
                yield None


async def _resolve(
    tx: Any, conversation_id: str, waiting: list[WaitingCall], answers: list[Answer]
) -> list[Resolution]:
    """Match answers to the waiting calls: each answered exactly once, nothing else (400)."""
    if not answers:
        return []
    by_id = {c.tool_call_id: c for c in waiting}
    by_message = {c.message_id: c for c in waiting}  # Letta's older form names the message
    for answer in answers:
        if answer.tool_call_id not in by_id and answer.tool_call_id in by_message:
            answer.tool_call_id = by_message[answer.tool_call_id].tool_call_id
    ids = [a.tool_call_id for a in answers]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise InvalidArgument(f"Tool call {repeated[0]} is answered more than once.")
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        known = await ApprovalStore.find_in(tx, conversation_id, unknown)
        call = known.get(unknown[0])
        if call is not None and call.state == "cancelled":
            raise InvalidArgument(
                f"Tool call {call.tool_call_id} belongs to run {call.run_id}, which was "
                "cancelled; its answer was not stored."
            )
        if call is not None:
            raise InvalidArgument(f"Tool call {call.tool_call_id} was already answered.")
        if not waiting:
            raise InvalidArgument(
                "No tool call is waiting for approval in this conversation; send an ordinary "
                "message instead."
            )
        raise InvalidArgument(
            f"Tool call {unknown[0]} is not waiting for an answer in this conversation. "
            f"Waiting: {', '.join(by_id)}."
        )
    missing = [i for i in by_id if i not in ids]
    if missing:
        raise InvalidArgument(
            f"Answer every waiting tool call in one send: {', '.join(missing)} has no answer."
        )
    for answer in answers:
        call = by_id[answer.tool_call_id]
        if call.client and isinstance(answer, ApprovalReturn) and answer.approve:
            raise InvalidArgument(
                f"Tool call {call.tool_call_id} is to the client tool {call.name!r}, which only "
                "the client can run: answer with its result (type 'tool'), or deny it."
            )
    order = {c.tool_call_id: i for i, c in enumerate(waiting)}
    return sorted(
        (Resolution(by_id[a.tool_call_id], a) for a in answers),
        key=lambda r: order[r.call.tool_call_id],
    )


def _state(resolution: Resolution) -> str:
    answer = resolution.answer
    if isinstance(answer, ToolReturnInput):
        return "returned"
    return "approved" if answer.approve else "denied"


def _approval_message(run_id: str, resolutions: list[Resolution]) -> NewMessage:
    """The stored answer (``approval_response_message``), in Letta's fields."""
    approvals = [r.answer.model_dump(mode="json") for r in resolutions]
    first = next((r.answer for r in resolutions if isinstance(r.answer, ApprovalReturn)), None)
    return NewMessage(
        "approval_response_message",
        run_id=run_id,
        extra={
            "approvals": approvals,
            "approve": first.approve if first else None,
            "approval_request_id": first.tool_call_id if first else None,
            "reason": first.reason if first else None,
        },
    )


def _message_type(message: MessageCreate) -> str:
    return "system_message" if message.role == "system" else "user_message"


class _Sent(NamedTuple):
    """What identifies a sent message to its retry (a :class:`NewMessage` has these too)."""

    message_type: str
    content: str
    otid: str | None


class _SentBefore(Exception):
    """Raised inside the storing transaction: another request stored these messages first."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


def _sent_before(news: Sequence[_Sent | NewMessage], rows: list[Any]) -> str | None:
    """The run that already stored these messages, given the stored rows with their otids;
    409 if an otid was used for another message, or if only some of them were stored."""
    if not rows:
        return None
    stored = {r["otid"]: r for r in rows}
    run_ids = {r["run_id"] for r in rows}
    for message in (m for m in news if m.otid):
        row = stored.get(message.otid)
        if row is None or len(run_ids) > 1:
            raise OtidConflict(
                "Some of these messages were sent before (in "
                f"{', '.join(sorted(run_ids))}) and some were not. Retry with exactly the "
                "messages and otids of the first attempt, or send new messages with new otids.",
                rows[0]["run_id"],
            )
        if (row["message_type"], row["content"]) != (message.message_type, message.content):
            raise OtidConflict(
                f"The otid {message.otid} was already used in this conversation for a "
                f"different message (run {row['run_id']}). A retry must send the same "
                "content; a new message needs a new otid.",
                row["run_id"],
            )
    return rows[0]["run_id"]


def _news(inputs: list[MessageCreate]) -> list[NewMessage]:
    """The messages a send stores for its inputs."""
    return [NewMessage(_message_type(m), m.text, otid=m.otid) for m in inputs]


async def _replay(chunks: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any] | None]:
    for chunk in chunks:
        yield chunk


def _error_chunk(run_id: str, error: Exception) -> dict[str, Any]:
    error_type = getattr(error, "error_type", "internal_error")
    message = str(error) if hasattr(error, "error_type") else "The server failed during this turn."
    return {
        "message_type": "error_message",
        "run_id": run_id,
        "error_type": error_type,
        "message": message,
        "detail": message,
    }
