"""The chinwag app: three panes (agents, conversations, messages), a composer and a status bar.

Every network call runs in a worker and reports back by updating widgets; errors become
on-screen messages that name the URL tried. Bindings have ids so ``[keymap]`` can remap them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Label, Markdown, Static

from shared_schema import (
    Agent,
    Conversation,
    ErrorMessage,
    PingMessage,
    StopReason,
    UsageStatistics,
)
from tui.client import ChinwagClient, MessagePage, Reattached
from tui.errors import ClientError, ConnectionFailed, ConversationBusy, NoActiveRun, Unauthorized
from tui.screens.agent_detail import AgentChanges, AgentDetailScreen
from tui.screens.dialogs import (
    CompactDialog,
    ConfirmDialog,
    ConnectionErrorScreen,
    ContextFigures,
    KeysFirst,
    NewAgent,
    NewAgentDialog,
    TextDialog,
)
from tui.screens.help import HelpScreen, describe
from tui.settings import AppSettings
from tui.transcript import entry_of, to_markdown
from tui.widgets.agents import AgentList
from tui.widgets.composer import Composer
from tui.widgets.conversations import ConversationList
from tui.widgets.messages import MessageList, SummaryBlock, Turn
from tui.widgets.splitter import Splitter
from tui.widgets.status import StatusBar

# (action, palette title, palette help) — every action is reachable from the palette.
COMMANDS: list[tuple[str, str, str]] = [
    ("new_agent", "New agent", "Create an agent: name, model, persona and human blocks"),
    ("agent_details", "Agent details", "Model, memory blocks and system prompt of the agent"),
    ("delete_agent", "Delete agent", "Delete the selected agent and its conversations"),
    ("new_conversation", "New conversation", "Start a conversation with the selected agent"),
    ("rename_conversation", "Rename conversation", "Change the conversation's summary"),
    ("delete_conversation", "Delete conversation", "Delete the open conversation"),
    ("compact", "Compact conversation", "Summarize the oldest part of the context"),
    ("cancel", "Cancel reply", "Stop the running reply; the text so far is kept"),
    ("attach", "Attach to running reply", "Watch the reply that keeps this conversation busy"),
    ("toggle_compacted", "Toggle compacted history", "Show or hide messages left by compaction"),
    ("export", "Export conversation to Markdown", "Write the whole history to a .md file"),
    ("copy_last", "Copy last reply", "Copy the newest assistant message to the clipboard"),
    ("refresh", "Refresh", "Reload agents, conversations and messages"),
    ("focus('agents')", "Focus agents", "Move the focus to the agents pane"),
    ("focus('conversations')", "Focus conversations", "Move the focus to the conversations"),
    ("focus('messages')", "Focus messages", "Move the focus to the transcript"),
    ("focus('composer')", "Focus composer", "Move the focus to the message editor"),
    ("help", "Help", "Keys of the focused pane"),
]


class MainScreen(Screen):
    """The three panes. Global keys live here so dialogs on top do not receive them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "app.help", "Help", id="app.help", priority=True),
        Binding("ctrl+k", "app.compact", "Compact", id="app.compact", priority=True),
        Binding("escape", "app.cancel", "Cancel reply", id="app.cancel"),
        Binding("ctrl+o", "app.attach", "Attach", id="app.attach", priority=True),
        Binding(
            "ctrl+n", "app.new_conversation", "New conv.", id="app.new_conversation", priority=True
        ),
        Binding("ctrl+g", "app.toggle_compacted", "History", id="app.toggle_compacted"),
        Binding("ctrl+r", "app.refresh", "Refresh", id="app.refresh", show=False),
    ]

    def __init__(self, settings: AppSettings) -> None:
        super().__init__()
        self.settings = settings

    def compose(self) -> Iterable[Widget]:
        with Horizontal(id="panes"):
            with Vertical(id="agents-pane", classes="pane"):
                yield Label("Agents", classes="pane-title")
                yield AgentList(id="agents")
            yield Splitter("#agents-pane")
            with Vertical(id="conversations-pane", classes="pane"):
                yield Label("Conversations", classes="pane-title")
                yield ConversationList(self.settings.now, id="conversations")
            yield Splitter("#conversations-pane")
            with Vertical(id="chat", classes="pane"):
                yield MessageList(window=self.settings.window, id="messages")
                yield Static(id="busy")
                yield Composer(cursor_blink=self.settings.cursor_blink, id="composer")
        yield StatusBar(show_latency=self.settings.show_latency, id="status")
        yield Footer()

    def on_mount(self) -> None:
        # Nested children finish mounting after the screen's own Mount event.
        self.call_after_refresh(self.app.start)  # type: ignore[attr-defined]


