"""Machine paths out of the report: a report goes to a teacher, and a model file's command or a model's location
would otherwise show the folders of the machine that built it (`/work/artifacts/…`, the user's home). Commands
keep their shape: an absolute path becomes its file name, the MNIST folder a placeholder."""

from __future__ import annotations

import re

MNIST_PLACEHOLDER = "<MNIST folder>"
FOLDER_PLACEHOLDER = "<folder>"
DATA_OPTIONS = ("--data", "--data-dir", "--mnist")  # options whose value is the MNIST folder

_QUOTED = r"'[^']*'|\"[^\"]*\""
_DATA_VALUE = re.compile(r"(?P<opt>" + "|".join(re.escape(o) for o in DATA_OPTIONS) + r")(?P<sep>=|\s+)(?P<value>"
                         + _QUOTED + r"|[^\s'\"]+)")
# an absolute path: POSIX (/…, ~/…), a Windows drive (C:\…, C:/…) or a share (\\server\…), quoted or bare; it
# starts a token (after a space, =, a bracket or a comma), so "1/255" or "ε/σ" stay as they are
_STARTS = r"(?:~[\w.-]*)?/|[A-Za-z]:[\\/]|\\\\"
_ABSOLUTE = re.compile(r"(?<![^\s=(\[,])(?P<path>'(?:" + _STARTS + r")[^']*'|\"(?:" + _STARTS + r")[^\"]*\"|(?:"
                       + _STARTS + r")[^\s'\"]+)")


def file_name(path: str) -> str:
    """The last part of a POSIX or Windows path ("<folder>" for a bare root)."""
    parts = [p for p in re.split(r"[\\/]+", path.strip()) if p and not re.fullmatch(r"[A-Za-z]:|~[\w.-]*", p)]
    return parts[-1] if parts else FOLDER_PLACEHOLDER


def _short_path(match: re.Match) -> str:
    text = match.group("path")
    quote = text[0] if text[0] in "'\"" else ""
    name = file_name(text.strip("'\""))
    return f"{quote}{name}{quote}" if quote and " " in name else name


def scrub_paths(text: object) -> str:
    """`text` (a command, a recipe value, a file location) without the folders of any machine: the MNIST
    option's value becomes "<MNIST folder>", every other absolute path its file name."""
    out = _DATA_VALUE.sub(lambda m: f"{m.group('opt')}{m.group('sep')}{MNIST_PLACEHOLDER}", str(text))
    return _ABSOLUTE.sub(_short_path, out)


def scrub_value(value: object) -> object:
    """scrub_paths through a JSON-like value (recipe dicts and lists keep their shape; numbers stay numbers)."""
    if isinstance(value, str):
        return scrub_paths(value)
    if isinstance(value, dict):
        return {scrub_paths(k): scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_value(v) for v in value]
    return value
