"""The Defenses tab's "Attack and run" box: the attack (FGSM, PGD or AutoAttack with its budget), the strengths,
the sample count and the run controls, built onto the panel that owns them."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QLineEdit

from advstudio.gui.widgets.help import form_row
from advstudio.gui.widgets.layout import RunControls, spin_box

DEFAULT_EPS = "0, 0.1, 0.2, 0.3"


def build_attack_box(panel) -> QGroupBox:
    """Create the box's widgets as attributes of `panel` (attack_combo, steps, budget, eps_edit, samples, runner,
    run_button, cancel_button, progress, eta, data_error) and return the box."""
    abox = QGroupBox("Attack and run")
    af = QFormLayout(abox)
    panel.attack_combo = QComboBox()
    panel.attack_combo.addItem("FGSM (1 step)", "fgsm")
    panel.attack_combo.addItem("PGD (random start)", "pgd")
    panel.attack_combo.addItem("AutoAttack (strongest)", "autoattack")
    panel.attack_combo.setCurrentIndex(1)
    panel.steps = spin_box(1, 500, 20, 1)
    panel.budget = QDoubleSpinBox()
    panel.budget.setRange(0.01, 1.0)
    panel.budget.setSingleStep(0.05)
    panel.budget.setDecimals(2)
    panel.budget.setValue(0.1)
    panel.eps_edit = QLineEdit(DEFAULT_EPS)
    panel.samples = spin_box(1, 10000, 200, 100)
    form_row(af, "Attack:", panel.attack_combo, "The attack on the defended model: FGSM is one quick step, PGD many "
         "small steps from a random start (stronger).")
    form_row(af, "Steps:", panel.steps, "How many small pushes PGD makes (FGSM always makes one).",
         "PGD step size α = 2.5·ε/steps.")
    form_row(af, "Budget:", panel.budget, "How much of AutoAttack's full effort to spend: 1 is the "
         "paper's (minutes per 100 digits), 0.1 a quick look that can only overstate the defense.",
         "Share of the paper's steps and queries: APGD-CE 100, APGD-T and FAB-T 9×100, Square 5,000; "
         "\u201crand\u201d (EOT over 20 draws) for randomized defenses.")
    form_row(af, "Strengths (ε):", panel.eps_edit, "The strengths to try, in pixel units from 0 to 1, separated by "
         "commas; each is a point on the curves.", "L∞ ε: every pixel moves by at most ±ε.")
    form_row(af, "Test images:", panel.samples, "How many digits from the MNIST test set to attack (the first N).")
    panel.runner = RunControls("Run", default=True)
    panel.run_button, panel.cancel_button = panel.runner.run, panel.runner.cancel
    panel.progress, panel.eta = panel.runner.progress, panel.runner.eta
    panel.runner.add_to_form(af)
    panel.data_error = QLabel("")
    panel.data_error.setWordWrap(True)
    panel.data_error.hide()
    af.addRow(panel.data_error)
    return abox
