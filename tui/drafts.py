"""The composer's unsent text on disk, so that no crash, kill or quit loses what was typed."""

from __future__ import annotations

import os
from pathlib import Path


class DraftFile:
    """One draft per config directory; written whole (never half a file) or removed when empty."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except OSError:
            return ""

    def save(self, text: str) -> None:
        """Keep ``text``; an empty draft removes the file. Failures are ignored (best effort)."""
        try:
            if not text.strip():
                self.path.unlink(missing_ok=True)
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, self.path)
        except OSError:
            pass
