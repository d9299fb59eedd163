"""``chinwag serve``: the command a user runs to start the server."""

import subprocess
import sys
from pathlib import Path

import httpx

from tests.servers import ServerProcess


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def serve_with_config(tmp_path: Path, config_text: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    config.write_text(config_text)
    return run_serve(
        "--port",
        "1",
        "--db",
        str(tmp_path / "d.db"),
        env={"CHINWAG_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
    )


def test_refuses_a_public_address_without_a_token() -> None:
    result = run_serve("--host", "0.0.0.0", "--port", "1")
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0 without a token" in result.stderr


def test_help_names_every_flag() -> None:
    result = run_serve("--help")
    assert result.returncode == 0
    flags = ("--host", "--port", "--db", "--token", "--insecure", "--allow-origin")
    for flag in (*flags, "--header-timeout", "--body-timeout"):
        assert flag in result.stdout


def test_a_broken_config_file_is_a_clear_message(tmp_path: Path) -> None:
    result = serve_with_config(tmp_path, "[providers.x\n")
    assert result.returncode != 0
    assert "cannot read the config file" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_provider_without_base_url_is_a_clear_message(tmp_path: Path) -> None:
    result = serve_with_config(tmp_path, "[providers.ollama]\nmodels = ['llama3.2']\n")
    assert result.returncode != 0
    assert "base_url" in result.stderr and "Traceback" not in result.stderr


def access_logged(tmp_path: Path, name: str, *args: str) -> str:
    """The server's log after one agent list, served with ``args``."""
    log = tmp_path / f"{name}.log"
    server = ServerProcess(tmp_path / f"{name}.db", tmp_path / "none.toml", *args, log=log)
    try:
        assert httpx.get(f"{server.url}/v1/agents/").status_code == 200
    finally:
        server.stop()
    return log.read_text()


def test_the_access_log_is_off_unless_asked_for(tmp_path: Path) -> None:
    assert "GET /v1/agents/" not in access_logged(tmp_path, "quiet", "--log-level", "info")
    logged = access_logged(tmp_path, "logged", "--log-level", "info", "--access-log")
    assert '"GET /v1/agents/ HTTP/1.1" 200' in logged


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def test_workers_serve_from_several_processes_on_one_database(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "w.db", tmp_path / "none.toml", "--workers", "2")
    try:
        workers = children_of(server.process.pid)
        assert len(workers) == 2
        with httpx.Client(base_url=server.url, timeout=30) as http:
            agent = http.post("/v1/agents/", json={"name": "w", "model": "builtin/echo"}).json()
            ids = [
                http.post("/v1/conversations/", params={"agent_id": agent["id"]}, json={}).json()[
                    "id"
                ]
                for _ in range(6)
            ]
            for conversation_id in ids:
                body = {"messages": [{"role": "user", "content": "hello"}]}
                answer = http.post(f"/v1/conversations/{conversation_id}/messages", json=body)
                assert answer.status_code == 200 and "data: [DONE]" in answer.text
            for conversation_id in ids:
                listed = http.get(f"/v1/conversations/{conversation_id}/messages").json()
                assert [m["message_type"] for m in listed][-2:] == [
                    "user_message",
                    "assistant_message",
                ]
    finally:
        server.stop()
    assert server.process.returncode == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists()
