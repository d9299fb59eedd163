"""What every pane and feature shares: palette commands, typed access to the app, workers.

A *pane* is a widget that owns the flows of what it shows (``tui/panes/``); a *feature* is a
small controller for a flow that has no pane of its own (``tui/features/``). Both are reached
from keys and the palette by a target ``"<name>.<action>"``: ``app.do('compaction.open')``
calls ``action_open`` of the part registered as ``compaction``.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.worker import Worker

if TYPE_CHECKING:
    from tui.app import ChinwagApp
    from tui.client import ChinwagClient


@dataclass(frozen=True)
class Command:
    """One palette entry: the target it runs (``"<part>.<action>"``), its title and help."""

    target: str
    title: str
    help: str


class Part:
    """Typed access to the app for panes (mixed into a widget) and features."""

    COMMANDS: ClassVar[list[Command]] = []

    @property
    def chinwag(self) -> ChinwagApp:
        return cast("ChinwagApp", self.app)  # type: ignore[attr-defined]

    @property
    def client(self) -> ChinwagClient | None:
        return self.chinwag.client

    def check(self, action: str) -> bool | None:
        """Whether ``action`` can run now (``False`` hides its key, ``None`` dims it)."""
        return True


class Feature(Part):
    """A flow without a pane of its own (compaction, export, help, the connection).

    It runs its network calls as app workers (``run``) and reports back through dialogs,
    notifications and the panes' public methods.
    """

    NAME: ClassVar[str]

    def __init__(self, app: ChinwagApp) -> None:
        self.app = app

    def run(
        self,
        work: Coroutine[Any, Any, Any],
        description: str,
        *,
        exclusive: bool = False,
        group: str = "",
    ) -> Worker[Any]:
        """Run ``work`` as a worker of the app, in this feature's own group (or its
        ``<name>.<group>``: ``exclusive`` cancels only that group's running worker)."""
        return self.app.run_worker(
            work,
            group=f"{self.NAME}.{group}" if group else self.NAME,
            description=description,
            exclusive=exclusive,
        )
