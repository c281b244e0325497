"""How `--help` lists a group's commands: each with its whole first sentence, wrapped, where
click would cut it at the terminal's width with "..."."""

from __future__ import annotations

import click

SHORT_HELP_LIMIT = 1_000  # characters: no cut


class Group(click.Group):
    """A command group whose `--help` shows each command's whole first sentence."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(SHORT_HELP_LIMIT)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
