"""The chinwag app: the client, the settings, and the routing between panes and features.

Layout of ``tui/`` (a new feature gets a new room, not new methods here)::

    app.py            ChinwagApp: client, settings, the selection (agent, conversation),
                      routing of the panes' messages, the palette, ``app.do`` dispatch
    parts.py          Part / Feature / Command: what every pane and feature shares
    panes/            one widget per pane, owning its flows, workers and messages:
      agents.py         agent CRUD and details           (AgentsPane, "agents")
      conversations.py  conversation CRUD                (ConversationsPane, "conversations")
      chat.py           open, paging, turns, cancel, attach, context figures (ChatPane, "chat")
      memory.py         memory blocks, live edits, history, restore (MemoryPane, "memory")
    features/         one controller per flow that has no pane of its own:
      connection.py     connect, health, connection errors ("connection")
      compaction.py     the compaction dialog and flow     ("compaction")
      export.py         export to Markdown, copy last reply ("export")
      help.py           F1                                  ("help")
      approvals.py      answer tool calls waiting for a person ("approvals")
      fork.py           fork the conversation or at a message ("fork")
      search.py         search messages, open a hit in place  ("search")
      context.py        the context window view             ("context")
      sync.py           other clients' changes, read while idle ("sync")
    screens/          the main screen (layout: collapsing side panes, widths, global keys)
                      and modal screens
    widgets/          the leaf widgets: lists, transcript blocks, composer, status bar
    drafts.py         the composer's draft on disk (no crash or quit loses it)
    clipboard.py      copying, and saying truthfully whether it worked
    client.py         the typed HTTP client; never imports Textual

Keys and palette entries name a target ``"<part>.<action>"``: ``app.do('compaction.open')``
runs ``Compaction.action_open``. Panes tell the app what happened with typed messages
(``AgentList.Chosen``, ``ChatPane.ConversationNamed`` …) and the app routes them to the
other panes. Every network call runs in a worker of the pane or feature that owns it; errors
go through :meth:`ChinwagApp.report`. Bindings have ids so ``[keymap]`` can remap them.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from textual import events, on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget
from textual.worker import WorkerFailed

from shared_schema import Agent, Conversation
from tui.client import ChinwagClient
from tui.errors import ClientError
from tui.features import FEATURES
from tui.features.connection import Connection
from tui.panes.agents import AgentsPane
from tui.panes.chat import ChatPane
from tui.panes.conversations import ConversationsPane
from tui.panes.memory import MemoryPane
from tui.parts import Command, Part
from tui.screens.dialogs import ConfirmDialog, KeysFirst
from tui.screens.main import MainScreen
from tui.settings import AppSettings
from tui.widgets.agents import AgentList
from tui.widgets.composer import Composer
from tui.widgets.conversations import ConversationList
from tui.widgets.messages import MessageList
from tui.widgets.status import StatusBar
from tui.widgets.tools import ApprovalBlock


def while_open(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Drop a pane's message that arrives after the main screen is gone: a worker that ended
    as the app closed must not crash the exit by querying widgets that no longer exist."""
    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def guarded_async(app: ChinwagApp, *args: Any) -> None:
            if app.screen_stack:
                await handler(app, *args)

        return guarded_async

    @functools.wraps(handler)
    def guarded(app: ChinwagApp, *args: Any) -> None:
        if app.screen_stack:
            handler(app, *args)

    return guarded


