"""Settings and lesson files a user (or a crash, or a prank) may leave behind: each case of issue 18 by name,
then seeded mutations of good files. Every one ends in a clear message or a usable result, never an unhandled
exception and never a hang (FIFOs are refused before they are opened)."""

from __future__ import annotations

import copy
import json
import math
import os
import random
import time

import pytest

from advstudio.core import settings as core_settings
from advstudio.core.errors import LessonError, SettingsError
from advstudio.core.jsonlimits import JsonShapeError, loads_limited, nesting_depth
from advstudio.core.lesson import Lesson, lesson_path, load_lesson, model_facts, parse_lesson

SEED = 18
DEEP = 100_000  # the nesting depth
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv(core_settings.ENV_CONFIG_DIR, str(tmp_path))
    core_settings.take_problems()
    yield tmp_path
    core_settings.take_problems()  # a later test's window must not report this test's files


def _bundled_lesson() -> dict:
    return json.loads(lesson_path("en").read_text(encoding="utf-8"))


def _kept(folder, name="settings.json"):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f"{name}.corrupt-"))


# ------------------------------------------------------------------ JSON limits
def test_nesting_depth_counts_brackets_but_not_those_in_strings():
    assert nesting_depth('{"a": [1, {"b": []}]}') == 4
    assert nesting_depth('{"a": "[[[[{{{{", "b": "\\"[["}') == 1
    assert nesting_depth("[" * DEEP + "]" * DEEP) == DEEP


@pytest.mark.parametrize("text, words", [("[" * DEEP + "]" * DEEP, "100000 levels"), ("{", "not valid JSON"),
                                         ('{"a": NaN}', "NaN"), ('[Infinity]', "Infinity")])
def test_loads_limited_refuses_deep_broken_and_non_finite_json(text, words):
    with pytest.raises(JsonShapeError) as err:
        loads_limited(text, 16)
    assert words in str(err.value)


# ------------------------------------------------------------------ the shared settings file (core.settings)
def test_settings_nested_100000_levels_are_moved_aside_not_a_recursion_error(config):
    (config / "settings.json").write_text('{"mnist_dir": ' + "[" * DEEP + "]" * DEEP + "}")
    assert core_settings.load_settings() == {}
    assert not (config / "settings.json").exists() and len(_kept(config)) == 1
    (problem,) = core_settings.take_problems()
    assert "100001 levels deep" in problem and _kept(config)[0] in problem


@needs_fifo
@pytest.mark.timeout(20)
def test_a_fifo_as_the_settings_file_is_refused_without_opening_it(config):
    os.mkfifo(config / "settings.json")
    assert core_settings.load_settings() == {}  # opening the FIFO would block here forever
    assert "not a regular file" in core_settings.take_problems()[0]
    assert len(_kept(config)) == 1 and not (config / "settings.json").exists()
    core_settings.update_settings(mnist_dir="/data/mnist")  # and the app can save again
    assert core_settings.load_settings() == {"mnist_dir": "/data/mnist"}


def test_a_folder_or_device_in_the_settings_place_is_never_moved_or_replaced(config):
    (config / "settings.json").mkdir()
    assert core_settings.load_settings() == {}
    core_settings.update_settings(mnist_dir="/data")  # refused with a note, not IsADirectoryError
    assert (config / "settings.json").is_dir() and _kept(config) == []
    assert any("folder or a device" in p for p in core_settings.take_problems())
    assert not core_settings.movable("/dev/null") and core_settings.move_aside("/dev/null") is None


@pytest.mark.parametrize("content, words", [
    (b"\xff\xfe{}", "not UTF-8"), (b'["a list"]', "JSON list"), (b"{\"mnist_dir\": ", "not valid JSON"),
    (b"0" * (core_settings.MAX_SETTINGS_BYTES + 1), "MB"), (b'{"mnist_dir": NaN}', "NaN")])
def test_an_unusable_settings_file_is_kept_aside_and_the_defaults_used(config, content, words):
    (config / "settings.json").write_bytes(content)
    assert core_settings.load_settings() == {}
    assert words in core_settings.take_problems()[0]
    assert (config / _kept(config)[0]).read_bytes() == content  # kept for inspection, unchanged


