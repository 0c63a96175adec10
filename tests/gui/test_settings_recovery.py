"""The window starts whatever its settings hold (issue 18): each broken value the issue lists, a FIFO or an
unparseable file in place of the settings, a remembered model or lesson that cannot be used, seeded mutations
of a real settings file; the window says what it ignored, and Help ▸ Reset settings… / --reset-settings start
afresh. Plus the lesson dock's rendering of code-heavy lessons, which froze the window for a minute."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMessageBox

from advstudio.gui import stored

REPO = Path(__file__).resolve().parents[2]
DEEP = 100_000
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


def _ini(tmp_path, text: str, name: str = "s.ini") -> QSettings:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return stored.open_settings(path)


def _notes(qtbot, window) -> str:
    """The message the window showed about its settings (report_settings_problems runs once it is up)."""
    qtbot.waitUntil(lambda: any("default" in e for e in window.ctx.errors), timeout=5000)
    return "\n".join(window.ctx.errors)


# ------------------------------------------------------------------ the values, one by one
def test_read_int_clamps_out_of_range_and_drops_what_is_not_a_number(tmp_path):
    s = _ini(tmp_path, "[a]\nhuge=99999999999999999999999\nword=hello\nok=7\nlist=1, 2\nlong=" + "9" * 50)
    assert stored.read_int(s, "a/huge", 5, 1, 40) == 40 and s.value("a/huge") == 40  # clamped, and kept so
    assert stored.read_int(s, "a/word", 5, 1, 40) == 5 and s.value("a/word") is None  # dropped
    assert stored.read_int(s, "a/ok", 5, 1, 40) == 7
    assert stored.read_int(s, "a/list", 5, 1, 40) == 5 and stored.read_int(s, "a/long", 5, 1, 40) == 5
    assert stored.read_int(s, "a/missing", 5, 1, 40) == 5
    notes = stored.take_problems(s)
    assert len(notes) == 4 and "outside 1–40; 40 is used" in notes[0] and "not a whole number" in notes[1]
    assert stored.take_problems(s) == []  # shown once


def test_read_text_bool_and_bytes_check_the_type(tmp_path):
    s = _ini(tmp_path, "[a]\nlist=x, y\ntheme=purple\nflag=maybe\nyes=true\ngeom=just text\n"
             "bytes=@ByteArray(abc)\nlong=" + "x" * 5000)
    assert stored.read_text(s, "a/list", "d") == "d"
    assert stored.read_text(s, "a/theme", "system", choices=("system", "dark")) == "system"
    assert stored.read_text(s, "a/long", "d") == "d" and stored.read_path(s, "a/missing") == ""
    assert stored.read_bool(s, "a/flag", False) is False and stored.read_bool(s, "a/yes", False) is True
    assert stored.read_bytes(s, "a/geom") is None and stored.read_bytes(s, "a/bytes") == QByteArray(b"abc")
    assert len(stored.take_problems(s)) == 5


def test_a_path_the_system_cannot_look_up_is_dropped(tmp_path):
    """A 300-character file name made Path.is_file() raise at start-up (the app aborted with the worker running)."""
    s = _ini(tmp_path, f"[model]\nlast=/tmp/{'a' * 300}\n[lesson]\nfile=/tmp/gone/lesson.json\n")
    assert stored.read_path(s, "model/last") == "" and s.value("model/last") is None
    assert stored.read_path(s, "lesson/file") == "/tmp/gone/lesson.json"  # missing is the caller's business
    assert "cannot be looked up" in stored.take_problems(s)[0]


@needs_fifo
@pytest.mark.timeout(30)
def test_a_fifo_as_the_settings_file_is_moved_aside_before_qt_reads_it(tmp_path):
    os.mkfifo(tmp_path / "s.ini")
    s = stored.open_settings(tmp_path / "s.ini")  # QSettings would block here reading the FIFO
    s.setValue("canvas/brush_width", 9)
    s.sync()
    kept = [p.name for p in tmp_path.iterdir() if p.name.startswith("s.ini.corrupt-")]
    assert len(kept) == 1 and (tmp_path / "s.ini").is_file()
    (note,) = stored.take_problems(s)
    assert "not a regular file" in note and kept[0] in note


def test_the_user_settings_file_is_found_without_reading_it(qapp):
    """open_settings() guards the user's own file too: its path, found through a QSettings that reads nothing."""
    found = stored.default_settings_file()
    if found is not None:  # None where settings live in the registry
        assert found == Path(QSettings().fileName())


