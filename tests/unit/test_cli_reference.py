"""docs/reference/cli.md is what scripts/gen_cli_reference.py generates from the command
tree today: a changed command, option or help text without a regenerated reference fails."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_cli_reference", ROOT / "scripts" / "gen_cli_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_is_generated_from_the_current_command_tree() -> None:
    gen = generator()
    assert gen.OUTPUT.read_text(encoding="utf-8") == gen.render(), (
        "docs/reference/cli.md is stale: run python scripts/gen_cli_reference.py"
    )


def test_the_cli_reference_has_every_command_once() -> None:
    text = generator().render()
    for path in ("sshgate", "sshgate admin project grant", "sshgate login", "sshgate org remind"):
        assert text.count(f"\n## {path}\n") == 1, path
