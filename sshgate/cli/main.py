"""The `sshgate` entry point.

`sshgate cert ensure` runs before every SSH connection to the gateway, so it is dispatched
here before click or anything heavy is imported: when the certificate is still good it
only reads one small JSON file.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:2] == ["cert", "ensure"] and "--help" not in args and "-h" not in args:
        from sshgate.client import ensure_main

        sys.exit(ensure_main(args[2:]))
    from sshgate.cli.app import run

    run(args)


if __name__ == "__main__":
    main()
