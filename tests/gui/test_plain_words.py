"""Plain words first, the maths on demand: every input a tab shows explains itself (tooltip and What's This), the
advanced settings wait in collapsed groups that still work, each tab opens with one plain sentence, and the
detector's AUC is said the way it is (far below 0.5 is not "chance")."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QSlider,
    QSpinBox,
    QWidget,
)

from advstudio.gui.features.certify.view import adaptive_verdict, detection_summary
from advstudio.gui.widgets.attack_form import AttackForm
from advstudio.gui.widgets.help import AdvancedGroup

TABS = ("attack", "compare", "attack_lab", "robustness", "training", "defenses", "certify")
INPUTS = (QSpinBox, QDoubleSpinBox, QComboBox, QSlider, QCheckBox, QLineEdit)


def _inputs(page: QWidget) -> list[QWidget]:
    """The input widgets a student sees on `page` (a spin box's or a combo box's own line edit left out)."""
    QApplication.processEvents()  # a rebuilt form's new fields are shown by a queued call
    out = []
    for w in page.findChildren(QWidget):
        if not isinstance(w, INPUTS) or not w.isVisibleTo(page):
            continue
        if isinstance(w, QLineEdit) and isinstance(w.parent(), (QAbstractSpinBox, QComboBox)):
            continue
        out.append(w)
    return out


def _unexplained(page: QWidget) -> list[str]:
    return [f"{type(w).__name__} {w.objectName() or '?'} near {_near(w)!r}" for w in _inputs(page)
            if not w.toolTip().strip() or not w.whatsThis().strip()]


def _near(w: QWidget) -> str:
    """Some text to find a widget by in a failure message: its own, or its label's."""
    for attr in ("text", "currentText"):
        if hasattr(w, attr) and getattr(w, attr)():
            return getattr(w, attr)()
    layout = w.parentWidget().layout() if w.parentWidget() is not None else None
    if layout is not None:
        i = layout.indexOf(w)
        if i > 0 and isinstance(layout.itemAt(i - 1).widget(), QLabel):
            return layout.itemAt(i - 1).widget().text()
    return ""


def _states(window, key: str):
    """Every state of tab `key` that shows other inputs: each attack of a form, each defense, each method."""
    page = window.tab_widgets[key]
    yield "default"
    forms = page.findChildren(AttackForm)
    for form in forms:
        for i in range(form.combo.count()):
            form.combo.setCurrentIndex(i)
            yield f"attack {form.attack()}"
    if key == "defenses":
        for i in range(page.defense_combo.count()):
            page.defense_combo.setCurrentIndex(i)
            yield f"defense {page.defense_kind()}"
    if key == "training":
        for i in range(page.method.count()):
            page.method.setCurrentIndex(i)
            yield f"method {page.method_key()}"


@pytest.mark.parametrize("key", TABS)
def test_every_input_on_every_tab_explains_itself(window, key):
    assert window.show_tab(key)
    page = window.tab_widgets[key]
    for group in page.findChildren(AdvancedGroup):
        group.set_expanded(True)  # what is opened on demand must explain itself too
    seen = 0
    for state in _states(window, key):
        for group in page.findChildren(AdvancedGroup):  # a rebuilt form's group keeps its state
            group.set_expanded(True)
        found = _inputs(page)
        seen += len(found)
        assert not _unexplained(page), f"{key}, {state}: {_unexplained(page)}"
    assert seen > 0


def test_the_attack_tabs_field_help_names_the_term_and_the_rule(window):
    form = window.tab_widgets["attack_lab"].form
    form.set_attack("pgd")
    step = form.fields["step_size"]
    assert "Step size (α)" in [lbl.text().rstrip(":") for lbl in form.findChildren(QLabel)]
    assert "how far each step moves the pixels" in step.toolTip().lower() and "2.5·ε/steps" in step.toolTip()
    assert step.toolTip().split("\n")[0] in step.whatsThis()
    form.set_attack("cw")
    labels = [lbl.text() for lbl in form.findChildren(QLabel)]
    assert "Confidence margin (κ):" in labels and "Trade-off (c):" in labels and "Search rounds:" in labels
    studio = window.studio.attack_panel.controls
    assert "normalized units" in studio.readout.text() and "σ = 0.3081" not in studio.readout.text()
    assert "σ = 0.3081" in studio.readout.toolTip()  # the formula, on demand


