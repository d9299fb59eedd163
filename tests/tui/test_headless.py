"""``chinwag ask``: the real command as a subprocess, against the real server over loopback.

Against a running server (``--server``, ``LETTA_BASE_URL``, ``--profile``) and the bundled one
(started and stopped around the call); message from the argument and from stdin; ``--json``;
and the exit status for every way a turn can end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory, fake_provider_config
from tests.fakes.fake_openai import FakeOpenAI, Fault
from tests.servers import ServerThread
from tui.headless import EXIT_APPROVAL, EXIT_BUSY, EXIT_FAILED, EXIT_OK, EXIT_USAGE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path, isolated_config: Path) -> dict[str, str]:
    """The environment of the command: its own config and state, no Letta variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LETTA_", "OPENAI_"))}
    return {**base, "CHINWAG_CONFIG": str(isolated_config), "XDG_STATE_HOME": str(tmp_path)}


def ask(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``chinwag ask ARGS`` as a user would and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "tui", "ask", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        stdin=subprocess.DEVNULL if stdin is None else None,
    )


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def create_agent(server: ServerThread, name: str) -> str:
    with server.client() as http:
        blocks = [{"label": "human", "value": ""}]
        response = http.post("/v1/agents/", json={"name": name, "memory_blocks": blocks})
        response.raise_for_status()
        return str(response.json()["id"])


def listed(server: ServerThread, conversation: str, agent_id: str | None = None) -> list[dict]:
    params: dict[str, Any] = {"order": "asc", "limit": 100}
    if agent_id:
        params["agent_id"] = agent_id
    with server.client() as http:
        response = http.get(f"/v1/conversations/{conversation}/messages", params=params)
        response.raise_for_status()
        return list(response.json())


def texts(messages: list[dict], kind: str) -> list[str]:
    return [m["content"] for m in messages if m["message_type"] == kind]


# --- a running server -----------------------------------------------------------------------


def test_first_ask_creates_an_agent_and_prints_the_reply(
    llm_server: ServerThread, env: dict[str, str], fake_llm: FakeOpenAI
) -> None:
    fake_llm.reply = "Hello from the model"

    result = ask(env, "--server", llm_server.url, "hello there")

    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout == "Hello from the model\n"
    assert "created 'assistant'" in result.stderr
    with llm_server.client() as http:
        agents = http.get("/v1/agents/").json()
    assert [a["name"] for a in agents] == ["assistant"]
    default = listed(llm_server, "default", agents[0]["id"])
    assert texts(default, "user_message") == ["hello there"]
    assert texts(default, "assistant_message") == ["Hello from the model"]


def test_message_from_stdin_and_dash_continue_the_same_conversation(
    llm_server: ServerThread, env: dict[str, str]
) -> None:
    agent_id = create_agent(llm_server, "piped")

    first = ask(env, "--server", llm_server.url, stdin="from a pipe\n")
    second = ask(env, "--server", llm_server.url, "-", stdin="dash too")

    assert first.returncode == EXIT_OK, first.stderr
    assert first.stdout == "Fake reply to: from a pipe\n"
    assert second.returncode == EXIT_OK, second.stderr
    assert second.stdout == "Fake reply to: dash too\n"
    default = listed(llm_server, "default", agent_id)
    assert texts(default, "user_message") == ["from a pipe", "dash too"]


def test_json_prints_one_line_per_streamed_part(
    llm_server: ServerThread, env: dict[str, str], fake_llm: FakeOpenAI
) -> None:
    agent_id = create_agent(llm_server, "jsonic")
    fake_llm.reply = "one two three four"
    fake_llm.deltas = 4

    result = ask(env, "--server", llm_server.url, "--agent", "jsonic", "--json", "hi")

    assert result.returncode == EXIT_OK, result.stderr
    lines = json_lines(result.stdout)
    assert lines[0] == {
        "message_type": "session",
        "agent_id": agent_id,
        "agent_name": "jsonic",
        "conversation_id": "default",
        "server": llm_server.url,
    }
    parts = [p for p in lines if p["message_type"] == "assistant_message"]
    assert len(parts) == 4
    assert "".join(p["content"] for p in parts) == "one two three four"
    assert len({p["id"] for p in parts}) == 1
    kinds = [p["message_type"] for p in lines]
    assert kinds[-2:] == ["stop_reason", "usage_statistics"]
    assert lines[-2]["stop_reason"] == "end_turn"
    assert "ping" not in kinds


