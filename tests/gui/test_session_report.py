"""The session report from the real window: kept attacks (a flip, Ctrl+K, Any attack's), their activation shifts,
a lab run's curves, HTML and PDF export, and a clear message when the file cannot be written; the student's
findings (name, kept attacks, side by side, lesson) before the appendix, and no machine path anywhere."""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import numpy as np
from qt_helpers import draw_digit, set_eps

from advstudio.gui.features.lab.messages import LabResult, LabSpec


def _labels(entry: dict) -> tuple[int, int]:
    return int(np.argmax(entry["clean_probs"])), int(np.argmax(entry["adv_probs"]))


def test_a_flip_and_a_kept_attack_land_in_the_report_with_their_activations(qtbot, window, tmp_path):
    log = window.session_log
    window.docks["activations"].show()
    window.docks["activations"].raise_()
    draw_digit(qtbot, window, 3)
    window.studio.find_flip()
    qtbot.waitUntil(lambda: len(log.attacks) == 1, timeout=30000)
    flip, entry = window.ctx.flip, log.attacks[0]
    assert flip.found and abs(entry["eps"] - flip.eps) < 1e-6 and entry["flip"]["eps"] == flip.eps
    assert _labels(entry) == (flip.clean_label, flip.adv_label) and flip.clean_label != flip.adv_label
    shown = window.ctx.analysis.attack
    assert np.array_equal(entry["adversarial"], shown.adversarial) and np.array_equal(entry["clean"], shown.clean)
    qtbot.waitUntil(lambda: len(log.activations) == 1, timeout=30000)
    act = log.activations[0]
    assert act["attack_id"] == entry["id"] and act["eps"] == entry["eps"]
    dock = window.activations.data.comparison
    assert [layer["relative_shift"] for layer in act["layers"]] == [s.relative_shift for s in dock.shifts]

    window.actions_.keep_attack.trigger()  # the same attack again: still one entry
    assert len(log.attacks) == 1 and "kept" in log.attacks[0]["source"]
    kept = set_eps(qtbot, window, 0.05)
    window.actions_.keep_attack.trigger()
    assert len(log.attacks) == 2 and log.attacks[1]["eps"] == 0.05

    path = log.export(tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    c, a = _labels(entry)
    assert f"Attack 1: {c} → {a}, ε = {flip.eps:.3f}" in html
    assert f"Attack 2: {kept.clean_label} → {kept.adv_label}, ε = 0.050" in html
    assert f"smallest flipping ε found by the search: {flip.eps:.3f}" in html
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(pngs) == 6 and all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)
    assert f"Activations 1: attack 1, {c} → {a}" in html
    assert f"{act['layers'][0]['relative_shift'] * 100:.1f}%" in html
    assert window.ctx.model_info.name in html and "Report written to" in window.statusBar().currentMessage()


