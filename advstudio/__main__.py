"""`python -m advstudio` / `advstudio` starts the window; `advstudio <command>` runs the headless CLI."""

from __future__ import annotations

import sys

GLOBAL_FLAGS = ("--device", "--onnx-input", "--onnx-outputs")  # the CLI's options before its command


def _is_cli(argv: list[str]) -> bool:
    """A subcommand (any word after the optional global flags --device X, --onnx-input R, --onnx-outputs O; the
    CLI names the unknown ones), or a bare -h/--help, selects the command line."""
    rest = list(argv)
    while rest:
        if rest[0] in GLOBAL_FLAGS:
            rest = rest[2:]
        elif rest[0].split("=", 1)[0] in GLOBAL_FLAGS and "=" in rest[0]:
            rest = rest[1:]
        else:
            break
    return bool(rest) and not rest[0].startswith("-") or argv[:1] in (["-h"], ["--help"])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _is_cli(argv):
        from advstudio.cli import main as cli_main

        return cli_main(argv)
    from advstudio.gui.app import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
