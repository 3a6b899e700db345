"""The dependency direction of docs/architecture.md, checked by parsing every import:

    api → schema → {scanner → loyalty, auth} → events → store

and inside the packages: no module imports itself back through others (no import circles),
and `loyalty`'s sub-packages depend one way, in the order of LOYALTY_ORDER.
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "schema", "auth", "scanner", "loyalty", "events", "store")

# Which of our packages each package may import (besides itself).
ALLOWED = {
    "store": set(),
    "events": {"store"},
    "auth": {"events", "store"},
    "loyalty": {"events", "store"},
    "scanner": {"loyalty", "auth", "events", "store"},
    "schema": {"scanner", "loyalty", "auth", "events", "store"},
    "api": {"schema", "scanner", "loyalty", "auth", "events", "store"},
}
# `loyalty`'s sub-packages, lowest first: each may import the ones before it, never one
# after it. The modules directly in `loyalty/` are the vocabulary they all share, and import
# no sub-package.
LOYALTY_ORDER = (
    "programme", "ledger", "badges", "tiers", "segments", "rewards", "engagement", "play",
    "earning", "members", "insights",
)
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


def module_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Which of `package`'s modules each of its modules imports (a package counts as its
    `__init__`; `from a.b import c` imports the module `a.b.c` when there is one)."""
    names = {".".join(_dotted(root, path)): path for path in _modules(root, package)}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        targets = set()
        for imported in imports(root, path):
            module = imported.module
            while module and module not in names:
                module = module.rpartition(".")[0]
            if module and module != name:
                targets.add(module)
        graph[name] = targets
    return graph


def _circle_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """One circle inside a strongly connected `group`, as the modules along it."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        here = queue.pop(0)
        for there in sorted(graph[here] & group):
            if there == start:
                return [*paths[here], start]
            if there not in paths:
                paths[there] = [*paths[here], there]
                queue.append(there)
    raise AssertionError(f"{group} is not connected")


def import_circles(root: Path) -> list[str]:
    """Every set of modules of one package that import each other round in a circle."""
    found: list[str] = []
    for package in PACKAGES:
        graph = module_graph(root, package)
        for group in _strongly_connected(graph):
            if len(group) > 1:
                found.append("import circle: " + " → ".join(_circle_through(graph, group)))
    return found


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (a long import chain must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root_node in sorted(graph):
        if root_node in index:
            continue
        work = [(root_node, iter(sorted(graph[root_node])))]
        index[root_node] = low[root_node] = len(index)
        stack.append(root_node)
        on_stack.add(root_node)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def _loyalty_part(root: Path, module: str) -> str | None:
    """The sub-package of `loyalty` a module belongs to; None for the shared modules."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (root / "loyalty" / parts[1]).is_dir()):
        return parts[1]
    return None


def loyalty_violations(root: Path) -> list[str]:
    """Imports between `loyalty`'s sub-packages against LOYALTY_ORDER, and sub-packages
    the order does not place."""
    found = [
        f"loyalty/{path.name} is not in LOYALTY_ORDER"
        for path in sorted((root / "loyalty").iterdir())
        if path.is_dir() and any(path.rglob("*.py")) and path.name not in LOYALTY_ORDER
    ]
    for module, targets in module_graph(root, "loyalty").items():
        part = _loyalty_part(root, module)
        for target in sorted(targets):
            other = _loyalty_part(root, target)
            if other is None or other == part or other not in LOYALTY_ORDER:
                continue
            if part is None:
                found.append(f"{module} is shared by every sub-package; it may not import "
                             f"{target}")
            elif part in LOYALTY_ORDER and (
                LOYALTY_ORDER.index(other) > LOYALTY_ORDER.index(part)
            ):
                found.append(f"loyalty.{part} may not import loyalty.{other} (it comes later "
                             f"in LOYALTY_ORDER): {module} imports {target}")
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


def test_no_package_has_an_import_circle() -> None:
    assert import_circles(REPO_ROOT) == []


def test_loyalty_sub_packages_depend_one_way() -> None:
    assert loyalty_violations(REPO_ROOT) == []


def test_every_sub_package_in_the_order_exists() -> None:
    for name in LOYALTY_ORDER:
        assert (REPO_ROOT / "loyalty" / name / "__init__.py").is_file(), name


