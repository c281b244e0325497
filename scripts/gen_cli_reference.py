#!/usr/bin/env python3
"""Write docs/reference/cli.md from the click command tree: every command's `--help`, at a
fixed width, in the order `--help` lists them.

    python scripts/gen_cli_reference.py           # rewrite docs/reference/cli.md
    python scripts/gen_cli_reference.py --check   # exit 1 when it is stale

tests/unit/test_cli_reference.py fails when the file is stale: regenerate it after changing
a command, an option or a help text.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "reference" / "cli.md"
WIDTH = 100

HEADER = """# `sshgate` command line reference

Every command's `--help`, generated from the command tree by
`python scripts/gen_cli_reference.py` (do not edit by hand; `tests/unit/test_cli_reference.py`
fails when this file is stale). Every command takes `-h`/`--help`; `sshgate --version` prints
the version. Conventions (`--json`, exit statuses, `--config`/`SSHGATE_CONFIG`) are in the
README, "Bootstrapping with `sshgate admin`".
"""


def walk(
    command: click.Command, name: str, parent: click.Context | None
) -> Iterator[tuple[click.Context, click.Command]]:
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    yield ctx, command
    if isinstance(command, click.Group):
        for sub in command.list_commands(ctx):
            child = command.get_command(ctx, sub)
            if child is not None and not child.hidden:
                yield from walk(child, sub, ctx)


def render() -> str:
    from sshgate.cli import cli

    parts = [HEADER]
    for ctx, command in walk(cli, "sshgate", None):
        text = command.get_help(ctx).rstrip()
        parts.append(f"\n## {ctx.command_path}\n\n```text\n{text}\n```\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if argv == ["--check"]:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run python scripts/gen_cli_reference.py")
            return 1
        return 0
    if argv:
        print(__doc__)
        return 2
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