def test_advanced_groups_start_collapsed_and_open_on_demand(window):
    groups = window.findChildren(AdvancedGroup)
    names = {g.objectName() for g in groups}
    for expected in ("attack_advanced", "defense_advanced_gaussian_noise", "defense_advanced_distillation",
                     "certify_advanced_smoothing", "certify_advanced_detection", "training_advanced",
                     "training_adv_advanced"):
        assert expected in names
    assert all(not g.is_expanded() and g.body.isHidden() for g in groups)
    certify = window.certify.panel
    assert window.show_tab("certify")
    assert certify.sigma.isVisible() and not certify.n0.isVisible() and not certify.lam.isVisible()
    certify.smoothing_advanced.set_expanded(True)
    assert certify.n0.isVisible() and certify.alpha.isVisible() and certify.seed.isVisible()
    certify.smoothing_advanced.button.click()  # the toggle itself folds it again
    assert not certify.n0.isVisible() and not certify.smoothing_advanced.is_expanded()


def test_a_collapsed_group_still_sets_what_runs(qtbot):
    form = AttackForm(include_eps=True)
    qtbot.addWidget(form)
    form.show()
    form.set_attack("pgd", eps=0.2, steps=7)
    QApplication.processEvents()  # new fields are shown by a queued call
    assert form.fields["eps"].isVisible() and form.fields["steps"].isVisible()
    assert not form.fields["restarts"].isVisible() and not form.fields["loss"].isVisible()
    form.fields["restarts"].setValue(3)  # hidden, yet it sets the attack
    form.fields["loss"].setCurrentText("margin")
    s = form.settings()
    assert s["restarts"] == 3 and s["loss"] == "margin" and s["eps"] == 0.2 and s["steps"] == 7
    form.advanced.set_expanded(True)
    QApplication.processEvents()
    assert form.fields["restarts"].isVisible() and form.fields["restarts"].value() == 3
    form.set_attack("fgsm")  # nothing advanced to show: no empty toggle
    assert form.advanced.isHidden() and set(form.fields) == {"eps"}


@pytest.mark.parametrize("key", TABS)
def test_each_tab_opens_with_one_plain_sentence(window, key):
    assert window.show_tab(key)
    intro = window.findChild(QLabel, f"intro_{key}")
    assert intro is not None and intro.isVisible() and intro.wordWrap()
    assert window.tab_widgets[key].isAncestorOf(intro)
    text = intro.text().strip()
    assert text.endswith(".") and text.count(".") == 1 and len(text) <= 160
    assert not intro.font().bold() and intro.font().pointSizeF() < window.font().pointSizeF()


def test_the_adaptive_auc_is_said_as_it_is():
    far = adaptive_verdict(1.0, 0.048)
    assert "falls from 1.000 to 0.048" in far and "far below 0.5" in far and "cleaner than clean" in far
    assert "toward" not in far
    coin = adaptive_verdict(0.99, 0.52)
    assert "about 0.5" in coin and "coin flip" in coin and "cleaner" not in coin
    weaker = adaptive_verdict(0.99, 0.8)
    assert "misses more" in weaker and "0.5 would be a coin flip" in weaker
    held = adaptive_verdict(0.99, 0.97)
    assert held.startswith("stays at 0.970") and "still catches" in held


def test_the_detection_summary_explains_auc_and_the_fall():
    roc = lambda name, auc, evaded: SimpleNamespace(attack=name, auc=auc, detected=0.9, evaded=evaded)  # noqa: E731
    r = SimpleNamespace(
        model_name="MNIST CNN", fit_source="500 training images", fit_info={"fit_accuracy": 0.99},
        request=SimpleNamespace(fit_eps=0.1, target_fpr=0.05, samples=200, eps=0.2, lam=1.0, steps=20),
        rocs={"fgsm": roc("fgsm", 1.0, 0.0), "pgd": roc("pgd", 0.999, 0.01), "adaptive_pgd": roc("adaptive_pgd",
                                                                                                   0.048, 0.93)})
    text = detection_summary(r)
    assert "falls from 1.000 to 0.048, far below 0.5" in text and "cleaner than clean ones" in text
    assert "coin flip" in text and "toward 0.5" not in text and "93 % of its examples" in text
    assert "AUC is the chance that the detector scores an attacked image above a clean one" in text
