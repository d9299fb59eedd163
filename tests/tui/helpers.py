"""Waiting on the app without sleeping, reading what is on screen, and chatting through it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.app import App
from textual.pilot import Pilot

from tui.widgets.messages import LiveBlock, MessageBlock


async def wait_until(
    pilot: Pilot, predicate: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    """Let the app run until ``predicate()`` is true; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.02)


async def wait_for_workers(pilot: Pilot, timeout: float = 10.0) -> None:
    """Wait until no worker of the app is running (network calls done)."""
    await wait_until(
        pilot,
        lambda: not [w for w in pilot.app.workers if w.is_running],
        timeout,
        "workers to finish",
    )


def screen_text(pilot: Pilot) -> str:
    """The screen as plain text, for asserting on what a person would read."""
    strips = pilot.app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip).rstrip() for strip in strips)


async def run_in_thread(func: Callable[[], object]) -> object:
    return await asyncio.to_thread(func)


def type_burst(pilot: Pilot, *keys: str) -> None:
    """Deliver keys the way a terminal does when someone types (or pastes) fast: all queued at
    once, without waiting for the app to handle one before the next arrives."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    app = pilot.app
    assert app._driver is not None
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        original = REPLACED_KEYS.get(key, key)
        try:
            char: str | None = unicodedata.lookup(_get_unicode_name_from_key(original))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


def replies(app: App) -> list[str]:
    """The texts of the replies streamed in this session."""
    return [b.entry.text for b in app.query(LiveBlock)]


async def send(pilot: Pilot, text: str, timeout: float = 10.0) -> None:
    """Type and send; returns once the user's block is in the transcript."""
    app = pilot.app
    app.action_focus("composer")
    await pilot.press(*text, "enter")
    await wait_until(
        pilot,
        lambda: any(b.entry.text == text for b in app.query(MessageBlock)),
        timeout,
        f"{text!r} to be sent",
    )


async def send_and_wait(pilot: Pilot, text: str, timeout: float = 10.0) -> None:
    """Send, then wait for the reply to finish and every network call to end."""
    await send(pilot, text, timeout)
    await wait_until(pilot, lambda: not pilot.app.streaming, timeout, "the reply to finish")
    await wait_for_workers(pilot, timeout)


async def idle_in(pilot: Pilot, pane: str, *, ready: Callable[[], object] | None = None) -> None:
    """Wait until the app is ready (by default: its agent selected) and idle, then focus
    ``pane``: where a test starts typing."""
    app = pilot.app
    await wait_until(pilot, ready or (lambda: app.agent is not None), what="the app ready")
    await wait_for_workers(pilot)
    app.action_focus(pane)  # type: ignore[attr-defined]
