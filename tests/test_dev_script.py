"""dev.py: the first set-up shows pip's progress, and two runs at once wait for each other."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_dev(tmp_path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_under_test", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    for name in ("requirements.lock", "pyproject.toml"):
        (tmp_path / name).write_text(name, encoding="utf-8")
    dev.ROOT, dev.VENV = tmp_path, tmp_path / ".venv"
    dev.BIN, dev.STAMP = dev.VENV / "bin", dev.VENV / ".chinwag-synced"
    dev.LOCK = tmp_path / ".venv.lock"
    return dev


def test_first_setup_shows_pip_progress_and_concurrent_runs_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = load_dev(tmp_path)
    created: list[float] = []
    commands: list[list[str]] = []
    busy = threading.Lock()
    overlaps: list[bool] = []

    def create(path: Path, **_: Any) -> None:
        overlaps.append(not busy.acquire(blocking=False))
        time.sleep(0.2)  # a slow venv creation: a second run must not start meanwhile
        (path / "bin").mkdir(parents=True)
        (path / "bin" / "python").write_text("", encoding="utf-8")
        created.append(time.monotonic())
        busy.release()

    def run(command: list[str], **_: Any) -> None:
        commands.append(command)

    monkeypatch.setattr(dev.venv, "create", create)
    monkeypatch.setattr(dev.subprocess, "run", run)
    threads = [threading.Thread(target=dev.ensure_venv) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(created) == 1 and overlaps == [False]
    installs = [c for c in commands if "-r" in c]
    assert len(installs) == 1  # the second run found the first's work done
    assert "-q" not in installs[0]
