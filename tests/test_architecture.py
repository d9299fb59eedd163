"""The layering rules of DESIGN.md, checked by parsing every module's imports.

- nothing in ``backend`` imports ``tui``;
- nothing in ``tui`` imports ``backend`` (the embedded server is started as a subprocess);
- ``tui/client.py`` never imports Textual, so the API client works without a screen;
- ``shared_schema`` imports neither side.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def modules(package: str) -> list[Path]:
    found = sorted((ROOT / package).rglob("*.py"))
    assert found, f"no modules found in {package}"
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("backend", {"tui", "textual"}),
        ("tui", {"backend"}),
        ("shared_schema", {"backend", "tui", "textual"}),
    ],
)
def test_packages_keep_to_their_side(package: str, forbidden: set[str]) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & forbidden)
        for path in modules(package)
        if imported_packages(path) & forbidden
    }
    assert offenders == {}


def test_api_client_does_not_import_textual() -> None:
    assert "textual" not in imported_packages(ROOT / "tui" / "client.py")


def test_the_checker_sees_imports() -> None:
    """Guard against a checker that passes because it finds nothing."""
    assert "backend" in imported_packages(ROOT / "backend" / "app.py")
    assert "httpx" in imported_packages(ROOT / "tui" / "client.py")
