"""The layering of sshgate's packages, read statically from the source (ast, nothing is
imported): which package may import which (docs/architecture.md shows the same list), that a
package is imported through its `__init__` and only for names in its `__all__`, and that no
import cycle hides inside `ssh_gateway/`.

A new package or a new edge is a design decision: add it to ALLOWED here and to
docs/architecture.md in the same commit.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sshgate"

# Unit of layering: each subpackage and each top-level module of sshgate. `sshgate` itself
# (`__version__`) and `_lazy` (lazy exports of package `__init__`s) may be imported by all.
ALLOWED: dict[str, frozenset[str]] = {
    name: frozenset(edges)
    for name, edges in {
        "policy": (),
        "public_address": (),
        "config": ("public_address",),
        "logs": (),
        "private_files": (),
        "metrics": (),
        "ca": ("private_files",),
        "store": ("policy", "logs"),
        "authority": ("ca", "policy", "store"),
        "accounts": ("policy", "store", "private_files"),
        "datadir": ("ca", "store"),
        "mail": ("config",),
        "health": ("config", "logs", "metrics"),
        "workers": ("config", "logs"),
        "ssh_gateway": ("ca", "policy", "store", "config", "logs", "metrics"),
        "services": ("accounts", "policy", "store", "config", "logs", "mail"),
        "console": ("services", "accounts", "policy", "store", "logs"),
        "api": (
            "console",
            "services",
            "accounts",
            "authority",
            "ca",
            "policy",
            "store",
            "config",
            "logs",
            "metrics",
        ),
        "runtime": (
            "api",
            "ssh_gateway",
            "ca",
            "store",
            "config",
            "logs",
            "metrics",
            "health",
            "workers",
            "private_files",
        ),
        "client": ("public_address",),
        "cli": (
            "client",
            "services",
            "accounts",
            "ca",
            "policy",
            "store",
            "config",
            "logs",
            "datadir",
            "workers",
            "runtime",
            "demo",
        ),
        "demo": (
            "authority",
            "accounts",
            "ca",
            "policy",
            "store",
            "config",
            "datadir",
            "runtime",
            "cli",
            "logs",
        ),
    }.items()
}
EVERYWHERE = frozenset({"sshgate", "_lazy"})
# The demo drives `sshgate admin` in its own process as a user would, and `sshgate demo`
# starts the demo: the one cycle between packages.
ALLOWED_CYCLES = {frozenset({"cli", "demo"})}
# Modules that must stay light: importing them loads no database driver and no metrics.
LIGHT_MODULES = (
    "sshgate.ssh_gateway.certcheck",
    "sshgate.policy",
    "sshgate.ca",
    "sshgate.store",
    "sshgate.authority",
)
HEAVY_DEPENDENCIES = ("asyncpg", "aiosqlite", "prometheus_client")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted
    names: tuple[str, ...]  # for `from target import names`; () for `import target`
    line: int

    @property
    def where(self) -> str:
        return f"{self.module}:{self.line}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """The layering unit of a dotted sshgate module: `sshgate.ca.keys` -> `ca`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "sshgate"


def is_package(unit: str) -> bool:
    return (PACKAGE / unit / "__init__.py").exists()