@pytest.mark.parametrize("value", [["/a"], {"a": 1}, 5, True, None, "x" * 5000, "a\0b"])
def test_a_settings_value_of_the_wrong_type_is_dropped_and_the_rest_kept(config, value):
    (config / "settings.json").write_text(json.dumps({"mnist_dir": value, "later_version_key": [1, 2]}))
    assert core_settings.load_settings() == {"later_version_key": [1, 2]}
    assert "the MNIST folder" in core_settings.take_problems()[0]
    assert _kept(config) == []  # one bad value does not throw the file away


def test_read_settings_file_raises_a_typed_error(tmp_path):
    (tmp_path / "s.json").write_text("[" * 50 + "]" * 50)
    with pytest.raises(SettingsError, match="nested 50 levels"):
        core_settings.read_settings_file(tmp_path / "s.json")


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    op = rng.randrange(6)
    if op == 0 and b:  # flip bytes
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 1:  # truncate
        b = b[: rng.randrange(len(b) + 1)]
    elif op == 2:  # nest deeply at a random place
        i, n = rng.randrange(len(b) + 1), rng.choice([17, 1000, DEEP])
        b[i:i] = b"[" * n + b"]" * n
    elif op == 3:  # insert JSON-ish junk
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.choice([b"{", b"}", b"]", b'"', b"\\", b"NaN", b"1e999", b"\x00", b"\xff", b",,", b":"])
    elif op == 4:  # duplicate a slice
        i, j = sorted(rng.randrange(len(b) + 1) for _ in range(2))
        b[j:j] = b[i:j] * rng.randint(1, 50)
    else:  # swap two slices
        i, j = sorted(rng.randrange(len(b) + 1) for _ in range(2))
        b = b[j:] + b[i:j] + b[:i]
    return bytes(b)


def _random_value(rng: random.Random, depth: int = 0):
    choices = [lambda: None, lambda: rng.random() < 0.5, lambda: rng.randint(-10**30, 10**30),
               lambda: rng.choice([math.nan, math.inf, -0.0, 1e308, 0.5]), lambda: "x" * rng.choice([0, 3, 200_001]),
               lambda: rng.choice(["visited", "", " ", "\0", "{accuracy}", "{nope}", "set_eps:2", "run_lab:0"])]
    if depth < 3:
        choices += [lambda: [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))],
                    lambda: {rng.choice(["kind", "id", "x", ""]): _random_value(rng, depth + 1)}]
    return rng.choice(choices)()


def test_fuzz_settings_files_always_load_as_a_dict_of_checked_values(config):
    """300 seeded mutations of a good settings file: a dict comes back, mnist_dir is text if present, and a file
    that could not be read is kept aside with a message."""
    rng = random.Random(SEED)
    good = json.dumps({"mnist_dir": "/home/student/mnist", "other": [1, {"a": 2}]}, indent=2).encode()
    started = time.perf_counter()
    for i in range(300):
        data = _mutate_bytes(rng, good) if i % 3 else json.dumps({"mnist_dir": _random_value(rng)},
                                                                 allow_nan=True).encode()
        (config / "settings.json").write_bytes(data)
        loaded = core_settings.load_settings()
        assert isinstance(loaded, dict)
        assert "mnist_dir" not in loaded or isinstance(loaded["mnist_dir"], str)
        if not (config / "settings.json").exists():
            assert core_settings.take_problems(), data[:200]
        core_settings.take_problems()
    assert time.perf_counter() - started < 30


# ------------------------------------------------------------------ lesson files (core.lesson)
def test_a_check_kind_that_is_a_list_names_the_step_and_field():
    data = _bundled_lesson()
    data["steps"][1]["check"]["kind"] = ["visited"]
    with pytest.raises(LessonError) as err:
        parse_lesson(json.dumps(data), "teacher.json")
    message = str(err.value)
    assert "step 2" in message and "'check.kind'" in message and "list" in message


def test_a_lesson_nested_100000_levels_is_a_lesson_error_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"format": "advstudio-lesson/1", "title": ' + "[" * DEEP + "]" * DEEP + "}")
    with pytest.raises(LessonError, match="100001 levels deep"):
        load_lesson(path)


@needs_fifo
@pytest.mark.timeout(20)
def test_a_fifo_as_the_lesson_file_is_refused_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "lesson.json")
    for where in (tmp_path / "lesson.json", tmp_path):  # the file, and a folder holding it
        with pytest.raises(LessonError, match="not a regular file"):
            load_lesson(where)


@pytest.mark.parametrize("where", ["a" * 300, "/tmp/" + "b" * 300 + "/lesson.json", "~nobody-h18/lesson.json",
                                   "x\0y.json", "/" + "c/" * 3000])