def test_new_conversation_is_remembered_for_the_next_ask(
    llm_server: ServerThread, env: dict[str, str]
) -> None:
    agent_id = create_agent(llm_server, "topics")

    first = ask(env, "--server", llm_server.url, "--conversation", "new", "--json", "topic A")
    conversation = json_lines(first.stdout)[0]["conversation_id"]
    follow_up = ask(env, "--server", llm_server.url, "more on A")
    elsewhere = ask(env, "--server", llm_server.url, "--conversation", "default", "to default")

    assert first.returncode == follow_up.returncode == elsewhere.returncode == EXIT_OK
    assert conversation.startswith("conv-")
    assert texts(listed(llm_server, conversation), "user_message") == ["topic A", "more on A"]
    assert texts(listed(llm_server, "default", agent_id), "user_message") == ["to default"]


def test_conversation_id_alone_names_its_agent(
    llm_server: ServerThread, env: dict[str, str]
) -> None:
    create_agent(llm_server, "one")
    two = create_agent(llm_server, "two")
    with llm_server.client() as http:
        conversation = http.post("/v1/conversations/", params={"agent_id": two}).json()["id"]

    result = ask(env, "--server", llm_server.url, "--conversation", conversation, "hey two")
    wrong = ask(
        env, "--server", llm_server.url, "--agent", "one", "--conversation", conversation, "x"
    )

    assert result.returncode == EXIT_OK, result.stderr
    assert texts(listed(llm_server, conversation), "user_message") == ["hey two"]
    assert wrong.returncode == EXIT_USAGE
    assert "belongs to agent 'two'" in wrong.stderr


def test_letta_environment_variables_and_token(
    server_factory: ServerFactory, fake_llm: FakeOpenAI, env: dict[str, str]
) -> None:
    server = server_factory(config=fake_provider_config(fake_llm), token="s3cret")
    with server.client(headers={"Authorization": "Bearer s3cret"}) as http:
        http.post("/v1/agents/", json={"name": "guarded", "memory_blocks": []}).raise_for_status()

    good = ask({**env, "LETTA_BASE_URL": server.url, "LETTA_API_KEY": "s3cret"}, "hi")
    bad = ask({**env, "LETTA_BASE_URL": server.url, "LETTA_API_KEY": "wrong"}, "hi")

    assert good.returncode == EXIT_OK, good.stderr
    assert good.stdout == "Fake reply to: hi\n"
    assert bad.returncode == EXIT_FAILED
    assert bad.stderr.startswith("chinwag: the server refused the token")
    assert len(bad.stderr.splitlines()) == 1


def test_profile_from_the_config_file(
    llm_server: ServerThread, env: dict[str, str], isolated_config: Path
) -> None:
    isolated_config.write_text(f'[profiles.work]\nurl = "{llm_server.url}"\n')
    create_agent(llm_server, "profiled")

    result = ask(env, "--profile", "work", "via profile")
    unknown = ask(env, "--profile", "nope", "x")

    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout == "Fake reply to: via profile\n"
    assert unknown.returncode == EXIT_USAGE
    assert "No profile 'nope'" in unknown.stderr and "known: work" in unknown.stderr


