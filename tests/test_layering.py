"""Import layering (issue 14 point 7, STYLE §16), checked on the source as an ALLOW-list.

Each layer names the project packages it may import (itself always allowed); anything of the
project it imports that is not on its list is an offender. The layers, bottom up:

=========================  ===========================================================
layer                      may import (besides itself)
=========================  ===========================================================
``opsledger.domain``       nothing of the project
``opsledger.projections``  domain
``opsledger.scheduler``    domain
``opsledger.store``        domain
``opsledger.sim``          domain
``opsledger.results``      domain (typed results: plain frozen data)
``opsledger.serialize``    domain, results (the one JSON serializer, no CLI import)
``opsledger.services``     domain, projections, scheduler, store, results
``opsledger.application``  domain, projections, scheduler, store, results, services,
                           serialize (the ``Operations`` facade)
``opsledger`` (package)    the same (it re-exports the public names, lazily)
``opsledger.reports``      the facade and everything below it (reviews, what-if, the
                           export, doctor and view verification are built on the facade's
                           public calls, as the CLI is)
``opsledger.cli``          only the facade (``opsledger``, ``opsledger.application``) and
                           the public types, the serializer, the reports, the simulator and
                           the HTTP service (``opsledger serve``)
``opsledger.api``          the HTTP service: only the facade, the public types and the
                           serializer (as the CLI)
``opsledger.samples``      nothing (data files)
=========================  ===========================================================

The import graph is built from the AST of every module, including imports inside functions
and under ``TYPE_CHECKING`` (an import there is still a dependency, and is how a cycle hides),
with relative imports resolved and ``from package import module`` counted as the module. On
top of the allow-list: no import cycle among opsledger's modules, and ``Operations``
(``opsledger/application.py``) under 200 lines. Cases that fail while issue 14's restructuring
is in progress are ``xfail(strict=True)`` with their offenders, so a case that starts passing
fails until its mark is removed. (import-linter cannot see ``package-dir``-mapped packages
under an editable install, so the contract is enforced here, with every test run.)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Source folders of the installed packages (setuptools package-dir in pyproject.toml).
SOURCES = {"opsledger": ROOT / "opsledger", "opsledger.domain": ROOT / "domain",
           "opsledger.projections": ROOT / "projections",
           "opsledger.scheduler": ROOT / "scheduler"}

_BELOW_SERVICES = ("opsledger.domain", "opsledger.projections", "opsledger.scheduler",
                   "opsledger.store", "opsledger.results")
_FACADE = (*_BELOW_SERVICES, "opsledger.services", "opsledger.serialize",
           "opsledger.application", "opsledger")
ALLOWED: dict[str, tuple[str, ...]] = {
    "opsledger.domain": (),
    "opsledger.projections": ("opsledger.domain",),
    "opsledger.scheduler": ("opsledger.domain",),
    "opsledger.store": ("opsledger.domain",),
    "opsledger.sim": ("opsledger.domain",),
    "opsledger.results": ("opsledger.domain",),
    "opsledger.serialize": ("opsledger.domain", "opsledger.results"),
    "opsledger.services": _BELOW_SERVICES,
    "opsledger.application": _FACADE,
    "opsledger": _FACADE,
    "opsledger.reports": _FACADE,
    "opsledger.cli": ("opsledger", "opsledger.application", "opsledger.results",
                      "opsledger.serialize", "opsledger.reports", "opsledger.sim",
                      "opsledger.api"),
    "opsledger.api": ("opsledger", "opsledger.application", "opsledger.results",
                      "opsledger.serialize"),
    "opsledger.samples": (),
}
# Third-party packages the pure layers never import (I/O, the scheduler library, the CLI).
THIRD_PARTY_FORBIDDEN = {
    "opsledger.domain": ("apscheduler", "psycopg", "sqlite3", "click", "rich"),
    "opsledger.projections": ("apscheduler", "click", "rich"),
}
BARE = ("domain", "projections", "scheduler")
FACADE_MAX_LINES = 200

# What fails today (the restructuring of issue 14 is in progress). Each entry's reason lists
# the offenders; when a case passes, strict xfail fails it: remove its entry then.
KNOWN_FAILING: dict[str, str] = {
}


def _modules() -> dict[str, Path]:
    """Every project module's dotted name -> its source file."""
    found: dict[str, Path] = {}
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = _modules()


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every dotted name ``module`` imports, anywhere in its body, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                yield submodule if submodule in MODULES else source


