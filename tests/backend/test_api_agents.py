"""Agents, memory blocks and model handles over HTTP (API.md section 3)."""

import httpx

MISSING_AGENT = "agent-00000000-0000-4000-8000-000000000000"


def make_agent(http: httpx.Client, **body) -> dict:
    body.setdefault(
        "memory_blocks",
        [{"label": "persona", "value": "I am Sam."}, {"label": "human", "value": "Name: Ada"}],
    )
    response = http.post("/v1/agents/", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_agent_with_blocks_and_default_model(http: httpx.Client) -> None:
    agent = make_agent(http, name="sam")
    assert agent["id"].startswith("agent-")
    assert agent["name"] == "sam"
    assert agent["model"] == "builtin/echo"
    assert agent["llm_config"]["handle"] == "builtin/echo"
    assert agent["llm_config"]["context_window"] > 0
    assert [b["label"] for b in agent["blocks"]] == ["persona", "human"]
    assert agent["memory"]["blocks"] == agent["blocks"]
    assert all(b["id"].startswith("block-") for b in agent["blocks"])
    assert agent["system"]
    assert agent["created_at"].endswith("+00:00")
    assert http.get(f"/v1/agents/{agent['id']}").json() == agent


def test_unknown_provider_and_malformed_handle_are_400(http: httpx.Client) -> None:
    for handle in ("nope/model", "no-slash"):
        response = http.post("/v1/agents/", json={"model": handle, "memory_blocks": []})
        assert response.status_code == 400, handle
        body = response.json()
        assert body["code"] == "INVALID_ARGUMENT"
        assert "builtin" in body["detail"]  # names the configured providers
    assert http.get("/v1/agents/").json() == []


def test_known_provider_without_key_is_accepted(http: httpx.Client) -> None:
    agent = make_agent(http, model="openai/gpt-4o-mini")
    assert agent["llm_config"]["context_window"] == 128000


def test_duplicate_block_labels_are_rejected(http: httpx.Client) -> None:
    response = http.post(
        "/v1/agents/",
        json={"memory_blocks": [{"label": "a", "value": "1"}, {"label": "a", "value": "2"}]},
    )
    assert response.status_code == 400
    assert "unique" in response.json()["detail"]


def test_invalid_body_names_the_field(http: httpx.Client) -> None:
    response = http.post("/v1/agents/", json={"memory_blocks": [{"value": "no label"}]})
    assert response.status_code == 422
    assert "memory_blocks.0.label" in response.json()["detail"]


def test_list_agents_newest_first_with_cursors_and_name(http: httpx.Client) -> None:
    ids = [make_agent(http, name=f"a{i}")["id"] for i in range(5)]
    listed = [a["id"] for a in http.get("/v1/agents/").json()]
    assert listed == ids[::-1]
    asc = [a["id"] for a in http.get("/v1/agents/", params={"order": "asc", "limit": 2}).json()]
    assert asc == ids[:2]
    after = http.get("/v1/agents/", params={"order": "asc", "after": ids[1], "limit": 2}).json()
    assert [a["id"] for a in after] == ids[2:4]
    before = http.get("/v1/agents/", params={"order": "desc", "before": ids[1]}).json()
    assert [a["id"] for a in before] == ids[:1:-1][-3:]  # newer than ids[1], newest first
    assert [a["name"] for a in http.get("/v1/agents/", params={"name": "a3"}).json()] == ["a3"]


def test_bad_query_parameters_are_422(http: httpx.Client) -> None:
    for params in ({"limit": "many"}, {"limit": 0}, {"order": "sideways"}):
        response = http.get("/v1/agents/", params=params)
        assert response.status_code == 422, params
        assert response.json()["code"] == "VALIDATION_ERROR"


def test_patch_agent_and_block(http: httpx.Client) -> None:
    agent = make_agent(http)
    patched = http.patch(
        f"/v1/agents/{agent['id']}", json={"name": "renamed", "system": "Be brief.", "tags": ["x"]}
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "renamed"
    assert patched.json()["system"] == "Be brief."
    assert patched.json()["tags"] == ["x"]
    block = http.patch(
        f"/v1/agents/{agent['id']}/core-memory/blocks/human", json={"value": "Name: Bo"}
    )
    assert block.status_code == 200
    assert block.json()["value"] == "Name: Bo"
    again = http.get(f"/v1/agents/{agent['id']}").json()
    assert [b["value"] for b in again["blocks"]] == ["I am Sam.", "Name: Bo"]
    missing = http.patch(f"/v1/agents/{agent['id']}/core-memory/blocks/nope", json={"value": "v"})
    assert missing.status_code == 404
    bad_model = http.patch(f"/v1/agents/{agent['id']}", json={"model": "zzz/q"})
    assert bad_model.status_code == 400


def test_unknown_ids_are_404_well_formed_or_not(http: httpx.Client) -> None:
    for agent_id in (MISSING_AGENT, "agent-123", "rubbish"):
        for method, path in (
            ("GET", ""),
            ("PATCH", ""),
            ("DELETE", ""),
            ("PATCH", "/core-memory/blocks/human"),
        ):
            response = http.request(method, f"/v1/agents/{agent_id}{path}", json={"value": "x"})
            assert response.status_code == 404, (method, path, agent_id)
            assert response.json()["code"] == "NOT_FOUND"


def test_delete_agent_cascades_to_conversations(http: httpx.Client) -> None:
    agent = make_agent(http)
    conversation = http.post("/v1/conversations/", params={"agent_id": agent["id"]}).json()
    response = http.delete(f"/v1/agents/{agent['id']}")
    assert response.json() == {"message": f"Agent {agent['id']} deleted"}
    assert http.get(f"/v1/agents/{agent['id']}").status_code == 404
    assert http.get(f"/v1/conversations/{conversation['id']}").status_code == 404
    assert http.delete(f"/v1/agents/{agent['id']}").status_code == 404


def test_models_lists_builtin(http: httpx.Client) -> None:
    models = http.get("/v1/models/").json()
    builtin = [m for m in models if m["handle"] == "builtin/echo"]
    assert builtin and builtin[0]["provider"] == "builtin" and builtin[0]["context_window"] > 0
    assert not [m for m in models if m["provider"] == "openai"]  # no key in the test env


def test_models_lists_openai_when_key_set(server_factory) -> None:
    server = server_factory(env={"OPENAI_API_KEY": "sk-test"})
    with server.client() as client:
        handles = {m["handle"] for m in client.get("/v1/models/").json()}
    assert "openai/gpt-4o-mini" in handles and "builtin/echo" in handles
