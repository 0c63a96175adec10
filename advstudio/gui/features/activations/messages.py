"""What crosses threads for the Activations dock: the request (an input and the studio's attack settings) and
the clean-against-adversarial comparison that answers it (numpy copies only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advstudio.core.types import ActivationComparison
from advstudio.gui.messages import AttackSettings


@dataclass(frozen=True)
class ActivationsRequest:
    """Compare the ReLU activations of `image` with those of its attacked version (attack `settings`).
    `ranges` ({layer: top edge}) keeps the previous answer's histogram bins for the same input; None takes them
    from this input's clean pass. `classes`: the model's class names (empty: numbered)."""

    image: np.ndarray
    settings: AttackSettings
    ranges: dict | None = None
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActivationsData:
    """The Activations dock's data: clean against adversarial activations of one input at one ε."""

    image: np.ndarray  # (28, 28) the clean input
    settings: AttackSettings
    comparison: ActivationComparison  # with feature maps of the one image
    clean_label: int
    adv_label: int
    classes: tuple[str, ...] = ()  # the model's class names, one per output (empty: numbered)

    @property
    def flipped(self) -> bool:
        return self.clean_label != self.adv_label
