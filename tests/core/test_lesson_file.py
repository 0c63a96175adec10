"""Lesson files: the bundled lesson loads and covers the ten steps; a malformed file raises LessonError naming
the file, the step and the field; a student's saved progress reads back, and a broken one falls back to step 1."""

from __future__ import annotations

import copy
import json

import pytest

from advstudio.core.errors import LessonError
from advstudio.core.lesson import (
    ACTIONS,
    CHECKS,
    LessonProgress,
    available_languages,
    fill,
    lesson_path,
    load_lesson,
    model_facts,
    parse_lesson,
    progress_key,
    progress_values,
    read_progress,
)


def bundled() -> dict:
    return json.loads(lesson_path("en").read_text(encoding="utf-8"))


def test_the_bundled_lesson_has_the_ten_steps_with_known_actions_and_checks():
    lesson = load_lesson("en")
    assert "en" in available_languages()
    assert [s.id for s in lesson.steps] == ["model", "clean", "draw", "fgsm", "invisible", "curve", "inside",
                                           "masking", "defend", "lessons"]
    for step in lesson.steps:
        assert step.title and step.body.strip()
        assert step.check.kind in CHECKS
        assert step.action is None or step.action.name in ACTIONS
    fgsm = lesson.steps[lesson.index_of("fgsm")]
    assert "ε·sign(∇ₓJ(θ, x, y))" in fgsm.body and fgsm.action.name == "find_flip"
    sweep = lesson.steps[lesson.index_of("invisible")].action
    assert sweep.arg == (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    assert lesson.steps[lesson.index_of("curve")].action.arg == 500
    masking = lesson.steps[lesson.index_of("masking")]
    assert masking.action.arg == "jpeg" and masking.check.params == {"model": "jpeg", "direction": "bpda"}
    assert load_lesson(None).source == load_lesson("en").source  # the user's language falls back to English


def test_a_folder_or_a_file_path_loads_and_body_lines_are_joined(tmp_path):
    data = bundled()
    data["steps"][0]["body"] = ["first line", "", "second"]
    (tmp_path / "lesson.json").write_text(json.dumps(data), encoding="utf-8")
    for where in (tmp_path, tmp_path / "lesson.json", str(tmp_path)):
        lesson = load_lesson(where)
        assert lesson.steps[0].body == "first line\n\nsecond"
        assert lesson.source == str(tmp_path / "lesson.json")


def test_placeholders_are_filled_from_the_model_metadata():
    meta = {"test_accuracy": 0.9903, "test_samples": 10000, "train_samples": 60000, "epochs": 5,
            "recipe": {"optimizer": "Adam", "lr": 0.001, "batch_size": 64},
            "fgsm_curve": {"eps": [0.0, 0.1], "accuracy": [0.99, 0.8627], "n": 10000}}
    facts = model_facts(meta, "my model")
    text = fill("{model_name}: {accuracy} on {test_samples}, {errors} wrong; {optimizer} lr {lr}\n{fgsm_table}", facts)
    assert text.startswith("my model: 99.03% on 10,000, 97 wrong; Adam lr 0.001")
    assert "| 0.10 | 86.3% |" in text and "10,000 test images" in text
    assert model_facts({}, "x")["accuracy"] == "?"  # what a file does not record is not invented


def _broken(mutate) -> str:
    data = copy.deepcopy(bundled())
    mutate(data)
    return json.dumps(data)


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["steps"][3]["check"].update(kind="eps_is_big"), ["step 4 ('fgsm')", "check.kind", "eps_is_big"]),
    (lambda d: d["steps"][1].pop("title"), ["step 2 ('clean')", "'title' is missing"]),
    (lambda d: d["steps"][0].update(colour="red"), ["step 1 ('model')", "unknown field 'colour'"]),
    (lambda d: d["steps"][2]["action"].update(do="teleport"), ["step 3 ('draw')", "action.do", "teleport"]),
    (lambda d: d["steps"][4]["action"].update(do="eps_sweep:0,banana"), ["step 5", "action.do", "banana"]),
    (lambda d: d["steps"][3]["action"].update(do="set_eps:2"), ["step 4", "0 to 0.5"]),
    (lambda d: d["steps"][4]["check"].pop("max"), ["step 5 ('invisible')", "check.max", "missing"]),
    (lambda d: d["steps"][4]["check"].update(max="lots"), ["step 5", "check.max", "float"]),
    (lambda d: d["steps"][5]["check"].update(colour=1), ["step 6", "check.colour", "no such parameter"]),
    (lambda d: d["steps"][6].update(body="see {secret}"), ["step 7 ('inside')", "body", "{secret}"]),
    (lambda d: d["steps"][8].update(id="model"), ["step 9", "'id'", "earlier step"]),
    (lambda d: d.update(format="advstudio-lesson/9"), ["'format'"]),
    (lambda d: d.update(steps=[]), ["'steps'", "non-empty"]),
    (lambda d: d["steps"].append("just text"), ["step 11", "JSON object"]),
])
def test_a_malformed_lesson_names_the_file_step_and_field(mutate, words):
    with pytest.raises(LessonError) as err:
        parse_lesson(_broken(mutate), "teacher/lesson.json")
    message = str(err.value)
    assert message.startswith("teacher/lesson.json:")
    for w in words:
        assert w in message, message


def test_bad_json_and_missing_files_are_lesson_errors(tmp_path):
    bad = tmp_path / "lesson.json"
    bad.write_text('{"format": "advstudio-lesson/1",\n "title": "x" "steps": []}', encoding="utf-8")
    with pytest.raises(LessonError, match=r"lesson.json: not valid JSON: .* line 2"):
        load_lesson(bad)
    with pytest.raises(LessonError, match="no such lesson file"):
        load_lesson(tmp_path / "nothing.json")
    with pytest.raises(LessonError, match="no bundled lesson in that language"):
        load_lesson("xx")
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(LessonError, match="not UTF-8"):
        load_lesson(bad)


def test_progress_is_kept_per_lesson_file(tmp_path):
    bundled_key = progress_key(load_lesson("en"))
    assert bundled_key == "bundled-en"
    data = bundled()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "lesson.json").write_text(json.dumps(data), encoding="utf-8")
    a, b = progress_key(load_lesson(tmp_path / "a")), progress_key(load_lesson(tmp_path / "b"))
    assert a != b and bundled_key not in (a, b)  # same text, other files: their own progress
    assert a == progress_key(load_lesson(tmp_path / "a" / "lesson.json"))  # the same file, however named
    assert "/" not in a and "\\" not in a  # one settings key, not a path of groups


def test_saved_progress_reads_back_and_a_broken_one_falls_back_to_step_1():
    lesson = load_lesson("en")
    step, done = progress_values(lesson, LessonProgress(4, frozenset({"draw", "model"})))
    assert (step, done) == (5, "model,draw")  # 1-based, ids in lesson order
    assert read_progress(lesson, step, done) == LessonProgress(4, frozenset({"model", "draw"}))
    assert read_progress(lesson, "10", ["model"]) == LessonProgress(9, frozenset({"model"}))  # the last step
    for broken in ("seven", "", None, "0", "-3", "11", 42, 2.5, "1e9", ["3"]):
        assert read_progress(lesson, broken, "").index == 0, broken
    assert read_progress(lesson, "2", "model,,teleport , draw").done == {"model", "draw"}  # unknown ids dropped
    assert read_progress(lesson, "2", 17).done == frozenset()
