"""A form for any registered attack, built from core.attacks.attack_settings: one field per setting, with the
attack's own defaults, laid out in a compact grid; ε and the steps in view, the rest in a collapsed Advanced group.
`settings()` gives make_attack keywords. ClassSpinBox: a target class by its number, and by name for a model with
named classes (the form's target, the patch's)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QHBoxLayout, QLabel, QSpinBox, QWidget

from advstudio.core.attacks.registry import ATTACKS, REQUIRED, attack_settings
from advstudio.core.classes import DIGITS
from advstudio.core.describe import attack_title, setting_words
from advstudio.core.model_meta import class_item
from advstudio.gui.widgets.help import AdvancedGroup, explain

# key: (minimum, maximum, decimals, step); the words (label, plain explanation, maths) are core.describe's
FIELDS = {
    "eps": (0.0, 1.0, 3, 0.01),
    "steps": (1, 10000, 0, 1),
    "step_size": (0.0, 1.0, 4, 0.001),
    "restarts": (1, 100, 0, 1),
    "random_start": (None, None, 0, 0),
    "decay": (0.0, 10.0, 2, 0.1),
    "loss": (None, None, 0, 0),
    "seed": (0, 99999, 0, 1),
    "c": (0.001, 1000.0, 3, 0.5),
    "kappa": (0.0, 100.0, 2, 0.5),
    "lr": (0.0001, 10.0, 4, 0.01),
    "binary_search_steps": (1, 50, 0, 1),
    "overshoot": (0.0, 10.0, 3, 0.01),
    "early_stop": (None, None, 0, 0),
    "queries": (1, 100000, 0, 100),
    "p_init": (0.01, 1.0, 2, 0.05),
    "target_classes": (1, 9, 0, 1),
    "budget": (0.01, 1.0, 2, 0.05),
    "init_evals": (1, 10000, 0, 10),
    "max_evals": (1, 100000, 0, 100),
    "theta": (-1.0, 1.0, 2, 0.1),
    "gamma": (0.001, 1.0, 3, 0.01),
    "pixels": (1, 5, 0, 1),
    "population": (4, 10000, 0, 50),
}
BASIC = {"eps", "steps", "queries", "version", "pixels", "gamma"}  # what a student sets; the rest waits in the collapsed Advanced group
HIDDEN = {"record_trajectory", "targeted"}
VERSION_WORDS = {"standard": "APGD-CE, APGD-T, FAB-T and Square: for a model that answers the same every time",
                 "rand": "APGD-CE and APGD-T on the average of 20 calls: for a defense that draws random numbers"}
LOSS_WORDS = {"ce": "cross-entropy: lower the model's confidence in the right digit",
              "margin": "margin: lift the best wrong digit's score above the right one's"}
BASIS_WORDS = {"pixel": "pixel: one pixel at a time", "dct": "dct: smooth patterns first (low frequencies)"}
CHOICES = {"loss": LOSS_WORDS, "version": VERSION_WORDS, "basis": BASIS_WORDS}  # settings picked from a list
COLUMNS = 3
WIDEST_NAME = 24  # characters of a class's "i: name" a ClassSpinBox makes room for (a longer one scrolls)


class ClassSpinBox(QSpinBox):
    """A class of the model, 0..K-1, stepped with the arrows or typed (its number or its name); it shows
    "i: name" for a model with named classes and the bare number for the digits (then it is a plain spin box)."""

    def __init__(self, value: int = 8, names=DIGITS, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes: tuple[str, ...] = ()
        self.set_classes(names, value)

    def set_classes(self, names, keep: int | None = None) -> bool:
        """Range over these classes (the value is kept while it is one of them, else the last); True when they
        changed."""
        names = tuple(str(n) for n in names) or DIGITS
        if names == self.classes and keep is None:
            return False
        value = self.value() if keep is None else int(keep)
        self.classes = names
        self.blockSignals(True)
        self.setRange(0, len(names) - 1)
        self.setValue(min(max(value, 0), len(names) - 1))
        self.lineEdit().setText(self.textFromValue(self.value()))  # the same number may now have a name
        self.blockSignals(False)
        self.updateGeometry()
        return True

    def named(self) -> bool:
        return any(n != str(i) for i, n in enumerate(self.classes))

    def textFromValue(self, value: int) -> str:  # noqa: N802 - Qt override
        return class_item(int(value), self.classes)

    def valueFromText(self, text: str) -> int:  # noqa: N802 - Qt override
        found = self._parse(text)
        return self.value() if found is None else found

    def validate(self, text: str, pos: int):
        state = QValidator.State.Acceptable if self._parse(text) is not None else QValidator.State.Intermediate
        return state, text, pos

    def _parse(self, text: str) -> int | None:
        """The class `text` names: its number ("3", "3: Dress") or its name ("dress"), else None."""
        text = text.strip()
        head = text.split(":", 1)[0].strip()
        if head.isdigit() and 0 <= int(head) < len(self.classes):
            return int(head)
        lowered = [n.lower() for n in self.classes]
        return lowered.index(text.lower()) if text.lower() in lowered else None

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override: room for the longest name, not only the ends'
        hint = super().sizeHint()
        if not self.named():
            return hint
        fm = self.fontMetrics()
        texts = [self.textFromValue(v)[:WIDEST_NAME] for v in range(len(self.classes))]
        ends = max(fm.horizontalAdvance(self.textFromValue(v)) for v in (self.minimum(), self.maximum()))
        return QSize(hint.width() + max(0, max(fm.horizontalAdvance(t) for t in texts) - ends), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return self.sizeHint() if self.named() else super().minimumSizeHint()


class AttackForm(QWidget):
    """Attack chooser, its settings, and an optional target class."""

    changed = Signal()

    def __init__(self, include_eps: bool = True, defaults: dict | None = None, columns: int = COLUMNS,
                 compact: bool = False, advanced_columns: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.include_eps = include_eps
        self.columns = columns
        self.advanced_columns = advanced_columns or columns
        self.overrides = dict(defaults or {})  # e.g. early_stop False for trajectories
        self.combo = QComboBox()
        for name, spec in ATTACKS.items():
            norm = {"linf": "L∞", "l2": "minimal L2", "l0": "few pixels"}.get(spec.norm, spec.norm)
            self.combo.addItem(f"{attack_title(name)} ({norm})", name)
            self.combo.setItemData(self.combo.count() - 1, spec.summary, Qt.ItemDataRole.ToolTipRole)
        explain(self.combo, "The attack: the recipe that changes the image. Its settings appear below, already set "
                            "to sensible values.",
                "L∞ attacks keep every pixel within ±ε; minimal-L2 attacks look for the smallest overall change; "
                "few-pixel (L0) attacks change as few pixels as they can.")
        self.targeted = QCheckBox("targeted, toward class")
        self.target = ClassSpinBox(8)
        self.target.setEnabled(False)
        self._explain_target()
        self.fields: dict[str, QWidget] = {}
        self.grid = QGridLayout()
        self.advanced = AdvancedGroup("Advanced settings")
        self.advanced.setObjectName("attack_advanced")
        self.advanced_grid = QGridLayout(self.advanced.body)
        for grid in (self.grid, self.advanced_grid):
            grid.setContentsMargins(0, 0, 0, 0)
            grid.setHorizontalSpacing(6)
            grid.setVerticalSpacing(3)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        attack_label = QLabel("Attack:")
        explain(attack_label, self.combo.toolTip().split("\n")[0])
        top.addWidget(attack_label)
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
        outer.addWidget(self.advanced, 3, 0)
        self.combo.currentIndexChanged.connect(self._rebuild)
        self.targeted.toggled.connect(self.target.setEnabled)
        self.targeted.toggled.connect(self.changed)
        self._rebuild()

    # ------------------------------------------------------------------ reading and setting
    def attack(self) -> str:
        return str(self.combo.currentData())

    def set_classes(self, names) -> None:
        """The model's classes: the target ranges over them (by name where they have names), and APGD-T's and
        FAB-T's count of target classes over the K − 1 others."""
        if not self.target.set_classes(names):
            return
        self._explain_target()
        w = self.fields.get("target_classes")
        if isinstance(w, QSpinBox):
            w.setMaximum(self._most_targets())

    def _most_targets(self) -> int:
        return max(1, len(self.target.classes) - 1)

    def _explain_target(self) -> None:
        what = "class" if self.target.named() else "digit"
        explain(self.targeted, f"Off: make the model read any wrong {what}. On: make it read the {what} you choose.")
        explain(self.target, f"The {what} a targeted attack tries to make the model read.")

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
        for grid in (self.grid, self.advanced_grid):
            while grid.count():
                item = grid.takeAt(0)
                old = item.widget()
                if old is not None:  # gone at once (a deleteLater would linger until the event loop runs)
                    old.hide()
                    old.setParent(None)
        self.fields = {}
        defaults = attack_settings(self.attack())
        keys = [k for k in defaults if k not in HIDDEN and (self.include_eps or k != "eps")]
        placed = {id(self.grid): 0, id(self.advanced_grid): 0}
        for key in keys:
            default = self.overrides.get(key, defaults[key])
            if key == "eps" and default is REQUIRED:
                default = 0.1
            if key in keep and key in ("eps", "early_stop"):  # carried over when switching attacks
                default = keep[key]
            w = self._field(key, default)
            label = QLabel(setting_words(key)[0] + ":")
            label.setToolTip(w.toolTip())
            label.setWhatsThis(w.whatsThis())
            grid, columns = (self.grid, self.columns) if key in BASIC else (self.advanced_grid, self.advanced_columns)
            row, col = divmod(placed[id(grid)], columns)
            placed[id(grid)] += 1
            grid.addWidget(label, row, 2 * col)
            grid.addWidget(w, row, 2 * col + 1)
            self.fields[key] = w
        for grid, columns in ((self.grid, self.columns), (self.advanced_grid, self.advanced_columns)):
            for col in range(columns):
                grid.setColumnStretch(2 * col + 1, 1)
        self.advanced.setVisible(placed[id(self.advanced_grid)] > 0)  # FGSM has nothing to hide
        self.changed.emit()

    def _field(self, key: str, default) -> QWidget:
        lo, hi, decimals, step = FIELDS.get(key, (0.0, 1e6, 3, 0.1))
        if key == "target_classes":  # the other classes a targeted run can aim at: K − 1
            hi = self._most_targets()
        _label, plain, maths = setting_words(key)
        if isinstance(default, bool):
            w = QCheckBox()
            w.setChecked(default)
            w.toggled.connect(self.changed)
        elif key in CHOICES:
            w = QComboBox()
            for item, words in CHOICES[key].items():
                w.addItem(item)
                w.setItemData(w.count() - 1, words, Qt.ItemDataRole.ToolTipRole)
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
                maths = f"'auto' = {rule:g}·ε/steps."
            w.setValue(0.0 if default is None else float(default))
            w.valueChanged.connect(self.changed)
        explain(w, plain, maths)
        w.setObjectName(f"field_{key}")
        return w
