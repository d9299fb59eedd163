"""Object ids: ``<prefix>-<uuid4>`` in lower-case hex, as Letta writes them."""

import re
import uuid

_ID_RE = re.compile(r"^[a-z]+-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def new_id(prefix: str) -> str:
    """Return a fresh id such as ``agent-3f0c…``."""
    return f"{prefix}-{uuid.uuid4()}"


def is_valid_id(value: str, prefix: str) -> bool:
    """True when ``value`` is a well-formed id with this prefix (it may still name nothing)."""
    return value.startswith(prefix + "-") and bool(_ID_RE.match(value))
