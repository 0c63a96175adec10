"""The robustness lab's transfer matrix: two ticked models, FGSM on 40 test digits, the table shows the job's
figures (as core.evaluation.transfer computes them) with the diagonal labelled white-box; cancel; the button
needs two ticked models; the CSV/JSON exports carry the matrix."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from PySide6.QtCore import Qt

from advstudio.core.resources import robust_model_path
from advstudio.gui.features.lab.messages import LabCancelled, TransferResult
from advstudio.gui.features.lab.transfer_view import CAPTION, NEEDS_TWO


def _tick(panel, keys: set[str]) -> None:
    lst = panel.model_list
    for i in range(lst.count()):
        item = lst.item(i)
        item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in keys
                           else Qt.CheckState.Unchecked)


def _two(window) -> list:
    robust = [m for m in window.ctx.models if m.path and Path(m.path).resolve() == robust_model_path().resolve()]
    return [window.ctx.models.entries()[0], robust[0]]


def test_the_matrix_of_two_models_shows_the_jobs_figures_with_the_diagonal_labelled(qtbot, window, mnist_test,
                                                                                   tmp_path):
    from advstudio.core.evaluation.transfer import transfer_matrix
    from advstudio.core.storage import load_model

    lab, panel = window.lab, window.lab.panel
    entries = _two(window)
    _tick(panel, {e.key for e in entries})
    assert panel.transfer_button.isEnabled()
    panel.form.set_attack("fgsm")
    panel.eps_edit.setText("0, 0.1, 0.2")  # the matrix takes the largest
    panel.samples.setValue(40)
    with qtbot.waitSignal(lab.transferFinished, timeout=60000) as blocker:
        panel.transfer_button.click()
        assert panel.running and not panel.transfer_button.isEnabled() and not panel.run_button.isEnabled()
    result = blocker.args[0]
    assert isinstance(result, TransferResult) and not panel.running and panel.transfer_button.isEnabled()
    m = result.matrix
    assert m.attack == "fgsm" and m.eps == 0.2 and m.n == 40 and len(m.names) == 2
    models = [load_model(p)[0] for p in result.model_paths]
    direct = transfer_matrix(models, list(m.names), mnist_test.images[:40], mnist_test.labels[:40], "fgsm", 0.2)
    assert direct.counts == m.counts and direct.judged == m.judged
    view = panel.transfer_view
    assert panel.detail_tabs.currentWidget() is view and not view.area.empty
    assert view.table.rowCount() == 2 and view.table.columnCount() == 2
    for i in range(2):
        for j in range(2):
            text = view.cell_text(i, j)
            assert text.startswith(f"{m.success[i][j] * 100:.1f} %")
            assert ("white-box" in text) == (i == j)
            assert f"{m.counts[i][j]} of the {m.judged[j]}" in view.table.item(i, j).toolTip()
    assert view.table.verticalHeaderItem(0).text().startswith("crafted on")
    assert view.table.horizontalHeaderItem(1).text().startswith("judged by")
    assert view.caption.text() == CAPTION
    for words in ("FGSM", "ε = 0.2", "1 step", "n = 40"):
        assert words in view.what.text()
    assert view.values()[0][1] == m.success[0][1]

    # the exports: no curves yet, so the chosen file holds the matrix; with curves it goes beside them
    path = lab.export("json", tmp_path / "m.json")
    doc = json.loads(path.read_text())
    assert doc["kind"] == "transfer_matrix" and doc["success"] == [list(r) for r in m.success]
    rows = list(csv.DictReader(lab.export("csv", tmp_path / "m.csv").open()))
    assert len(rows) == 4 and [r["white_box"] for r in rows] == ["True", "False", "False", "True"]
    assert int(rows[1]["fooled"]) == m.counts[0][1] and rows[1]["crafted_on"] == m.names[0]


def test_cancel_stops_the_matrix_and_keeps_the_table(qtbot, window, mnist_dir):
    lab, panel = window.lab, window.lab.panel
    entries = _two(window)
    with qtbot.waitSignal(lab.labProgress, timeout=30000):
        assert lab.run_transfer(entries, "pgd", 0.3, {"steps": 400, "early_stop": False}, 2000) is not None
    with qtbot.waitSignal(lab.transferFinished, timeout=10000) as blocker:
        panel.cancel_button.click()
    assert isinstance(blocker.args[0], LabCancelled)
    assert not panel.running and panel.run_button.isEnabled() and panel.transfer_view.result is None
    assert panel.transfer_view.area.empty and "Cancelled" in panel.eta.text()


def test_one_ticked_model_disables_the_button_and_says_why(window):
    lab, panel = window.lab, window.lab.panel
    entries = _two(window)
    _tick(panel, {entries[0].key})
    assert not panel.transfer_button.isEnabled() and panel.transfer_button.toolTip() == NEEDS_TWO
    before = len(window.ctx.errors)
    assert lab.run_transfer_from_panel() is None and not panel.running
    assert any("two" in e for e in window.ctx.errors[before:])
    _tick(panel, {e.key for e in entries})
    assert panel.transfer_button.isEnabled()
    panel.form.set_attack("pgd")
    panel.form.targeted.setChecked(True)  # the matrix counts any wrong digit
    assert lab.run_transfer_from_panel() is None and any("Targeted" in e for e in window.ctx.errors[before:])
