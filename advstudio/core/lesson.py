"""Guided lessons as data: a JSON file of steps (title, Markdown body, one action, one check) that a teacher can
edit or translate. This module reads and validates it and reads back a student's saved progress (no Qt);
gui/features/lesson/controller.py runs it.

A malformed file raises LessonError naming the file, the step and the field, so a teacher sees what to fix."""

from __future__ import annotations

import hashlib
import locale
import math
import os
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from advstudio.core.eps import parse_numbers
from advstudio.core.errors import LessonError
from advstudio.core.lesson_facts import PLACEHOLDER, PLACEHOLDERS, fill, model_facts  # noqa: F401 - the lesson's API

FORMAT = "advstudio-lesson/1"
LESSON_FILE = "lesson.json"
DEFAULT_LANGUAGE = "en"
MAX_LESSON_BYTES = 1024 * 1024
MAX_DEPTH = 8  # a lesson is nested 4 deep (file, steps, step, check); deeper is not a lesson
MAX_STEPS = 200
MAX_FIELD = 100_000  # characters in one text field


# ---------------------------------------------------------------------------------------------- the schema
# action name -> how its argument (the text after "name:") is read; None: takes no argument
def _eps(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and 0.0 <= value <= 0.5):
        raise ValueError("ε must be a number from 0 to 0.5")
    return value


def _eps_list(text: str) -> tuple[float, ...]:
    values = tuple(parse_numbers(text, upper=0.5, empty="give at least two ε values, separated by commas",
                                 unreadable="ε must be a number from 0 to 0.5",
                                 out_of_range="ε must be a number from 0 to 0.5"))
    if len(values) < 2:
        raise ValueError("give at least two ε values, separated by commas")
    return values


def _key(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", text):
        raise ValueError("a tab or panel key is letters, digits, '_' or '-'")
    return text


def _samples(text: str) -> int:
    n = int(text)
    if not 1 <= n <= 10000:
        raise ValueError("the number of test images must be 1 to 10000")
    return n


def _digit(text: str) -> int:
    d = int(text)
    if d not in (0, 1, 3, 7):
        raise ValueError("the demo digit is 0, 1, 3 or 7")
    return d


def _landscape(text: str) -> str:
    model, _, direction = text.partition("+")
    if model not in LANDSCAPE_MODELS or direction not in ("", "bpda"):
        raise ValueError(f"the landscape's model is one of {', '.join(LANDSCAPE_MODELS)}, optionally +bpda")
    return text


LANDSCAPE_MODELS = ("current", "other", "jpeg", "bit_depth")  # the Why it breaks tab's landscape choices
ACTIONS: dict[str, tuple[object, bool]] = {  # name -> (argument parser or None, argument required)
    "show_tab": (_key, True),  # bring a tab to the front: show_tab:robustness
    "show_dock": (_key, True),  # show and raise a panel: show_dock:activations
    "set_eps": (_eps, True),  # move the attack's ε slider: set_eps:0.2
    "eps_sweep": (_eps_list, True),  # step the slider through values, one a second: eps_sweep:0,0.1,0.2
    "draw_demo_digit": (_digit, False),  # draw a digit on the canvas (default 3)
    "find_flip": (None, False),  # search the smallest ε that flips the prediction
    "run_lab": (_samples, False),  # FGSM robustness curve of the current model on N test images (default 500)
    "open_robust_model": (None, False),  # load the bundled adversarially trained model
    "compare": (None, False),  # the "Side by side" tab (key "compare") if this version has it
    "show_landscape": (_landscape, False),  # the loss around the drawing: show_landscape:jpeg (or jpeg+bpda)
}

# check kind -> {parameter: (type, required)}; every check may also carry "hint" (the "waiting: …" text)
CHECKS: dict[str, dict[str, tuple[type, bool]]] = {
    "visited": {},
    "dock_shown": {"dock": (str, True)},
    "tab_shown": {"tab": (str, True)},
    "input_drawn": {},
    "eps_at_least": {"value": (float, True)},
    "prediction_flipped": {},
    "eps_range_seen": {"min": (float, True), "max": (float, True)},
    "lab_curve_done": {"curves": (int, False), "attack": (str, False)},
    "activations_shown": {},
    "robust_model_compared": {"min_eps": (float, False)},
    "landscape_seen": {"model": (str, False), "direction": (str, False)},  # a loss landscape of this kind shown
}


TOP_KEYS = {"format": True, "title": True, "language": False, "steps": True}
STEP_KEYS = {"id": True, "title": True, "body": True, "action": False, "check": True}
ACTION_KEYS = {"label": True, "do": True}


@dataclass(frozen=True)
class LessonAction:
    label: str  # the button's text
    name: str  # one of ACTIONS
    arg: object = None  # the parsed argument (float, tuple, int, str) or None
    spec: str = ""  # as written: "set_eps:0.2"


@dataclass(frozen=True)
class LessonCheck:
    kind: str  # one of CHECKS
    params: dict = field(default_factory=dict)
    hint: str = ""


@dataclass(frozen=True)
class LessonStep:
    id: str
    title: str
    body: str  # Markdown, with {placeholders}
    check: LessonCheck
    action: LessonAction | None = None


@dataclass(frozen=True)
class Lesson:
    title: str
    language: str
    steps: tuple[LessonStep, ...]
    source: str

    def index_of(self, step_id: str) -> int:
        for i, s in enumerate(self.steps):
            if s.id == step_id:
                return i
        raise KeyError(step_id)


# ---------------------------------------------------------------------------------------------- finding files
def lessons_root() -> Path:
    return Path(str(files("advstudio") / "resources" / "lessons"))


def available_languages() -> list[str]:
    root = lessons_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / LESSON_FILE).is_file())


