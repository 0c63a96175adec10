"""PyInstaller's entry point: the same as `python -m advstudio` (window, CLI subcommands, --self-test)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen app must answer multiprocessing's child start-up itself
    from advstudio.applog import ensure_std_streams

    ensure_std_streams()  # a windowed build (Windows, macOS) starts with sys.stdout/stderr = None
    from advstudio.__main__ import main

    sys.exit(main())
