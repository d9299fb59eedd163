"""Cold start of ``chinwag``: a fresh Python process to the first frame, and to agents listed.

Two cases: a server already running (``--server URL``; target ≤ 1.5 s) and the bundled server
started as a child by the TUI itself (target ≤ 3 s). Each run is a new process, so imports count.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tui_common import ROOT, start_server

from tui.client import ChinwagClient

RUNS = 3
CHILD = """
import os, sys, time
from pathlib import Path
t0 = float(os.environ["BENCH_T0"])
from tui.app import ChinwagApp
from tui.config import Config
from tui.launcher import EmbeddedServer
from tui.settings import AppSettings
url = sys.argv[1] if len(sys.argv) > 1 else None
launcher = None
if url is None:
    launcher = EmbeddedServer(db=Path(os.environ["BENCH_DB"]))
    launcher.spawn()
config = Config(path=Path(os.environ["BENCH_DB"]).with_name("config.toml"))
app = ChinwagApp(AppSettings(config=config, server_url=url, launcher=launcher, health_interval=0))
marks = {}

async def auto_pilot(pilot):
    await pilot.pause()
    marks["frame"] = time.time() - t0
    while app.status.state != "connected" or app.agent is None:
        await pilot.pause(0.005)
    marks["agents"] = time.time() - t0
    app.exit()

try:
    app.run(headless=True, auto_pilot=auto_pilot, size=(120, 40))
finally:
    if launcher is not None:
        launcher.stop()
print(marks["frame"], marks["agents"])
"""


def cold_start(url: str | None, db: Path) -> tuple[float, float]:
    env = {**os.environ, "BENCH_T0": repr(time.time()), "BENCH_DB": str(db)}
    args = [sys.executable, "-c", CHILD] + ([url] if url else [])
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    frame, agents = out.stdout.split()[-2:]
    return float(frame), float(agents)


def report(label: str, runs: list[tuple[float, float]]) -> None:
    frame = statistics.median(r[0] for r in runs)
    agents = statistics.median(r[1] for r in runs)
    print(f"{label}: first frame {frame:.2f} s, agents listed {agents:.2f} s (median of {RUNS})")


def main() -> None:
    db = Path(tempfile.mkdtemp(prefix="chinwag-bench-")) / "startup.db"
    server = start_server(db)
    try:

        async def prepare() -> None:
            api = ChinwagClient(server.url)
            await api.create_agent("starter")
            await api.aclose()

        asyncio.run(prepare())
        report("running server", [cold_start(server.url, db) for _ in range(RUNS)])
    finally:
        server.stop()
    report("bundled server started too", [cold_start(None, db) for _ in range(RUNS)])


if __name__ == "__main__":
    main()
