"""Fixtures of the CLI tests: a tiny synthetic MNIST folder (no MNIST bytes) and a runner for advstudio.cli.main
that turns argparse's SystemExit into the exit code."""

from __future__ import annotations

import pytest

from advstudio.cli import main


@pytest.fixture
def tiny_mnist(tmp_path, write_idx, synthetic_mnist):
    """A folder with 64 training and 20 test images, gzipped IDX like the real files."""
    folder = tmp_path / "tiny-mnist"
    write_idx(folder, "train", *synthetic_mnist(64, seed=1))
    write_idx(folder, "test", *synthetic_mnist(20, seed=2))
    return folder


@pytest.fixture
def cli(capsys):
    """cli(*argv) -> (exit code, stdout, stderr), for usage errors (SystemExit) as for everything else."""

    def run(*argv) -> tuple[int, str, str]:
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:
            rc = exc.code
        out, err = capsys.readouterr()
        return rc, out, err

    return run
