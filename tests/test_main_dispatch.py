"""`advstudio` with a subcommand runs the headless CLI; without one it starts the window."""

import pytest

from advstudio.__main__ import _is_cli


@pytest.mark.parametrize(
    "argv, cli",
    [
        ([], False),
        (["--demo"], False),
        (["--device", "cpu"], False),
        (["--quit-after", "100", "--model", "m.safetensors"], False),
        (["train", "--out", "m.safetensors"], True),
        (["--device", "cpu", "evaluate"], True),
        (["--device=cpu", "predict", "x.png"], True),
        (["--help"], True),
        (["--onnx-input", "mnist", "evaluate", "--model", "m.onnx"], True),
        (["--device", "cpu", "--onnx-outputs=probabilities", "predict", "x.png"], True),
        (["--onnx-input", "mnist"], False),
        (["--model", "m.onnx"], False),
    ],
)
def test_dispatch(argv, cli):
    assert _is_cli(argv) is cli
