"""The agents pane: name and model of every agent on the server."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from shared_schema import Agent


class AgentList(OptionList):
    """Highlighting an agent opens it; ``n`` creates one, ``d`` deletes, ``e`` shows details."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "app.do('agents.new')", "New agent", id="agents.new", priority=True),
        Binding("e", "app.do('agents.details')", "Details", id="agents.details", priority=True),
        Binding("d,delete", "app.do('agents.delete')", "Delete", id="agents.delete", priority=True),
        Binding("[", "screen.resize(-2)", "Narrower", id="pane.narrower", show=False),
        Binding("]", "screen.resize(2)", "Wider", id="pane.wider", show=False),
    ]

    class Chosen(Message):
        def __init__(self, agent: Agent) -> None:
            super().__init__()
            self.agent = agent

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.agents: list[Agent] = []

    def set_agents(self, agents: list[Agent], select: str | None = None) -> None:
        self.agents = agents
        self.clear_options()
        self.add_options([_option(a) for a in agents])
        index = next((i for i, a in enumerate(agents) if a.id == select), 0 if agents else None)
        self.highlighted = index

    @property
    def current(self) -> Agent | None:
        if self.highlighted is None or self.highlighted >= len(self.agents):
            return None
        return self.agents[self.highlighted]

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if (agent := self.current) is not None:
            self.post_message(self.Chosen(agent))


def _option(agent: Agent) -> Option:
    text = Text(agent.name or agent.id, style="bold", overflow="ellipsis", no_wrap=True)
    text.append(f"\n{agent.model or '?'}", style="dim")
    return Option(text, id=agent.id)
