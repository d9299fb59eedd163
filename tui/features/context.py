"""The context view (``f3``): the server's overview of the context window, or, on servers
without one, the app's own estimate from the agent and the transcript (4 characters a token)."""

from __future__ import annotations

import json
from typing import ClassVar

from tui.client import ContextOverview, agent_blocks, is_default
from tui.errors import ClientError, NotFound
from tui.parts import Command, Feature
from tui.screens.context import ContextScreen


class Context(Feature):
    NAME = "context"
    COMMANDS: ClassVar[list[Command]] = [
        Command(
            "context.open",
            "Context window",
            "Tokens by part (system, memory, summary, messages, tools) against the window",
        ),
    ]

    def check(self, action: str) -> bool | None:
        return self.app.agent is not None

    def action_open(self) -> None:
        if self.app.agent is None or self.app.client is None:
            self.app.notify("Pick an agent first.")
            return
        self.run(self.show(), "context overview", exclusive=True)

    async def show(self) -> None:
        app, client, agent = self.app, self.app.client, self.app.agent
        if client is None or agent is None:
            return
        conversation = app.conversation
        named = conversation.id if conversation and not is_default(conversation.id) else None
        try:
            overview = await client.context_overview(agent.id, named)
        except NotFound:
            overview = self.estimate()
        except ClientError as exc:
            app.report(exc)
            return
        key = app.key_of("app.compact", "ctrl+k")
        app.push_screen(ContextScreen(overview, compact_key=key))

    def estimate(self) -> ContextOverview:
        """Count what the model is sent: the agent's system prompt, blocks and tools, and the
        open conversation's in-context messages as the transcript shows them."""
        app = self.app
        agent = app.agent
        assert agent is not None
        blocks = agent_blocks(agent)
        entries = [e for e in app.messages.entries() if e.in_context and e.kind != "system"]
        summary = sum(len(e.text) for e in entries if e.kind == "summary")
        messages = sum(len(e.text) for e in entries if e.kind != "summary")
        window = agent.llm_config.context_window if agent.llm_config else 0
        tokens = [
            len(agent.system) // 4,
            sum(len(b.value) + len(b.label) for b in blocks) // 4,
            summary // 4,
            messages // 4,
            len(json.dumps(agent.tools)) // 4 if agent.tools else 0,
        ]
        if app.chat.usage is not None:  # the last turn's prompt, as the model counted it
            tokens[3] = max(tokens[3], app.chat.usage.prompt_tokens - sum(tokens) + tokens[3])
        return ContextOverview(
            window=window,
            current=sum(tokens),
            system=tokens[0],
            core_memory=tokens[1],
            summary=tokens[2],
            messages=tokens[3],
            tools=tokens[4],
            num_messages=len(entries),
            note="Estimated by the app: this server gives no context overview.",
        )
