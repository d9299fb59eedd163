"""The long-lived services a request handler reaches through ``request.app.state``."""

from dataclasses import dataclass

from starlette.requests import Request

from backend.llm import ProviderRegistry
from backend.runs.manager import RunManager
from backend.settings import Settings
from backend.store import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    registry: ProviderRegistry
    runs: RunManager


def services(request: Request) -> Services:
    return request.app.state.services
