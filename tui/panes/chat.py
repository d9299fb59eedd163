"""The chat pane: the transcript, the busy banner and the composer, and every flow of them.

It owns opening a conversation, paging through its history, turns (send, stream, cancel,
attach) and the context figures of the status bar. It tells the rest of the app what changed
with typed messages (:class:`ChatPane.ConversationNamed`); the app routes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Markdown, Static, TextArea

from shared_schema import Conversation, ErrorMessage, PingMessage, StopReason, UsageStatistics
from tui.client import ApprovalAnswer, MessagePage, Reattached
from tui.drafts import DraftFile
from tui.errors import (
    ApprovalPending,
    ClientError,
    ConnectionFailed,
    ConversationBusy,
    NoActiveRun,
)
from tui.parts import Command, Part
from tui.tools import edited_label, is_memory_edit
from tui.widgets.composer import Composer
from tui.widgets.messages import MessageList, Turn
from tui.widgets.tools import ApprovalBlock, ToolCallBlock


class ChatPane(Part, Vertical):
    """Transcript over composer; ``esc`` cancels a reply, ``ctrl+o`` attaches to a busy one."""

    COMMANDS: ClassVar[list[Command]] = [
        Command("chat.cancel", "Cancel reply", "Stop the running reply; the text so far is kept"),
        Command(
            "chat.attach",
            "Attach to running reply",
            "Watch the reply that keeps this conversation busy",
        ),
        Command(
            "chat.toggle_compacted",
            "Toggle compacted history",
            "Show or hide messages left by compaction",
        ),
    ]

    class TurnEnded(Message):
        """A turn (or an open) left the conversation in a new state: it may wait for approval.

        ``turn`` is false after an open, where the focus stays where the reader keeps it."""

        def __init__(self, turn: bool) -> None:
            super().__init__()
            self.turn = turn

    class MemoryEdited(Message):
        """A memory tool returned during a turn: the memory panel shows the change."""

        def __init__(self, label: str | None) -> None:
            super().__init__()
            self.label = label

    class ConversationNamed(Message):
        """A turn started or named a conversation: the conversations list should show it."""

        def __init__(self, conversation: Conversation) -> None:
            super().__init__()
            self.conversation = conversation

    def __init__(self, *, window: int, cursor_blink: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.window = window
        self.cursor_blink = cursor_blink
        self._conversation: Conversation | None = None
        self._narrow = False
        self._mark = ""
        self.busy_run_id: str | None = None
        self.show_compacted = False
        self.usage: UsageStatistics | None = None
        # In-context messages of the open conversation: read once when it opens, then counted
        # from each turn (fetching every in-context id after each turn costs megabytes).
        self.context_count: int | None = None
        self._streaming = False
        # The open conversation's in-context ids, on servers whose listing does not say which
        # messages are in context (Letta): the default view keeps only those.
        self._context_ids: dict[str, int] | None = None  # id -> its place in the context
        self._draft_timer: Timer | None = None
        self._quitting = False

    def compose(self) -> Iterable[Widget]:
        yield Static(id="chat-header")
        yield MessageList(window=self.window, id="messages")
        yield Static(id="busy")
        yield Composer(cursor_blink=self.cursor_blink, id="composer")

    @property
    def conversation(self) -> Conversation | None:
        """The conversation shown (``None`` before the first message of a new one)."""
        return self._conversation

    @conversation.setter
    def conversation(self, conversation: Conversation | None) -> None:
        self._conversation = conversation
        self.update_header()

    def set_narrow(self, narrow: bool) -> None:
        """The side panes are collapsed: the header says how to bring them back."""
        self._narrow = narrow
        self.update_header()

    def set_mark(self, mark: str) -> None:
        """A transient mark at the head of the header ("loading older…", "new below")."""
        if mark != self._mark:
            self._mark = mark
            self.update_header()

    def update_header(self) -> None:
        """Name the agent, the conversation and the model above the transcript."""
        headers = self.query("#chat-header").results(Static)
        header = next(headers, None)
        if header is None:  # not composed yet, or already torn down at exit
            return
        agent = self.chinwag.agent
        text = Text(no_wrap=True, overflow="ellipsis")
        if self._mark:
            text.append(f"{self._mark}  ", style="bold reverse")
        if self._narrow:
            key = self.chinwag.key_of("app.toggle_panes", "ctrl+b")
            text.append(f"≡ {key}  ", style="dim")
        if agent is None:
            text.append("no agent", style="dim")
        else:
            text.append(agent.name or agent.id, style="bold")
            summary = self._conversation.summary if self._conversation else None
            text.append(f" · {summary or 'new conversation'}")
            text.append(f" · {agent.model or '?'}", style="dim")
        header.update(text)

    def on_mount(self) -> None:
        self.update_header()
        draft = self.drafts.read()
        if draft:
            self.composer.text = draft
            self.composer.move_cursor(self.composer.document.end)
            self.notify("Your unsent draft is back in the composer.", timeout=4)

    @property
    def drafts(self) -> DraftFile:
        return DraftFile(self.chinwag.settings.config.draft_path)

    def on_key(self, event: events.Key) -> None:
        # Typing while a message (or the transcript) has the focus is typing a message: it
        # goes to the composer, which takes the focus, instead of being dropped.
        composer = self.composer
        if (
            event.is_printable
            and event.character
            and self.app.focused is not composer
            and event.key not in self.screen.active_bindings  # c copies a message, say
        ):
            event.stop()
            event.prevent_default()
            composer.focus()
            composer.insert(event.character)

    @on(TextArea.Changed, "#composer")
    def _draft_changed(self) -> None:
        # Written shortly after typing pauses, and at once if the app crashes (save_draft).
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(0.3, self.save_draft)

    def save_draft(self) -> None:
        """Put the composer's text on disk now."""
        self.drafts.save(self.composer.text)

    @property
    def messages(self) -> MessageList:
        return self.query_one("#messages", MessageList)

    @property
    def composer(self) -> Composer:
        return self.query_one("#composer", Composer)

    @property
    def streaming(self) -> bool:
        """A reply is being streamed into the transcript (esc cancels it)."""
        return self._streaming

    @streaming.setter
    def streaming(self, value: bool) -> None:
        self._streaming = value
        self.app.refresh_bindings()

    def check(self, action: str) -> bool | None:
        if action == "cancel":
            return self.streaming
        if action == "attach":
            return self.conversation is not None and not self.streaming
        return True

    # -- what the rest of the app asks of it ----------------------------------------------

    async def show_hint(self, text: str) -> None:
        """Replace the transcript with a hint (no agents, no conversations yet)."""
        await self.messages.remove_children()
        await self.messages.mount(Markdown(text, classes="hint"))

    async def close(self) -> None:
        """No conversation open any more (its agent or itself was deleted)."""
        self.conversation = None
        await self.messages.remove_children()

    @work(exclusive=True, group="open", description="open conversation")
    async def open_conversation(self, conversation: Conversation) -> None:
        """Show the newest page; older pages come when the reader scrolls to the top."""
        client = self.client
        if client is None:
            return
        self.conversation = conversation
        self.usage = None
        self.context_count = None
        self.set_busy(None)
        view = self.messages
        view.fetching = True
        try:
            page = await client.newest_page(
                conversation.id,
                self.chinwag.settings.page_size,
                include_compacted=self.show_compacted,
            )
            self._context_ids = None
            page = await self._current_context(conversation, page)
            if self.conversation is not conversation:
                return
            await view.show(page.messages, page.more)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        finally:
            view.fetching = False
        view.call_after_refresh(view.check_edges)
        self.refresh_context()
        self.post_message(self.TurnEnded(turn=False))

    @work(exclusive=True, group="open", description="open conversation at a message")
    async def open_at(self, conversation: Conversation, message_id: str) -> None:
        """Show ``message_id`` marked, with a page on each side of it (two cursor reads, however
        deep it lies); paging on from there works as usual in both directions."""
        client = self.client
        if client is None:
            return
        self.conversation = conversation
        self.usage = None
        self.set_busy(None)
        view = self.messages
        view.fetching = True
        try:
            older, newer, message = await client.page_around(
                conversation.id, message_id, self.chinwag.settings.page_size
            )
            if self.conversation is not conversation:
                return
            if getattr(message, "in_context", None) is False and not self.show_compacted:
                self.show_compacted = True  # the hit was compacted away: show the full history
                self.notify("Showing the full history (ctrl+g: the current context only).")
            self._context_ids = None
            await view.show_around(
                [*older.messages, message, *newer.messages], older.more, newer.more, message_id
            )
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        finally:
            view.fetching = False
        self.refresh_context()
        self.post_message(self.TurnEnded(turn=False))

    async def reload_newest(self) -> None:
        """Show the newest page again from scratch (after compaction changed the context)."""
        conversation, client = self.conversation, self.client
        assert conversation is not None and client is not None
        self.usage = None
        page = await client.newest_page(
            conversation.id, self.chinwag.settings.page_size, include_compacted=self.show_compacted
        )
        self._context_ids = None
        page = await self._current_context(conversation, page)
        await self.messages.show(page.messages, page.more)

    def action_toggle_compacted(self) -> None:
        self.show_compacted = not self.show_compacted
        self.notify(
            "Showing the full history, compacted messages included."
            if self.show_compacted
            else "Showing the current context only."
        )
        if self.conversation is not None:
            self.open_conversation(self.conversation)

    # -- context figures ------------------------------------------------------------------

    @work(group="context", description="refresh context")
    async def refresh_context(self) -> None:
        """Update the status bar's context figures from the server's view of the conversation."""
        conversation, client = self.conversation, self.client
        if conversation is None or client is None:
            self.chinwag.set_context("")
            return
        try:
            fresh = await client.get_conversation(conversation.id)
        except ClientError:
            return
        if self.conversation is None or self.conversation.id != fresh.id:
            return
        self.conversation = fresh
        self.context_count = len(fresh.in_context_message_ids)
        self.show_context()

    def show_context(self) -> None:
        """The status bar's figures: messages in context, and tokens (the model's count of
        the last turn, else an estimate from the text shown)."""
        if self.context_count is None:
            return
        window = self.context_window()
        used = f"~{self.context_tokens():,} tok" + (f" / {window:,}" if window else "")
        self.chinwag.set_context(f"{self.context_count:,} msgs · {used}")

    def context_tokens(self) -> int:
        if self.usage is not None and self.usage.total_tokens:
            return self.usage.total_tokens
        return self.estimate_tokens()

    def context_window(self) -> int | None:
        agent = self.chinwag.agent
        config = agent.llm_config if agent else None
        return config.context_window if config else None

    def estimate_tokens(self) -> int:
        """About four characters a token, over all in-context messages: the ones shown give
        the average length, the count says how many there are."""
        shown = [len(e.text) for e in self.messages.entries() if e.in_context]
        if not shown:
            return 0
        count = max(self.context_count or 0, len(shown))
        return round(sum(shown) / len(shown) * count / 4)

    async def _current_context(self, conversation: Conversation, page: MessagePage) -> MessagePage:
        """Keep only in-context messages in the default view when the server lists compacted
        ones too without saying so (Letta): the conversation's ``in_context_message_ids`` are
        the context, in order. Older pages that hold none of them are skipped."""
        client = self.client
        assert client is not None
        if self.show_compacted:
            return page
        if self._context_ids is None:
            if all(getattr(m, "in_context", None) is not None for m in page.messages):
                return page  # the server filters (include_compacted) and flags its messages
            fresh = await client.get_conversation(conversation.id)
            self._context_ids = {m: i for i, m in enumerate(fresh.in_context_message_ids)}
        keep = self._context_ids
        kept = [m for m in page.messages if getattr(m, "id", None) in keep]
        page_size = self.chinwag.settings.page_size
        while not kept and page.more and page.messages:
            cursor = page.messages[0].id  # type: ignore[attr-defined]
            page = await client.older_page(conversation.id, cursor, page_size)
            kept = [m for m in page.messages if getattr(m, "id", None) in keep]
        # In context order, not by date: Letta's compaction summary is dated when it was
        # made (after the newest reply) but stands near the start of the context.
        kept.sort(key=lambda m: keep[m.id])  # type: ignore[attr-defined]
        return MessagePage(kept, page.more)

    # -- paging ---------------------------------------------------------------------------

    @on(MessageList.NeedOlder)
    def _need_older(self) -> None:
        self._claim_page(older=True)

    @on(MessageList.NeedNewer)
    def _need_newer(self) -> None:
        self._claim_page(older=False)

    @on(MessageList.JumpNewest)
    def _jump_newest(self) -> None:
        if self.conversation is not None:
            self.open_conversation(self.conversation)

    @on(MessageList.JumpOldest)
    def _jump_oldest(self) -> None:
        if self.conversation is not None:
            self.load_oldest(self.conversation)

    @work(exclusive=True, group="open", description="load oldest page")
    async def load_oldest(self, conversation: Conversation) -> None:
        """The first page of the conversation, in one step however long the history."""
        view, client = self.messages, self.client
        assert client is not None
        view.fetching = True
        self.set_mark("loading the first messages…")
        try:
            page = await client.oldest_page(
                conversation.id,
                self.chinwag.settings.page_size,
                include_compacted=self.show_compacted,
            )
            messages = page.messages
            if self._context_ids is not None and not self.show_compacted:
                messages = [m for m in messages if getattr(m, "id", None) in self._context_ids]
            if self.conversation is conversation:
                await view.show_oldest(messages, page.more)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        finally:
            view.fetching = False
            self.set_mark("")
        view.call_after_refresh(view.check_edges)

    def _claim_page(self, *, older: bool) -> None:
        # Claim the view synchronously: a second request while one is in flight is dropped,
        # never allowed to cancel the first.
        view = self.messages
        cursor = view.oldest_id if older else view.newest_id
        if view.fetching or self.conversation is None or cursor is None:
            return
        view.fetching = True
        self.set_mark("loading older…" if older else "loading newer…")
        self.load_page(self.conversation, cursor, older=older)

    @work(group="page", description="load page")
    async def load_page(self, conversation: Conversation, cursor: str, *, older: bool) -> None:
        """The page just older (or newer) than ``cursor``, added on that side of the view."""
        view, client = self.messages, self.client
        assert client is not None
        fetch = client.older_page if older else client.newer_page
        try:
            page = await fetch(
                conversation.id,
                cursor,
                self.chinwag.settings.page_size,
                include_compacted=self.show_compacted,
            )
            if older:
                page = await self._current_context(conversation, page)
            elif self._context_ids is not None and not self.show_compacted:
                page = MessagePage(
                    [m for m in page.messages if getattr(m, "id", None) in self._context_ids],
                    page.more,
                )
            if self.conversation is conversation:
                add = view.prepend if older else view.append_page
                await add(page.messages, page.more)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        finally:
            view.fetching = False
            self.set_mark("")
        view.pay_owed()
        view.call_after_refresh(view.check_edges)

    # -- turns ----------------------------------------------------------------------------

    @on(Composer.Submitted)
    def _submitted(self, event: Composer.Submitted) -> None:
        event.stop()
        if self.streaming:
            self.composer.restore(event.text)
            self.notify("A reply is still streaming: esc cancels it.", severity="warning")
            return
        if self.chinwag.agent is None:
            self.composer.restore(event.text)
            self.notify("Create or pick an agent first (n in the agents pane).")
            return
        self.run_turn(event.text)

    @work(exclusive=True, group="run", description="run turn")
    async def run_turn(
        self,
        text: str | None,
        run_id: str | None = None,
        approvals: list[ApprovalAnswer] | None = None,
    ) -> None:
        """Send ``text`` (or answers to tool calls waiting for approval, or attach to the running
        reply when neither is given) and stream the reply."""
        client, agent = self.client, self.chinwag.agent
        if client is None or agent is None:
            return
        try:
            if self.conversation is None:
                conversation = await client.create_conversation(agent.id, first_words(text))
                self.conversation = conversation
                self.post_message(self.ConversationNamed(conversation))
            elif text and not self.conversation.summary and not self._is_default():
                renamed = await client.rename_conversation(self.conversation.id, first_words(text))
                self.conversation = renamed
                self.post_message(self.ConversationNamed(renamed))
        except ClientError as exc:
            self.chinwag.report(exc)
            if text:
                self.composer.restore(text)
            return
        conversation = self.conversation
        view = self.messages
        if view.has_newer:  # the reader paged far back: the reply belongs after the newest page
            page = await client.newest_page(conversation.id, self.chinwag.settings.page_size)
            await view.show(page.messages, page.more)
        if text is None:  # attaching: show the other client's prompt above its reply
            with contextlib.suppress(ClientError):
                await self.catch_up(run_id=run_id, attaching=True)
        self.set_busy(None)
        self.streaming = True
        self.chinwag.set_activity("replying…" if text else "attached…")
        turn = await view.begin_turn(text)
        if approvals:
            turn.adopt([answer.tool_call_id for answer in approvals])
        stop: str | None = None
        error: str | None = None
        try:
            if text:
                stream = client.send(conversation.id, text)
            elif approvals:
                stream = client.send_approvals(conversation.id, approvals)
            else:
                stream = client.attach(conversation.id, run_id=run_id)
            try:
                async for chunk in stream:
                    stop = await self._apply_chunk(turn, chunk) or stop
                    if isinstance(chunk, ErrorMessage):
                        error = chunk.detail or chunk.message or chunk.error_type
            finally:
                # Closed here, not by the garbage collector at exit (its aclose() noise).
                await stream.aclose()
        except ConversationBusy as exc:
            await self._discard(turn)
            if text:
                self.composer.restore(text)
            self.set_busy(exc.run_id)
            return
        except NoActiveRun:
            await self._discard(turn)
            self.notify("Nothing is running in this conversation.")
            return
        except ApprovalPending:
            await self._discard(turn)
            if text:
                self.composer.restore(text)
            self.notify("A tool call waits for your answer first.", severity="warning")
            waiting = [b for b in view.query(ApprovalBlock) if b.pending]
            if waiting:
                waiting[-1].focus()
            else:  # asked from elsewhere: the listing shows the prompt
                self.open_conversation(conversation)
            return
        except ConnectionFailed as exc:
            if turn.parts:  # the reply had started: keep it, marked as failed
                error = exc.message
            else:  # the message never reached the server: it goes back into the composer
                await self._discard(turn)
                if text:
                    self.composer.restore(text)
                self.chinwag.report(exc)
                return
        except ClientError as exc:
            error = exc.message
        finally:
            self.streaming = False
            self.chinwag.set_activity("")
            self.set_mark("")
        await turn.finish(stop, error, interrupted=self._quitting)
        if self._quitting:
            self.app.exit()
            return
        if stop in ("end_turn", "max_steps") and not error and self.context_count is not None:
            self.context_count += (1 if text else 0) + len(turn.message_ids())
            self.show_context()
        else:  # cancelled or failed: what stayed in context is the server's to say
            self.refresh_context()
        self.post_message(self.TurnEnded(turn=True))

    async def _apply_chunk(self, turn: Turn, chunk: Any) -> str | None:
        """Route one chunk (oterm-style ``match``); returns the stop reason when it is one."""
        match chunk:
            case Reattached(replayed=replayed):
                if replayed:
                    await turn.restart()
                self.notify("Connection dropped: re-attached to the reply.", timeout=3)
            case PingMessage():
                pass
            case StopReason(stop_reason=reason):
                return reason
            case UsageStatistics():
                if chunk.total_tokens:  # a cancelled run reports zeros: keep the last count
                    self.usage = chunk
            case ErrorMessage():
                pass
            case _:
                block = await turn.feed(chunk)
                if (
                    isinstance(block, ToolCallBlock)
                    and block.status == "success"
                    and getattr(chunk, "message_type", "") == "tool_return_message"
                    and is_memory_edit(block.tool_name)
                ):
                    self.post_message(
                        self.MemoryEdited(edited_label(block.tool_name, block.entry.text))
                    )
                view = self.messages
                if not view.fetching:
                    key = self.chinwag.key_of("messages.newest", "end")
                    self.set_mark("" if view.sticks_to_bottom else f"↓ new below ({key})")
        return None

    def _is_default(self) -> bool:
        conversation = self.conversation
        return conversation is not None and conversation.id == conversation.agent_id

    async def _discard(self, turn: Turn) -> None:
        if turn.user_block is not None:
            await turn.user_block.remove()

    def set_busy(self, run_id: str | None) -> None:
        """Show (or hide) the banner that says another reply keeps the conversation busy."""
        self.busy_run_id = run_id
        banner = self.query_one("#busy", Static)
        banner.display = run_id is not None
        if run_id:
            key = self.chinwag.key_of("app.attach", "ctrl+o")
            banner.update(
                f"⏳ This conversation is busy: another reply ({run_id}) is still being "
                "written, by another client or an earlier session. Your draft is kept.  "
                f"Press {key} to watch it live."
            )
        self.app.refresh_bindings()

    async def catch_up(self, *, run_id: str | None = None, attaching: bool = False) -> None:
        """Add at the bottom what other clients stored after the newest message shown. When
        ``attaching`` to a run, its prompt comes now and its reply from the stream: the
        run's other messages are left out."""
        conversation, client, view = self.conversation, self.client, self.messages
        if conversation is None or client is None or view.has_newer or view.fetching:
            return
        blocks = view.blocks
        page_size = self.chinwag.settings.page_size
        if not blocks:  # nothing shown yet: the newest page, if there is one now
            page = await client.newest_page(
                conversation.id, page_size, include_compacted=self.show_compacted
            )
            if page.messages and self.conversation is conversation and not view.blocks:
                await view.show(page.messages, page.more)
            return
        newest = blocks[-1].entry.id
        if not newest:  # our own message, not yet named by the server: nothing to go after
            return
        page = await client.newer_page(
            conversation.id, newest, page_size, include_compacted=self.show_compacted
        )
        shown = {b.entry.id for b in blocks}
        new = [m for m in page.messages if getattr(m, "id", None) not in shown]
        if new and self._context_ids is not None and not self.show_compacted:
            # Letta: its cursor after a compaction also finds compacted messages (their old
            # positions are higher); only what the conversation's context lists now is new.
            fresh = await client.get_conversation(conversation.id)
            self._context_ids = {m: i for i, m in enumerate(fresh.in_context_message_ids)}
            new = [m for m in new if getattr(m, "id", None) in self._context_ids]
        if attaching:
            new = [
                m
                for m in new
                if getattr(m, "message_type", "") == "user_message"
                or (run_id is not None and getattr(m, "run_id", None) != run_id)
            ]
        if not new or self.conversation is not conversation or view.fetching:
            return
        await view.add_new(new)
        if self.context_count is not None:
            self.context_count += len(new)
            self.show_context()

    def action_attach(self) -> None:
        if self.conversation is None or self.streaming:
            return
        self.run_turn(None, self.busy_run_id)

    def quit_after_stopping(self) -> None:
        """Quit once the streaming reply is stopped on the server and marked interrupted
        (at most a few seconds: a server that does not answer does not keep the app)."""
        self._quitting = True
        self.action_cancel()
        self.set_timer(5, self.app.exit)

    def action_cancel(self) -> None:
        if self.streaming and self.conversation is not None and self.client is not None:
            self._cancel(self.conversation)

    @work(group="cancel", description="action cancel")
    async def _cancel(self, conversation: Conversation) -> None:
        assert self.client is not None
        try:
            await self.client.cancel(conversation.id)
        except NoActiveRun:
            pass
        except ClientError as exc:
            self.chinwag.report(exc)


def first_words(text: str | None, limit: int = 48) -> str:
    """A conversation's name from its first message."""
    words = " ".join((text or "").split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"
