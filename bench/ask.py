"""Wall time of ``chinwag ask "…"``, a fresh process each run, as a script would see it.

Three figures: the process start and imports alone (``chinwag ask --help``), a call to a server
that is already running (``--server URL``), and a call that starts the bundled server and stops
it afterwards (``--db``). The model is the builtin offline one, so the figures are chinwag's own.

Run: ``.venv/bin/python bench/ask.py`` (or ``python -m bench.ask``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import BenchServer, Stats, machine, workspace  # noqa: E402

RUNS = 7


def timed(args: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning ``python -m tui ARGS`` to its exit (which must be 0)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "tui", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"chinwag {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return elapsed


def series(args: list[str], env: dict[str, str]) -> Stats:
    return Stats.of([timed(args, env) for _ in range(RUNS)])


def main() -> None:
    print(f"chinwag ask wall time, {RUNS} runs each; {machine()}")
    with workspace() as work:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LETTA_", "OPENAI_"))}
        env |= {"CHINWAG_CONFIG": str(work / "config.toml"), "XDG_STATE_HOME": str(work)}
        print(f"  process start + imports (--help)  {series(['ask', '--help'], env)}")
        with BenchServer(work) as server:
            timed(["ask", "--server", server.url, "warm-up: creates the agent"], env)
            running = series(["ask", "--server", server.url, "hello"], env)
        print(f"  running server (--server)         {running}")
        bundled = series(["ask", "--db", str(server.db_path), "hello"], env)
        print(f"  bundled server (--db)             {bundled}")


if __name__ == "__main__":
    main()