def preferred_language() -> str:
    """The first language of the user's locale that has a bundled lesson, else English."""
    langs = available_languages()
    candidates = [os.environ.get(k, "") for k in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")]
    try:
        candidates.append(locale.getlocale()[0] or "")
    except ValueError:
        pass
    for c in candidates:
        for part in c.split(":"):
            code = part.split(".")[0].split("_")[0].lower()
            if code in langs:
                return code
    return DEFAULT_LANGUAGE


def lesson_path(where: str | os.PathLike | None = None) -> Path:
    """Resolve a lesson: None (the bundled one in the user's language), a file, a folder holding lesson.json,
    or a language code of a bundled lesson ("en")."""
    if where is None or str(where) == "":
        return lessons_root() / preferred_language() / LESSON_FILE
    p = Path(where).expanduser()
    if p.is_dir():
        return p / LESSON_FILE
    if p.exists() or os.sep in str(where) or p.suffix:
        return p
    code = str(where).lower()
    if code in available_languages():
        return lessons_root() / code / LESSON_FILE
    raise LessonError(f"No lesson file {where!r}, and no bundled lesson in that language "
                      f"(bundled: {', '.join(available_languages()) or 'none'}).")


# ---------------------------------------------------------------------------------------------- loading
def load_lesson(where: str | os.PathLike | None = None) -> Lesson:
    """Read and validate a lesson file; LessonError says what is wrong and where."""
    from advstudio.core.files import NotARegularFile, check_regular_file

    try:
        path = lesson_path(where)
    except (OSError, RuntimeError, ValueError) as exc:  # a name too long, "~nobody/…", a NUL in the path
        if isinstance(exc, LessonError):
            raise
        raise LessonError(f"{str(where)[:200]!r}: not a lesson file or folder that can be read ({exc}).") from None
    name = str(path)
    try:
        if not path.exists():
            raise LessonError(f"{name}: no such lesson file.")
        try:
            check_regular_file(path)  # a FIFO or a device would hang the read
        except NotARegularFile as exc:
            raise LessonError(f"{exc}; a lesson is a JSON file.") from None
        if path.stat().st_size > MAX_LESSON_BYTES:
            raise LessonError(f"{name}: the file is larger than {MAX_LESSON_BYTES // 1024} KiB; is it a lesson?")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LessonError(f"{name}: no such lesson file.") from None
    except UnicodeDecodeError as exc:
        raise LessonError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    except OSError as exc:
        raise LessonError(f"{name}: cannot read it ({exc.strerror or exc}).") from None
    return parse_lesson(text, name)


def parse_lesson(text: str, source: str = "<lesson>") -> Lesson:
    """A lesson from JSON text: its size and nesting are checked before it is parsed."""
    from advstudio.core.jsonlimits import JsonShapeError, loads_limited

    if len(text) > MAX_LESSON_BYTES:
        raise LessonError(f"{source}: the text is longer than {MAX_LESSON_BYTES // 1024} KiB; is it a lesson?")
    try:
        data = loads_limited(text, MAX_DEPTH)
    except JsonShapeError as exc:
        raise LessonError(f"{source}: {exc}.") from None
    return validate_lesson(data, source)


def validate_lesson(data: object, source: str = "<lesson>") -> Lesson:
    where = source
    _expect_object(data, where, "the file")
    _keys(data, TOP_KEYS, where)
    if data["format"] != FORMAT:
        raise LessonError(f"{where}: field 'format' is {_short(data['format'])}; this version reads {FORMAT!r}.")
    title = _text(data["title"], where, "title")
    language = _text(data.get("language", DEFAULT_LANGUAGE), where, "language")
    steps_raw = data["steps"]
    if not isinstance(steps_raw, list) or not steps_raw:
        raise LessonError(f"{where}: field 'steps' must be a non-empty list of steps.")
    if len(steps_raw) > MAX_STEPS:
        raise LessonError(f"{where}: field 'steps' has {len(steps_raw)} steps (at most {MAX_STEPS}).")
    steps: list[LessonStep] = []
    seen: set[str] = set()
    for i, raw in enumerate(steps_raw, 1):
        sid = raw.get("id") if isinstance(raw, dict) else None
        at = f"{source}: step {i}" + (f" ({sid!r})" if isinstance(sid, str) else "")
        step = _step(raw, at)
        if step.id in seen:
            raise LessonError(f"{at}: field 'id': {step.id!r} is used by an earlier step; ids must differ.")
        seen.add(step.id)
        steps.append(step)
    return Lesson(title, language, tuple(steps), source)


def _step(raw: object, at: str) -> LessonStep:
    _expect_object(raw, at, "a step")
    _keys(raw, STEP_KEYS, at)
    sid = _text(raw["id"], at, "id")
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", sid):
        raise LessonError(f"{at}: field 'id': {sid!r} may hold only letters, digits, '_' and '-'.")
    title = _text(raw["title"], at, "title")
    body_raw = raw["body"]
    if isinstance(body_raw, list) and all(isinstance(x, str) for x in body_raw):
        body = "\n".join(body_raw)
    elif isinstance(body_raw, str):
        body = body_raw
    else:
        raise LessonError(f"{at}: field 'body' must be text or a list of lines (Markdown).")
    if len(body) > MAX_FIELD:
        raise LessonError(f"{at}: field 'body' is {len(body):,} characters long (at most {MAX_FIELD:,}).")
    for m in PLACEHOLDER.finditer(body):
        if m.group(1) not in PLACEHOLDERS:
            raise LessonError(f"{at}: field 'body': unknown placeholder {{{m.group(1)}}} "
                              f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}).")
    action = _action(raw["action"], at) if raw.get("action") is not None else None
    check = _check(raw["check"], at)
    return LessonStep(sid, title, body, check, action)


