"""The context view: how full the context window is, by part, against its size."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Label, Static

from tui.client import ContextOverview
from tui.screens.dialogs import KeysFirst

_WIDTH = 30
NEAR_FULL = 0.8  # the share of the window past which compaction is suggested


def bar(part: int, whole: int, style: str) -> Text:
    filled = min(_WIDTH, round(_WIDTH * part / whole)) if whole else 0
    text = Text("█" * filled, style=style)
    text.append("░" * (_WIDTH - filled), style="dim")
    return text


class ContextScreen(KeysFirst):
    """Tokens of the system prompt, memory, summary, messages and tools, and what is left."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f3", "dismiss", "Close", id="context.close"),
    ]
    DEFAULT_CLASSES = "dialog"

    def __init__(self, overview: ContextOverview, compact_key: str = "ctrl+k") -> None:
        super().__init__()
        self.overview = overview
        self.compact_key = compact_key

    def compose(self) -> Iterable[Widget]:
        o = self.overview
        used = o.current or (o.system + o.core_memory + o.summary + o.messages + o.tools)
        table = Table(box=None, show_header=False, expand=False, padding=(0, 1))
        table.add_column("part")
        table.add_column("tokens", justify="right")
        table.add_column("bar")
        rows = (
            ("System prompt", o.system, "magenta"),
            ("Memory blocks", o.core_memory, "green"),
            ("Summary", o.summary, "cyan"),
            ("Messages", o.messages, "blue"),
            ("Tool definitions", o.tools, "yellow"),
        )
        for name, tokens, style in rows:
            table.add_row(name, f"{tokens:,}", bar(tokens, o.window, style))
        table.add_row(Text("Used", style="bold"), f"{used:,}", bar(used, o.window, "bold"))
        share = used / o.window if o.window else 0.0
        with Vertical(classes="box context"):
            yield Label("Context window", classes="title")
            yield Static(
                f"{used:,} of {o.window:,} tokens ({share:.0%}) · {o.num_messages} messages",
                classes="question",
            )
            yield Static(table)
            if o.note:
                yield Static(o.note, classes="hint")
            if share >= NEAR_FULL:
                yield Static(
                    f"⚠ Nearly full: the server will compact soon. {self.compact_key} compacts "
                    "the oldest part now.",
                    classes="warning-hint",
                )
            yield Static("esc: close", classes="hint")
