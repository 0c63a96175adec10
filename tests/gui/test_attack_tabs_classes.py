"""The other attack tabs follow the current model's classes (a 26-class model with named classes, written here
with random weights; synthetic drawings only, no MNIST bytes): Any attack's target and names, the patch's target,
words and bars, Side by side naming each side's classes by its own model, the certificate's names, a defended
model keeping its base model's classes; and the ten digits read as before."""

from __future__ import annotations

import numpy as np
import pytest

from advstudio.core.classes import DIGITS
from advstudio.core.types import AttackResult
from advstudio.gui.demo import digit_strokes
from advstudio.gui.features.certify.messages import CertifyInputResult, SmoothingSettings
from advstudio.gui.features.compare.messages import CompareResult, CompareSide, SideResult
from advstudio.gui.features.compare.view import banner_text, summary_text
from advstudio.gui.features.universal.messages import PatchData, ViewResult
from advstudio.gui.features.universal.patch_view import patch_verdict
from advstudio.gui.features.universal.view import universal_verdict
from advstudio.gui.messages import TARGETED, AttackSettings
from advstudio.gui.widgets.attack_form import AttackForm, ClassSpinBox

NAMES = [f"Class {c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
META26 = {"name": "letters", "architecture": "MLP", "num_classes": 26, "classes": NAMES}


@pytest.fixture
def letters_model(tmp_path):
    import torch

    from advstudio.core.model import build_model
    from advstudio.core.storage import save_model

    torch.manual_seed(0)
    return save_model(build_model("MLP", num_classes=26), tmp_path / "letters.safetensors", dict(META26))


@pytest.fixture
def letters_window(qtbot, make_window, letters_model):
    w = make_window()
    with qtbot.waitSignal(w.ctx.modelReady, timeout=30000) as ready:
        w.studio.open_model(str(letters_model))
    assert ready.args[0].classes == tuple(NAMES)
    return w


def _draw(qtbot, w) -> None:
    w.ctx.request_strokes(digit_strokes(3))
    qtbot.waitUntil(lambda: w.ctx.current_input is not None and w.ctx.analysis is not None
                    and len(w.ctx.analysis.prediction.probs) == 26, timeout=30000)


# ---------------------------------------------------------------------------------------------- widgets alone
def test_the_attack_form_targets_the_models_classes(qtbot):
    form = AttackForm()
    qtbot.addWidget(form)
    assert form.target.maximum() == 9 and form.target.text() == "8"  # the ten digits, as before
    assert "the digit you choose" in form.targeted.toolTip()
    form.set_attack("apgd-t")
    assert form.fields["target_classes"].maximum() == 9
    form.set_classes(NAMES)
    assert form.target.maximum() == 25 and form.target.text() == "8: Class I"
    assert form.fields["target_classes"].maximum() == 25 and "the class you choose" in form.targeted.toolTip()
    form.target.setValue(25)
    form.targeted.setChecked(True)
    assert form.target_class() == 25 and form.target.text() == "25: Class Z"
    form.set_attack("fab-t")  # a field built after the classes came ranges over them too
    assert form.fields["target_classes"].maximum() == 25
    form.set_classes(["cat", "dog", "bird"])  # fewer classes: the target is kept inside them
    assert form.target.value() == 2 and form.target.text() == "2: bird"
    assert form.fields["target_classes"].maximum() == 2 and form.fields["target_classes"].value() == 2


def test_a_class_box_reads_a_typed_number_or_name(qtbot):
    box = ClassSpinBox(0, NAMES)
    qtbot.addWidget(box)
    for typed, value in (("class q", 16), ("3", 3), ("24: Class Y", 24)):
        box.lineEdit().setText(typed)
        box.interpretText()
        assert box.value() == value
    digits = ClassSpinBox(8)
    qtbot.addWidget(digits)
    assert digits.text() == "8" and digits.maximum() == 9 and not digits.named()


def test_the_side_by_side_words_name_each_sides_classes():
    z = np.zeros((28, 28), np.float32)

    def side(role, meta, clean, adv, k, target=None):
        cp, ap = np.full(k, 0.01, np.float32), np.full(k, 0.01, np.float32)
        cp[clean], ap[adv] = 0.91, 0.64
        attack = AttackResult(z, z, z, cp, ap, 0.3, TARGETED if target is not None else "fgsm", target)
        return SideResult(CompareSide(role, role, f"/{role}.safetensors", role), role, attack=attack, meta=meta)

    letters = side("standard", META26, 2, 25, 26, target=5)
    digits = side("robust", {"num_classes": 10}, 2, 2, 10, target=5)
    assert banner_text(letters).startswith("Flipped: clean Class C (91%) → adversarial Class Z (64%)")
    assert banner_text(letters).endswith("target Class F not")
    assert banner_text(digits).startswith("Holds: clean 2 (91%)")
    s = AttackSettings(TARGETED, 5, 0.3)
    text = summary_text(CompareResult(z, s, (letters, digits)), tuple(NAMES))
    assert text.startswith("Same drawing, same targeted FGSM (toward Class F) ε = 0.300: ")
    assert "flips Class C → Class Z (not the target Class F)" in text and "still says 2" in text
    # names that do not match the model's outputs are not used (a session model has no metadata at all)
    odd = side("standard", META26, 2, 7, 10)
    assert banner_text(odd).startswith("Flipped: clean 2 (91%) → adversarial 7")


def test_the_patch_and_universal_verdicts_name_the_classes():
    z = np.zeros((28, 28), np.float32)
    probs, clean = np.full(26, 0.01, np.float32), np.full(26, 0.01, np.float32)
    probs[25], clean[3] = 0.9, 0.9
    r = ViewResult(z, z, probs, clean)
    assert patch_verdict(r, 25, NAMES) == "Your Class D now reads as Class Z (90 %)."
    assert patch_verdict(r, 4, NAMES).endswith("although the patch aims at Class E.")
    assert patch_verdict(r, 25) == "Your 3 now reads as 25 (90 %)."
    assert universal_verdict(r, NAMES) == "With v added, your Class D now reads as Class Z (90 %)."


def test_the_certificate_names_the_classes(qtbot, window):
    panel = window.certify.panel
    counts = tuple([0] * 23 + [5, 1, 294])
    r = CertifyInputResult(np.zeros((28, 28), np.float32), 25, 0.5, 0.9, counts, 24, SmoothingSettings(), 1.0, 0.1)
    panel.set_certificate(r, ("<b>",) + tuple(NAMES[1:]))
    text = panel.input_result.text()
    assert "<b>Class Z</b>" in text and "reads Class Y" in text and "Class Z: 294" in text
    assert "top class wins" in text
    panel.set_certificate(CertifyInputResult(r.image, 3, 0.5, 0.9, (0, 0, 0, 300) + (0,) * 6, 3,
                                             SmoothingSettings(), 1.0, 0.1), DIGITS)
    assert "<b>3</b>" in panel.input_result.text() and "top digit wins" in panel.input_result.text()
    abstain = CertifyInputResult(r.image, None, 0.0, 0.4, (0,) * 26, 0, SmoothingSettings(), 1.0, 0.1)
    panel.set_certificate(abstain, ("<i>x</i>",) + tuple(NAMES[1:]))
    assert "&lt;i&gt;x&lt;/i&gt;" in panel.input_result.text()  # a file's class name is text, not markup


# ---------------------------------------------------------------------------------------------- in the window
def test_the_window_tabs_follow_a_26_class_model(qtbot, letters_window):
    w = letters_window
    # before any drawing: the targets range over the 26 classes, the bars name them
    form = w.any_attack.panel.form
    assert form.target.maximum() == 25 and w.any_attack.panel.view.bars.classes == tuple(NAMES)
    half = w.universal.panel.patch
    assert half.target.maximum() == 25 and half.target.text() == "8: Class I"
    assert half.target_label.text() == "Turn images into:" and half.bars.classes == tuple(NAMES)
    assert w.universal.panel.universal.bars.classes == tuple(NAMES)
    assert w.compare.panel.names == tuple(NAMES)
    _draw(qtbot, w)
    # Any attack: a targeted FGSM toward class 25 says so by name
    form.set_attack("fgsm", eps=0.3)
    form.targeted.setChecked(True)
    form.target.setValue(25)
    with qtbot.waitSignal(w.any_attack.inputAttackShown, timeout=60000) as shown:
        assert w.any_attack.run_input_attack() is not None
    r = shown.args[0]
    assert r.target == 25 and r.frame_probs.shape[1] == 26
    caption = w.any_attack.panel.caption.text()
    assert "targeted → Class Z" in caption and NAMES[r.clean_label] in caption, caption
    assert NAMES[int(np.argmax(r.frame_probs[-1]))] in w.any_attack.panel.step_label.text()
    assert w.any_attack.panel.table.item(0, 0).text().endswith("→ Class Z")
    # the patch: its line and the drawing's verdict name the classes
    patch = PatchData(np.ones((8, 8), np.float32), target=25, steps=1, success_rate=0.5, images=10, model="letters")
    w.universal.set_patch(patch, ("letters", None))
    assert "toward Class Z" in half.info.text()
    qtbot.waitUntil(lambda: half.shown is not None and half.patch is not None
                    and half.verdict.text() == patch_verdict(half.shown, 25, NAMES), timeout=30000)
    assert "Class" in half.verdict.text() and len(half.bars.heights[1]) == 26


def test_a_defended_26_class_model_keeps_its_classes(qtbot, letters_window):
    w = letters_window
    studio = w.defense
    studio.panel.set_defense("bit_depth")
    with qtbot.waitSignal(w.ctx.modelReady, timeout=30000) as ready:
        assert studio.use_as_current() is not None
    info = ready.args[0]
    assert info.defended and info.classes == tuple(NAMES)
    assert w.any_attack.panel.form.target.maximum() == 25


def test_the_ten_digit_tabs_read_as_before(window):
    half = window.universal.panel.patch
    assert half.target.maximum() == 9 and half.target.text() == "8" and half.target_label.text() == "Turn digits into:"
    form = window.any_attack.panel.form
    assert form.target.maximum() == 9 and form.target.text() == "8"
    assert window.any_attack.panel.history.getAxis("left").labelText == "your digit %"