def test_a_lab_run_appears_as_a_curve_and_the_pdf_is_written(qtbot, make_window, idx_folder, tmp_path):
    window = make_window(data_dir=str(idx_folder(32)))
    log, lab = window.session_log, window.lab
    with qtbot.waitSignal(lab.labFinished, timeout=60000) as blocker:
        assert lab.run_lab([LabSpec(window.ctx.models.entries()[0], "fgsm", {})], [0.0, 0.1, 0.2], 32) is not None
    result = blocker.args[0]
    assert isinstance(result, LabResult) and len(log.labs) == 1
    curve = result.curves[0].curve
    run = log.labs[0]["curves"][0]
    assert run["eps"] == [0.0, 0.1, 0.2] and run["accuracy"] == list(curve.accuracy) and run["n"] == 32
    html = log.export(tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'data-accuracy="' + ",".join(f"{x:.4f}" for x in curve.accuracy) + '"' in html
    assert result.curves[0].describe() in html.replace("&amp;", "&")
    pdf = log.export(tmp_path / "report.pdf")
    assert pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF")


def test_an_unwritable_path_and_an_empty_window_give_clear_messages(window, tmp_path):
    log = window.session_log
    assert log.keep_current() is None and "Draw a digit" in window.ctx.errors[-1]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "report.html"
    assert log.export(target) is None
    assert str(target) in window.ctx.errors[-1] and not target.exists()
    assert "Could not write the report" in window.statusBar().currentMessage()


def test_saving_an_attack_also_keeps_it_in_the_report(qtbot, window, tmp_path, monkeypatch):
    """The Attack tab's "Save result…" writes the files and the session log records the attack as saved (the
    studio's saveRequested, wired to the report in the window)."""
    from PySide6.QtWidgets import QFileDialog

    log = window.session_log
    draw_digit(qtbot, window, 3)
    set_eps(qtbot, window, 0.2)
    before = len(log.attacks)
    out = tmp_path / "saved"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    window.studio.controls.save_button.click()
    assert len(log.attacks) == before + 1 and log.attacks[-1]["eps"] == window.ctx.analysis.attack.eps
    saved = sorted(out.iterdir())
    assert len(saved) >= 2 and all(p.suffix == ".png" for p in saved)


# ---------------------------------------------------------------------------------------------- the findings first
MACHINE_PATHS = ("/work/", "/home/", "/tmp/", "C:\\")


def _text_without_images(html: str) -> str:
    """The report's text: data: URIs are base64, whose alphabet holds "/" and could spell a path by chance."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:…", html)


def _fire(qtbot, lesson, step_id: str) -> None:
    assert lesson.step.id == step_id
    with qtbot.waitSignal(lesson.checkPassed, timeout=30000, check_params_cb=lambda sid: sid == step_id):
        lesson.perform_action()


def _side_words(side) -> str:
    """What the report says of one side, from the comparison the tab showed."""
    r = side.attack
    who = f"the {side.side.role} model “{side.model_name}”"
    if r.flipped:
        return f"{who} was fooled: the {r.clean_label} read as {r.adv_label}"
    return f"{who} held: still {r.clean_label}"


def test_the_report_leads_with_the_students_findings_and_shows_no_machine_path(qtbot, window, tmp_path):
    """A student named "<b>x</b>" does two lesson steps, compares the standard and robust models side by side,
    keeps the attack, and opens a copy of a model from their own folder and the bundled robust model: the report
    starts with the name (as typed, not bold), the kept attack, the side-by-side verdict and the lesson's
    progress, then the appendix; no folder of this machine appears in it."""
    from html import escape

    from advstudio.core.resources import bundled_model_path, robust_model_path

    log, lesson = window.session_log, window.lesson
    log.set_student("<b>x</b>")
    lesson.start(0)
    _fire(qtbot, lesson, "model")
    lesson.next()
    _fire(qtbot, lesson, "clean")
    draw_digit(qtbot, window, 3)
    set_eps(qtbot, window, 0.3)
    with qtbot.waitSignal(window.compare.compareShown, timeout=30000) as shown:
        assert window.show_tab("compare")
    comparison = shown.args[0]
    assert [s.side.role for s in comparison.sides] == ["standard", "robust"]
    window.actions_.keep_attack.trigger()  # Side by side in front: the Attack tab's attack is kept
    assert len(log.attacks) == 1 and log.attacks[0]["eps"] == 0.3

    own = tmp_path / "home" / "student" / "my model.safetensors"  # a model from the user's own folder
    own.parent.mkdir(parents=True)
    own.write_bytes(bundled_model_path().read_bytes())
    for path in (own, robust_model_path()):
        with qtbot.waitSignal(window.ctx.modelReady, timeout=30000):
            window.ctx.request_model(path)

    html = log.export(tmp_path / "report.html").read_text(encoding="utf-8")
    text = _text_without_images(html)
    if os.environ.get("ADVSTUDIO_KEEP_REPORT"):  # to read it as a teacher would
        shutil.copy(tmp_path / "report.html", os.environ["ADVSTUDIO_KEEP_REPORT"])
    # who, then what they found, then how it was made
    assert "<th>Student</th><td>&lt;b&gt;x&lt;/b&gt;</td>" in html and "<b>x</b>" not in html
    steps = lesson.lesson.steps
    order = ["Student", "What I found", "Attacks I kept", "Attack 1: ", "Side by side", f"Lesson: 2 of {len(steps)} "
             "steps done", "Appendix: how these were made", "The models and their recipes", "Training command",
             "The attacks' settings"]
    at = [text.find(s) for s in order]
    assert -1 not in at and at == sorted(at), dict(zip(order, at))
    entry = log.attacks[0]
    c, a = _labels(entry)
    line = f"A {c} read as {a} at ε = 0.3 (pixel units)." if c != a else f"A {c} still read as {c} at ε = 0.3"
    assert line in text
    for side in comparison.sides:
        assert escape(_side_words(side), quote=True) in text
    held = [f"the {s.side.role} model “{s.model_name}”" for s in comparison.sides if not s.attack.flipped]
    fooled = [f"the {s.side.role} model “{s.model_name}”" for s in comparison.sides if s.attack.flipped]
    assert len(held) == 1 and len(fooled) == 1  # at ε = 0.3 the robust model holds a 3 the standard one loses
    assert escape(f"{held[0][0].upper()}{held[0][1:]} held at ε = 0.3 (pixel units); {fooled[0]} was fooled.") in text
    for step in steps[:2]:
        assert escape(step.title) in text
    assert escape(steps[2].title) not in text.split("Appendix")[0].split("Lesson: 2")[1]
    # no machine folders: the robust model's own command names /work/artifacts/… and a relative MNIST folder
    meta_command = window.ctx.model_info.meta["command"]
    assert "/work/" in meta_command  # the file really holds a build machine's paths (else this checks nothing)
    for bad in (*MACHINE_PATHS, str(tmp_path), str(Path.home()) + "/"):
        assert bad not in text, bad
    assert "--init init-fgsmrs.safetensors" in text and "--data &lt;MNIST folder&gt;" in text
    assert "<td>my model.safetensors</td>" in text


def test_the_export_dialog_asks_for_the_name_remembers_it_and_writes_atomically(qtbot, window, tmp_path,
                                                                                monkeypatch):
    from PySide6.QtWidgets import QDialog, QFileDialog

    import advstudio.core.files as files
    from advstudio.gui.features.report.dialog import ReportDialog

    log = window.session_log
    typed = {"name": "  Ada   Lovelace "}

    def fake_exec(dialog):
        assert dialog.name_edit.text() == log.student  # prefilled with the remembered name
        dialog.name_edit.setText(typed["name"])
        return QDialog.DialogCode.Accepted

    target = tmp_path / "out.html"
    monkeypatch.setattr(ReportDialog, "exec", fake_exec)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "HTML report (*.html)"))
    writes = []
    real = files.atomic_write_bytes
    monkeypatch.setattr(files, "atomic_write_bytes", lambda p, data: (writes.append(Path(p)), real(p, data)))
    window.actions_.export_report.trigger()
    assert log.student == "Ada Lovelace" and window.settings.value("report/student") == "Ada Lovelace"
    assert writes == [target] and "<td>Ada Lovelace</td>" in target.read_text(encoding="utf-8")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    # an empty name: "(no name)"; a failed write leaves the old report whole
    typed["name"] = ""
    monkeypatch.setattr(files.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    window.actions_.export_report.trigger()
    assert log.student == "" and "Ada Lovelace" in target.read_text(encoding="utf-8")
    assert "Could not write the report" in window.ctx.errors[-1] or "No space left" in window.ctx.errors[-1]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    assert "<td>(no name)</td>" in log.html()


def test_an_any_attack_result_is_kept_from_its_tab(qtbot, window, tmp_path):
    log = window.session_log
    draw_digit(qtbot, window, 7)
    with qtbot.waitSignal(window.any_attack.inputAttackShown, timeout=60000) as shown:
        window.any_attack.try_attack("pgd", 0.3)
    result = shown.args[0]
    assert window.current_tab() == "attack_lab"
    window.actions_.keep_attack.trigger()
    window.actions_.keep_attack.trigger()  # twice: one entry
    assert len(log.attacks) == 1
    entry = log.attacks[0]
    assert entry["settings"] == result.describe() and np.array_equal(entry["adversarial"], result.adversarial)
    html = log.html()
    c, a = result.clean_label, result.adv_label
    line = f"A {c} read as {a} at ε = 0.3 (pixel units) with PGD" if c != a else f"A {c} still read as {c}"
    assert line in html and result.describe() in html.replace("&amp;", "&")


def test_the_appendix_lists_both_models_compared_side_by_side(qtbot, window, tmp_path):
    from advstudio.core.resources import robust_model_path

    draw_digit(qtbot, window, 3)
    with qtbot.waitSignal(window.compare.compareShown, timeout=30000) as shown:
        assert window.show_tab("compare")
    robust = next(s for s in shown.args[0].sides if s.side.role == "robust")
    assert robust.side.path == str(robust_model_path()) and window.ctx.model_info.path != robust.side.path
    text = _text_without_images(window.session_log.export(tmp_path / "report.html").read_text(encoding="utf-8"))
    appendix = text.split("The models and their recipes")[1]
    assert f"<h4>{robust.model_name}</h4>" in appendix and "bundled with the app" in appendix
    assert "adversarial" in appendix.split(f"<h4>{robust.model_name}</h4>")[1].split("<h4>")[0]  # its recipe
