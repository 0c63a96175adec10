"""What every command shares: exit codes, argument types, device set-up, model loading, the error line and
the progress counter. Torch is imported inside the functions that need it, so `--help` stays quick."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from advstudio.core.argtypes import float_in, int_in
from advstudio.core.classes import LAYOUT_NAMES
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
    """Comma-separated non-negative radii: L∞ ε for most attacks, L2 radii for the minimal-L2 ones, pixel counts
    for the L0 ones (each checked against its attack later)."""
    return _numbers(text, upper=784.0, out_of_range="ε {value} is negative or beyond any 28×28 image's size")


def l2_radii(text: str) -> list[float]:
    """Comma-separated non-negative L2 radii, any size."""
    message = "give one or more non-negative L2 radii"
    return _numbers(text, upper=1000.0, empty=message, out_of_range=message + " up to 1000")


def positive_float(text: str) -> float:
    """A finite number > 0 (no upper bound beyond finiteness; prefer a float_in range)."""
    return float_in(0.0, float("inf"), lo_open=True)(text)


def positive_int(text: str) -> int:
    """A whole number ≥ 1 (up to 10 million: no option needs more)."""
    return int_in(1, 10_000_000)(text)


MAX_CLASS_INDEX = 999  # a dataset has at most 1000 classes (core.classes.MAX_CLASS_NAMES)


def class_index(text: str) -> int:
    """A class index 0–999; a command checks it against the model's (or the dataset's) classes once loaded."""
    try:
        return int_in(0, MAX_CLASS_INDEX)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"a class is a whole number 0–{MAX_CLASS_INDEX} (at most the model's "
                                         f"classes − 1), got {text!r}") from None


def fraction(text: str) -> float:
    """A finite number strictly between 0 and 1."""
    v = float_in(0.0, 1.0, lo_open=True)(text)
    if v == 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {v:g}")
    return v


# --- the dataset's classes: --classes LAYOUT, and a model whose outputs are not the data's classes -----------

CLASSES_DEFAULT = "(default: the folder's classes.txt, else its name, else numbered from the labels)"


def add_classes_flag(parser, text: str | None = None, note: str = "") -> None:
    """--classes LAYOUT (a core.classes.KNOWN_LAYOUTS name), passed as load_split's layout. The help is the
    dataset's wording plus `note`, or `text` with {layouts} standing for the list of layouts."""
    layouts = ", ".join(LAYOUT_NAMES)
    if text is None:
        text = f"the dataset's class names and file layout: {layouts} {CLASSES_DEFAULT}{note}"
    else:
        text = text.format(layouts=layouts)
    parser.add_argument("--classes", choices=LAYOUT_NAMES, metavar="LAYOUT", help=text)


def class_problem(model, name: str, data, verb: str = "use") -> str | None:
    """Why the model cannot be used on these data (its number of outputs is not the data's number of classes),
    as one line naming both, or None. `verb` says what the command does with a model ("evaluate")."""
    from advstudio.core.model import num_classes_of

    outputs = num_classes_of(model)
    if outputs is not None and outputs != data.num_classes:
        return (f"the model {name} has {outputs} classes but the dataset in {data.source} has {data.num_classes}: "
                f"{verb} it on the data it was trained for (or give the dataset's --classes layout)")
    return None


def check_classes(model, name: str, *splits, verb: str = "use") -> None:
    """ModelFileError (one line, exit code 1) when the model's outputs are not the classes of one of the splits."""
    for data in splits:
        problem = class_problem(model, name, data, verb)
        if problem:
            from advstudio.core.errors import ModelFileError

            raise ModelFileError(problem)


def classes_line(data) -> str | None:
    """"classes: 26 (a, b, …)" for a dataset whose classes are not the ten digits; None for digits."""
    from advstudio.core.classes import DIGITS

    if tuple(data.classes) == DIGITS:
        return None
    shown = ", ".join(data.classes[:12]) + (", …" if data.num_classes > 12 else "")
    return f"classes: {data.num_classes} ({shown})"


# --- outputs ----------------------------------------------------------------------------------------------


def check_outputs(*paths, inputs=()) -> None:
    """Every output path is checked before the work starts (core.files.check_output_file: no folders, links,
    devices or unwritable places), no two outputs are the same file, and no output is one of the inputs (a model
    or dataset would be overwritten). Raises OutputRefused (an OSError: one line, exit code 1)."""
    import os

    from advstudio.core.files import OutputRefused, check_output_file

    seen: dict[str, Path] = {}
    for p in paths:
        if p is None:
            continue
        path = check_output_file(p)
        key = os.path.abspath(path)
        if key in seen:
            raise OutputRefused(f"{p} is named for two outputs; give each its own file")
        seen[key] = path
        for q in inputs:
            if q is not None and path.exists() and Path(q).exists() and os.path.samefile(path, q):
                raise OutputRefused(f"{p} is also an input of this command; it is not overwritten")