def test_the_module_graph_sees_the_edges_the_code_has() -> None:
    # So an empty list of circles or backward imports means something.
    loyalty = module_graph(REPO_ROOT, "loyalty")
    assert "loyalty.ledger.posting" in loyalty["loyalty.earning.orders"]
    assert "loyalty.programme.settings" in loyalty["loyalty.ledger.posting"]
    schema = module_graph(REPO_ROOT, "schema")
    assert {"schema.shared", "schema.voucher_types"} <= schema["schema.nodes"]

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
        ("events", "from loyalty.ledger import entries\n", "events may not import loyalty"),
        ("store", "from events import outbox\n", "store may not import events"),
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
        "loyalty": "from store.errors import KizunaError\nfrom events import record\n",
        "events": "from store import Store\n",
        "scanner": "from loyalty import x\nfrom auth import y\nfrom store import z\n",
        "schema": "import strawberry\nfrom scanner import a\nfrom loyalty import b\n",
        "api": "import os\nimport starlette\nfrom schema import c\nos.environ.get('X')\n",
    }
    for name, source in sources.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("from . import inner\n")
        (tmp_path / name / "inner.py").write_text(source)
    assert violations(tmp_path) == []


def _package_tree(root: Path, files: dict[str, str], *, namespace: str | None = None) -> Path:
    """Every package (empty), plus `files` ({"loyalty/ledger/entries.py": source}); their
    folders get an empty `__init__.py`, except `namespace` ("loyalty/unplaced")."""
    for name in PACKAGES:
        (root / name).mkdir()
        (root / name / "__init__.py").write_text("")
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for folder in path.relative_to(root).parents:
            if folder not in (Path("."), Path(namespace or ".")) and not (
                root / folder / "__init__.py"
            ).exists():
                (root / folder / "__init__.py").write_text("")
        path.write_text(source)
    return root


@pytest.mark.parametrize(
    ("files", "circle"),
    [
        ({"schema/a.py": "from schema.b import B\n", "schema/b.py": "from schema.a import A\n"},
         "schema.a → schema.b → schema.a"),
        # A lazy import inside a function closes the circle all the same.
        ({"schema/a.py": "from schema import b\n",
          "schema/b.py": "from schema.c import C\n",
          "schema/c.py": "def f():\n    from schema.a import A\n"},
         "schema.a → schema.b → schema.c → schema.a"),
        ({"scanner/x.py": "from . import y\n", "scanner/y.py": "from .x import X\n"},
         "scanner.x → scanner.y → scanner.x"),
    ],
)
def test_checker_finds_an_import_circle(tmp_path: Path, files: dict[str, str],
                                        circle: str) -> None:
    found = import_circles(_package_tree(tmp_path, files))
    assert found == [f"import circle: {circle}"]


def test_checker_finds_no_circle_in_a_chain(tmp_path: Path) -> None:
    root = _package_tree(tmp_path, {
        "schema/a.py": "from schema.b import B\nfrom schema import c\n",
        "schema/b.py": "from schema.c import C\n",
        "schema/c.py": "import strawberry\n",
    })
    assert import_circles(root) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"loyalty/ledger/entries.py": "from loyalty.rewards.policy import Reward\n",
          "loyalty/rewards/policy.py": ""},
         "loyalty.ledger may not import loyalty.rewards"),
        ({"loyalty/programme/settings.py": "def f():\n    from loyalty.tiers import moves\n",
          "loyalty/tiers/moves.py": ""},
         "loyalty.programme may not import loyalty.tiers"),
        ({"loyalty/money.py": "from loyalty.ledger import entries\n",
          "loyalty/ledger/entries.py": ""},
         "loyalty.money is shared by every sub-package; it may not import loyalty.ledger"),
        ({"loyalty/loyalty_cards/cards.py": ""}, "loyalty/loyalty_cards is not in LOYALTY_ORDER"),
    ],
)
def test_checker_catches_a_backward_loyalty_import(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    found = loyalty_violations(_package_tree(tmp_path, files))
    assert any(expected in violation for violation in found), found


def test_checker_places_a_folder_without_init_in_the_order_too(tmp_path: Path) -> None:
    root = _package_tree(tmp_path, {
        "loyalty/ledger/entries.py": "from loyalty.unplaced import totals\n",
        "loyalty/unplaced/totals.py": "from loyalty.members import screens\n",
        "loyalty/members/screens.py": "",
    }, namespace="loyalty/unplaced")
    assert not (root / "loyalty" / "unplaced" / "__init__.py").exists()
    assert "loyalty/unplaced is not in LOYALTY_ORDER" in loyalty_violations(root)


def test_checker_accepts_loyalty_imports_that_go_down(tmp_path: Path) -> None:
    root = _package_tree(tmp_path, {
        "loyalty/money.py": "from store import Store\n",
        "loyalty/programme/settings.py": "from loyalty.money import check_currency\n",
        "loyalty/ledger/entries.py": "from loyalty.programme.settings import Programme\n",
        "loyalty/rewards/policy.py": "from loyalty.ledger import entries\nfrom . import rules\n",
        "loyalty/rewards/rules.py": "from loyalty.money import MINOR_UNITS\n",
        "loyalty/members/screens.py": "from loyalty.rewards.policy import Reward\n",
    })
    assert loyalty_violations(root) == []
    assert import_circles(root) == []