def imports_of(path: Path) -> list[Import]:
    """Every import of an sshgate module in `path`, at any depth (functions and
    `if TYPE_CHECKING:` blocks included), relative imports resolved."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [Import(module, a.name, (), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = tuple(a.name for a in node.names)
            found.append(Import(module, base, names, node.lineno))
    return [i for i in found if i.target == "sshgate" or i.target.startswith("sshgate.")]


def all_imports() -> list[Import]:
    return [i for path in sorted(PACKAGE.rglob("*.py")) for i in imports_of(path)]


def imported_units(imp: Import) -> list[str]:
    """The layering units an import reaches: `from sshgate import metrics` reaches
    `metrics`, `from sshgate import __version__` only `sshgate`."""
    if imp.target == "sshgate":
        units = [n for n in imp.names if (PACKAGE / f"{n}.py").exists() or is_package(n)]
        return units or ["sshgate"]
    return [unit_of(imp.target)]


def cross_unit_imports() -> list[tuple[Import, str, str]]:
    edges = []
    for imp in all_imports():
        source = unit_of(imp.module)
        for target in imported_units(imp):
            if target != source:
                edges.append((imp, source, target))
    return edges


def exported_names(unit: str) -> set[str]:
    tree = ast.parse((PACKAGE / unit / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return set()


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one node (or with a self-edge)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def units_in_tree() -> set[str]:
    units = {p.name for p in PACKAGE.iterdir() if is_package(p.name)}
    units |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return units - EVERYWHERE


def test_every_package_and_module_of_sshgate_has_a_place_in_the_layering() -> None:
    assert units_in_tree() - ALLOWED.keys() == set(), "add the new unit to ALLOWED"
    assert ALLOWED.keys() - units_in_tree() == set(), "a unit of ALLOWED no longer exists"


def test_packages_import_only_along_the_allowed_edges() -> None:
    wrong = [
        f"{imp.where} imports {target} ({imp.target})"
        for imp, source, target in cross_unit_imports()
        if target not in EVERYWHERE and target not in ALLOWED.get(source, frozenset())
    ]
    assert wrong == []


def test_the_architecture_page_shows_exactly_the_allowed_edges() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| [^|]* \|([^|]*)\|$", text, re.MULTILINE)
    shown = {unit: frozenset(re.findall(r"`(\w+)`", edges)) for unit, edges in rows}
    assert shown == ALLOWED


def test_policy_imports_nothing_of_sshgate_and_ca_no_store() -> None:
    reached: dict[str, set[str]] = defaultdict(set)
    for _imp, source, target in cross_unit_imports():
        reached[source].add(target)
    assert reached["policy"] <= {"sshgate"}
    assert "store" not in reached["ca"] and "policy" not in reached["ca"]
    assert "ssh_gateway" not in reached["api"]


def test_the_allowed_edges_have_no_cycle_but_the_demo_driving_the_cli() -> None:
    graph = {unit: set(edges) for unit, edges in ALLOWED.items()}
    assert [c for c in cycles(graph) if frozenset(c) not in ALLOWED_CYCLES] == []


def test_other_packages_are_imported_through_their_init_for_exported_names() -> None:
    wrong = []
    for imp, _source, target in cross_unit_imports():
        if not is_package(target) or target in EVERYWHERE or imp.target == "sshgate":
            continue  # `from sshgate import accounts` names the package itself
        if imp.target != f"sshgate.{target}":
            wrong.append(f"{imp.where} imports the private module {imp.target}")
            continue
        missing = set(imp.names) - exported_names(target)
        if missing:
            wrong.append(f"{imp.where} imports {sorted(missing)}, not in {imp.target}.__all__")
    assert wrong == []


def test_every_package_init_declares_its_public_names() -> None:
    empty = [unit for unit in sorted(units_in_tree()) if is_package(unit)]
    assert [unit for unit in empty if not exported_names(unit)] == []


def ssh_gateway_module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted((PACKAGE / "ssh_gateway").glob("*.py")):
        for imp in imports_of(path):
            if imp.target.startswith("sshgate.ssh_gateway."):
                graph[imp.module].add(imp.target)
    return graph


def test_the_cycle_finder_finds_a_cycle_hidden_under_type_checking() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(map(sorted, cycles(graph))) == [["a", "b", "c"], ["e"]]


def test_no_import_cycle_inside_ssh_gateway() -> None:
    assert cycles(ssh_gateway_module_graph()) == []


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_importing_a_light_module_loads_no_database_driver_nor_prometheus(module: str) -> None:
    probe = (
        f"import sys, {module}\n"
        f"print(sorted(m for m in {HEAVY_DEPENDENCIES!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
