"""The status bar: server URL and version, connection state and latency, model, context use."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class StatusBar(Static):
    """One line that says where we are connected and how full the context is."""

    url: reactive[str] = reactive("")
    version: reactive[str] = reactive("")
    state: reactive[str] = reactive("connecting")
    latency_ms: reactive[float | None] = reactive(None)
    model: reactive[str] = reactive("")
    context: reactive[str] = reactive("")
    activity: reactive[str] = reactive("")
    waiting: reactive[str] = reactive("")

    def __init__(self, *, show_latency: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.show_latency = show_latency

    def render(self) -> Text:
        dot = {"connected": "●", "connecting": "◌"}.get(self.state, "✖")
        style = {"connected": "green", "connecting": "yellow"}.get(self.state, "red")
        text = Text()
        text.append(f" {dot} {self.state}", style=style)
        if self.state == "connected" and self.latency_ms is not None:
            text.append(f" {self.latency_ms:.0f} ms" if self.show_latency else " – ms")
        text.append(f"  {self.url}", style="bold")
        if self.version:
            text.append(f" v{self.version}", style="dim")
        if self.model:
            text.append(f"  model {self.model}")
        if self.context:
            text.append(f"  context {self.context}")
        if self.waiting:
            text.append(f"  {self.waiting}", style="bold yellow")
        if self.activity:
            text.append(f"  {self.activity}", style="italic")
        return text
