"""The session report from the real window: kept attacks (a flip, Ctrl+K), their activation shifts, a lab run's
curves, HTML and PDF export, and a clear message when the file cannot be written."""

from __future__ import annotations

import base64
import re

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