def test_a_folder_as_the_settings_file_is_left_alone_and_the_session_uses_defaults(qtbot, make_window, tmp_path):
    (tmp_path / "s.ini").mkdir()
    w = make_window(settings=stored.open_settings(tmp_path / "s.ini"))
    assert "nothing is kept after this session" in _notes(qtbot, w)
    assert (tmp_path / "s.ini").is_dir() and len(list(tmp_path.iterdir())) == 1


def test_an_ini_qt_cannot_parse_is_moved_aside_and_kept(tmp_path):
    s = _ini(tmp_path, "[[[[[\n=\n")
    assert s.status() == QSettings.Status.NoError and s.allKeys() == []
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("s.ini.corrupt-")]
    assert len(kept) == 1 and kept[0].read_text() == "[[[[[\n=\n"
    assert "Qt can read" in stored.take_problems(s)[0]


# ------------------------------------------------------------------ the window, started on broken settings
@pytest.mark.parametrize("text, words", [
    ("[canvas]\nbrush_width=99999999999999999999999\n", "Brush width"),  # was OverflowError, exit 1
    ("[window]\ngeometry=hello\n", "Window size and position"),  # was TypeError from restoreGeometry
    ("[window]\nstate=hello\n", "Panel layout"),  # was TypeError from restoreState
    ("[window]\ngeometry=@ByteArray(not a geometry)\n", "could not be restored"),
    ("[workspaces]\npanels=" + "[" * 2000 + "]" * 2000 + "\n", "Panels of each tab"),
    ("[view]\ntheme=purple\n", "Colour theme"),
    ("[model]\nlast=@Size(3 4)\n", "Last model"),
    (f"[model]\nlast=/tmp/{'a' * 300}\n[lesson]\nfile=/tmp/{'b' * 300}\n[data]\nfolder=/tmp/{'c' * 300}\n",
     "MNIST folder"),  # the app aborted: Path.is_file() raised "File name too long"
])
def test_the_window_starts_on_a_broken_value_and_says_what_it_ignored(qtbot, make_window, tmp_path, text, words):
    w = make_window(settings=_ini(tmp_path, text))
    assert words in _notes(qtbot, w)
    assert w.studio.input_panel.brush.value() <= w.studio.input_panel.brush.maximum()
    w.close()
    w.settings.sync()
    assert "hello" not in (tmp_path / "s.ini").read_text()  # the broken value is gone, the layout saved


def test_the_huge_brush_width_is_clamped_to_the_slider(qtbot, make_window, tmp_path):
    w = make_window(settings=_ini(tmp_path, "[canvas]\nbrush_width=99999999999999999999999\n"))
    brush = w.studio.input_panel.brush
    assert brush.value() == brush.maximum() and w.studio.canvas.brush_width == brush.maximum()


def test_the_shared_settings_file_nested_100000_deep_is_reported_by_the_window(qtbot, make_window):
    from advstudio.core.settings import settings_path

    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text('{"mnist_dir": ' + "[" * DEEP + "]" * DEEP + "}")
    w = make_window()
    assert "100001 levels deep" in _notes(qtbot, w) and not settings_path().exists()


