"""The contract is the only code the API and the worker share: it needs nothing but the
standard library, and the worker needs nothing of the API's."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_packages(package: str) -> dict[str, set[str]]:
    """Top-level package of every import, per module of ``package``."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_contract_needs_only_the_standard_library():
    for module, names in imported_packages("parlor_contract").items():
        assert names <= set(sys.stdlib_module_names) | {"__future__", "parlor_contract"}, module


@pytest.mark.parametrize("forbidden", ["chalicelib", "local", "tests", "app", "infra"])
def test_the_worker_never_imports_the_apis_code(forbidden):
    for module, names in imported_packages("media_worker").items():
        assert forbidden not in names, module