def check_model_out(flag: str, out: str, inputs=()) -> tuple[Path, Path]:
    """A model output (--out, --teacher-out) and its .json sidecar, checked before training starts: the name must
    end in .safetensors (never silently renamed), and an existing sidecar must be one of ours (a JSON document
    naming the architecture), so a user's own JSON file is never overwritten."""
    path = Path(out)
    if path.suffix != ".safetensors":
        raise UsageError(f"{flag} {out}: a model file's name must end in .safetensors (e.g. {path.name}.safetensors)")
    sidecar = path.with_suffix(".json")
    check_outputs(path, sidecar, inputs=inputs)
    if sidecar.exists() and not _is_our_sidecar(sidecar):
        from advstudio.core.files import OutputRefused

        raise OutputRefused(f"{sidecar} exists and is not the metadata of an Adversarial Studio model, so it is not "
                            f"overwritten; move it or choose another {flag}")
    return path, sidecar


def _is_our_sidecar(path: Path) -> bool:
    import json

    from advstudio.core.files import NotARegularFile, check_regular_file

    try:
        check_regular_file(path, max_bytes=8 * 1024 * 1024)
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (NotARegularFile, OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and "architecture" in doc


# --- JSON output: `--json` prints to standard output, `--json-out FILE` writes a file -------------------------

STDOUT = "-"


def add_json_flags(parser, what: str, old_file_spelling: bool = False, instead: str = "instead of the table") -> None:
    """--json (JSON on standard output instead of the table) and --json-out FILE. With old_file_spelling, `--json
    FILE` still writes FILE for one release, with a deprecation note on stderr."""
    if old_file_spelling:
        parser.add_argument("--json", nargs="?", const=STDOUT, default=None, metavar="FILE",
                            help=f"print {what} as JSON on standard output {instead} (`--json FILE` is the old "
                                 "spelling of --json-out FILE, deprecated)")
    else:
        parser.add_argument("--json", action="store_const", const=STDOUT, default=None,
                            help=f"print {what} as JSON on standard output {instead}")
    parser.add_argument("--json-out", metavar="FILE", help=f"also write {what} as JSON to FILE")


def json_targets(args, command: str) -> tuple[bool, str | None]:
    """(print JSON on stdout?, file to write it to or None) from --json and --json-out; UsageError when both
    name different files."""
    value, out = getattr(args, "json", None), getattr(args, "json_out", None)
    to_stdout = value == STDOUT
    if value not in (None, STDOUT):
        print(f"advstudio {command}: note: `--json FILE` is deprecated and will be removed in the next release; "
              "use --json-out FILE (`--json` alone prints JSON to standard output)", file=sys.stderr)
        if out is not None and out != value:
            raise UsageError(f"--json {value} and --json-out {out} name two files; give one")
        out = value
    return to_stdout, out


def printer(to_stdout: bool):
    """print, for the human-readable lines; a no-op when standard output holds the JSON alone."""
    return _silent if to_stdout else print


def _silent(*_args, **_kwargs) -> None:
    return None


def emit_json(doc: dict, to_stdout: bool, path: str | None) -> None:
    """Write the document to `path` (atomically) and/or print it; with JSON on stdout the "wrote" line goes to
    stderr, so standard output holds the JSON alone."""
    import json

    from advstudio.core.files import atomic_write_text

    text = json.dumps(doc, indent=2) + "\n"
    if path is not None:
        atomic_write_text(path, text)
        print(f"wrote {path}", file=sys.stderr if to_stdout else sys.stdout)
    if to_stdout:
        sys.stdout.write(text)
        sys.stdout.flush()


def diverged(model) -> bool:
    """True when training left NaN or infinite weights (such a model is never saved: loading refuses it)."""
    import torch

    return any(not bool(torch.isfinite(p).all()) for p in model.state_dict().values())


DIVERGED = ("training diverged (the weights hold NaN or infinite values), so nothing was written; "
            "try a smaller --lr")


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


ONNX_OPTIONS: dict = {}  # the global --onnx-input / --onnx-outputs, for every ONNX model a command opens


def setup_torch(args):
    """The device the --device flag picks (and the ONNX options of the global flags, for load_model)."""
    from advstudio.core.model import pick_device

    ONNX_OPTIONS.clear()
    ONNX_OPTIONS.update({k: v for k, v in (("input_range", getattr(args, "onnx_input", None)),
                                           ("outputs", getattr(args, "onnx_outputs", None))) if v})
    return pick_device(args.device)


def load_model(model_path: str | None, device):
    """(model, metadata, display name, path) of a .safetensors or .onnx file, or of the bundled model."""
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model as load_file
    from advstudio.core.storage import model_display_name

    path = Path(model_path) if model_path else bundled_model_path()
    try:
        model, meta = load_file(path, device, **ONNX_OPTIONS)
    except ValueError as exc:  # a bad --onnx-input / --onnx-outputs
        raise UsageError(str(exc)) from None
    return model, meta, model_display_name(path, meta), path


def command_line() -> str | None:
    """`advstudio …` as typed, for a model's metadata; None when not run as the advstudio command."""
    if Path(sys.argv[0]).name in ("advstudio", "__main__.py"):
        return "advstudio " + shlex.join(sys.argv[1:])
    return None
