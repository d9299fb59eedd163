"""Getting text out of the app: the whole conversation as Markdown, the last reply copied."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from shared_schema import Conversation
from tui.clipboard import copy_text
from tui.errors import ClientError
from tui.parts import Command, Feature
from tui.screens.dialogs import TextDialog
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
        """Ask where to write (a file name in the export directory, proposed), then write."""
        app = self.app
        conversation = app.conversation
        if conversation is None or app.client is None:
            app.notify("Open a conversation first.")
            return
        title = conversation.summary or conversation.id
        proposed = app.settings.export_dir / f"chinwag-{_slug(title)}.md"
        dialog = TextDialog(
            "Export conversation to Markdown",
            "Write it to",
            str(proposed),
            ok="Export",
            cursor_blink=app.settings.cursor_blink,
        )

        def chosen(where: str | None) -> None:
            if where:
                path = Path(where).expanduser()
                if not path.is_absolute():
                    path = app.settings.export_dir / path
                self.run(self.export(conversation, path), "action export", exclusive=True)

        app.push_screen(dialog, chosen)

    async def export(self, conversation: Conversation, path: Path) -> None:
        app = self.app
        client = app.client
        if client is None:
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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(to_markdown(title, entries), encoding="utf-8")
        except OSError as exc:
            app.notify(f"Cannot write {path}: {exc}", title="Export", severity="error")
            return
        app.notify(f"Exported {len(entries)} messages to {path}", title="Export")

    def action_copy_last(self) -> None:
        replies = [e for e in self.app.messages.entries() if e.kind == "assistant"]
        if replies:
            said = copy_text(replies[-1].text, self.app.copy_to_clipboard)
            self.app.notify(f"Last reply: {said}", timeout=4)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "conversation"