@needs_fifo
@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "deep"])
def test_a_remembered_lesson_that_is_a_fifo_or_nested_deep_gives_the_bundled_lesson(qtbot, make_window, settings,
                                                                                 tmp_path, kind):
    path = tmp_path / "lesson.json"
    if kind == "fifo":
        os.mkfifo(path)  # start-up hung here reading it
    else:
        path.write_text('{"format": "advstudio-lesson/1", "title": ' + "[" * DEEP + "]" * DEEP + "}")
    settings.setValue("lesson/file", str(path))
    w = make_window()
    assert w.lesson.lesson is not None and w.lesson.lesson.source != str(path)  # the bundled lesson
    assert "Using the bundled lesson" in w.lesson._problem
    assert ("not a regular file" if kind == "fifo" else "levels deep") in w.lesson._problem
    assert not w.lesson.load(path)  # and --lesson / File ▸ Open lesson say the same, without hanging
    assert "levels deep" in w.ctx.errors[-1] or "not a regular file" in w.ctx.errors[-1]


def test_a_remembered_model_with_unreadable_metadata_never_stops_the_start(qtbot, make_window, settings, tmp_path):
    """metadata with text where numbers belong (the issue's "clean_accuracy": "a"; here also the FGSM curve and
    an infinite accuracy): the window is ready and shows a model, the file's or the bundled one with a message."""
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model, save_model

    model, meta = load_model(bundled_model_path())
    meta.update(clean_accuracy="a", test_accuracy=float("inf"), fgsm_curve={"eps": [0.1, 0.2], "accuracy": "ab"})
    bad = save_model(model, tmp_path / "bad.safetensors", meta)
    settings.setValue("model/last", str(bad))
    w = make_window()
    panel = w.studio.model_panel
    qtbot.waitUntil(lambda: panel.info is not None and panel.info is w.ctx.model_info, timeout=30000)
    info = w.ctx.model_info
    assert Path(info.path) == bad or info.bundled and any("Using the bundled model" in e for e in w.ctx.errors)
    assert all(isinstance(v, str) for v in w.lesson.facts.values())


def test_a_remembered_model_whose_details_raise_gives_way_to_the_bundled_one(qtbot, make_window, settings,
                                                                             tmp_path, monkeypatch):
    """Should showing a remembered model's details ever raise, the bundled model stands in, with a message."""
    import shutil

    from advstudio.core.resources import bundled_model_path
    from advstudio.gui.features.studio.model_panel import ModelInfoPanel

    copy = tmp_path / "mine.safetensors"
    shutil.copy(bundled_model_path(), copy)
    settings.setValue("model/last", str(copy))
    real = ModelInfoPanel.set_data

    def set_data(panel, info):
        if info is not None and Path(info.path) == copy:
            raise ValueError("could not convert string to float: 'a'")
        real(panel, info)

    monkeypatch.setattr(ModelInfoPanel, "set_data", set_data)
    w = make_window()
    qtbot.waitUntil(lambda: w.ctx.model_info is not None and w.ctx.model_info.bundled, timeout=30000)
    assert any("Using the bundled model instead" in e for e in w.ctx.errors)
    assert settings.value("model/last") == ""  # the next start does not try it again


def _mutate_ini(rng: random.Random, text: str) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        key = lines[i].split("=", 1)[0]
        junk = rng.choice(["99999999999999999999999", "-1", "hello", "a, b, c", "@ByteArray(xyz)", "",
                           "[" * 500, "true", "\\0", "@Size(1 2)", "x" * 5000])
        lines[i] = f"{key}={junk}" if "=" in lines[i] else rng.choice(["[[[", lines[i] * 2, "=", key])
    return "\n".join(lines) + "\n"


def test_fuzz_the_window_starts_on_mutated_settings(qtbot, make_window, tmp_path):
    """8 seeded mutations of a settings file the app wrote itself (values replaced by huge numbers, text where
    bytes belong, lists, long text, broken sections): each window comes up with its model and a brush in the
    slider's range, and no exception escapes (pytest-qt fails a test on one raised in any Qt callback)."""
    w = make_window(settings=_ini(tmp_path, ""))
    w.settings.setValue("lesson/file", "en")
    w.settings.setValue("view/theme", "dark")
    w.close()
    w.settings.sync()
    good = (tmp_path / "s.ini").read_text()
    rng = random.Random(18)
    for i in range(8):
        text = _mutate_ini(rng, good)
        w = make_window(settings=_ini(tmp_path, text, f"m{i}.ini"))
        qtbot.wait(10)  # report_settings_problems has run
        brush = w.studio.input_panel.brush
        assert w.ctx.model_info is not None and brush.minimum() <= w.studio.canvas.brush_width <= brush.maximum()
        w.close()