# --- exit statuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "status", "says"),
    [
        (["--agent", "nobody", "hi"], None, EXIT_FAILED, "No agent named 'nobody'"),
        (
            ["--agent", "agent-00000000-0000-4000-8000-000000000000", "hi"],
            None,
            EXIT_FAILED,
            "No agent agent-00000000-0000-4000-8000-000000000000",
        ),
        (
            ["--conversation", "conv-00000000-0000-4000-8000-000000000000", "hi"],
            None,
            EXIT_FAILED,
            "No conversation conv-00000000-0000-4000-8000-000000000000",
        ),
        (["hi"], None, EXIT_USAGE, "2 agents on this server; choose one with --agent"),
        (["--agent", "a1"], "   \n", EXIT_USAGE, "The message is empty."),
        (["--agent", "a1", "--approve", "text"], None, EXIT_USAGE, "take no message"),
    ],
)
def test_refusals_exit_non_zero_with_one_line(
    llm_server: ServerThread,
    env: dict[str, str],
    args: list[str],
    stdin: str | None,
    status: int,
    says: str,
) -> None:
    create_agent(llm_server, "a1")
    create_agent(llm_server, "a2")

    result = ask(env, "--server", llm_server.url, *args, stdin=stdin)

    assert result.returncode == status
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("chinwag: ")
    assert says in result.stderr


def test_a_failed_turn_exits_1(
    llm_server: ServerThread, env: dict[str, str], fake_llm: FakeOpenAI
) -> None:
    create_agent(llm_server, "flaky")
    fake_llm.fail_always(Fault.SERVER_ERROR)

    result = ask(env, "--server", llm_server.url, "hi")
    as_json = ask(env, "--server", llm_server.url, "--json", "hi")

    assert result.returncode == EXIT_FAILED
    assert result.stderr.startswith("chinwag: The turn failed")
    assert len(result.stderr.splitlines()) == 1
    assert as_json.returncode == EXIT_FAILED
    stops = [p for p in json_lines(as_json.stdout) if p["message_type"] == "stop_reason"]
    assert stops and stops[0]["stop_reason"] != "end_turn"


