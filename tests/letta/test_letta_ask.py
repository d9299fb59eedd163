"""``chinwag ask`` against a real Letta server: the command as a subprocess, over loopback.

On Letta, ``--conversation default`` is the agent's own (agent-level) messages; a tool call that
needs approval ends the call with status 3 and the command that answers it; a new message sent
while it waits is refused in the stream, which ``ask`` reports the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.letta.conftest import LETTA, LETTA_TOKEN, LETTA_URL, LettaRaw, stub_reply
from tui.headless import EXIT_APPROVAL, EXIT_OK

pytestmark = LETTA

ROOT = Path(__file__).resolve().parents[2]


def ask(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETTA_")}
    env |= {"CHINWAG_CONFIG": str(tmp_path / "config.toml"), "XDG_STATE_HOME": str(tmp_path)}
    token = ["--token", LETTA_TOKEN] if LETTA_TOKEN else []
    return subprocess.run(
        [sys.executable, "-m", "tui", "ask", "--server", LETTA_URL, *token, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


async def test_default_is_the_agents_own_messages(
    make_agent: Any, raw: LettaRaw, tmp_path: Path
) -> None:
    agent = await make_agent("ask-default")

    result = ask(tmp_path, "--agent", agent.name, "hello letta")

    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout == stub_reply("hello letta") + "\n"
    response = await raw.http.get(f"/v1/agents/{agent.id}/messages", params={"limit": 10})
    said = [m.get("content") for m in response.json() if m["message_type"] == "user_message"]
    assert "hello letta" in said


async def test_approval_pending_then_approved(
    make_agent: Any, raw: LettaRaw, tmp_path: Path
) -> None:
    agent = await make_agent("ask-approval")
    path = f"/v1/agents/{agent.id}/tools/approval/memory_insert"
    (await raw.http.patch(path, json={"requires_approval": True})).raise_for_status()

    waiting = ask(tmp_path, "--agent", agent.id, "[mem] remember tea")
    refused = ask(tmp_path, "--agent", agent.id, "anything else?")
    approved = ask(tmp_path, "--agent", agent.id, "--approve")

    assert waiting.returncode == EXIT_APPROVAL
    assert "Waiting for approval: memory_insert" in waiting.stderr
    assert f"--agent {agent.id} --conversation default" in waiting.stderr
    assert refused.returncode == EXIT_APPROVAL, refused.stderr
    assert approved.returncode == EXIT_OK, approved.stderr
    assert approved.stdout.strip()


async def test_approval_denied_with_a_reason(
    make_agent: Any, raw: LettaRaw, tmp_path: Path
) -> None:
    agent = await make_agent("ask-deny")
    path = f"/v1/agents/{agent.id}/tools/approval/memory_insert"
    (await raw.http.patch(path, json={"requires_approval": True})).raise_for_status()

    waiting = ask(tmp_path, "--agent", agent.id, "[mem] remember tea")
    denied = ask(tmp_path, "--agent", agent.id, "--deny", "not today")
    after = ask(tmp_path, "--agent", agent.id, "and now?")

    assert waiting.returncode == EXIT_APPROVAL
    assert denied.returncode == EXIT_OK, denied.stderr
    assert after.returncode == EXIT_OK, after.stderr
    assert after.stdout == stub_reply("and now?") + "\n"
