"""The dependency direction of ARCHITECTURE.md §1, checked by parsing every import:

    api → schema → {scanner → loyalty, auth} → store
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "schema", "auth", "scanner", "loyalty", "store")

# Which of our packages each package may import (besides itself).
ALLOWED = {
    "store": set(),
    "auth": {"store"},
    "loyalty": {"store"},
    "scanner": {"loyalty", "auth", "store"},
    "schema": {"scanner", "loyalty", "auth", "store"},
    "api": {"schema", "scanner", "loyalty", "auth", "store"},
}
# Web and GraphQL frameworks stay out of the domain packages.
WEB_FRAMEWORKS = {"strawberry", "starlette", "graphql"}
# Database driver machinery belongs to `store` alone.
DATABASE_DRIVERS = {"pymongo", "bson", "mongoeco", "motor"}
ENVIRONMENT_READERS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # absolute dotted name

    @property
    def top(self) -> str:
        return self.module.split(".", 1)[0]

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def _modules(root: Path, package: str) -> Iterator[Path]:
    yield from sorted((root / package).rglob("*.py"))


def _dotted(root: Path, path: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports(root: Path, path: Path) -> Iterator[Import]:
    """Every import in `path`, at any depth (lazy imports in functions count too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _dotted(root, path)
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield Import(path, node.lineno, module)
            for alias in node.names:
                # `from os import environ` names the variable, `from x import y` a submodule.
                yield Import(path, node.lineno, ".".join(filter(None, [module, alias.name])))


def environment_reads(path: Path) -> Iterator[str]:
    """Places in `path` that read or change the process environment."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_READERS:
            yield f"{path}:{node.lineno} uses .{node.attr}"
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in ENVIRONMENT_READERS:
                    yield f"{path}:{node.lineno} imports os.{alias.name}"


def violations(root: Path) -> list[str]:
    found: list[str] = []
    for package in PACKAGES:
        for path in _modules(root, package):
            for imported in imports(root, path):
                top = imported.top
                if top in PACKAGES and top != package and top not in ALLOWED[package]:
                    found.append(f"{package} may not import {top}: {imported}")
                if package in ("loyalty", "scanner") and top in WEB_FRAMEWORKS:
                    found.append(f"{package} may not use a web framework: {imported}")
                if package != "store" and top in DATABASE_DRIVERS:
                    found.append(f"only store may use the database driver: {imported}")
            if package != "api":
                found += [f"only api reads the environment: {r}" for r in environment_reads(path)]
    return found


def test_every_package_exists_and_is_parsed() -> None:
    for package in PACKAGES:
        assert (REPO_ROOT / package / "__init__.py").is_file(), package
    seen = {
        (package, imported.top)
        for package in PACKAGES
        for path in _modules(REPO_ROOT, package)
        for imported in imports(REPO_ROOT, path)
    }
    # The checker sees the edges that make the app work, so an empty result means something.
    assert {("api", "schema"), ("schema", "auth"), ("auth", "store")} <= seen
    assert ("store", "pymongo") in seen


def test_dependencies_point_only_downwards() -> None:
    assert violations(REPO_ROOT) == []


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("store", "from api.app import create_app\n", "store may not import api"),
        ("store", "import auth.keys\n", "store may not import auth"),
        ("auth", "from loyalty import points\n", "auth may not import loyalty"),
        ("loyalty", "def f():\n    from scanner import codes\n", "loyalty may not import scanner"),
        ("loyalty", "from auth.roles import Role\n", "loyalty may not import auth"),
        ("scanner", "import strawberry\n", "scanner may not use a web framework"),
        ("loyalty", "from starlette.requests import Request\n", "may not use a web framework"),
        ("scanner", "from schema.nodes import Member\n", "scanner may not import schema"),
        ("schema", "from api.settings import Settings\n", "schema may not import api"),
        ("auth", "from pymongo import ASCENDING\n", "only store may use the database driver"),
        ("schema", "import bson\n", "only store may use the database driver"),
        ("auth", "import os\nKEY = os.environ['KEY']\n", "only api reads the environment"),
        ("store", "import os\nURI = os.getenv('URI')\n", "only api reads the environment"),
        ("schema", "from os import environ\n", "only api reads the environment"),
    ],
)
def test_checker_catches_a_forbidden_import(
    tmp_path: Path, package: str, source: str, expected: str
) -> None:
    for name in PACKAGES:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / package / "bad.py").write_text(source)
    found = violations(tmp_path)
    assert any(expected in violation for violation in found), found


def test_checker_accepts_the_allowed_directions(tmp_path: Path) -> None:
    sources = {
        "store": "import pymongo\nimport bson\n",
        "auth": "from store import Store\nimport jwt\n",
        "loyalty": "from store.errors import KizunaError\n",
        "scanner": "from loyalty import x\nfrom auth import y\nfrom store import z\n",
        "schema": "import strawberry\nfrom scanner import a\nfrom loyalty import b\n",
        "api": "import os\nimport starlette\nfrom schema import c\nos.environ.get('X')\n",
    }
    for name, source in sources.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("from . import inner\n")
        (tmp_path / name / "inner.py").write_text(source)
    assert violations(tmp_path) == []
