"""House rules that keep the layout honest (STYLE.md sections 1, 4 and 9)."""

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import moodtune
from moodtune import errors

SRC = Path(moodtune.__file__).parent
REPO = SRC.parents[1]
PURE_PACKAGES = ("recommend", "vision", "audio")
FORBIDDEN_IN_PURE = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "typer",
    "moodtune.catalog",
    "moodtune.api",
    "moodtune.cli",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_packages_never_import_web_db_or_cli(package: str) -> None:
    for path in (SRC / package).rglob("*.py"):
        bad = {n for n in _imports(path) if n.startswith(FORBIDDEN_IN_PURE)}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_only_cli_imports_the_api_outside_it() -> None:
    for path in SRC.rglob("*.py"):
        if path.name == "cli.py" or "api" in path.relative_to(SRC).parts:
            continue
        assert not {n for n in _imports(path) if n.startswith("moodtune.api")}, path


def test_every_error_code_is_documented_with_its_status() -> None:
    """The error table of docs/api.md names every code the API can answer, with its status."""
    from moodtune.api.errors import _HTTP_CODES, _status_of

    table = re.findall(r"^\| `([a-z_]+)` \| (\d{3})", (REPO / "docs" / "api.md").read_text(), re.M)
    documented = {code: int(status) for code, status in table}
    expected = {
        cls.code: _status_of(cls("probe"))
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.MoodtuneError)
    }
    expected |= {code: status for status, code in _HTTP_CODES.items()}
    expected |= {"validation_error": 422, "internal": 500}
    wrong = {c: (documented.get(c), s) for c, s in expected.items() if documented.get(c) != s}
    assert not wrong, f"docs/api.md misses or misstates (documented, actual): {wrong}"


def test_every_name_in_dunder_all_exists() -> None:
    for module_info in pkgutil.walk_packages([str(SRC)], prefix="moodtune."):
        if module_info.name.endswith(".env"):  # alembic env.py runs migrations on import
            continue
        module = importlib.import_module(module_info.name)
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"{module_info.name}.__all__ names missing {name!r}"