# The app's own palette entries, after those of the panes and features.
APP_COMMANDS: list[Command] = [
    Command("focus('agents')", "Focus agents", "Move the focus to the agents pane"),
    Command("focus('conversations')", "Focus conversations", "Move the focus to the conversations"),
    Command("focus('messages')", "Focus messages", "Move the focus to the transcript"),
    Command("focus('composer')", "Focus composer", "Move the focus to the message editor"),
]
# The panes, by the name their targets use, and the palette order of the parts.
PANES: dict[str, str] = {
    "agents": "#agents-pane",
    "conversations": "#conversations-pane",
    "chat": "#chat",
    "memory": "#memory-pane",
}
PALETTE_ORDER = [
    "agents",
    "conversations",
    "compaction",
    "chat",
    "approvals",
    "fork",
    "search",
    "context",
    "memory",
    "export",
    "connection",
]


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
        # What a refresh re-selects once the lists are read again.
        self.kept_agent_id: str | None = None
        self.kept_conversation_id: str | None = None
        self.features = {feature.NAME: feature(self) for feature in FEATURES}
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
        unknown = sorted(set(self.settings.config.keymap) - known_binding_ids())
        if unknown:
            self.notify(
                f"[keymap] names no binding {', '.join(unknown)}: F1 lists the binding ids.",
                severity="warning",
                timeout=10,
                markup=False,
            )
        self.connection.start()
        self.features["sync"].start()  # type: ignore[attr-defined]

    # -- the parts ------------------------------------------------------------------------

    def _q(self, selector: str, kind: type[Any]) -> Any:
        """Query the main screen, whichever dialog is on top."""
        return self.screen_stack[0].query_one(selector, kind)

    def part(self, name: str) -> Part:
        """The pane or feature that ``name`` targets."""
        if name in PANES:
            return self._q(PANES[name], Part)
        return self.features[name]

    @property
    def connection(self) -> Connection:
        return self.features["connection"]  # type: ignore[return-value]

    @property
    def agents_pane(self) -> AgentsPane:
        return self._q("#agents-pane", AgentsPane)

    @property
    def conversations_pane(self) -> ConversationsPane:
        return self._q("#conversations-pane", ConversationsPane)

    @property
    def chat(self) -> ChatPane:
        return self._q("#chat", ChatPane)

    @property
    def memory_pane(self) -> MemoryPane:
        return self._q("#memory-pane", MemoryPane)

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

    @property
    def conversation(self) -> Conversation | None:
        """The conversation open in the chat pane."""
        return self.chat.conversation if self.screen_stack else None

    @property
    def streaming(self) -> bool:
        return self.chat.streaming

    # -- routing --------------------------------------------------------------------------

    def keep_selection(self, agent_id: str | None, conversation: Conversation | None) -> None:
        """Select these again after the next reload (a refresh)."""
        self.kept_agent_id = agent_id
        self.kept_conversation_id = conversation.id if conversation else None

    @on(AgentList.Chosen)
    @while_open
    def _agent_chosen(self, event: AgentList.Chosen) -> None:
        if self.agent is None or self.agent.id != event.agent.id:
            kept = self.kept_conversation_id if event.agent.id == self.kept_agent_id else None
            self.kept_agent_id = self.kept_conversation_id = None
            self.agent = event.agent
            self.chat.conversation = None  # names the new agent in the chat's header
            self.status.model = event.agent.model or ""
            self.conversations_pane.load(select=kept)
            self.memory_pane.agent_changed()

    @on(AgentsPane.Deleted)
    @while_open
    async def _agent_deleted(self) -> None:
        self.agent = None
        await self.chat.close()  # names no agent in the chat's header
        self.conversations_pane.clear()

    @on(ConversationList.Chosen)
    @while_open
    def _conversation_chosen(self, event: ConversationList.Chosen) -> None:
        if self.conversation is None or self.conversation.id != event.conversation.id:
            self.chat.open_conversation(event.conversation)

    @on(ConversationsPane.Emptied)
    @while_open
    async def _no_conversations(self) -> None:
        await self.chat.close()
        await self.chat.show_hint("No conversations yet: just type below to start one.")

    @on(ChatPane.TurnEnded)
    @while_open
    def _turn_ended(self, event: ChatPane.TurnEnded) -> None:
        self.features["approvals"].sync(focus=event.turn)  # type: ignore[attr-defined]

    @on(ChatPane.MemoryEdited)
    @while_open
    def _memory_edited(self) -> None:
        self.memory_pane.load(mark=True)

    @on(ApprovalBlock.Decided)
    @while_open
    def _approval_decided(self, event: ApprovalBlock.Decided) -> None:
        self.features["approvals"].decide(event.block, event.decision)  # type: ignore[attr-defined]

    @on(ChatPane.ConversationNamed)
    @while_open
    def _conversation_named(self, event: ChatPane.ConversationNamed) -> None:
        self.conversations_pane.load(select=event.conversation.id)

    # -- actions --------------------------------------------------------------------------

    def action_do(self, target: str) -> None:
        """Run ``action_<action>`` of the part named in ``"<part>.<action>"``."""
        name, action = target.split(".", 1)
        getattr(self.part(name), f"action_{action}")()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "do" and parameters and self.screen_stack:
            name, part_action = str(parameters[0]).split(".", 1)
            return self.part(name).check(part_action)
        return True

    async def action_quit(self) -> None:
        """Quit; while a reply streams, ask first, then stop it and mark it interrupted."""
        if not self.screen_stack or not self.chat.streaming:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.chat.quit_after_stopping()

        question = (
            "A reply is still being written. Quit anyway? It is stopped where it is and kept, "
            "marked as interrupted."
        )
        self.push_screen(ConfirmDialog("Quit", question, ok="Quit"), answered)

    def action_focus(self, pane: str) -> None:
        self._q(f"#{pane}", Widget).focus()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands = [c for name in PALETTE_ORDER for c in self._commands_of(name)]
        commands += APP_COMMANDS + self.features["help"].COMMANDS
        keys = self._keys_of_actions(screen)
        for command in commands:
            action = command.target if "(" in command.target else f"do('{command.target}')"
            key = keys.get(action)
            help_text = f"{command.help} · {key}" if key else command.help
            yield SystemCommand(command.title, help_text, lambda a=action: self.run_action(a))

    def _keys_of_actions(self, screen: Screen) -> dict[str, str]:
        """The key of each app action bound on the main screen or in its panes' lists."""
        main = self.screen_stack[0] if self.screen_stack else screen
        nodes: list[Any] = [main, *main.query("AgentList, ConversationList, Composer")]
        keys: dict[str, str] = {}
        for node in nodes:
            for bindings in node._bindings.key_to_bindings.values():
                for binding in bindings:
                    action = binding.action.removeprefix("app.")
                    keys.setdefault(action, self.get_key_display(binding))
        return keys

    def _commands_of(self, name: str) -> list[Command]:
        return list(self.part(name).COMMANDS)

    # -- shared services ------------------------------------------------------------------

    def report(self, exc: ClientError) -> None:
        """Show a failed call: the retry screen for a lost connection, else a toast."""
        self.connection.report(exc)

    def set_activity(self, text: str) -> None:
        if status := self.status_bar():
            status.activity = text

    def set_context(self, text: str) -> None:
        """The context figures of the status bar."""
        if status := self.status_bar():
            status.context = text

    def status_bar(self) -> StatusBar | None:
        """The status bar, or ``None`` once it is gone (workers can end after it at exit)."""
        if not self.screen_stack:
            return None
        found = self.screen_stack[0].query("#status")
        return found.first(StatusBar) if found else None

    def key_of(self, binding_id: str, default: str) -> str:
        """The key bound to ``binding_id``, after the user's keymap."""
        return self.settings.config.keymap.get(binding_id, default)

    def _handle_exception(self, error: Exception) -> None:
        # A worker still awaiting the server when the app closes finds its widgets gone: that
        # is the exit, not a crash (and must not hide the crash that caused the exit).
        cause = error.error if isinstance(error, WorkerFailed) else error
        if isinstance(cause, NoMatches) and not self.is_running:
            return
        # A crash ends the app (with exit code 1): keep the draft first, whatever broke.
        with contextlib.suppress(Exception):  # best effort while crashing
            self.chat.save_draft()
        super()._handle_exception(error)

    def _save_theme(self, theme: Any) -> None:
        if theme.name != self.settings.config.theme:
            try:
                self.settings.config.save_theme(theme.name)
            except OSError as exc:
                self.notify(f"Cannot save the theme: {exc}", severity="warning")


def known_binding_ids() -> set[str]:
    """Every binding id a ``[keymap]`` can name: those of every widget and screen class."""
    ids: set[str] = set()
    classes: list[type] = [DOMNode]
    while classes:
        cls = classes.pop()
        classes += cls.__subclasses__()
        for binding in cls.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
    return ids
