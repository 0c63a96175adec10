"""The Training tab's "Adversarial examples" group: ε with its equivalents, the steps of PGD and TRADES, TRADES's
β, the overfitting guard, and (under Advanced) step size, ε ramp, attacked share and the per-epoch check's size.
Widgets only: which fields apply follows the method the panel passes in."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QSpinBox, QWidget

from advstudio.core.constants import MNIST_STD
from advstudio.core.describe import EPS_UNITS
from advstudio.core.training_config import TrainConfig
from advstudio.gui.features.training.messages import ADVERSARIAL, GUARD_EVERY
from advstudio.gui.widgets.help import AdvancedGroup, explain, form_row

BETA_WORDS = ("How much TRADES weighs resisting attacks against reading clean digits: larger β = more robust, "
              "less clean accuracy.")
BETA_MATHS = ("TRADES (Zhang et al. 2019) minimises cross-entropy(f(x), y) + β·KL(f(x) ‖ f(x')), x' the point of "
              "the ε-ball whose prediction is furthest from f(x) in KL divergence (found with the steps below). "
              "The paper uses β = 6 on MNIST; β = 0 is standard training.")
SHARE_WORDS = "How much of each batch is replaced by its attacked version."
SHARE_TRADES = "TRADES learns from every image twice, clean and attacked, so the attacked share does not apply."
GUARD_WORDS = ("Every 200 batches, check how well the model resists a strong attack on a few training images; if "
               "that suddenly collapses, stop and keep the weights of the best check.")
GUARD_MATHS = ("A guard against catastrophic overfitting (Wong et al. 2020: fast FGSM training can lose all its "
               "PGD robustness within a few batches): PGD-10 accuracy at ε on 256 training images every "
               f"{GUARD_EVERY} batches; a fall of more than 20 points below the best restores the best weights "
               "and ends the run.")


def double_box(decimals: int, lo: float, hi: float, step: float, value: float) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setDecimals(decimals)
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    return s


def int_box(lo: int, hi: int, value: int) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    return s


def form_layout(parent: QWidget) -> QFormLayout:
    form = QFormLayout(parent)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    return form


class AdversarialForm(QGroupBox):
    """The attacked-images settings; set_method() says which apply, values() gives them as TrainConfig fields."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Adversarial examples", parent)
        d = TrainConfig()
        a = form_layout(self)
        self.form = a
        self.eps = double_box(3, 0.0, 1.0, 0.01, d.adv_eps)
        self.eps_equiv = QLabel()
        self.eps_equiv.setWordWrap(True)
        explain(self.eps_equiv, EPS_UNITS)
        self.steps = int_box(1, 200, d.adv_steps)
        self.beta = double_box(1, 0.0, 20.0, 0.5, d.trades_beta)
        self.beta.setObjectName("training_trades_beta")
        self.guard = QCheckBox("Stop and keep the best weights if robustness collapses")
        self.guard.setObjectName("training_guard")
        explain(self.guard, GUARD_WORDS, GUARD_MATHS)
        self.step_size = double_box(4, 0.0, 1.0, 0.005, 0.0)
        self.step_size.setSpecialValueText("auto")
        self.step_auto = QLabel()
        self.step_auto.setWordWrap(True)
        self.ramp = int_box(0, 100, d.adv_ramp_epochs)
        self.share = int_box(0, 100, int(round(d.adv_fraction * 100)))
        self.share.setSuffix(" %")
        self.robust_n = int_box(1, 10000, d.robust_eval_samples)
        self.robust_n.setSingleStep(100)
        form_row(a, "Strength (ε):", self.eps, "How far each pixel of the attacked training images may move, in "
                 "pixel units (0–1).", "L∞ radius of the training attack.")
        a.addRow(self.eps_equiv)
        self.steps_label = form_row(a, "Steps:", self.steps, "How many small pushes PGD and TRADES make on each "
                                    "batch (FGSM with random start always makes one).")
        self.beta_label = form_row(a, "Robustness weight (β):", self.beta, BETA_WORDS, BETA_MATHS)
        a.addRow(self.guard)
        self.advanced = AdvancedGroup("Advanced")
        self.advanced.setObjectName("training_adv_advanced")
        more = form_layout(self.advanced.body)
        form_row(more, "Step size (α):", self.step_size, "How far each push moves the pixels, in pixel units (0–1); "
                 "'auto' picks it from ε.", "'auto' = 1.25·ε for FGSM with random start, 2.5·ε/steps for PGD and "
                 "TRADES.")
        more.addRow(self.step_auto)
        form_row(more, "ε ramp-up epochs:", self.ramp, "Start with weak attacks and raise ε to its full value over "
                 "this many epochs.", "ε grows linearly from 0; it helps FGSM with random start avoid catastrophic "
                 "overfitting at large ε.")
        self.share_label = form_row(more, "Attacked share:", self.share, SHARE_WORDS)
        form_row(more, f"PGD-{d.robust_eval_steps} check images:", self.robust_n, "After each epoch, how many test "
                 "images are attacked with PGD to measure how hard the model has become to fool.",
                 f"PGD-{d.robust_eval_steps} accuracy at ε on the first N test images (never used for training).")
        a.addRow(self.advanced)
        self._method: str | None = None
        for w in (self.eps, self.step_size, self.steps):
            w.valueChanged.connect(self.update_hints)

    def set_method(self, key: str | None, running: bool) -> None:
        """Enable what `key` uses: steps for PGD and TRADES, β for TRADES only, the share for all but TRADES."""
        self._method = key
        self.setEnabled(key in ADVERSARIAL and not running)
        self.steps.setEnabled(key in ("pgd", "trades"))
        self.form.setRowVisible(self.beta, key == "trades")
        trades = key == "trades"
        self.share.setEnabled(not trades)
        for w in (self.share, self.share_label):
            explain(w, SHARE_TRADES if trades else SHARE_WORDS)
        self.update_hints()

    def update_hints(self) -> None:
        eps = self.eps.value()
        self.eps_equiv.setText(f"ε = {eps * 255:.1f}/255 grey levels = {eps / MNIST_STD:.3f} normalized units")
        key = self._method if self._method in ADVERSARIAL else "fgsm_rs"
        if self.step_size.value() > 0:
            self.step_auto.setText("")
        else:
            auto = TrainConfig(adversarial=key, adv_eps=eps, adv_steps=self.steps.value()).step_size()
            rule = "1.25·ε" if key == "fgsm_rs" else "2.5·ε/steps"
            self.step_auto.setText(f"auto step size = {auto:.4g} ({rule})")

    def values(self) -> dict:
        """The TrainConfig fields these settings give."""
        step = self.step_size.value()
        return {"adv_eps": float(self.eps.value()), "adv_steps": self.steps.value(),
                "adv_step_size": float(step) if step > 0 else None, "adv_ramp_epochs": self.ramp.value(),
                "adv_fraction": self.share.value() / 100.0, "trades_beta": float(self.beta.value()),
                "robust_eval_samples": self.robust_n.value(),
                "guard_every": GUARD_EVERY if self.guard.isChecked() else 0}

    def fill(self, c: TrainConfig) -> None:
        """Show `c`'s adversarial settings (a preset)."""
        self.eps.setValue(c.adv_eps)
        self.steps.setValue(c.adv_steps)
        self.step_size.setValue(c.adv_step_size or 0.0)
        self.ramp.setValue(c.adv_ramp_epochs)
        self.share.setValue(int(round(c.adv_fraction * 100)))
        self.beta.setValue(c.trades_beta)
        self.robust_n.setValue(c.robust_eval_samples)
        self.guard.setChecked(c.guard_every > 0)

    def edited(self) -> list:
        """The signals that say a field changed (the panel marks a preset as customised on them)."""
        spins = (self.eps, self.steps, self.beta, self.step_size, self.ramp, self.share, self.robust_n)
        return [s.valueChanged for s in spins] + [self.guard.toggled]
