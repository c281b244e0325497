"""docs/security.md names the tests that prove each defence: every one of them exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(test_\w+)")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_test_the_security_model_names_exists() -> None:
    references = REFERENCE.findall(DOC.read_text())
    assert len(references) > 50
    missing = [
        f"{file}::{name}"
        for file, name in references
        if not (ROOT / file).exists() or name not in _tests_in(ROOT / file)
    ]
    assert not missing, missing


def test_every_security_test_file_is_named_in_the_security_model() -> None:
    named = {file for file, _ in REFERENCE.findall(DOC.read_text())}
    ours = {
        str(path.relative_to(ROOT))
        for pattern in (
            "tests/unit/test_security_*.py",
            "tests/e2e/test_hostile_requests.py",
            "tests/e2e/test_abuse.py",
            "tests/e2e/test_faults.py",
            "tests/e2e/test_load.py",
        )
        for path in ROOT.glob(pattern)
    } - {"tests/unit/test_security_doc.py"}
    assert ours <= named, ours - named
