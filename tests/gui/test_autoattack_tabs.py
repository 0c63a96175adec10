"""The AutoAttack attacks (APGD-CE, APGD-T, Square) in the window: the Any attack tab runs them on the drawn
digit with their per-step animation, and the robustness lab draws their curves."""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import draw_digit

from advstudio.gui.features.lab.messages import LabResult, LabSpec


def _run_input(qtbot, window, attack: str, **values):
    tab = window.any_attack
    tab.panel.form.set_attack(attack, **values)
    with qtbot.waitSignal(tab.inputAttackShown, timeout=60000) as blocker:
        assert tab.run_input_attack() is not None
    return blocker.args[0]


@pytest.mark.parametrize("attack, values, words", [
    ("apgd-ce", {"eps": 0.2, "steps": 10, "early_stop": False}, ("APGD-CE", "10 steps")),
    ("apgd-t", {"eps": 0.2, "steps": 4, "target_classes": 2, "early_stop": False}, ("APGD-T", "4 steps")),
    ("square", {"eps": 0.3, "queries": 300}, ("Square", "300 queries")),
])
def test_any_attack_runs_and_animates_the_autoattack_attacks(qtbot, window, attack, values, words):
    draw_digit(qtbot, window, 3)
    form = window.any_attack.panel.form
    form.set_attack(attack)
    assert "queries" in form.fields if attack == "square" else "steps" in form.fields
    r = _run_input(qtbot, window, attack, **values)
    assert r.attack == attack and r.linf <= values["eps"] + 1e-6
    assert np.abs(r.frames - r.clean).max() <= values["eps"] + 1e-6
    assert 0.0 <= r.frames.min() and r.frames.max() <= 1.0
    assert len(r.frames) >= 2 and np.array_equal(r.frames[-1], r.adversarial)
    if attack == "apgd-ce":  # full mode: the start and every step
        assert list(r.frame_step[:11]) == list(range(11))
    if attack == "apgd-t":  # one run per target digit
        assert set(r.frame_restart.tolist()) == {0, 1}
    caption = window.any_attack.panel.caption.text()
    for word in words:
        assert word in caption, caption
    assert r.queries >= len(r.frames) - 1 and f"{r.queries:,} model queries" in window.any_attack.panel.status.text()
    if attack == "square":  # the scrubber counts the queries each frame had made
        q = r.frame_queries
        assert q is not None and len(q) == len(r.frames) and q[0] == 0
        assert np.all(np.diff(q) >= 0) and q[-1] <= r.queries <= values["queries"] + 1  # + the clean check
        assert f"{int(q[-1]):,} queries" in window.any_attack.panel.step_label.text()
    else:
        assert r.frame_queries is None


def test_the_lab_draws_an_apgd_ce_curve(qtbot, window, mnist_dir):  # the lab reads the MNIST test set
    lab = window.lab
    entry = window.ctx.models.entries()[0]
    with qtbot.waitSignal(lab.labFinished, timeout=60000) as blocker:
        assert lab.run_lab([LabSpec(entry, "apgd-ce", {"steps": 5})], [0.0, 0.1], 40) is not None
    result = blocker.args[0]
    assert isinstance(result, LabResult)
    curve = lab.panel.curves[0]
    assert curve.curve.attack == "apgd-ce" and curve.curve.n == 40
    assert curve.curve.accuracy[1] < curve.curve.accuracy[0]
    assert "APGD-CE" in curve.label() and "5 steps" in curve.label()
    # the model's gradient-masking checks sit beside the curve's details, a plain model raising no flag
    assert [n.name for n in curve.masking] == ["outputs", "randomness", "zero gradients", "large ε"]
    assert not any(n.flagged for n in curve.masking)
    label = lab.panel.masking
    assert label.isVisibleTo(lab.panel) and label.text().startswith("Masking checks on ")
    assert "no sign of masked gradients" in label.text() and "large ε" in label.toolTip()


