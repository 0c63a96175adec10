"""Why it breaks for a model of any number of classes: a 26-class MLP's attributions, landscape, decision plane and
projection compute for every class index; the sentences say the class names (and speak of classes, not digits)
while the ten digits read as before; the class colours give 20 classes a colour each and then repeat."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from advstudio.core.explain.attribution import attribute
from advstudio.core.explain.boundary import decision_plane
from advstudio.core.explain.figures import boundary_figure, landscape_figure, projection_figure
from advstudio.core.explain.landscape import loss_landscape
from advstudio.core.explain.projection import project_dataset
from advstudio.core.explain.words import (
    attribution_verdict,
    boundary_verdict,
    landscape_verdict,
    projection_verdict,
)
from advstudio.core.model import build_model
from advstudio.core.render import CLASS_COLOURS, class_colour, class_colour_rgb, class_rgb, colours_repeat

NAMES = tuple(f"Class {c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


@pytest.fixture(scope="module")
def letters_model():
    torch.manual_seed(0)
    return build_model("MLP", num_classes=26).eval()


def _image(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, 1, 28, 28), generator=g)


def test_the_26_class_model_is_explained_for_every_class(letters_model):
    x = _image()
    for target in (0, 12, 25):
        a = attribute(letters_model, x, "saliency", targets=[target])
        assert a.targets.tolist() == [target] and a.maps.shape == (1, 28, 28)
    with pytest.raises(ValueError, match="0 to 25"):
        attribute(letters_model, x, "saliency", targets=[26])
    land = loss_landscape(letters_model, x, None, 0.1, grid=5)
    assert land.pred.max() < 26 and 0 <= land.label < 26
    x_adv = (x + 0.3 * torch.sign(torch.randn_like(x))).clamp(0, 1)
    plane = decision_plane(letters_model, x, x_adv, grid=7)
    assert plane.pred.min() >= 0 and plane.pred.max() < 26
    assert boundary_figure(plane.u, plane.v, plane.pred, plane.confidence, plane.points, None).shape == (28, 28, 3)
    assert landscape_figure(land.a, land.b, land.loss, land.pred, land.eps).shape == (30, 66, 3)
    images = torch.rand((52, 1, 28, 28), generator=torch.Generator().manual_seed(1))
    labels = torch.arange(52) % 26
    projected = project_dataset(letters_model, images, labels)
    assert projected.preds.max() < 26 and set(projected.labels.tolist()) == set(range(26))
    assert projection_figure(projected.coords, projected.labels, None, 64).shape == (64, 64, 3)


def test_class_colours_keep_tab10_then_give_twenty_classes_their_own():
    assert CLASS_COLOURS[:10] == TAB10  # a ten-class model's colours are what they were
    assert len(set(CLASS_COLOURS)) == 20 and [class_colour(k) for k in range(20)] == list(CLASS_COLOURS)
    assert class_colour(25) == class_colour(5) and class_colour_rgb(21) == class_colour_rgb(1)
    assert not colours_repeat(10) and not colours_repeat(20) and colours_repeat(26)
    rgb = class_rgb(np.arange(26).reshape(2, 13))
    assert len({tuple(p) for p in rgb.reshape(-1, 3)}) == 20
    assert tuple(rgb[0, 12]) == class_colour_rgb(12) != class_colour_rgb(2)


def _boundary(clean, adv, names=None, crossing=3):
    r = SimpleNamespace(clean_pred=clean, adv_pred=adv, crossing=crossing, path=np.zeros((11, 2)),
                        path_off_plane=np.zeros(11))
    if names is not None:
        r.class_names = names
    return r


def test_the_boundary_sentence_names_the_classes():
    text = boundary_verdict(_boundary(10, 7, NAMES))
    assert text == "Your drawing (read as Class K) crosses the border into Class H at step 3 of 10.", text
    held = boundary_verdict(_boundary(25, 25, NAMES))
    assert held.startswith("Your drawing stays Class Z: at this ε") and "25" not in held
    ends = boundary_verdict(_boundary(0, 1, NAMES, crossing=None))
    assert ends == "Your drawing (read as Class A) ends as Class B."
    # the ten digits (named so, or not named at all) read as they always did
    digits = tuple(str(i) for i in range(10))
    for names in (None, digits):
        assert boundary_verdict(_boundary(3, 5, names)) == "Your 3 crosses the border into 5 at step 3 of 10."
        assert boundary_verdict(_boundary(3, 3, names)).startswith("Your 3 stays a 3: at this ε")


def test_the_landscape_sentence_speaks_of_classes_for_letters():
    r = SimpleNamespace(flipped_share=0.25, gradient_zero=False, rise_a=2.0, rise_b=0.1)
    assert landscape_verdict(r).endswith("25 % of the ε-ball in this plane reads another digit.")
    r.class_names = NAMES
    assert landscape_verdict(r).endswith("25 % of the ε-ball in this plane reads another class.")
    r.gradient_zero, r.flipped_share = True, 0.0
    assert landscape_verdict(r).endswith("Within ε no point of this plane reads another class.")


def test_the_projection_sentence_names_labels_and_readings():
    coords = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    r = SimpleNamespace(coords=coords, labels=np.array([10, 10, 7, 7]), path=np.array([[0.0, 0.0], [5.0, 5.0]]),
                        path_classes=np.array([10, 7]), explained=(0.4, 0.2), layer="fc2")
    digits = projection_verdict(SimpleNamespace(**{**vars(r), "labels": np.array([3, 3, 5, 5]),
                                                   "path_classes": np.array([3, 5])}))
    assert digits.startswith("Your drawing (read as 3) starts among the 3s and ends among the 5s, read as 5 after")
    r.class_names, r.label_names = NAMES, NAMES
    text = projection_verdict(r)
    assert text.startswith("Your drawing (read as Class K) starts among the “Class K” images and ends among the "
                           "“Class H” images, read as Class H after 1 PGD steps."), text


def test_the_attribution_sentence_says_the_drawing_for_other_classes():
    rows = [SimpleNamespace(model_name="A", ink_share=(0.8, 0.5), names=NAMES),
            SimpleNamespace(model_name="B", ink_share=(0.2, 0.1), names=NAMES)]
    assert "so it looks like your drawing;" in attribution_verdict(SimpleNamespace(rows=rows))
    for row in rows:
        del row.names
    assert "so it looks like the digit;" in attribution_verdict(SimpleNamespace(rows=rows))
