"""Import layering (STYLE §16), checked on the source: the domain is pure, projections never
reach for the scheduler or the CLI, and nothing imports the repo folders by their bare names.
(import-linter cannot see ``package-dir``-mapped packages under an editable install, so the
contract is enforced here, where it runs with every test run.)"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "domain": ("opsledger.projections", "opsledger.scheduler", "opsledger.cli",
               "opsledger.application", "opsledger.store", "opsledger.services",
               "apscheduler", "psycopg", "sqlite3", "click", "rich"),
    "projections": ("opsledger.scheduler", "opsledger.cli", "opsledger.services",
                    "opsledger.application", "apscheduler"),
}
BARE = ("domain", "projections", "scheduler")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_forbidden(layer: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / layer).rglob("*.py")
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer])
    ]
    assert offenders == []


def test_no_module_imports_a_repo_folder_by_its_bare_name() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for folder in ("opsledger", *BARE, "tests", "bench")
        for path in (ROOT / folder).rglob("*.py")
        for name in _imports(path)
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
