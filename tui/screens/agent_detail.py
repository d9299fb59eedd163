"""The agent detail view: model, editable memory blocks and system prompt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Footer, Label, Select, Static, TextArea

from shared_schema import Agent, ModelInfo
from tui.client import agent_blocks
from tui.errors import ClientError
from tui.screens.dialogs import KeysFirst


@dataclass
class AgentChanges:
    """What the user edited; only these are sent to the server."""

    model: str | None = None
    system: str | None = None
    blocks: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.model or self.system is not None or self.blocks)


Saver = Callable[[Agent, AgentChanges], Awaitable[Agent]]


class AgentDetailScreen(KeysFirst):
    """``ctrl+s`` saves the edits, ``escape`` leaves without saving.

    It opens at once, saying it is loading, and holds the keys typed meanwhile; :meth:`show`
    puts the agent's fields in and hands them the keys. It stays open until ``save`` has
    succeeded: a failed save is shown inside it, with every edit still there for ``ctrl+s``
    to try again. It is dismissed with the saved agent (``None`` when nothing was saved).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="agent.save", priority=True),
        Binding("escape", "dismiss_none", "Back", id="agent.back"),
    ]
    LOADS_CONTENT = True

    def __init__(self, save: Saver, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.save = save
        self.saving = False
        self.cursor_blink = cursor_blink
        self.agent: Agent | None = None
        # Block labels are user data (spaces, dots, slashes are legal): never widget ids.
        self.block_areas: dict[str, TextArea] = {}

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
            Label(Text(f"Agent {agent.name}"), classes="title"),
            Label(f"id {agent.id}", classes="dim"),
            Label("Model"),
            Select(
                [(h, h) for h in handles],
                value=agent.model if agent.model in handles else Select.NULL,
                id="model",
            ),
        ]
        self.block_areas = {}
        for block in self.blocks():
            heading = f"Memory block: {block.label}  ({len(block.value)}/{block.limit})"
            label = Label(Text(heading))  # Text: a label's brackets are not markup
            area = TextArea(block.value, classes="block", tab_behavior="focus")
            self.block_areas[block.label] = area
            fields += [label, area]
        fields += [
            Label("System prompt"),
            TextArea(agent.system, id="system", classes="system", tab_behavior="focus"),
            Static(id="save-error"),
            Button("Save (ctrl+s)", variant="primary", id="save"),
        ]
        return fields

    def blocks(self) -> list:
        assert self.agent is not None
        return agent_blocks(self.agent)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_save()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        if self.agent is None or self.saving:
            return
        changes = self.changes(self.agent)
        if not changes:
            self.dismiss(None)
            return
        self.saving = True
        self.run_worker(
            self._save(self.agent, changes), group="dialog", description="save agent details"
        )

    async def _save(self, agent: Agent, changes: AgentChanges) -> None:
        error = self.query_one("#save-error", Static)
        error.display = False
        try:
            saved = await self.save(agent, changes)
        except ClientError as exc:
            error.update(
                Text(f"⚠ Not saved: {exc.message}\nYour edits are kept: ctrl+s tries again.")
            )
            error.display = True
            return
        finally:
            self.saving = False
        self.dismiss(saved)

    def changes(self, agent: Agent) -> AgentChanges:
        """What differs from ``agent`` in the fields now."""
        changes = AgentChanges()
        model = self.query_one("#model", Select).value
        if isinstance(model, str) and model != agent.model:
            changes.model = model
        system = self.query_one("#system", TextArea).text
        if system != agent.system:
            changes.system = system
        for block in self.blocks():
            value = self.block_areas[block.label].text
            if value != block.value:
                changes.blocks[block.label] = value
        return changes