def _action(raw: object, at: str) -> LessonAction:
    _expect_object(raw, at, "field 'action'")
    _keys(raw, ACTION_KEYS, at, prefix="action.")
    label = _text(raw["label"], at, "action.label")
    spec = _text(raw["do"], at, "action.do")
    name, _, arg_text = spec.partition(":")
    if name not in ACTIONS:
        raise LessonError(f"{at}: field 'action.do': unknown action {name!r} (known: {', '.join(ACTIONS)}).")
    parse, required = ACTIONS[name]
    arg = None
    if arg_text:
        if parse is None:
            raise LessonError(f"{at}: field 'action.do': {name!r} takes no argument (got {arg_text!r}).")
        try:
            arg = parse(arg_text)  # type: ignore[operator]
        except ValueError as exc:
            raise LessonError(f"{at}: field 'action.do': bad argument {arg_text!r} for {name!r}: {exc}.") from None
    elif required:
        raise LessonError(f"{at}: field 'action.do': {name!r} needs an argument, e.g. {name}:…")
    return LessonAction(label, name, arg, spec)


def _check(raw: object, at: str) -> LessonCheck:
    _expect_object(raw, at, "field 'check'")
    kind = raw.get("kind")
    if kind is None:
        raise LessonError(f"{at}: field 'check.kind' is missing (one of: {', '.join(CHECKS)}).")
    if not isinstance(kind, str):
        raise LessonError(f"{at}: field 'check.kind' must be text (one of: {', '.join(CHECKS)}), "
                          f"not a {_json_type(kind)}.")
    if kind not in CHECKS:
        raise LessonError(f"{at}: field 'check.kind': unknown kind {_short(kind)} (known: {', '.join(CHECKS)}).")
    schema = CHECKS[kind]
    params: dict = {}
    for key, value in raw.items():
        if key in ("kind", "hint"):
            continue
        if key not in schema:
            known = ", ".join([*schema, "hint"])
            raise LessonError(f"{at}: field 'check.{key}': a {kind!r} check has no such parameter (it takes: {known}).")
        typ, _ = schema[key]
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if typ is float else (
            isinstance(value, typ) and not isinstance(value, bool))
        if ok and typ is float and not math.isfinite(float(value)):
            ok = False
        if not ok:
            raise LessonError(f"{at}: field 'check.{key}' must be {_TYPE_WORDS[typ]} ({typ.__name__}), not {_short(value)}.")
        params[key] = float(value) if typ is float else value
    for key, (_typ, required) in schema.items():
        if required and key not in params:
            raise LessonError(f"{at}: field 'check.{key}' is missing (a {kind!r} check needs it).")
    hint = raw.get("hint", "")
    if not isinstance(hint, str):
        raise LessonError(f"{at}: field 'check.hint' must be text.")
    return LessonCheck(kind, params, hint)