def test_a_lesson_path_that_cannot_even_be_looked_up_is_a_lesson_error(where):
    with pytest.raises(LessonError):
        load_lesson(where)


@pytest.mark.parametrize("field, value, words", [
    ("title", 5, "'title' must be non-empty text"), ("steps", {}, "'steps' must be a non-empty list"),
    ("steps", [1] * 3, "step 1: a step must be a JSON object"), ("format", [1], "field 'format'"),
])
def test_top_level_fields_of_the_wrong_type_are_lesson_errors(field, value, words):
    data = _bundled_lesson()
    data[field] = value
    with pytest.raises(LessonError, match=words.replace("(", r"\(")):
        parse_lesson(json.dumps(data), "t.json")


@pytest.mark.parametrize("raw, words", [("1e999", "'check.min' must be a finite number"), ('"0.1"', "not '0.1'"),
                                        ("[0.1]", "not [0.1]"), ("true", "not True"), ("NaN", "holds NaN"),
                                        ("-Infinity", "holds -Infinity")])
def test_a_check_number_that_is_not_a_finite_number_is_refused(raw, words):
    data = _bundled_lesson()
    step = next(s for s in data["steps"] if s["check"]["kind"] == "eps_range_seen")
    step["check"]["min"] = "@@"
    with pytest.raises(LessonError) as err:
        parse_lesson(json.dumps(data).replace('"@@"', raw), "t.json")
    assert words in str(err.value)


def _nodes(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _nodes(v, (*path, i))


def _replace(obj, path, value):
    if not path:
        return value
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj


def _parse_or_message(text: str) -> Lesson | None:
    try:
        return parse_lesson(text, "fuzz.json")
    except LessonError as exc:
        assert str(exc).startswith("fuzz.json"), exc
        return None


def test_fuzz_lessons_with_any_field_replaced_give_a_lesson_or_a_lesson_error():
    """400 seeded lessons, each the bundled one with one field (any depth) replaced by a value of another type
    (lists, objects, huge numbers, NaN, long or empty text): a Lesson or a LessonError, nothing else."""
    rng = random.Random(SEED)
    good = _bundled_lesson()
    paths = list(_nodes(good))
    outcomes = {"lesson": 0, "error": 0}
    for _ in range(400):
        data = _replace(copy.deepcopy(good), rng.choice(paths), _random_value(rng))
        lesson = _parse_or_message(json.dumps(data, allow_nan=True))
        outcomes["lesson" if lesson is not None else "error"] += 1
    assert outcomes["error"] > 100  # most replacements break the schema, and each said so


def test_fuzz_lesson_bytes_mutated_give_a_lesson_or_a_lesson_error(tmp_path):
    """300 seeded byte-level mutations of the bundled lesson file (flips, truncation, deep nesting, junk),
    read from disk as the app does."""
    rng = random.Random(SEED + 1)
    good = lesson_path("en").read_bytes()
    path = tmp_path / "lesson.json"
    started = time.perf_counter()
    for _ in range(300):
        path.write_bytes(_mutate_bytes(rng, good))
        try:
            load_lesson(path)
        except LessonError as exc:
            assert str(path) in str(exc)
    assert time.perf_counter() - started < 60


def test_fuzz_model_facts_never_raise_on_bad_metadata():
    """The lesson's {placeholders} come from a model file's metadata, which is display-only: 300 random
    metadata dicts (NaN, ∞, strings, nesting where numbers belong) give text for every placeholder."""
    rng = random.Random(SEED + 2)
    keys = ["test_accuracy", "test_samples", "train_samples", "epochs", "training_seconds", "recipe",
            "fgsm_curve"]
    assert model_facts({"test_accuracy": math.inf, "test_samples": 10}, "m")["accuracy"] == "?"
    assert model_facts({"fgsm_curve": {"eps": [0.1], "accuracy": ["a"]}}, "m")["fgsm_table"].count("| ? | ? |") == 1
    for _ in range(300):
        meta = {k: _random_value(rng) for k in rng.sample(keys, rng.randint(1, len(keys)))}
        if rng.random() < 0.3:
            meta["fgsm_curve"] = {"eps": _random_value(rng), "accuracy": _random_value(rng), "n": _random_value(rng)}
        facts = model_facts(meta, "fuzz")
        assert all(isinstance(v, str) for v in facts.values())
