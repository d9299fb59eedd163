"""A quick schema fuzz of the real server from its own OpenAPI document (issue 8, point 9).

A few examples per operation, so it stays fast; ``scripts/fuzz_api.py`` runs thousands, with
and without a token. A failure names the check: a 5xx, a response outside the schema, or a
schema-valid request refused as malformed (422).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks as st_checks
from schemathesis.specs.openapi import checks as openapi_checks

from backend.openapi import build_openapi
from backend.routes import ENDPOINTS
from tests.servers import ServerThread, make_settings

# Positive cases only, from the fuzzing phase: what a well-behaved client could send.
config = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "positive", "max-examples": 3, "database": "none"},
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_dict(build_openapi(ENDPOINTS), config=config)
CHECKS = [
    st_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    db = Path(tmp_path_factory.mktemp("fuzz")) / "c.db"
    server = ServerThread(make_settings(db)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


@schema.parametrize()
@settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_server_answers_as_its_document_says(
    case: schemathesis.Case, fuzzed: ServerThread, session: requests.Session
) -> None:
    response = case.call(base_url=fuzzed.url, session=session)
    case.validate_response(response, checks=CHECKS)
    if response.status_code == 422:
        pytest.fail(f"a schema-valid request was refused: {response.text}")
