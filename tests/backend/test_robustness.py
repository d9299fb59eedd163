"""Nothing a client sends produces a 500: random junk at every route gets a clear 4xx."""

import json
import random
import re

import pytest

from backend.routes import ENDPOINTS
from tests.backend.test_sending import new_conversation
from tests.servers import ServerThread

JUNK_VALUES = [
    None,
    "",
    "x" * 300,
    -1,
    0,
    10**12,
    3.5,
    True,
    [],
    {},
    [1, "a"],
    {"a": {"b": []}},
    "message-00000000-0000-4000-8000-000000000000",
    "\u0000\ud7ff",
    "🙂",
]


def junk_body(rng: random.Random) -> object:
    keys = [
        "name",
        "model",
        "memory_blocks",
        "messages",
        "input",
        "summary",
        "value",
        "compaction_settings",
        "run_id",
        "starting_after",
        "mode",
        "agent_id",
        "otid",
        "streaming",
        "role",
        "content",
        rng.choice(["zzz", ""]),
    ]
    body = {rng.choice(keys): rng.choice(JUNK_VALUES) for _ in range(rng.randint(0, 4))}
    if rng.random() < 0.3:
        body["messages"] = [
            {"role": rng.choice(["user", "tool", None]), "content": rng.choice(JUNK_VALUES)}
        ]
    return rng.choice([body, rng.choice(JUNK_VALUES), body])


@pytest.mark.parametrize("seed", range(3))
def test_random_requests_never_get_a_500(server: ServerThread, seed: int) -> None:
    rng = random.Random(seed)
    with server.client() as http:
        agent, conversation = new_conversation(http)
        ids = {
            "agent_id": agent["id"],
            "conversation_id": conversation["id"],
            "label": "human",
            "run_id": "run-00000000-0000-4000-8000-000000000000",
            "message_id": "message-00000000-0000-4000-8000-000000000000",
            "tool_id": "tool-00000000-0000-4000-8000-000000000000",
            "tool_name": "memory_insert",
            "block_id": "block-00000000-0000-4000-8000-000000000000",
        }
        for _ in range(100):
            ep = rng.choice(ENDPOINTS)
            path = re.sub(
                r"{(\w+)}",
                lambda m: rng.choice([ids[m.group(1)], "nope", "%20", "x" * 200, "default"]),
                ep.path,
            )
            params = {
                q: rng.choice(["", "0", "-5", "asc", "true", "a" * 50, agent["id"]])
                for q in ep.query
                if rng.random() < 0.5
            }
            raw = rng.random() < 0.2
            content = (
                rng.choice([b"{", b"\xff\xfe", b"[]", b"null"])
                if raw
                else json.dumps(junk_body(rng)).encode()
            )
            response = http.request(
                ep.method,
                path,
                params=params,
                content=content,
                headers={"content-type": "application/json"},
            )
            assert response.status_code < 500, (ep.method, path, params, content, response.text)
            if response.status_code >= 400:
                body = response.json()
                assert set(body) >= {"detail", "code"} and body["detail"]
            else:
                response.read()
