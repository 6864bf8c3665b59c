"""House rules that keep the layout honest (STYLE.md sections 1, 4 and 9)."""

import ast
import importlib
import pkgutil
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


def test_every_error_code_is_documented() -> None:
    documented = (REPO / "docs" / "api.md").read_text()
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.MoodtuneError)
    }
    codes |= {"validation_error", "method_not_allowed"}
    missing = [c for c in sorted(codes) if f"`{c}`" not in documented]
    assert not missing, f"docs/api.md does not document {missing}"


def test_every_name_in_dunder_all_exists() -> None:
    for module_info in pkgutil.walk_packages([str(SRC)], prefix="moodtune."):
        if module_info.name.endswith(".env"):  # alembic env.py runs migrations on import
            continue
        module = importlib.import_module(module_info.name)
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"{module_info.name}.__all__ names missing {name!r}"
