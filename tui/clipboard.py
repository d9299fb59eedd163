"""Copying text out of the app, and saying truthfully whether it worked.

A terminal never acknowledges an OSC 52 copy (and tmux or many terminals drop it), so the
system's own clipboard tool is tried first; only its success is reported as "copied".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable

# Clipboard commands by platform, tried in order; each reads the text on stdin.
_TOOLS: list[list[str]] = [
    ["wl-copy"],
    ["xclip", "-selection", "clipboard"],
    ["xsel", "--clipboard", "--input"],
    ["pbcopy"],
    ["clip.exe"],
]


def copy_text(text: str, terminal_copy: Callable[[str], None]) -> str:
    """Copy ``text``; returns the sentence to show. ``terminal_copy`` is the OSC 52 fallback
    (``App.copy_to_clipboard``), which is always sent too, for terminals over SSH."""
    terminal_copy(text)
    for tool in _TOOLS:
        if shutil.which(tool[0]) is None:
            continue
        try:
            # Output not captured: xclip keeps serving the selection from a child process.
            done = subprocess.run(
                tool,
                input=text.encode(),
                timeout=2,
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return "Copied to the clipboard."
    where = "this terminal" if sys.stdout.isatty() else "the terminal"
    return (
        f"Sent to {where} to copy (OSC 52). No clipboard tool was found to confirm it: "
        "if nothing was copied, the terminal (or tmux: set-clipboard on) does not allow it."
    )
