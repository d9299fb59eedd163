"""A change between two values of a memory block, as styled text: words taken out struck
through in red, words put in on green. Word-level, because blocks are prose."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from rich.text import Text

_TOKENS = re.compile(r"\s+|[^\s]+")


def inline_diff(before: str, after: str) -> Text:
    """``after`` with what changed since ``before`` marked inline."""
    old, new = _TOKENS.findall(before), _TOKENS.findall(after)
    text = Text()
    for op, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            text.append("".join(new[j1:j2]))
            continue
        if op in ("delete", "replace"):
            text.append("".join(old[i1:i2]), style="strike red")
        if op in ("insert", "replace"):
            text.append("".join(new[j1:j2]), style="bold black on green")
    return text
