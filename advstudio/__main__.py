"""`python -m advstudio` / `advstudio` starts the window; `advstudio <command>` runs the headless CLI."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-") or any(a in ("-h", "--help") for a in argv[:1]):
        from advstudio.cli import main as cli_main

        return cli_main(argv)
    from advstudio.gui.app import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
