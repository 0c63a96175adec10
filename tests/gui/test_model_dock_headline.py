"""The Model dock's robust-accuracy row: the strongest recorded attack's figure, the weaker ones beside it."""

from __future__ import annotations

from advstudio.core.model_meta import robust_headline
from advstudio.gui.features.studio.model_panel import robust_text

PGD_RULE = {"attack": "PGD", "steps": 40, "step_size": "2.5*eps/steps", "n": 10000,
            "results": [{"eps": 0.1, "accuracy": 0.97}, {"eps": 0.3, "accuracy": 0.9382}]}
AA = {"attack": "AutoAttack", "label": "AutoAttack standard", "n": 10000, "results": [{"eps": 0.3, "accuracy": 0.89}]}


def test_the_model_dock_row():
    text = robust_text(robust_headline({"robust_evaluation": [PGD_RULE, AA]}))
    assert text.startswith("89.00% at ε = 0.3 under AutoAttack standard (10,000 images)")
    assert "weaker attacks: PGD-40: 93.82%" in text
    text = robust_text(robust_headline({"robust_evaluation": [PGD_RULE]}))
    assert "not yet measured with AutoAttack" in text

