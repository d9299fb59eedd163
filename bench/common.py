"""Shared helpers for the benchmarks: a real server subprocess, RSS, percentiles, result tables.

The server runs as its own process (``python -m backend serve``) so that its RSS is its own and
the client's work never shares its event loop. Each server gets a temporary directory holding its
database, config file and log; everything is removed on exit, Ctrl-C included.
"""

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from backend.store import Store

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB, from ``/proc/<pid>/status`` (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads), from ``/proc/<pid>/stat``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scheduled_cpu_seconds(pid: int) -> float:
    """CPU time of a process's live threads to the nanosecond, from the scheduler's own
    accounting (``/proc/<pid>/task/*/schedstat``): for figures of a fraction of a millisecond,
    where ``/proc/<pid>/stat``'s clock ticks (10 ms) are too coarse."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def child_pids(pid: int) -> list[int]:
    """The processes that ``pid`` started and that still run."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = task / "children"
        if children.exists():
            found += [int(c) for c in children.read_text().split()]
    return found


def process_tree_cpu_seconds(
    pid: int, of_process: Callable[[int], float] = process_cpu_seconds
) -> float:
    """CPU of a process and its live descendants (``--workers`` servers run in children),
    each read with ``of_process``."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += of_process(current)
            todo += child_pids(current)
    return total


def machine() -> str:
    """CPU count and load average: on a shared machine, figures mean little without them."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load}"


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100): always one of the measured values."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Stats:
    """p50, p95 and max of a series of timings, in milliseconds."""

    p50: float
    p95: float
    max: float
    n: int

    @classmethod
    def of(cls, seconds: list[float]) -> "Stats":
        ms = [s * 1000 for s in seconds]
        return cls(percentile(ms, 50), percentile(ms, 95), max(ms), len(ms))

    def __str__(self) -> str:
        return f"p50 {self.p50:7.2f}  p95 {self.p95:7.2f}  max {self.max:7.2f} ms  (n={self.n})"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def to_toml(tables: dict[str, dict[str, Any]]) -> str:
    """A flat TOML document of ``{"providers.builtin": {"delta_delay": 0.1}}`` tables."""
    lines: list[str] = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
        lines.append("")
    return "\n".join(lines)


@contextlib.contextmanager
def workspace(prefix: str = "chinwag-bench-") -> Iterator[Path]:
    """A temporary directory, removed afterwards whatever happens (SIGTERM too)."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        try:
            yield Path(tmp)
        finally:
            signal.signal(signal.SIGTERM, previous)


class BenchServer:
    """``python -m backend serve`` on a free loopback port, with the workspace's db and config.

    The child gets its own session, so a Ctrl-C in the terminal reaches only the benchmark, which
    then stops the server itself: it is never left running.
    """

    def __init__(
        self,
        workdir: Path,
        config: dict[str, dict[str, Any]] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.args = args
        self.db_path = workdir / "chinwag.db"
        self.config_path = workdir / "config.toml"
        self.log_path = workdir / "server.log"
        self.config = config or {}
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "server is not running"
        return self.process.pid

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def cpu_seconds(self) -> float:
        """CPU time of the server's threads and its worker processes so far, to the
        nanosecond: a send costs a few milliseconds, under a clock tick."""
        return process_tree_cpu_seconds(self.pid, scheduled_cpu_seconds)

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until ``/v1/health/`` answers."""
        self.config_path.write_text(to_toml(self.config), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "CHINWAG_TOKEN")}
        env["CHINWAG_CONFIG"] = str(self.config_path)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "backend", "serve", "--host", "127.0.0.1"),
                    *("--port", str(self.port), "--db", str(self.db_path)),
                    *self.args,
                ],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_healthy(timeout)
        except BaseException:  # Ctrl-C while starting too: never leave the child behind
            self.stop()
            raise

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v1/health/", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully), then SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> "BenchServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Row:
    """One line of a result table; ``target`` empty means the figure is for information."""

    name: str
    figure: str
    target: str = ""
    ok: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")


async def seed_agent(
    store: Store,
    name: str,
    *,
    model: str = "builtin/echo",
    system: str = "You are helpful.",
    blocks: list[dict[str, Any]] | None = None,
    tags: list[str] | None = None,
    tool_ids: list[str] | None = None,
) -> str:
    """An agent written straight into the store, as the benches seed their databases (no
    HTTP); its id."""
    agent = await store.agents.create(
        name=name,
        model=model,
        embedding=None,
        system=system,
        agent_type="letta_v1_agent",
        tags=tags or [],
        blocks=blocks or [],
        tool_ids=tool_ids,
    )
    return agent["id"]


def print_table(title: str, rows: list[Row]) -> None:
    """A plain-text table: measurement, figure, target, PASS/MISS; then the misses, if any."""
    cells = [("measurement", "figure", "target", "verdict")]
    cells += [(r.name, r.figure, r.target, r.verdict) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    rule = "  ".join("-" * w for w in widths)
    print(f"\n{title}\n{rule}")
    for i, cell in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip())
        if i == 0:
            print(rule)
    print(rule)
    misses = [r.name for r in rows if r.ok is False]
    print("all targets met" if not misses else f"{len(misses)} MISS: " + "; ".join(misses))
    print(f"machine at the end: {machine()}")
    sys.stdout.flush()
