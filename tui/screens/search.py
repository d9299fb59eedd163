"""The search screen: a query field, a scope, and the hits (conversation, date, snippet).

It only shows; the search feature (``tui/features/search.py``) runs the queries and opens the
chosen hit. ``tab`` moves between the field and the hits, ``ctrl+a`` switches between this
agent and every agent, ``enter`` on a hit opens it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from shared_schema import Conversation
from tui.client import SearchHit
from tui.screens.dialogs import KeysFirst
from tui.transcript import clock_of, entry_of

_SNIPPET = 110


@dataclass(frozen=True)
class Found:
    """A hit as listed: where it is (names resolved by the feature) and the hit itself."""

    hit: SearchHit
    conversation: str
    agent: str
    target: Conversation | None  # what to open: the default conversation is named by its agent


def snippet(text: str, query: str, width: int = _SNIPPET) -> Text:
    """The part of ``text`` around the first matching term, with every term highlighted."""
    flat = " ".join(text.split())
    terms = [t for t in re.findall(r"\w+", query.lower()) if t]
    lowered = flat.lower()
    first = min((i for i in (lowered.find(t) for t in terms) if i >= 0), default=0)
    start = max(0, first - width // 3)
    shown = flat[start : start + width]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(flat) else ""
    out = Text(prefix + shown + suffix)
    offset = len(prefix)
    for term in terms:
        for match in re.finditer(re.escape(term), shown.lower()):
            out.stylize("bold black on yellow", offset + match.start(), offset + match.end())
    return out


class SearchScreen(KeysFirst):
    """Type, ``enter`` to search; ``↓``/``tab`` to the hits, ``enter`` opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Close", id="search.close"),
        Binding("ctrl+a", "scope", "This agent / all agents", id="search.scope", priority=True),
        Binding("down", "hits", "To the results", id="search.results", show=False),
    ]
    DEFAULT_CLASSES = "dialog"

    def __init__(
        self, agent_name: str | None, on_ask: Callable[[str, bool], None], query: str = ""
    ) -> None:
        super().__init__()
        self.agent_name = agent_name
        self.everywhere = agent_name is None
        self.on_ask = on_ask
        self.query_text = query
        self.found: list[Found] = []

    def compose(self) -> Iterable[Widget]:
        with Vertical(classes="box search"):
            yield Label("Search messages", classes="title")
            field = Input(self.query_text, placeholder="words to find", id="query")
            field.cursor_blink = False
            yield field
            yield Label(Text(self._scope_text()), classes="scope")
            yield Static("", classes="search-status")
            yield OptionList(classes="hits")
            yield Static(
                "enter: search / open · ↓ tab: results · ctrl+a: this agent / all · esc: close",
                classes="hint",
            )

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#query", Input).focus()

    def _scope_text(self) -> str:
        return "in: every agent" if self.everywhere else f"in: {self.agent_name}"

    def action_scope(self) -> None:
        if self.agent_name is None:
            return
        self.everywhere = not self.everywhere
        self.query_one(".scope", Label).update(Text(self._scope_text()))
        self._ask()

    def action_hits(self) -> None:
        hits = self.query_one(OptionList)
        if self.focused is self.query_one("#query", Input) and hits.option_count:
            hits.focus()
            hits.highlighted = hits.highlighted or 0

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._ask()

    def _ask(self) -> None:
        query = self.query_one("#query", Input).value.strip()
        if query:
            self.set_status("searching…")
            self.on_ask(query, self.everywhere)

    def set_status(self, text: str) -> None:
        self.query_one(".search-status", Static).update(Text(text))

    def show_found(self, query: str, found: list[Found]) -> None:
        """Replace the hits with ``found`` (best first)."""
        self.found = found
        hits = self.query_one(OptionList)
        hits.clear_options()
        hits.add_options([Option(self._line(f, query)) for f in found])
        count = f"{len(found)} result" + ("" if len(found) == 1 else "s")
        self.set_status(f"{count} for “{query}”" if found else f"Nothing found for “{query}”.")

    def _line(self, found: Found, query: str) -> Text:
        entry = entry_of(found.hit.message)
        where = found.conversation
        if self.everywhere:
            where = f"{found.agent} › {where}"
        text = Text(where, style="bold")
        date = entry.date or ""
        if date:
            text.append(f"  {date[:10]} {clock_of(date)}", style="dim")
        who = {"user": "you", "assistant": "assistant"}.get(entry.kind, entry.kind)
        text.append(f"  {who}", style="italic dim")
        text.append("\n")
        text.append_text(snippet(entry.text, query))
        return text

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.found[event.option_index])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
