"""The agents pane and its flows: list, create, details (view and save), delete.

Selecting an agent posts :class:`AgentList.Chosen`; the app routes it to the other panes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual import work
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Label

from shared_schema import Agent, ModelInfo
from tui.errors import ClientError, ConnectionFailed
from tui.parts import Command, Part
from tui.screens.agent_detail import AgentChanges, AgentDetailScreen
from tui.screens.dialogs import ConfirmDialog, NewAgent, NewAgentDialog
from tui.widgets.agents import AgentList


class AgentsPane(Part, Vertical):
    """Owns agent CRUD; its list's keys (``n``, ``e``, ``d``) run the actions here."""

    COMMANDS: ClassVar[list[Command]] = [
        Command(
            "agents.new", "New agent", "Create an agent: name, model, persona and human blocks"
        ),
        Command(
            "agents.details", "Agent details", "Model, memory blocks and system prompt of the agent"
        ),
        Command("agents.delete", "Delete agent", "Delete the selected agent and its conversations"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.models: list[ModelInfo] = []

    def compose(self) -> Iterable[Widget]:
        yield Label("Agents", classes="pane-title")
        yield AgentList(id="agents")

    class Deleted(Message):
        """The selected agent is gone, with its conversations."""

    def show_agents(self, agents: list[Agent], select: str | None = None) -> None:
        self.query_one(AgentList).set_agents(agents, select=select)

    def highlighted_agent(self) -> Agent | None:
        """The agent a key acts on: the open one, or the one highlighted while a re-list (after
        a save) has not yet opened it again."""
        return self.chinwag.agent or self.query_one(AgentList).current

    # -- create ---------------------------------------------------------------------------

    def action_new(self) -> None:
        """Open the dialog at once (keys typed next go to it); the models fill in when known."""
        if self.client is None:
            return
        dialog = NewAgentDialog(self.models, cursor_blink=self.chinwag.settings.cursor_blink)
        dialog.focus_after = self.chinwag.composer

        def created(result: NewAgent | None) -> None:
            if result is not None:
                self.create_agent(result)

        self.app.push_screen(dialog, created)
        if not self.models:
            self.load_models(dialog)

    @work(group="models", description="load models")
    async def load_models(self, dialog: NewAgentDialog) -> None:
        assert self.client is not None
        try:
            self.models = await self.client.list_models()
        except ClientError as exc:
            self.chinwag.report(exc)
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
            self.chinwag.report(exc)
            return
        self.show_agents(agents, select=agent.id)

    # -- details --------------------------------------------------------------------------

    def action_details(self) -> None:
        """Open the view at once (keys typed next land in it); its fields come with the agent."""
        agent = self.highlighted_agent()
        if self.client is None or agent is None:
            return
        screen = AgentDetailScreen(
            self.save_changes, cursor_blink=self.chinwag.settings.cursor_blink
        )

        def closed(saved: Agent | None) -> None:
            if saved is not None:
                self.saved(saved)

        self.app.push_screen(screen, closed)
        self.load_agent_details(screen, agent.id)

    @work(exclusive=True, group="dialog", description="load agent details")
    async def load_agent_details(self, screen: AgentDetailScreen, agent_id: str) -> None:
        assert self.client is not None
        try:
            agent = await self.client.get_agent(agent_id)
            self.models = self.models or await self.client.list_models()
        except ClientError as exc:
            screen.dismiss(None)
            self.chinwag.report(exc)
            return
        await screen.show(agent, self.models)

    async def save_changes(self, agent: Agent, changes: AgentChanges) -> Agent:
        """Send the edits (the detail view shows a failure and keeps them for a retry)."""
        client = self.client
        if client is None:
            raise ConnectionFailed(self.chinwag.url, "not connected")
        for label, value in changes.blocks.items():
            await client.update_block(agent.id, label, value)
        edits = (("model", changes.model), ("system", changes.system))
        fields = {k: v for k, v in edits if v is not None}
        if fields:
            agent = await client.update_agent(agent.id, **fields)
        return agent

    @work(exclusive=True, group="agents", description="list agents")
    async def saved(self, agent: Agent) -> None:
        """List the agents again so the saved one shows its new fields."""
        assert self.client is not None
        try:
            agents = await self.client.list_agents()
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        self.chinwag.agent = None  # force a reload of the selection
        self.show_agents(agents, select=agent.id)
        self.notify(f"Saved agent {agent.name}.")

    # -- delete ---------------------------------------------------------------------------

    def action_delete(self) -> None:
        agent = self.highlighted_agent()
        if agent is None or self.client is None:
            return
        question = f"Delete agent “{agent.name}” with all its conversations and messages?"
        self.app.push_screen(
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
            self.chinwag.report(exc)
            return
        self.post_message(self.Deleted())
        self.show_agents(agents)
