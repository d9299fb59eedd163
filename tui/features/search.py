"""Search across everything: ``ctrl+f`` opens the search screen; a chosen hit opens its
conversation at that message, paged around it, with the message marked.

The server searches (``POST /v1/messages/search``, full text); this feature names the hits'
conversations and agents and moves the app there.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, ClassVar

from shared_schema import Agent, Conversation
from tui.client import SearchHit, default_conversation, is_default
from tui.errors import ClientError, NotFound
from tui.parts import Command, Feature
from tui.screens.search import Found, SearchScreen

if TYPE_CHECKING:
    from tui.app import ChinwagApp


class Search(Feature):
    """Runs the queries of the search screen and opens what was chosen."""

    NAME = "search"
    COMMANDS: ClassVar[list[Command]] = [
        Command("search.open", "Search messages", "Find messages of this agent or of every agent"),
    ]

    def __init__(self, app: ChinwagApp) -> None:
        super().__init__(app)
        self.screen: SearchScreen | None = None
        self._names: dict[str, Conversation] = {}
        self._listed: dict[str, set[str]] = {}  # each agent's own conversations (not default)
        self.last_query = ""

    def action_open(self) -> None:
        if self.app.client is None:
            return
        agent = self.app.agent
        self._names.clear()
        self._listed.clear()
        self.screen = SearchScreen(agent.name if agent else None, self.ask, self.last_query)
        self.app.push_screen(self.screen, self.chosen)

    def ask(self, query: str, everywhere: bool) -> None:
        self.last_query = query
        self.run(self.search(query, everywhere), "search messages", exclusive=True)

    async def search(self, query: str, everywhere: bool) -> None:
        app, client, screen = self.app, self.app.client, self.screen
        if client is None or screen is None:
            return
        agent_id = None if everywhere or app.agent is None else app.agent.id
        try:
            hits = await client.search(query, agent_id=agent_id)
            found = await self._name(hits)
        except NotFound:
            screen.set_status("This server cannot search messages.")
            return
        except ClientError as exc:
            screen.set_status(exc.message)
            return
        if screen.is_attached:
            screen.show_found(query, found)

    async def _name(self, hits: list[SearchHit]) -> list[Found]:
        """Name each hit's conversation and agent (read once per conversation, then kept).

        A conversation that its agent's listing leaves out is the agent's default one (the
        bundled server files it under a row of its own; Letta gives no conversation at all)."""
        client = self.app.client
        assert client is not None
        agents = {a.id: a for a in self.app.agents.agents}
        unknown = {h.conversation_id for h in hits if h.conversation_id} - set(self._names)

        async def read(conversation_id: str) -> None:
            with contextlib.suppress(ClientError):
                self._names[conversation_id] = await client.get_conversation(conversation_id)

        await asyncio.gather(*(read(c) for c in unknown))
        owners = {c.agent_id for c in self._names.values() if not is_default(c.id)}

        async def listing(agent_id: str) -> None:
            with contextlib.suppress(ClientError):
                listed = await client.list_conversations(agent_id)
                self._listed[agent_id] = {c.id for c in listed}

        await asyncio.gather(*(listing(a) for a in owners - set(self._listed) if a))
        found = []
        for hit in hits:
            conversation = self._names.get(hit.conversation_id or "")
            agent_id = hit.agent_id or (conversation.agent_id if conversation else None)
            agent = agents.get(agent_id or "")
            listed = self._listed.get(agent_id or "", set())
            unlisted = conversation is not None and (
                is_default(conversation.id) or conversation.id not in listed
            )
            if unlisted and agent is not None:
                conversation = default_conversation(agent)
            title = "(unknown conversation)"
            if conversation is not None:
                title = conversation.summary or "New conversation"
            found.append(Found(hit, title, agent.name if agent else "?", conversation))
        return found

    def chosen(self, found: Found | None) -> None:
        self.screen = None
        if found is not None:
            self.run(self.go(found), "open search hit", exclusive=True)

    async def go(self, found: Found) -> None:
        """Select the hit's agent and conversation, and open it around the message."""
        app = self.app
        conversation = found.target
        message_id = getattr(found.hit.message, "id", None)
        if conversation is None or not message_id:
            app.notify("That message's conversation cannot be found.", severity="warning")
            return
        agent = next((a for a in app.agents.agents if a.id == conversation.agent_id), None)
        if agent is None:
            return
        self._select(agent, conversation)
        app.chat.open_at(conversation, message_id)

    def _select(self, agent: Agent, conversation: Conversation) -> None:
        """Point the lists at the hit (their Chosen messages then find it already open)."""
        app = self.app
        app.chat.conversation = conversation
        if app.agent is None or app.agent.id != agent.id:
            app.agent = agent
            app.status.model = agent.model or ""
            app.agents.highlighted = app.agents.agents.index(agent)
            app.part("memory").agent_changed()  # type: ignore[attr-defined]
        app.conversations_pane.load(select=conversation.id)