# ------------------------------------------------------------------ reset
def test_help_reset_settings_asks_first_then_applies_the_defaults(qtbot, make_window, settings, monkeypatch):
    from advstudio.gui.features.studio.controller import DEFAULT_BRUSH

    w = make_window()
    w.studio.input_panel.brush.setValue(35)
    w.settings.setValue("lesson/file", "/somewhere/lesson.json")
    w.settings.sync()
    answers = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: next(answers))
    assert not w.ask_reset_settings() and w.studio.input_panel.brush.value() == 35  # "No" changes nothing
    assert w.actions_.reset_settings.text() == "&Reset settings…"
    w.actions_.reset_settings.trigger()
    assert w.studio.input_panel.brush.value() == DEFAULT_BRUSH
    assert settings.value("lesson/file") is None
    folder = Path(settings.fileName()).parent
    copies = [p for p in folder.iterdir() if ".reset-" in p.name]
    assert copies and "/somewhere/lesson.json" in copies[0].read_text()
    assert "Settings reset to their defaults" in w.workspace_bar.strip.message()


@needs_fifo
@pytest.mark.timeout(120)
def test_the_app_starts_on_a_fifo_settings_file_and_reset_settings_moves_files_aside(tmp_path):
    """The real app: a FIFO as its settings file hung start-up forever; --reset-settings moves the files aside."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ADVSTUDIO_CONFIG_DIR": str(tmp_path / "cfg")}
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "settings.json").write_text(json.dumps({"mnist_dir": "/old/mnist"}))
    os.mkfifo(tmp_path / "fifo.ini")
    (tmp_path / "s.ini").write_text("[canvas]\nbrush_width=35\n")
    for ini, extra in (("fifo.ini", []), ("s.ini", ["--reset-settings"])):
        cmd = [sys.executable, "-m", "advstudio", "--quit-after", "100", "--settings", str(tmp_path / ini), *extra]
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "window ready" in done.stdout and "Traceback" not in done.stderr
        assert time.perf_counter() - started < 90
    assert any(p.name.startswith("fifo.ini.corrupt-") for p in tmp_path.iterdir())  # moved aside, kept
    assert "settings reset to their defaults" in done.stdout
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("s.ini.reset-")]
    assert kept and "brush_width=35" in kept[0].read_text()
    assert any(p.name.startswith("settings.json.reset-") for p in (tmp_path / "cfg").iterdir())


# ------------------------------------------------------------------ lesson rendering
@pytest.mark.parametrize("rows, tables", [(1100, 1), (3, 500)])
def test_a_code_heavy_lesson_renders_in_seconds_not_a_minute(qtbot, rows, tables):
    """A 22 KB lesson with one table of code cells froze the window 37 s (500 small tables: 62 s), one
    re-layout per code fragment; resized in one edit block it takes well under a second here."""
    from advstudio.gui.features.lesson.view import LessonPanel

    panel = LessonPanel()
    qtbot.addWidget(panel)
    panel.resize(400, 600)
    panel.show()
    table = "| a | b |\n|---|---|\n" + "\n".join(f"| `x{i}` | `y{i}` |" for i in range(rows))
    text = "\n\n".join([table] * tables)
    started = time.perf_counter()
    panel.set_markdown(text)
    qtbot.wait(1)
    assert time.perf_counter() - started < 5.0
    doc = panel.body.document()
    size = panel.body.font().pointSizeF()
    sizes = {f.charFormat().fontPointSize() for f in _code_fragments(doc)}
    assert len(_code_fragments(doc)) >= rows * tables and sizes == {size}  # every code cell still resized


def _code_fragments(doc) -> list:
    out = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            if frag.isValid() and frag.charFormat().fontFixedPitch():
                out.append(frag)
            it += 1
        block = block.next()
    return out
