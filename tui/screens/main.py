"""The main screen: agents, conversations and chat panes side by side, status bar, footer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from tui.panes.agents import AgentsPane
from tui.panes.chat import ChatPane
from tui.panes.conversations import ConversationsPane
from tui.panes.memory import MemoryPane
from tui.settings import AppSettings
from tui.widgets.splitter import Splitter
from tui.widgets.status import StatusBar


class MainScreen(Screen):
    """The three panes. Global keys live here so dialogs on top do not receive them.

    Their ids (``app.compact`` …) are what users remap in ``[keymap]``; their actions name the
    part that owns the flow (``app.do('<part>.<action>')``).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "app.do('help.open')", "Help", id="app.help", priority=True),
        Binding("ctrl+k", "app.do('compaction.open')", "Compact", id="app.compact", priority=True),
        Binding("escape", "app.do('chat.cancel')", "Cancel reply", id="app.cancel"),
        Binding("ctrl+o", "app.do('chat.attach')", "Attach", id="app.attach", priority=True),
        Binding(
            "ctrl+n",
            "app.do('conversations.new')",
            "New conv.",
            id="app.new_conversation",
            priority=True,
        ),
        Binding("ctrl+g", "app.do('chat.toggle_compacted')", "History", id="app.toggle_compacted"),
        Binding("ctrl+r", "app.do('connection.refresh')", "Refresh", id="app.refresh", show=False),
        Binding("ctrl+f", "app.do('search.open')", "Search", id="app.search", priority=True),
        Binding("f2", "app.do('memory.toggle')", "Memory", id="app.memory"),
        Binding("f3", "app.do('context.open')", "Context", id="app.context", show=False),
        Binding("f4", "app.do('fork.fork')", "Fork", id="app.fork", show=False),
    ]

    def __init__(self, settings: AppSettings) -> None:
        super().__init__()
        self.settings = settings

    def compose(self) -> Iterable[Widget]:
        with Horizontal(id="panes"):
            yield AgentsPane(id="agents-pane", classes="pane")
            yield Splitter("#agents-pane")
            yield ConversationsPane(self.settings.now, id="conversations-pane", classes="pane")
            yield Splitter("#conversations-pane")
            yield ChatPane(
                window=self.settings.window,
                cursor_blink=self.settings.cursor_blink,
                id="chat",
                classes="pane",
            )
            yield MemoryPane(
                cursor_blink=self.settings.cursor_blink, id="memory-pane", classes="pane"
            )
        yield StatusBar(show_latency=self.settings.show_latency, id="status")
        yield Footer()

    def on_mount(self) -> None:
        # Nested children finish mounting after the screen's own Mount event.
        self.call_after_refresh(self.app.start)  # type: ignore[attr-defined]
