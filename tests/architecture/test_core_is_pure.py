"""The core does no I/O, reads no wall clock and owns no random generator.

Every import in core/ must come from an allow-list of pure modules, and calls that
read the clock or global random state are rejected even from allowed modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"

ALLOWED_MODULES = {
    "__future__",
    "abc",
    "bisect",
    "collections",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "hashlib",
    "heapq",
    "hmac",
    "itertools",
    "json",
    "math",
    "numbers",
    "operator",
    "re",
    "statistics",
    "typing",
    "uuid",
    "numpy",
    "scipy",
    "pydantic",
}

FORBIDDEN_ATTRIBUTES = {
    ("datetime", "now"),
    ("datetime", "today"),
    ("datetime", "utcnow"),
    ("date", "today"),
    ("uuid", "uuid1"),
    ("uuid", "uuid4"),
    ("np", "random"),
    ("numpy", "random"),
}


def _core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def _imported_roots(tree: ast.AST) -> list[tuple[int, str]]:
    roots = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.append((node.lineno, node.module.split(".")[0]))
    return roots


def test_core_has_modules():
    assert len(_core_files()) > 5


@pytest.mark.parametrize("path", _core_files(), ids=lambda path: str(path.relative_to(CORE)))
def test_core_imports_only_pure_modules(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offending = [
        f"line {line}: {root}"
        for line, root in _imported_roots(tree)
        if root not in ALLOWED_MODULES
    ]
    assert not offending, f"{path} imports modules outside the pure allow-list: {offending}"


@pytest.mark.parametrize("path", _core_files(), ids=lambda path: str(path.relative_to(CORE)))
def test_core_reads_no_clock_or_global_randomness(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offending = [
        f"line {node.lineno}: {node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and (node.value.id, node.attr) in FORBIDDEN_ATTRIBUTES
    ]
    assert not offending, f"{path} reads the clock or global random state: {offending}"


FORBIDDEN_BUILTINS = {"open", "print", "input", "exec", "eval", "__import__"}


@pytest.mark.parametrize("path", _core_files(), ids=lambda path: str(path.relative_to(CORE)))
def test_core_calls_no_io_builtins(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offending = [
        f"line {node.lineno}: {node.func.id}()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FORBIDDEN_BUILTINS
    ]
    assert not offending, f"{path} calls I/O builtins: {offending}"


@pytest.mark.parametrize("path", _core_files(), ids=lambda path: str(path.relative_to(CORE)))
def test_core_imports_within_core_are_relative(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    absolute = [
        f"line {node.lineno}: {node.module}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.level == 0
        and (node.module or "").startswith("twinbank")
    ]
    assert not absolute, f"{path} imports the project by absolute name: {absolute}"


def test_checker_catches_a_forbidden_import(tmp_path: Path):
    sample = "import redis\nfrom time import time\nimport numpy as np\nnp.random.default_rng()\n"
    tree = ast.parse(sample)
    roots = {root for _, root in _imported_roots(tree)}
    assert roots - ALLOWED_MODULES == {"redis", "time"}
