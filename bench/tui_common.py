"""Shared helpers of the TUI benchmarks: a bundled server in a child process, seeding, RSS."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui.launcher import EmbeddedServer  # noqa: E402


def start_server(db: Path | None = None) -> EmbeddedServer:
    """The bundled server as a child process (so the TUI's memory is measured alone)."""
    db = db or Path(tempfile.mkdtemp(prefix="chinwag-bench-")) / "bench.db"
    server = EmbeddedServer(db=db)
    server.spawn()
    asyncio.run(server.wait_ready(timeout=30))
    return server


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux)."""
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def seed(db: Path, conversation_id: str, n: int) -> None:
    """Append ``n`` messages to a conversation directly in the database file."""
    started = time.perf_counter()
    code = (
        "import sys; from pathlib import Path; from tests.seed import seed_history; "
        "seed_history(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(db), conversation_id, str(n)], cwd=ROOT, check=True
    )
    print(f"  (seeded {n:,} messages in {time.perf_counter() - started:.1f} s)")