class ChinwagApp(App):
    """Talk to stateful agents on a chinwag or Letta server."""

    CSS_PATH = "app.tcss"
    TITLE = "chinwag"

    def __init__(self, settings: AppSettings) -> None:
        super().__init__()
        self.settings = settings
        self.client: ChinwagClient | None = None
        self.url = settings.server_url or (settings.launcher.url if settings.launcher else "")
        self.agent: Agent | None = None
        self.conversation: Conversation | None = None
        self.models: list[Any] = []
        self._streaming = False
        self.busy_run_id: str | None = None
        self.show_compacted = False
        self.usage: UsageStatistics | None = None
        # The open conversation's in-context ids, on servers whose listing does not say which
        # messages are in context (Letta): the default view keeps only those.
        self._context_ids: set[str] | None = None
        if settings.config.theme and settings.config.theme in self.available_themes:
            self.theme = settings.config.theme
        if settings.config.keymap:
            self.set_keymap(settings.config.keymap)

    # -- startup --------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        return MainScreen(self.settings)

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._save_theme)

    async def on_event(self, event: events.Event) -> None:
        # Keys typed right after a dialog was pushed, before it has mounted and focused its
        # first field, go to that dialog (in order) instead of nowhere.
        if isinstance(event, events.Key) and not event.is_forwarded and self.screen_stack:
            screen = self.screen
            if isinstance(screen, KeysFirst) and not screen.ready:
                screen.early_key(event)
                return
        await super().on_event(event)

    def start(self) -> None:
        """Called by the main screen once its widgets exist."""
        if not self.screen_stack[0].query("#status"):  # nested panes still mounting
            self.call_after_refresh(self.start)
            return
        self.status.url = self.url
        if self.settings.config.error:
            self.notify(self.settings.config.error, severity="warning")
        self.connect()
        if self.settings.health_interval > 0:
            self.set_interval(self.settings.health_interval, self.check_health)

    def _q(self, selector: str, kind: type[Any]) -> Any:
        """Query the main screen, whichever dialog is on top."""
        return self.screen_stack[0].query_one(selector, kind)

    @property
    def status(self) -> StatusBar:
        return self._q("#status", StatusBar)

    @property
    def agents(self) -> AgentList:
        return self._q("#agents", AgentList)

    @property
    def conversations(self) -> ConversationList:
        return self._q("#conversations", ConversationList)

    @property
    def messages(self) -> MessageList:
        return self._q("#messages", MessageList)

    @property
    def composer(self) -> Composer:
        return self._q("#composer", Composer)

    # Every worker gets a description: without one Textual builds it from repr() of the
    # arguments, and a conversation with a long context repr()s in milliseconds.
    @work(exclusive=True, group="connect", description="connect")
    async def connect(self) -> None:
        """Reach the server (starting the bundled one if needed), then load the agents."""
        status = self.status
        try:
            if self.settings.launcher is not None and self.client is None:
                status.state = "starting bundled server"
                self.url = await self.settings.launcher.wait_ready()
            if self.client is None:
                self.client = self.settings.client_factory(self.url, self.settings.token)
            info = await self.client.health()
            status.url, status.version, status.latency_ms = self.url, info.version, info.latency_ms
            agents = await self.client.list_agents()
            status.state = "connected"
        except ClientError as exc:
            status.state = "disconnected"
            self._show_connection_error(exc.message, exc.url)
            return
        except Exception as exc:  # the launcher's own failure
            status.state = "disconnected"
            self._show_connection_error(str(exc), self.url)
            return
        self.agents.set_agents(agents, select=self.settings.agent_id)
        if not agents:
            await self._show_hint(
                "No agents yet. Press **n** in the agents pane (or ctrl+p → New agent) to "
                "create one; the builtin model works without any provider configured."
            )
            self.agents.focus()
        else:
            self.composer.focus()

    def _show_connection_error(self, message: str, url: str) -> None:
        if isinstance(self.screen, ConnectionErrorScreen):
            return

        def retry(again: bool | None) -> None:
            if again:
                self.connect()

        self.push_screen(ConnectionErrorScreen(message, url), retry)

    async def check_health(self) -> None:
        if self.client is None:
            return
        try:
            info = await self.client.health()
        except ClientError:
            self.status.state = "disconnected"
            return
        self.status.state, self.status.latency_ms = "connected", info.latency_ms

    # -- selecting ------------------------------------------------------------------------

    @on(AgentList.Chosen)
    def _agent_chosen(self, event: AgentList.Chosen) -> None:
        if self.agent is None or self.agent.id != event.agent.id:
            self.agent = event.agent
            self.conversation = None
            self.status.model = event.agent.model or ""
            self.load_conversations()

    @work(exclusive=True, group="conversations", description="load conversations")
    async def load_conversations(self, select: str | None = None) -> None:
        agent, client = self.agent, self.client
        if agent is None or client is None:
            return
        try:
            items = await client.list_conversations(agent.id)
        except ClientError as exc:
            self._error(exc)
            return
        if self.agent is not agent:
            return
        if not items and self.conversation is not None:
            return  # a first message started a conversation meanwhile; its own reload follows
        select = select or self.settings.conversation_id
        self.conversations.set_conversations(items, select=select)
        if not items:
            self.conversation = None
            await self.messages.remove_children()
            await self._show_hint("No conversations yet: just type below to start one.")

    @on(ConversationList.Chosen)
    def _conversation_chosen(self, event: ConversationList.Chosen) -> None:
        if self.conversation is None or self.conversation.id != event.conversation.id:
            self.open_conversation(event.conversation)

    @work(exclusive=True, group="open", description="open conversation")
    async def open_conversation(self, conversation: Conversation) -> None:
        """Show the newest page; older pages come when the reader scrolls to the top."""
        client = self.client
        if client is None:
            return
        self.conversation = conversation
        self.usage = None
        self._set_busy(None)
        view = self.messages
        view.fetching = True
        try:
            page = await client.newest_page(
                conversation.id,
                self.settings.page_size,
                include_compacted=self.show_compacted,
            )
            self._context_ids = None
            page = await self._current_context(conversation, page)
            if self.conversation is not conversation:
                return
            await view.show(page.messages, page.more)
        except ClientError as exc:
            self._error(exc)
            return
        finally:
            view.fetching = False
        view.call_after_refresh(view.check_edges)
        self.refresh_context()

    @work(group="context", description="refresh context")
    async def refresh_context(self) -> None:
        """Update the status bar's context figures from the server's view of the conversation."""
        conversation, client = self.conversation, self.client
        if conversation is None or client is None:
            self.status.context = ""
            return
        try:
            fresh = await client.get_conversation(conversation.id)
        except ClientError:
            return
        if self.conversation is None or self.conversation.id != fresh.id:
            return
        self.conversation = fresh
        window = self._context_window()
        tokens = self.usage.total_tokens if self.usage else self._estimate_tokens()
        used = f"~{tokens:,} tok" + (f" / {window:,}" if window else "")
        self.status.context = f"{len(fresh.in_context_message_ids)} msgs · {used}"

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
            self._context_ids = set(fresh.in_context_message_ids)
        keep = self._context_ids
        kept = [m for m in page.messages if getattr(m, "id", None) in keep]
        while not kept and page.more and page.messages:
            cursor = page.messages[0].id  # type: ignore[attr-defined]
            page = await client.older_page(conversation.id, cursor, self.settings.page_size)
            kept = [m for m in page.messages if getattr(m, "id", None) in keep]
        return MessagePage(kept, page.more)

    def _context_window(self) -> int | None:
        config = self.agent.llm_config if self.agent else None
        return config.context_window if config else None

    def _estimate_tokens(self) -> int:
        return sum(len(e.text) for e in self.messages.entries() if e.in_context) // 4

    # -- paging ---------------------------------------------------------------------------

    @on(MessageList.NeedOlder)
    def _need_older(self) -> None:
        self._claim_page(older=True)

    @on(MessageList.NeedNewer)
    def _need_newer(self) -> None:
        self._claim_page(older=False)

    def _claim_page(self, *, older: bool) -> None:
        # Claim the view synchronously: a second request while one is in flight is dropped,
        # never allowed to cancel the first.
        view = self.messages
        cursor = view.oldest_id if older else view.newest_id
        if view.fetching or self.conversation is None or cursor is None:
            return
        view.fetching = True
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
                self.settings.page_size,
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
            self._error(exc)
            return
        finally:
            view.fetching = False
        view.call_after_refresh(view.check_edges)

    # -- sending and streaming ------------------------------------------------------------

    @on(Composer.Submitted)
    def _submitted(self, event: Composer.Submitted) -> None:
        if self.streaming:
            self.composer.restore(event.text)
            self.notify("A reply is still streaming: esc cancels it.", severity="warning")
            return
        if self.agent is None:
            self.composer.restore(event.text)
            self.notify("Create or pick an agent first (n in the agents pane).")
            return
        self.run_turn(event.text)

    @work(exclusive=True, group="run", description="run turn")
    async def run_turn(self, text: str | None, run_id: str | None = None) -> None:
        """Send ``text`` (or attach to the running reply when ``text`` is None) and stream it."""
        client, agent = self.client, self.agent
        if client is None or agent is None:
            return
        try:
            if self.conversation is None:
                conversation = await client.create_conversation(agent.id, _first_words(text))
                self.conversation = conversation
                self.load_conversations(select=conversation.id)
            elif text and not self.conversation.summary:
                await self._name_after(text)
        except ClientError as exc:
            self._error(exc)
            if text:
                self.composer.restore(text)
            return
        conversation = self.conversation
        view = self.messages
        if view.has_newer:  # the reader paged far back: the reply belongs after the newest page
            page = await client.newest_page(conversation.id, self.settings.page_size)
            await view.show(page.messages, page.more)
        self._set_busy(None)
        self.streaming = True
        self._set_activity("replying…" if text else "attached…")
        turn = await view.begin_turn(text)
        stop: str | None = None
        error: str | None = None
        try:
            stream = (
                client.send(conversation.id, text)
                if text
                else client.attach(conversation.id, run_id=run_id)
            )
            async for chunk in stream:
                stop = await self._apply_chunk(turn, chunk) or stop
                if isinstance(chunk, ErrorMessage):
                    error = chunk.detail or chunk.message or chunk.error_type
        except ConversationBusy as exc:
            await self._discard(turn)
            if text:
                self.composer.restore(text)
            self._set_busy(exc.run_id)
            return
        except NoActiveRun:
            await self._discard(turn)
            self.notify("Nothing is running in this conversation.")
            return
        except ClientError as exc:
            error = exc.message
        finally:
            self.streaming = False
            self._set_activity("")
        await turn.finish(stop, error)
        self.refresh_context()

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
                self.usage = chunk
            case ErrorMessage():
                pass
            case _:
                await turn.feed(chunk)
        return None

    async def _discard(self, turn: Turn) -> None:
        if turn.user_block is not None:
            await turn.user_block.remove()

    async def _name_after(self, text: str) -> None:
        """Give an unnamed conversation its first words as summary, so the list can show it."""
        assert self.client is not None and self.conversation is not None
        renamed = await self.client.rename_conversation(self.conversation.id, _first_words(text))
        self.conversation = renamed
        self.load_conversations(select=renamed.id)

    def _set_busy(self, run_id: str | None) -> None:
        self.busy_run_id = run_id
        banner = self._q("#busy", Static)
        banner.display = run_id is not None
        if run_id:
            banner.update(
                f"⏳ This conversation is busy: another reply ({run_id}) is still being "
                "written, by another client or an earlier session. Your draft is kept.  "
                f"Press {self._key_of('app.attach', 'ctrl+o')} to watch it live."
            )
        self.refresh_bindings()

    def action_attach(self) -> None:
        if self.conversation is None or self.streaming:
            return
        self.run_turn(None, self.busy_run_id)

    @work(group="cancel", description="action cancel")
    async def action_cancel(self) -> None:
        if not self.streaming or self.conversation is None or self.client is None:
            return
        try:
            await self.client.cancel(self.conversation.id)
        except NoActiveRun:
            pass
        except ClientError as exc:
            self._error(exc)

    # -- compaction -----------------------------------------------------------------------

    def action_compact(self) -> None:
        if self.conversation is None:
            self.notify("Open a conversation first.")
            return
        window = self._context_window()
        tokens = self.usage.total_tokens if self.usage else self._estimate_tokens()
        figures = ContextFigures(len(self.conversation.in_context_message_ids), tokens, window)

        def chosen(mode: str | None) -> None:
            if mode:
                self.compact(mode)

        self.push_screen(CompactDialog(figures), chosen)

    @work(exclusive=True, group="run", description="compact")
    async def compact(self, mode: str) -> None:
        conversation, client = self.conversation, self.client
        if conversation is None or client is None:
            return
        self._set_activity("compacting…")
        try:
            result = await client.compact(conversation.id, mode)  # type: ignore[arg-type]
        except ConversationBusy as exc:
            self._set_busy(exc.run_id)
            self.notify("Cannot compact while a reply is running.", severity="warning")
            return
        except ClientError as exc:
            title = "Nothing to compact" if exc.status == 400 else "Compaction failed"
            self.notify(exc.message, title=title, severity="warning")
            return
        finally:
            self._set_activity("")
        self.usage = None
        page = await client.newest_page(
            conversation.id, self.settings.page_size, include_compacted=self.show_compacted
        )
        self._context_ids = None
        page = await self._current_context(conversation, page)
        view = self.messages
        await view.show(page.messages, page.more)
        counts = (result.num_messages_before, result.num_messages_after)
        summaries = view.query(SummaryBlock)
        if summaries:
            summary = summaries.last()
            summary.set_counts(counts)
        else:
            summary = await view.add_summary(result.summary, counts)
        # The summary is the news: bring it (with its counts) into view.
        view.anchor(False)
        view.call_after_refresh(view.scroll_to_widget, summary, animate=False, top=True)
        self.notify(f"Compacted: {counts[0]} → {counts[1]} messages", title="Compaction done")
        self.refresh_context()

    def action_toggle_compacted(self) -> None:
        self.show_compacted = not self.show_compacted
        self.notify(
            "Showing the full history, compacted messages included."
            if self.show_compacted
            else "Showing the current context only."
        )
        if self.conversation is not None:
            self.open_conversation(self.conversation)

    # -- agents and conversations ---------------------------------------------------------

    def action_new_agent(self) -> None:
        """Open the dialog at once (keys typed next go to it); the models fill in when known."""
        if self.client is None:
            return
        dialog = NewAgentDialog(self.models, cursor_blink=self.settings.cursor_blink)
        dialog.focus_after = self.composer

        def created(result: NewAgent | None) -> None:
            if result is not None:
                self.create_agent(result)

        self.push_screen(dialog, created)
        if not self.models:
            self.load_models(dialog)

    @work(group="models", description="load models")
    async def load_models(self, dialog: NewAgentDialog) -> None:
        assert self.client is not None
        try:
            self.models = await self.client.list_models()
        except ClientError as exc:
            self._error(exc)
            return
        if dialog.is_attached:
            dialog.set_models(self.models)

    @work(exclusive=True, group="dialog", description="create agent")
    async def create_agent(self, result: NewAgent) -> None:
        assert self.client is not None
        try:
            agent = await self.client.create_agent(
                result.name, result.model, persona=result.persona, human=result.human
            )
            agents = await self.client.list_agents()
        except ClientError as exc:
            self._error(exc)
            return
        self.agents.set_agents(agents, select=agent.id)

    def action_agent_details(self) -> None:
        """Open the view at once (keys typed next land in it); its fields come with the agent."""
        if self.client is None or self.agent is None:
            return
        screen = AgentDetailScreen(cursor_blink=self.settings.cursor_blink)

        def closed(changes: AgentChanges | None) -> None:
            if changes and screen.agent is not None:
                self.save_agent(screen.agent, changes)

        self.push_screen(screen, closed)
        self.load_agent_details(screen, self.agent.id)

    @work(exclusive=True, group="dialog", description="load agent details")
    async def load_agent_details(self, screen: AgentDetailScreen, agent_id: str) -> None:
        assert self.client is not None
        try:
            agent = await self.client.get_agent(agent_id)
            self.models = self.models or await self.client.list_models()
        except ClientError as exc:
            screen.dismiss(None)
            self._error(exc)
            return
        await screen.show(agent, self.models)

    @work(exclusive=True, group="dialog", description="save agent details")
    async def save_agent(self, agent: Agent, changes: AgentChanges) -> None:
        assert self.client is not None
        try:
            for label, value in changes.blocks.items():
                await self.client.update_block(agent.id, label, value)
            edits = (("model", changes.model), ("system", changes.system))
            fields = {k: v for k, v in edits if v is not None}
            if fields:
                agent = await self.client.update_agent(agent.id, **fields)
            agents = await self.client.list_agents()
        except ClientError as exc:
            self._error(exc)
            return
        self.agent = None  # force a reload of the selection
        self.agents.set_agents(agents, select=agent.id)
        self.notify(f"Saved agent {agent.name}.")

    def action_delete_agent(self) -> None:
        agent = self.agent
        if agent is None or self.client is None:
            return
        question = f"Delete agent “{agent.name}” with all its conversations and messages?"
        self.push_screen(
            ConfirmDialog("Delete agent", question), lambda yes: yes and self.delete_agent(agent)
        )

    @work(exclusive=True, group="dialog", description="delete agent")
    async def delete_agent(self, agent: Agent) -> None:
        client = self.client
        assert client is not None
        try:
            await client.delete_agent(agent.id)
            agents = await client.list_agents()
        except ClientError as exc:
            self._error(exc)
            return
        self.agent, self.conversation = None, None
        await self.messages.remove_children()
        self.conversations.set_conversations([])
        self.agents.set_agents(agents)

    def action_new_conversation(self) -> None:
        agent = self.agent
        if agent is None or self.client is None:
            self.notify("Pick an agent first.")
            return
        dialog = TextDialog(
            "New conversation",
            "Summary (optional; the first message names it otherwise)",
            ok="Create",
            cursor_blink=self.settings.cursor_blink,
        )
        dialog.focus_after = self.composer
        self.push_screen(
            dialog, lambda summary: summary is not None and self.create_conversation(agent, summary)
        )

    @work(exclusive=True, group="dialog", description="create conversation")
    async def create_conversation(self, agent: Agent, summary: str) -> None:
        client = self.client
        assert client is not None
        try:
            conversation = await client.create_conversation(agent.id, summary or None)
        except ClientError as exc:
            self._error(exc)
            return
        self.load_conversations(select=conversation.id)

    def action_rename_conversation(self) -> None:
        conversation = self.conversation
        if conversation is None or self.client is None:
            return
        dialog = TextDialog(
            "Rename conversation",
            "Summary",
            conversation.summary or "",
            ok="Rename",
            cursor_blink=self.settings.cursor_blink,
        )
        self.push_screen(
            dialog, lambda summary: summary and self.rename_conversation(conversation, summary)
        )

    @work(exclusive=True, group="dialog", description="rename conversation")
    async def rename_conversation(self, conversation: Conversation, summary: str) -> None:
        client = self.client
        assert client is not None
        try:
            renamed = await client.rename_conversation(conversation.id, summary)
        except ClientError as exc:
            self._error(exc)
            return
        self.conversation = renamed
        self.load_conversations(select=renamed.id)

    def action_delete_conversation(self) -> None:
        conversation = self.conversation
        if conversation is None or self.client is None:
            return
        name = conversation.summary or "this conversation"
        question = f"Delete “{name}” and all its messages?"
        self.push_screen(
            ConfirmDialog("Delete conversation", question),
            lambda yes: yes and self.delete_conversation(conversation),
        )

    @work(exclusive=True, group="dialog", description="delete conversation")
    async def delete_conversation(self, conversation: Conversation) -> None:
        client = self.client
        assert client is not None
        try:
            await client.delete_conversation(conversation.id)
        except ClientError as exc:
            self._error(exc)
            return
        self.conversation = None
        await self.messages.remove_children()
        self.load_conversations()

    # -- the rest of the palette ----------------------------------------------------------

    @work(exclusive=True, group="export", description="action export")
    async def action_export(self) -> None:
        conversation, client = self.conversation, self.client
        if conversation is None or client is None:
            self.notify("Open a conversation first.")
            return
        entries = []
        try:
            page = await client.list_messages(
                conversation.id, order="asc", limit=500, include_compacted=True
            )
            while page:
                entries += [entry_of(m) for m in page]
                page = (
                    await client.newer_page(
                        conversation.id,
                        page[-1].id,
                        500,
                        include_compacted=True,  # type: ignore[attr-defined]
                    )
                ).messages
        except ClientError as exc:
            self._error(exc)
            return
        title = conversation.summary or conversation.id
        path = self.settings.export_dir / f"chinwag-{_slug(title)}.md"
        path.write_text(to_markdown(title, entries), encoding="utf-8")
        self.notify(f"Exported {len(entries)} messages to {path}", title="Export")

    def action_copy_last(self) -> None:
        replies = [e for e in self.messages.entries() if e.kind == "assistant"]
        if replies:
            self.copy_to_clipboard(replies[-1].text)
            self.notify("Last reply copied to the clipboard", timeout=2)

    def action_refresh(self) -> None:
        self.agent = None
        self.connect()

    def action_focus(self, pane: str) -> None:
        self._q(f"#{pane}", Widget).focus()

    def action_resize(self, delta: int) -> None:
        focused = self.focused
        pane = focused.parent if focused is not None else None
        if pane is None or pane.id not in ("agents-pane", "conversations-pane"):
            return
        width = pane.outer_size.width + delta
        pane.styles.width = max(Splitter.MIN_WIDTH, min(width, self.size.width // 2))

    def action_help(self) -> None:
        focused = self.focused
        pane = "app"
        node: Any = focused
        while node is not None and not (getattr(node, "id", None) or "").endswith("pane"):
            node = node.parent
        if node is not None:
            pane = node.id.removesuffix("-pane")
        elif focused is not None:
            pane = focused.id or type(focused).__name__
        rows = describe(
            (binding.key, binding)
            for binding in (active.binding for active in self.screen.active_bindings.values())
        )
        self.push_screen(HelpScreen(pane, rows))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action, title, help_text in COMMANDS:
            yield SystemCommand(title, help_text, lambda a=action: self.run_action(a))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.streaming
        if action == "attach":
            return self.conversation is not None and not self.streaming
        return True

    # -- small helpers --------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        """A reply is being streamed into the transcript (esc cancels it)."""
        return self._streaming

    @streaming.setter
    def streaming(self, value: bool) -> None:
        self._streaming = value
        self.refresh_bindings()

    def _set_activity(self, text: str) -> None:
        if self.screen_stack:  # workers are cancelled after the screens are gone at exit
            self.status.activity = text

    def _save_theme(self, theme: Any) -> None:
        if theme.name != self.settings.config.theme:
            try:
                self.settings.config.save_theme(theme.name)
            except OSError as exc:
                self.notify(f"Cannot save the theme: {exc}", severity="warning")

    def _error(self, exc: ClientError) -> None:
        if isinstance(exc, ConnectionFailed | Unauthorized):
            self.status.state = "disconnected"
            self._show_connection_error(exc.message, exc.url)
        else:
            self.notify(exc.message, title="Server error", severity="error", timeout=8)

    async def _show_hint(self, text: str) -> None:
        await self.messages.remove_children()
        await self.messages.mount(Markdown(text, classes="hint"))

    def _key_of(self, binding_id: str, default: str) -> str:
        return self.settings.config.keymap.get(binding_id, default)


def _first_words(text: str | None, limit: int = 48) -> str:
    words = " ".join((text or "").split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "conversation"
