"""Headless command line: train / evaluate / attack / predict / activations / defend / certify / distill /
universal / patch / transfer / explain (JSON out where asked). One module per command (add_parser and run), shared
helpers in common.py, the parser in parser.py."""

from __future__ import annotations

import os
import sys

from advstudio.cli.common import EXIT_USAGE, UsageError, fail, usage_error
from advstudio.cli.parser import COMMAND_MODULES, build_parser

COMMANDS = {name: module.run for name, module in COMMAND_MODULES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    from advstudio.core.errors import DatasetError, InputImageError, ModelFileError

    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        return usage_error(args.command, str(exc))
    except (DatasetError, ModelFileError, InputImageError, RuntimeError, OSError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
