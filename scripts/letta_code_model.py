"""A scripted OpenAI-compatible model for ``scripts/letta_code_smoke.sh``.

Standard library only, so the smoke script needs nothing beyond the project's venv. It answers
``POST /v1/chat/completions`` (streamed or not) and ``GET /v1/models``:

- the last message is a tool result: reply ``Tool said: <its first line>``;
- the last user text contains ``[bash]``: call the ``Bash`` tool (a Letta Code client tool)
  with ``echo chinwag-smoke``;
- the last user text contains ``[slow]``: the reply streams one word every 0.1 s (so a test can
  cut the stream in the middle);
- otherwise: reply ``Smoke reply: <the last line of the last user message>`` (the last line,
  because Letta Code puts its reminder text first).

Usage: ``python scripts/letta_code_model.py PORT`` (serves until killed).
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "smoke"


def _text(content: Any) -> str:
    """The text of an OpenAI message ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def plan(body: dict[str, Any]) -> dict[str, Any]:
    """What to answer: ``{"text": str}`` or ``{"tool": name, "arguments": dict}``."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        first_line = (_text(last.get("content")).strip().splitlines() or [""])[0]
        return {"text": f"Tool said: {first_line[:200]}"}
    users = [m for m in messages if m.get("role") == "user"]
    said = _text(users[-1].get("content")) if users else ""
    tools = {t.get("function", {}).get("name") for t in body.get("tools") or []}
    if "[slow]" in said:
        return {"text": "Slow reply: " + " ".join(f"word{i}" for i in range(1, 41)) + " end."}
    if "[bash]" in said and "Bash" in tools:
        return {"tool": "Bash", "arguments": {"command": "echo chinwag-smoke", "description": "x"}}
    last_line = (said.strip().splitlines() or [""])[-1]
    return {"text": f"Smoke reply: {last_line[:200]}"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write("model: " + format % args + "\n")

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": "not found"}})
            return
        answer = plan(body)
        tools = [t.get("function", {}).get("name") for t in body.get("tools") or []]
        sys.stderr.write(f"model: tools offered {tools}; answer {answer}\n")
        message: dict[str, Any] = {"role": "assistant", "content": answer.get("text")}
        finish = "stop"
        if "tool" in answer:
            finish = "tool_calls"
            message["tool_calls"] = [
                {
                    "id": "call_smoke_1",
                    "type": "function",
                    "function": {
                        "name": answer["tool"],
                        "arguments": json.dumps(answer["arguments"]),
                    },
                }
            ]
        prompt = len(json.dumps(body.get("messages", []))) // 4  # a rough, realistic count
        usage = {"prompt_tokens": prompt, "completion_tokens": 5, "total_tokens": prompt + 5}
        envelope = {"id": "chatcmpl-smoke", "created": 0, "model": MODEL}
        if not body.get("stream"):
            choice = {"index": 0, "message": message, "finish_reason": finish}
            self._json(200, {**envelope, "object": "chat.completion", "choices": [choice]})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        slow = "[slow]" in json.dumps(body.get("messages", [])[-1:])
        words = (message["content"] or "").split(" ")
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": w if i == 0 else " " + w} for i, w in enumerate(words)]
        if "tool_calls" in message:
            deltas.append({"tool_calls": [{"index": 0, **message["tool_calls"][0]}]})
        for delta in deltas:
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            frame = {**envelope, "object": "chat.completion.chunk", "choices": [choice]}
            self.wfile.write(f"data: {json.dumps(frame)}\n\n".encode())
            self.wfile.flush()
            if slow:
                time.sleep(0.1)
        choice = {"index": 0, "delta": {}, "finish_reason": finish}
        frame = {**envelope, "object": "chat.completion.chunk", "choices": [choice]}
        self.wfile.write(f"data: {json.dumps(frame)}\n\n".encode())
        final = {**envelope, "object": "chat.completion.chunk", "choices": [], "usage": usage}
        self.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()
        self.close_connection = True


def main() -> None:
    port = int(sys.argv[1])
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