@cache
def graph() -> dict[str, frozenset[str]]:
    """Module -> the project modules (or packages) it imports."""
    edges: dict[str, frozenset[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        names = _imported_names(tree, module, path.name == "__init__.py")
        edges[module] = frozenset(
            n for n in names
            if (n == "opsledger" or n.startswith("opsledger.")) and n != module
        )
    return edges


def layer_of(module: str) -> str:
    """The layer ``module`` belongs to: the longest ALLOWED key it is or lies under."""
    return max((layer for layer in ALLOWED
                if module == layer or module.startswith(layer + ".")), key=len)


def _relative(module: str) -> str:
    return str(MODULES[module].relative_to(ROOT))


def layer_offenders(layer: str) -> list[str]:
    """``file imports module`` for each import of ``layer`` outside its allow-list."""
    allowed = {layer, *ALLOWED[layer]}
    return sorted(
        f"{_relative(module)} imports {name}"
        for module, names in graph().items() if layer_of(module) == layer
        for name in names if layer_of(name) not in allowed
    )


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in edges:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(edges)))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def _case(name: str) -> object:
    if name in KNOWN_FAILING:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True,
                                                          reason=KNOWN_FAILING[name]))
    return name


def test_the_graph_sees_every_layer_and_resolves_relative_and_nested_imports() -> None:
    # The checker itself: it finds the modules of every layer that exists, and an import
    # inside a function or under TYPE_CHECKING or relative is an edge like any other.
    layers = {layer_of(m) for m in MODULES}
    assert {"opsledger", "opsledger.domain", "opsledger.projections", "opsledger.scheduler",
            "opsledger.store", "opsledger.services", "opsledger.cli"} <= layers
    code = ("from typing import TYPE_CHECKING\nfrom . import sibling\n"
            "if TYPE_CHECKING:\n    from opsledger.cli import main\n"
            "def f():\n    import opsledger.store.url\n")
    names = set(_imported_names(ast.parse(code), "opsledger.services.x", False))
    assert {"opsledger.services", "opsledger.cli.main", "opsledger.store.url"} <= names
    assert layer_of("opsledger.store.url") == "opsledger.store"
    assert layer_of("opsledger") == "opsledger"


@pytest.mark.parametrize("layer", [_case(layer) for layer in sorted(ALLOWED)])
def test_layer_imports_only_what_its_allow_list_names(layer: str) -> None:
    assert layer_offenders(layer) == []


def test_the_cycle_detector_finds_a_planted_cycle() -> None:
    # So that an empty answer below means something.
    edges = graph()
    a, b = "opsledger.domain.errors", "opsledger.domain.time"
    planted = {**edges, a: edges[a] | {b}, b: edges[b] | {a}}
    assert any({a, b} <= set(component) for component in cycles(planted))
    assert cycles({"x": frozenset({"y"}), "y": frozenset()}) == []


@pytest.mark.parametrize("check", [_case("cycle")])
def test_no_import_cycle_among_opsledger_modules(check: str) -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize("check", [_case("facade")])
def test_operations_facade_is_under_200_lines(check: str) -> None:
    lines = (ROOT / "opsledger" / "application.py").read_text().count("\n")
    assert lines < FACADE_MAX_LINES


@pytest.mark.parametrize("layer", sorted(THIRD_PARTY_FORBIDDEN))
def test_pure_layers_import_no_io_or_cli_library(layer: str) -> None:
    offenders = sorted(
        f"{_relative(module)} imports {name}"
        for module, path in MODULES.items() if layer_of(module) == layer
        for name in _imported_names(ast.parse(path.read_text()), module,
                                    path.name == "__init__.py")
        if name.split(".")[0] in THIRD_PARTY_FORBIDDEN[layer]
    )
    assert offenders == []


def _plain_imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_module_imports_a_repo_folder_by_its_bare_name() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for folder in ("opsledger", *BARE, "tests", "bench")
        for path in (ROOT / folder).rglob("*.py")
        for name in _plain_imports(path)
        if name.split(".")[0] in BARE
    ]
    assert offenders == []


def test_import_domain_fails_outside_the_repo_and_opsledger_domain_works(tmp_path: Path) -> None:
    code = (
        "import importlib.util, opsledger.domain, opsledger.projections, opsledger.scheduler\n"
        "assert importlib.util.find_spec('domain') is None\n"
        "assert importlib.util.find_spec('projections') is None\n"
        "assert importlib.util.find_spec('scheduler') is None\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
