"""The agent detail view: model, editable memory blocks and system prompt."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Footer, Label, Select, TextArea

from shared_schema import Agent, ModelInfo
from tui.screens.dialogs import KeysFirst


@dataclass
class AgentChanges:
    """What the user edited; only these are sent to the server."""

    model: str | None = None
    system: str | None = None
    blocks: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.model or self.system is not None or self.blocks)


class AgentDetailScreen(KeysFirst):
    """``ctrl+s`` saves the edits, ``escape`` leaves without saving.

    It opens at once, saying it is loading, and holds the keys typed meanwhile; :meth:`show`
    puts the agent's fields in and hands them the keys.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="agent.save", priority=True),
        Binding("escape", "dismiss_none", "Back", id="agent.back"),
    ]
    LOADS_CONTENT = True

    def __init__(self, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.cursor_blink = cursor_blink
        self.agent: Agent | None = None

    def compose(self) -> Iterable[Widget]:
        with VerticalScroll(id="agent-detail"):
            yield Label("Loading the agent…", classes="dim")
        yield Footer()

    async def show(self, agent: Agent, models: list[ModelInfo]) -> None:
        """Fill in the agent's fields, focus the first one and replay the keys held so far."""
        await self.mounted.wait()
        self.agent = agent
        view = self.query_one("#agent-detail", VerticalScroll)
        await view.remove_children()
        await view.mount_all(self._fields(agent, models))
        for area in self.query(TextArea):
            area.cursor_blink = self.cursor_blink
        self.query_one("#model", Select).focus()
        await self.take_keys()

    def _fields(self, agent: Agent, models: list[ModelInfo]) -> list[Widget]:
        handles = [m.handle for m in models]
        if agent.model and agent.model not in handles:
            handles.insert(0, agent.model)
        fields: list[Widget] = [
            Label(f"Agent {agent.name}", classes="title"),
            Label(f"id {agent.id}", classes="dim"),
            Label("Model"),
            Select(
                [(h, h) for h in handles],
                value=agent.model if agent.model in handles else Select.NULL,
                id="model",
            ),
        ]
        for block in self.blocks():
            fields.append(Label(f"Memory block: {block.label}  ({len(block.value)}/{block.limit})"))
            fields.append(
                TextArea(
                    block.value, id=f"block-{block.label}", classes="block", tab_behavior="focus"
                )
            )
        fields += [
            Label("System prompt"),
            TextArea(agent.system, id="system", classes="system", tab_behavior="focus"),
            Button("Save (ctrl+s)", variant="primary", id="save"),
        ]
        return fields

    def blocks(self) -> list:
        assert self.agent is not None
        return self.agent.memory.blocks or self.agent.blocks

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        if self.agent is None:
            return
        changes = AgentChanges()
        model = self.query_one("#model", Select).value
        if isinstance(model, str) and model != self.agent.model:
            changes.model = model
        system = self.query_one("#system", TextArea).text
        if system != self.agent.system:
            changes.system = system
        for block in self.blocks():
            value = self.query_one(f"#block-{block.label}", TextArea).text
            if value != block.value:
                changes.blocks[block.label] = value
        self.dismiss(changes)