def test_a_busy_conversation_exits_4(
    llm_server: ServerThread, env: dict[str, str], fake_llm: FakeOpenAI
) -> None:
    create_agent(llm_server, "busy")
    fake_llm.hold()
    first = subprocess.Popen(
        [sys.executable, "-m", "tui", "ask", "--server", llm_server.url, "first"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        fake_llm.wait_for_held(1, timeout=30)
        second = ask(env, "--server", llm_server.url, "second")
    finally:
        fake_llm.release()
        out, err = first.communicate(timeout=30)

    assert second.returncode == EXIT_BUSY
    assert "busy with another run (run-" in second.stderr
    assert first.returncode == EXIT_OK, err
    assert out == "Fake reply to: first\n"


def test_ctrl_c_cancels_the_run(
    llm_server: ServerThread, env: dict[str, str], fake_llm: FakeOpenAI
) -> None:
    agent_id = create_agent(llm_server, "interrupted")
    fake_llm.hold()
    running = subprocess.Popen(
        [sys.executable, "-m", "tui", "ask", "--server", llm_server.url, "a long one"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        fake_llm.wait_for_held(1, timeout=30)
        running.send_signal(signal.SIGINT)
        _, err = running.communicate(timeout=30)
    finally:
        fake_llm.release()

    assert running.returncode == 130
    assert err == "chinwag: interrupted.\n"
    with llm_server.client() as http:
        runs = http.get("/v1/runs/", params={"agent_id": agent_id}).json()
    assert [r["status"] for r in runs] == ["cancelled"]


def test_unreachable_server_exits_1(env: dict[str, str]) -> None:
    result = ask(env, "--server", "http://127.0.0.1:9", "hi")

    assert result.returncode == EXIT_FAILED
    assert result.stderr.startswith("chinwag: Cannot reach the server at http://127.0.0.1:9")
    assert len(result.stderr.splitlines()) == 1


# --- approvals ------------------------------------------------------------------------------


def require_approval(server: ServerThread, agent_id: str, tool: str = "memory_insert") -> None:
    with server.client() as http:
        path = f"/v1/agents/{agent_id}/tools/approval/{tool}"
        http.patch(path, json={"requires_approval": True}).raise_for_status()


def human_block(server: ServerThread, agent_id: str) -> str:
    with server.client() as http:
        response = http.get(f"/v1/agents/{agent_id}")
        response.raise_for_status()
        return next(b["value"] for b in response.json()["blocks"] if b["label"] == "human")


def test_verbose_shows_tool_calls_on_stderr_and_keeps_stdout_the_reply(
    server: ServerThread, env: dict[str, str]
) -> None:
    agent_id = create_agent(server, "rememberer")

    result = ask(env, "--server", server.url, "-v", "remember that I like tea")

    assert result.returncode == EXIT_OK, result.stderr
    assert '→ memory_insert {"label": "human", "new_string": "I like tea"}' in result.stderr
    assert "← success" in result.stderr
    assert "memory_insert" not in result.stdout
    assert "I like tea" in result.stdout
    assert "I like tea" in human_block(server, agent_id)


def test_approval_pending_exits_3_and_says_how_to_answer(
    server: ServerThread, env: dict[str, str]
) -> None:
    agent_id = create_agent(server, "careful")
    require_approval(server, agent_id)

    waiting = ask(env, "--server", server.url, "remember that I like tea")
    refused = ask(env, "--server", server.url, "hello?")
    approved = ask(env, "--server", server.url, "--approve")

    assert waiting.returncode == EXIT_APPROVAL
    assert waiting.stderr.startswith("chinwag: Waiting for approval: memory_insert {")
    command = f"chinwag ask --agent {agent_id} --conversation default --server {server.url}"
    assert f"`{command} --approve`" in waiting.stderr
    assert refused.returncode == EXIT_APPROVAL, refused.stderr
    assert "I like tea" in refused.stderr
    assert approved.returncode == EXIT_OK, approved.stderr
    assert "I like tea" in approved.stdout
    assert "I like tea" in human_block(server, agent_id)


def test_a_denied_call_changes_nothing_and_the_turn_ends(
    server: ServerThread, env: dict[str, str]
) -> None:
    agent_id = create_agent(server, "denied")
    require_approval(server, agent_id)

    waiting = ask(env, "--server", server.url, "--json", "remember that I like tea")
    denied = ask(env, "--server", server.url, "--deny", "not today")
    nothing = ask(env, "--server", server.url, "--approve")

    assert waiting.returncode == EXIT_APPROVAL
    kinds = [p["message_type"] for p in json_lines(waiting.stdout)]
    assert "approval_request_message" in kinds
    assert json_lines(waiting.stdout)[-2]["stop_reason"] == "requires_approval"
    assert denied.returncode == EXIT_OK, denied.stderr
    assert "I like tea" not in human_block(server, agent_id)
    assert nothing.returncode == EXIT_FAILED
    assert "Nothing in this conversation waits for approval." in nothing.stderr


# --- the bundled server ---------------------------------------------------------------------


def test_bundled_server_is_started_and_stopped_around_the_call(
    env: dict[str, str], isolated_config: Path, fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    isolated_config.write_text(
        f'[providers.fake]\nbase_url = "{fake_llm.base_url}"\napi_key = "k"\n'
        'models = ["fake-model"]\n'
    )
    db = tmp_path / "bundled.db"

    first = ask(env, "--db", str(db), "--json", "first")
    second = ask(env, "--db", str(db), stdin="second")

    assert first.returncode == EXIT_OK, first.stderr
    assert second.returncode == EXIT_OK, second.stderr
    assert second.stdout == "Fake reply to: second\n"
    session = json_lines(first.stdout)[0]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{session['server']}/v1/health/", timeout=2)
    assert db.exists()
    requests = fake_llm.requests
    users = [m for m in requests[-1]["messages"] if m["role"] == "user"]
    assert [u["content"] for u in users][-2:] == ["first", "second"]


def test_an_approval_survives_the_bundled_server_between_calls(
    server_factory: ServerFactory, env: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "bundled.db"
    setup = server_factory(db_path=db)
    agent_id = create_agent(setup, "patient")
    require_approval(setup, agent_id)
    setup.stop()

    waiting = ask(env, "--db", str(db), "remember that I like tea")
    approved = ask(env, "--db", str(db), "--approve")

    assert waiting.returncode == EXIT_APPROVAL
    assert f"--db {db} --approve" in waiting.stderr
    assert approved.returncode == EXIT_OK, approved.stderr
    assert "I like tea" in approved.stdout
