"""What every command shares: exit codes, argument types, device set-up, model loading, the error line and
the progress counter. Torch is imported inside the functions that need it, so `--help` stays quick."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from advstudio.core.eps import parse_numbers

EXIT_USAGE = 2
EXIT_FAILED = 1


class UsageError(Exception):
    """A command's own check of its arguments failed: `advstudio <command>: error: …`, exit code 2."""


def _numbers(text: str, **rules) -> list[float]:
    try:
        return parse_numbers(text, **rules)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def eps_list(text: str) -> list[float]:
    """Comma-separated ε in [0, 1] pixel space."""
    return _numbers(text, upper=1.0, out_of_range="ε {value} is outside [0, 1] pixel space")


def eps_value(text: str) -> float:
    return eps_list(text)[0]


def radius_list(text: str) -> list[float]:
    """Comma-separated non-negative radii: L∞ ε for most attacks, L2 radii for cw and deepfool (checked later)."""
    return _numbers(text, upper=28.0, out_of_range="ε {value} is negative or beyond any 28×28 image's L2 norm")


def l2_radii(text: str) -> list[float]:
    """Comma-separated non-negative L2 radii, any size."""
    message = "give one or more non-negative L2 radii"
    return _numbers(text, upper=float("inf"), empty=message, out_of_range=message)


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def class_index(text: str) -> int:
    v = int(text)
    if not 0 <= v <= 9:
        raise argparse.ArgumentTypeError("a class is a digit 0–9")
    return v


def fraction(text: str) -> float:
    v = float(text)
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {v}")
    return v


def tty_progress(done: int, total: int, what: str = "images") -> None:
    """A progress counter on stderr, only when someone watches a terminal."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{done}/{total} {what}")
        sys.stderr.flush()


def end_progress() -> None:
    """End the progress counter's line (when there was one)."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def fail(msg: str) -> int:
    print(f"advstudio: error: {msg}", file=sys.stderr)
    return EXIT_FAILED


def usage_error(command: str, msg: str) -> int:
    print(f"advstudio {command}: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def setup_torch(args):
    """The device the --device flag picks."""
    from advstudio.core.model import pick_device

    return pick_device(args.device)


def load_model(model_path: str | None, device):
    """(model, metadata, display name, path) of a .safetensors file, or of the bundled model."""
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model as load_file
    from advstudio.core.storage import model_display_name

    path = Path(model_path) if model_path else bundled_model_path()
    model, meta = load_file(path, device)
    return model, meta, model_display_name(path, meta), path


def command_line() -> str | None:
    """`advstudio …` as typed, for a model's metadata; None when not run as the advstudio command."""
    if Path(sys.argv[0]).name in ("advstudio", "__main__.py"):
        return "advstudio " + shlex.join(sys.argv[1:])
    return None
