"""The Training tab's "Method" group: the training method, a ready-made recipe (preset) with its blurb, and the
architecture of the network to train. Widgets only; the panel reads and fills them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QGroupBox, QLabel, QVBoxLayout, QWidget

from advstudio.core.architecture_names import ARCHITECTURE_TIPS, ARCHITECTURE_TITLES, DEFAULT_ARCHITECTURE
from advstudio.core.training_config import PRESETS
from advstudio.gui.features.training.messages import DISTILLATION, METHODS
from advstudio.gui.widgets.help import explain

METHOD_MATHS = ("Standard: plain cross-entropy on clean images (the article's recipe). FGSM with random start: one "
                "FGSM step from a random point in the ε-ball per batch (Wong et al. 2020, 'fast' adversarial "
                "training). PGD: several projected gradient steps per batch (Madry et al. 2018), the strongest and "
                "slowest. TRADES (Zhang et al. 2019): clean cross-entropy + β·KL(f(x) ‖ f(x')), x' found by steps "
                "that push the model's answer as far as possible in KL divergence: robust while keeping more clean "
                "accuracy. Defensive distillation (Papernot et al. 2016): a teacher trained with softmax(logits / T), "
                "then a student of the same shape on the teacher's soft labels at the same T, deployed at T = 1. "
                "FGSM's gradient vanishes on it; C&W does not care (Carlini & Wagner 2016): try both in the Defenses "
                "tab.")
METHOD_TIPS = {"fgsm_rs": "One quick attack per batch from a random start (Wong et al. 2020, 'fast' adversarial "
                          "training).",
               "pgd": "Several attack steps per batch (Madry et al. 2018): strong and slow.",
               "trades": "TRADES (Zhang et al. 2019): learns to read clean digits and to give the same answer on "
                         "attacked copies, weighted by β (clean cross-entropy + β·KL(f(x) ‖ f(x'))).",
               DISTILLATION: "Defensive distillation (Papernot et al. 2016): a student learns a teacher's softened "
                             "answers."}
CUSTOM = "Your own settings"
ARCHITECTURE_WORDS = ("Which network learns: the article's CNN, or another shape to compare how easily each is "
                      "fooled (hover over a choice for what it is).")
ARCHITECTURE_MATHS = ("Every choice reads 28×28 images in [0, 1] and normalizes them itself, so ε means the same "
                      "for all; the model file records the architecture, and the studio rebuilds it from there.")


def _combo(object_name: str, length: int = 12) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(object_name)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(length)
    return combo


class MethodBox(QGroupBox):
    """`method` (TrainConfig.adversarial, or "distillation"), `preset` (None: your own settings) with its
    `preset_blurb`, and `architecture` (a core.model architecture name)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Method", parent)
        layout = QVBoxLayout(self)
        self.method = _combo("training_method")
        for key, title in METHODS.items():
            self.method.addItem(title, key)
            if key in METHOD_TIPS:
                self.method.setItemData(self.method.count() - 1, METHOD_TIPS[key], Qt.ItemDataRole.ToolTipRole)
        explain(self.method, "How the model learns: from clean images only, or also from attacked ones so that it "
                             "learns to resist attacks.", METHOD_MATHS)
        layout.addWidget(self.method)
        self.preset = _combo("training_preset")
        self.preset.addItem(CUSTOM, None)
        for key, preset in PRESETS.items():
            self.preset.addItem(preset.label, key)
        explain(self.preset, "A ready-made recipe fills in every setting below; change any of them afterwards and "
                             "it becomes your own recipe.")
        self.preset_blurb = QLabel()
        self.preset_blurb.setObjectName("training_preset_blurb")
        self.preset_blurb.setWordWrap(True)
        self.preset_blurb.hide()
        layout.addWidget(QLabel("Recipe:"))
        layout.addWidget(self.preset)
        layout.addWidget(self.preset_blurb)
        self.architecture = _combo("training_architecture")
        for name, title in ARCHITECTURE_TITLES.items():
            self.architecture.addItem(title, name)
            self.architecture.setItemData(self.architecture.count() - 1, ARCHITECTURE_TIPS[name],
                                          Qt.ItemDataRole.ToolTipRole)
        self.architecture.setCurrentIndex(self.architecture.findData(DEFAULT_ARCHITECTURE))
        explain(self.architecture, ARCHITECTURE_WORDS, ARCHITECTURE_MATHS)
        label = QLabel("Architecture:")
        explain(label, ARCHITECTURE_WORDS, ARCHITECTURE_MATHS)
        layout.addWidget(label)
        layout.addWidget(self.architecture)

    def architecture_name(self) -> str:
        return self.architecture.currentData()

    def set_architecture(self, name: str) -> None:
        """Select the architecture called `name` (ValueError for one the menu does not offer)."""
        index = self.architecture.findData(name)
        if index < 0:
            raise ValueError(f"unknown architecture {name!r}: the menu offers {', '.join(ARCHITECTURE_TITLES)}")
        self.architecture.setCurrentIndex(index)
