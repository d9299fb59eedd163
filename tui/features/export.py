"""Getting text out of the app: the whole conversation as Markdown, the last reply copied."""

from __future__ import annotations

import re
from typing import ClassVar

from tui.clipboard import copy_text
from tui.errors import ClientError
from tui.parts import Command, Feature
from tui.transcript import entry_of, to_markdown


class Export(Feature):
    """Export pages through the whole history (compacted messages included)."""

    NAME = "export"
    COMMANDS: ClassVar[list[Command]] = [
        Command(
            "export.export",
            "Export conversation to Markdown",
            "Write the whole history to a .md file",
        ),
        Command(
            "export.copy_last",
            "Copy last reply",
            "Copy the newest assistant message to the clipboard",
        ),
    ]

    def action_export(self) -> None:
        self.run(self.export(), "action export", exclusive=True)

    async def export(self) -> None:
        app = self.app
        conversation, client = app.conversation, app.client
        if conversation is None or client is None:
            app.notify("Open a conversation first.")
            return
        entries = []
        try:
            page = await client.list_messages(
                conversation.id, order="asc", limit=500, include_compacted=True
            )
            while page:
                entries += [entry_of(m) for m in page]
                page = (
                    await client.newer_page(
                        conversation.id,
                        page[-1].id,  # type: ignore[attr-defined]
                        500,
                        include_compacted=True,
                    )
                ).messages
        except ClientError as exc:
            app.report(exc)
            return
        title = conversation.summary or conversation.id
        path = app.settings.export_dir / f"chinwag-{_slug(title)}.md"
        path.write_text(to_markdown(title, entries), encoding="utf-8")
        app.notify(f"Exported {len(entries)} messages to {path}", title="Export")

    def action_copy_last(self) -> None:
        replies = [e for e in self.app.messages.entries() if e.kind == "assistant"]
        if replies:
            said = copy_text(replies[-1].text, self.app.copy_to_clipboard)
            self.app.notify(f"Last reply: {said}", timeout=4)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "conversation"
