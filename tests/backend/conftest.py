"""The official SDK pointed at a server whose models answer through the fake OpenAI server."""

import pytest
from letta_client import Letta

from tests.servers import ServerThread


@pytest.fixture
def sdk(llm_server: ServerThread) -> Letta:
    return Letta(base_url=llm_server.url, api_key="unused", timeout=30, max_retries=0)
