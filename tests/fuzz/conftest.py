"""Make the fuzz helpers importable from the fuzz tests (the tests are not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

for _name in ("hostile", "strategies", "harness"):
    _spec = importlib.util.spec_from_file_location(
        f"opsledger_fuzz_{_name}", Path(__file__).with_name(f"{_name}.py")
    )
    assert _spec and _spec.loader
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[f"opsledger_fuzz_{_name}"] = _module
    _spec.loader.exec_module(_module)
