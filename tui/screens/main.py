"""The main screen: agents, conversations and chat panes side by side, status bar, footer.

It owns the layout: below ``MIN_CHAT`` columns left for the transcript the side panes collapse
(``ctrl+b`` or a focus key brings them back, as a drawer that closes when the focus returns to
the chat), and the pane widths set with ``[`` / ``]`` or the splitters are kept in the config.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import events, on
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

# Columns the transcript keeps; below that the side panes collapse.
MIN_CHAT = 64
SIDE_PANES = ("agents", "conversations")


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
        Binding(
            "ctrl+b", "toggle_panes", "Panes", id="app.toggle_panes", priority=True, show=False
        ),
        Binding("f5", "app.focus('agents')", "Agents", id="app.focus_agents", show=False),
        Binding(
            "f6",
            "app.focus('conversations')",
            "Conversations",
            id="app.focus_conversations",
            show=False,
        ),
        Binding("f7", "app.focus('composer')", "Composer", id="app.focus_composer", show=False),
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
        for pane, width in self.settings.config.pane_widths.items():
            self.query_one(f"#{pane}-pane").styles.width = width
        self._fit()
        # Nested children finish mounting after the screen's own Mount event.
        self.call_after_refresh(self.app.start)  # type: ignore[attr-defined]

    # -- collapsing -----------------------------------------------------------------------

    @property
    def narrow(self) -> bool:
        return self.has_class("narrow")

    @property
    def panes_shown(self) -> bool:
        return self.has_class("panes-open") if self.narrow else not self.has_class("panes-shut")

    def on_resize(self, event: events.Resize) -> None:
        self._fit()

    def _fit(self) -> None:
        side = sum(self._width(pane) + 1 for pane in SIDE_PANES)
        self.set_class(self.app.size.width < side + MIN_CHAT, "narrow")
        focused = self.focused
        if self.narrow and focused is not None and self._in_side_pane(focused):
            self.add_class("panes-open")  # never hide the pane being worked in
        self.query_one("#chat", ChatPane).set_narrow(self.narrow)

    def _width(self, pane: str) -> int:
        width = self.query_one(f"#{pane}-pane").styles.width
        return int(width.value) if width is not None and width.is_cells else 0

    def show_panes(self, shown: bool) -> None:
        """Show or hide the side panes; the focus leaves a pane that goes."""
        self.set_class(shown and self.narrow, "panes-open")
        self.set_class(not shown and not self.narrow, "panes-shut")
        focused = self.focused
        if not shown and focused is not None and self._in_side_pane(focused):
            self.query_one("#composer").focus()

    def action_toggle_panes(self) -> None:
        shown = not self.panes_shown
        self.show_panes(shown)
        if shown:
            self.query_one("#agents").focus()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # The side panes act as a drawer: open when the focus goes to them, and on a narrow
        # screen shut again when it comes back to the chat.
        if self._in_side_pane(event.widget):
            if not self.panes_shown:
                self.show_panes(True)
        elif self.narrow and self.has_class("panes-open"):
            self.show_panes(False)

    def _in_side_pane(self, widget: Widget) -> bool:
        return any(
            ancestor.id in ("agents-pane", "conversations-pane")
            for ancestor in widget.ancestors_with_self
        )

    # -- widths ---------------------------------------------------------------------------

    def action_resize(self, delta: int) -> None:
        """``[`` / ``]`` in a side pane: narrower or wider, kept for the next start."""
        focused = self.focused
        pane = focused.parent if focused is not None else None
        if pane is None or pane.id not in ("agents-pane", "conversations-pane"):
            return
        width = pane.outer_size.width + delta
        pane.styles.width = max(Splitter.MIN_WIDTH, min(width, self.size.width // 2))
        self._keep_width(pane)

    @on(Splitter.Moved)
    def _splitter_moved(self, event: Splitter.Moved) -> None:
        self._keep_width(self.query_one(event.target))

    def _keep_width(self, pane: Widget) -> None:
        name = (pane.id or "").removesuffix("-pane")
        width = self._width(name)
        try:
            self.settings.config.save_pane_width(name, width)
        except OSError as exc:
            self.notify(f"Cannot save the pane width: {exc}", severity="warning")
        self._fit()
