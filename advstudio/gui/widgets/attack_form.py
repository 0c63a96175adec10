"""A form for any registered attack, built from core.attacks.attack_settings: one field per setting, with the
attack's own defaults, laid out in a compact grid. `settings()` gives make_attack keywords."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QHBoxLayout, QLabel, QSpinBox, QWidget

from advstudio.core.attacks.registry import ATTACKS, REQUIRED, attack_settings
from advstudio.core.describe import attack_title

# key: (label, tooltip, minimum, maximum, decimals, step)
FIELDS = {
    "eps": ("ε", "L∞ budget in pixel units (0–1): how far each pixel may move", 0.0, 1.0, 3, 0.01),
    "steps": ("steps", "iterations of the attack", 1, 10000, 0, 1),
    "step_size": ("step α", "L∞ step per iteration; 0 = the attack's default rule", 0.0, 1.0, 4, 0.001),
    "restarts": ("restarts", "PGD runs from this many random starts; a sample is broken if any run breaks it",
                 1, 100, 0, 1),
    "random_start": ("random start", "start from a uniform random point in the ε-ball", None, None, 0, 0),
    "decay": ("momentum μ", "MI-FGSM: decay of the running gradient sum", 0.0, 10.0, 2, 0.1),
    "loss": ("loss", "ce: cross-entropy; margin: best other logit minus the true one", None, None, 0, 0),
    "seed": ("seed", "seed of the random starts (a run is reproducible)", 0, 99999, 0, 1),
    "c": ("c", "C&W: initial trade-off between ‖δ‖₂ and the misclassification term", 0.001, 1000.0, 3, 0.5),
    "kappa": ("κ", "C&W: confidence margin the adversarial class must win by", 0.0, 100.0, 2, 0.5),
    "lr": ("lr", "C&W: Adam's learning rate", 0.0001, 10.0, 4, 0.01),
    "binary_search_steps": ("search rounds", "C&W: binary-search rounds over c", 1, 50, 0, 1),
    "overshoot": ("overshoot", "DeepFool: how far past the linearized boundary to step", 0.0, 10.0, 3, 0.01),
    "early_stop": ("early stop", "stop each sample once it is misclassified (off: run every step — full mode, "
                   "for inspecting trajectories)", None, None, 0, 0),
}
HIDDEN = {"record_trajectory", "targeted"}
COLUMNS = 3


class AttackForm(QWidget):
    """Attack chooser, its settings, and an optional target class."""

    changed = Signal()

    def __init__(self, include_eps: bool = True, defaults: dict | None = None, columns: int = COLUMNS,
                 compact: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.include_eps = include_eps
        self.columns = columns
        self.overrides = dict(defaults or {})  # e.g. early_stop False for trajectories
        self.combo = QComboBox()
        for name, spec in ATTACKS.items():
            norm = "L∞" if spec.norm == "linf" else "minimal L2"
            self.combo.addItem(f"{attack_title(name)} ({norm})", name)
        self.combo.setToolTip("The attack; its settings appear below with the attack's defaults")
        self.targeted = QCheckBox("targeted, toward class")
        self.targeted.setToolTip("Off: push toward any wrong class. On: toward the chosen class.")
        self.target = QSpinBox()
        self.target.setRange(0, 9)
        self.target.setValue(8)
        self.target.setEnabled(False)
        self.fields: dict[str, QWidget] = {}
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(6)
        self.grid.setVerticalSpacing(3)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Attack:"))
        top.addWidget(self.combo, 1)
        aim = QHBoxLayout()
        aim.setContentsMargins(0, 0, 0, 0)
        aim.addWidget(self.targeted)
        aim.addWidget(self.target)
        aim.addStretch(1)
        outer = QGridLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setVerticalSpacing(3)
        if compact:  # the target on its own line, under the attack
            outer.addLayout(top, 0, 0)
            outer.addLayout(aim, 1, 0)
        else:
            top.addSpacing(12)
            top.addLayout(aim)
            outer.addLayout(top, 0, 0)
        outer.addLayout(self.grid, 2, 0)
        self.combo.currentIndexChanged.connect(self._rebuild)
        self.targeted.toggled.connect(self.target.setEnabled)
        self.targeted.toggled.connect(self.changed)
        self._rebuild()

    # ------------------------------------------------------------------ reading and setting
    def attack(self) -> str:
        return str(self.combo.currentData())

    def target_class(self) -> int | None:
        return int(self.target.value()) if self.targeted.isChecked() else None

    def settings(self) -> dict:
        """make_attack keywords (without `targeted`: the target class decides that)."""
        out: dict = {}
        for key, w in self.fields.items():
            if isinstance(w, QCheckBox):
                out[key] = w.isChecked()
            elif isinstance(w, QComboBox):
                out[key] = w.currentText()
            elif isinstance(w, QDoubleSpinBox):
                value = float(w.value())
                out[key] = None if key == "step_size" and value == 0.0 else round(value, 6)
            elif isinstance(w, QSpinBox):
                out[key] = int(w.value())
        return out

    def set_attack(self, name: str, **values) -> None:
        """Choose an attack and set some of its fields (unknown keys raise KeyError)."""
        self.combo.setCurrentIndex(self.combo.findData(name))
        for key, value in values.items():
            w = self.fields[key]
            if isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QComboBox):
                w.setCurrentText(str(value))
            elif isinstance(w, QDoubleSpinBox):
                w.setValue(0.0 if value is None else float(value))
            else:
                w.setValue(int(value))

    def set_eps(self, eps: float) -> None:
        """Use this ε now and for the next attack chosen that has one (attacks without ε keep none)."""
        self.overrides["eps"] = float(eps)
        w = self.fields.get("eps")
        if isinstance(w, QDoubleSpinBox):
            w.setValue(float(eps))

    # ------------------------------------------------------------------ building
    def _rebuild(self) -> None:
        keep = self.settings() if self.fields else {}
        while self.grid.count():
            item = self.grid.takeAt(0)
            old = item.widget()
            if old is not None:  # gone at once (a deleteLater would linger until the event loop runs)
                old.hide()
                old.setParent(None)
        self.fields = {}
        defaults = attack_settings(self.attack())
        keys = [k for k in defaults if k not in HIDDEN and (self.include_eps or k != "eps")]
        for i, key in enumerate(keys):
            default = self.overrides.get(key, defaults[key])
            if key == "eps" and default is REQUIRED:
                default = 0.1
            if key in keep and key in ("eps", "early_stop"):  # carried over when switching attacks
                default = keep[key]
            w = self._field(key, default)
            label = QLabel(FIELDS.get(key, (key,))[0] + ":")
            label.setToolTip(w.toolTip())
            row, col = divmod(i, self.columns)
            self.grid.addWidget(label, row, 2 * col)
            self.grid.addWidget(w, row, 2 * col + 1)
            self.fields[key] = w
        for col in range(self.columns):
            self.grid.setColumnStretch(2 * col + 1, 1)
        self.changed.emit()

    def _field(self, key: str, default) -> QWidget:
        label, tip, lo, hi, decimals, step = FIELDS.get(key, (key, "", 0.0, 1e6, 3, 0.1))
        if isinstance(default, bool):
            w = QCheckBox()
            w.setChecked(default)
            w.toggled.connect(self.changed)
        elif key == "loss":
            w = QComboBox()
            w.addItems(["ce", "margin"])
            w.setCurrentText(str(default))
            w.currentIndexChanged.connect(self.changed)
        elif decimals == 0:
            w = QSpinBox()
            w.setRange(int(lo), int(hi))
            w.setValue(int(default or 0))
            w.valueChanged.connect(self.changed)
        else:
            w = QDoubleSpinBox()
            w.setRange(float(lo), float(hi))
            w.setDecimals(decimals)
            w.setSingleStep(step)
            if key == "step_size":
                rule = ATTACKS[self.attack()].step_size_factor or 2.5
                w.setSpecialValueText("auto")
                tip = f"{tip} ({rule:g}·ε/steps)"
            w.setValue(0.0 if default is None else float(default))
            w.valueChanged.connect(self.changed)
        w.setToolTip(tip)
        w.setObjectName(f"field_{key}")
        return w