_TYPE_WORDS = {float: "a finite number", int: "a whole number", str: "text"}


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type, as a teacher editing the file sees it."""
    return {dict: "object {…}", list: "list […]", str: "text", bool: "true/false", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _expect_object(raw: object, at: str, what: str) -> None:
    if not isinstance(raw, dict):
        raise LessonError(f"{at}: {what} must be a JSON object {{…}}, not {_json_type(raw)}.")


def _keys(raw: dict, schema: dict[str, bool], at: str, prefix: str = "") -> None:
    for key in raw:
        if key not in schema:
            raise LessonError(f"{at}: unknown field '{prefix}{key[:60]}' (allowed: {', '.join(schema)}).")
    for key, required in schema.items():
        if required and key not in raw:
            raise LessonError(f"{at}: field '{prefix}{key}' is missing.")


def _text(value: object, at: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LessonError(f"{at}: field '{name}' must be non-empty text.")
    if len(value) > MAX_FIELD:
        raise LessonError(f"{at}: field '{name}' is {len(value):,} characters long (at most {MAX_FIELD:,}).")
    return value


# ---------------------------------------------------------------------------------------------- progress
PROGRESS_GROUP = "lesson/progress"  # settings: <group>/<progress_key>/step (1 = the first) and .../done (ids)


@dataclass(frozen=True)
class LessonProgress:
    """Where a student is in one lesson: the step on screen (0-based) and the ids of the steps whose check passed."""

    index: int = 0
    done: frozenset[str] = frozenset()


def progress_key(lesson: Lesson) -> str:
    """The settings group of this lesson's progress: a bundled lesson by its language (so it survives the app
    moving), a teacher's file by a hash of its path, so two files never share progress."""
    path = Path(lesson.source)
    try:
        resolved = path.resolve()
        bundled = resolved.name == LESSON_FILE and resolved.parent.parent == lessons_root().resolve()
    except OSError:
        resolved, bundled = path, False
    if bundled:
        return f"bundled-{resolved.parent.name}"
    return "file-" + hashlib.sha1(str(resolved).encode("utf-8")).hexdigest()[:12]


def read_progress(lesson: Lesson, step: object, done: object) -> LessonProgress:
    """Progress from stored settings values; anything broken or out of range falls back to step 1, and ids the
    lesson no longer has are dropped (a teacher may have edited the file since)."""
    try:
        number = int(str(step).strip())
    except (TypeError, ValueError):
        number = 1
    index = number - 1 if 1 <= number <= len(lesson.steps) else 0
    if isinstance(done, (list, tuple)):
        raw = [str(x) for x in done]
    else:
        raw = str(done or "").split(",")
    ids = {s.id for s in lesson.steps}
    return LessonProgress(index, frozenset(x.strip() for x in raw if x.strip() in ids))


def progress_values(lesson: Lesson, progress: LessonProgress) -> tuple[int, str]:
    """(step, done) as stored: the 1-based step number and the done ids in lesson order, comma-separated."""
    return progress.index + 1, ",".join(s.id for s in lesson.steps if s.id in progress.done)
