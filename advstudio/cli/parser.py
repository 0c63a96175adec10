"""The `advstudio` argument parser: the global --device flag, then each command's sub-parser, added by its own
module in the order `advstudio --help` lists them."""

from __future__ import annotations

import argparse

from advstudio.cli import (
    activations,
    attack,
    certify,
    defense,
    distill,
    evaluate,
    explain,
    export,
    patch,
    predict,
    train,
    transfer,
    universal,
)

COMMAND_MODULES = {"train": train, "evaluate": evaluate, "attack": attack, "predict": predict,
                   "activations": activations, "defend": defense, "certify": certify, "distill": distill,
                   "universal": universal, "patch": patch, "transfer": transfer,
                   "explain": explain, "export": export}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="advstudio",
        allow_abbrev=False,  # `export --onnx` is the subcommand's, not an abbreviation of --onnx-input
        description="Adversarial Studio. With no command, starts the window; with a command, works headless.",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda or mps")
    p.add_argument("--onnx-input", metavar="RANGE", help="what the ONNX models a command opens expect, over what "
                   "their files say: 0-1 (pixels; the default of a file that says nothing), mnist (normalized with "
                   "MNIST's mean and std), 0-255, or mean=M,std=S")
    p.add_argument("--onnx-outputs", choices=("logits", "probabilities"),
                   help="what the ONNX models a command opens output, over what their files say (a file that says "
                        "nothing: logits, or probabilities when its graph ends in Softmax)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES.values():
        module.add_parser(sub)
    return p