def test_any_attack_runs_autoattack_and_says_which_attack_broke_the_drawing(qtbot, window):
    draw_digit(qtbot, window, 3)
    form = window.any_attack.panel.form
    form.set_attack("autoattack")
    assert {"eps", "version", "budget"} <= set(form.fields)
    r = _run_input(qtbot, window, "autoattack", eps=0.3, budget=0.05)
    assert list(r.breakdown) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert r.success and sum(r.breakdown.values()) == 1 and r.linf <= 0.3 + 1e-6
    caption = window.any_attack.panel.caption.text()
    assert "APGD-CE → APGD-T → FAB-T → Square, 0.05 of the paper's budgets" in caption
    assert f"Broken by {r.broken_by()}." in caption


def test_the_defenses_tab_runs_autoattack_and_shows_the_masking_checks(qtbot, make_window, mnist_dir):
    from advstudio.gui.features.defenses.messages import DefenseResult

    window = make_window(data_dir=str(mnist_dir))
    panel = window.defense.panel
    panel.set_defense("jpeg")
    panel.set_attack("autoattack")
    assert panel.budget.isEnabled() and not panel.steps.isEnabled()
    panel.budget.setValue(0.02)
    panel.eps_edit.setText("0, 0.3")
    panel.samples.setValue(16)
    with qtbot.waitSignal(window.defense.defenseFinished, timeout=240000) as blocker:
        assert window.defense.run_from_panel() is not None
    r = blocker.args[0]
    assert isinstance(r, DefenseResult) and r.attack == "autoattack" and r.version == "standard"
    assert r.budget == 0.02 and "budget 0.02" in r.attack_text()
    assert all("AutoAttack standard (budget 0.02)" in c.label for c in r.curves)
    # JPEG under BPDA: the adaptive AutoAttack gets through where the plain one is fooled by the rounding
    assert r.curve("adaptive").accuracy[1] <= r.curve("plain").accuracy[1]
    assert [n.name for n in r.masking][:4] == ["outputs", "randomness", "zero gradients", "large ε"]
    label = panel.masking
    assert label.isVisibleTo(panel) and label.text().startswith("Masking checks on ")
    assert "adaptive attacker" in label.text()



def test_the_masking_label_counts_warnings_and_expands_on_a_click(qtbot):
    from PySide6.QtCore import QPoint, Qt

    from advstudio.gui.widgets.masking import MaskingChecksLabel, MaskingNote

    label = MaskingChecksLabel()
    qtbot.addWidget(label)
    label.show()
    assert label.isHidden() or not label.text()
    notes = (MaskingNote("outputs", False, "the model outputs logits.", "Fine."),
             MaskingNote("randomness", True, "two identical calls differ.", "Use EOT."))
    label.set_notes(notes, "Noisy CNN")
    assert label.text().startswith("Masking checks on Noisy CNN: ✓ outputs · ⚠ randomness — 1 warning")
    assert "two identical calls differ." not in label.text() and "Use EOT." in label.toolTip()
    qtbot.mouseClick(label, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert "⚠ randomness: two identical calls differ. Use EOT." in label.text()
    label.set_notes(())
    assert label.isHidden()


def test_the_live_query_counter_counts_every_image_row_and_reports_while_it_runs(window):
    import torch

    from advstudio.gui.features.any_attack.jobs import counted
    from advstudio.gui.features.any_attack.messages import QueryProgress

    seen = []
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    watched = counted(model, seen.append, every=0.0)
    x = torch.zeros(3, 1, 28, 28)
    assert torch.equal(watched(x), model(x)) and watched.calls == 3
    watched(x[:1])
    assert watched.calls == 4 and seen == [3, 4]
    tab = window.any_attack
    tab.on_progress("input_attack", QueryProgress(1234, 5000, 0.52))
    assert tab.panel.status.text() == "Running… 1,234 model queries so far (at most 5,000), 0.5 s."
