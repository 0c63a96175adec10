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
    patch,
    predict,
    train,
    transfer,
    universal,
)

COMMAND_MODULES = {"train": train, "evaluate": evaluate, "attack": attack, "predict": predict,
                   "activations": activations, "defend": defense, "certify": certify, "distill": distill,
                   "universal": universal, "patch": patch, "transfer": transfer,
                   "explain": explain}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="advstudio",
        description="Adversarial Studio. With no command, starts the window; with a command, works headless.",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda or mps")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES.values():
        module.add_parser(sub)
    return p
