"""The session report names a model's classes (core/report/names.py): a 26-class model whose metadata lists
"Class A" … "Class Z" has its predictions, its "A → Z" headings, targets, probability table, activations,
side-by-side readings and lab curves shown by name; a ten-digit report shows the digits as it always did."""

from __future__ import annotations

import copy

import numpy as np

from advstudio.core.report.findings import attack_line
from advstudio.core.report.names import class_name, quoted, with_class_names
from advstudio.core.report.page import build_report_html

NAMES = [f"Class {c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]


def _attack(k: int, clean: int, adv: int, model: str, classes: int, **extra) -> dict:
    rng = np.random.default_rng(k)
    image = rng.random((28, 28)).astype(np.float32)
    adv_img = np.clip(image + 0.1, 0, 1)
    cp, ap = np.full(classes, 0.01, np.float32), np.full(classes, 0.01, np.float32)
    cp[clean], ap[adv] = 0.91, 0.91
    return {"id": k, "clean": image, "adversarial": adv_img, "perturbation": adv_img - image, "clean_probs": cp,
            "adv_probs": ap, "eps": 0.2, "method": "fgsm", "target": None, "model": model, "source": "kept",
            "recorded": "2026-01-01T00:00:00+00:00", "flip": None, **extra}


def _session(model: str, meta: dict, classes: int, clean: int, adv: int) -> dict:
    side = {"model": model, "role": "standard", "message": None, "clean_label": clean, "adv_label": adv,
            "clean_conf": 0.9, "adv_conf": 0.8, "adversarial": np.zeros((28, 28), np.float32)}
    curve = {"model": model, "attack": "fgsm", "label": f"{model} · FGSM", "settings": "FGSM, untargeted",
             "params": {}, "n": 52, "clean_accuracy": 0.5, "eps": [0.0, 0.1], "accuracy": [0.5, 0.2]}
    return {"created": "2026-01-01T00:00:00+00:00", "app_version": "9", "device": "CPU",
            "models": [{"name": model, "path": "/x/m.safetensors", "bundled": False, "meta": meta}],
            "attacks": [_attack(1, clean, adv, model, classes),
                        _attack(2, clean, adv, model, classes, method="fgsm-targeted", target=adv)],
            "activations": [{"attack_id": 1, "eps": 0.2, "method": "fgsm", "target": None, "clean_label": clean,
                             "adv_label": adv, "model": model, "samples": 1, "layers": []}],
            "compare": {"eps": 0.2, "method": "fgsm", "target": None, "recorded": "x", "image": None,
                        "sides": [side]},
            "labs": [{"seconds": 1.0, "recorded": "x", "curves": [curve]}]}


def test_a_26_class_report_names_the_classes_from_the_model_metadata():
    meta = {"name": "letters", "architecture": "MLP", "num_classes": 26, "classes": NAMES,
            "test_accuracy": 0.5, "test_samples": 52}
    session = _session("letters", meta, 26, 0, 25)
    before = copy.deepcopy(session)
    html = build_report_html(session)
    assert session.keys() == before.keys() and "class_names" not in session["attacks"][0]  # not changed
    assert "Attack 1: Class A → Class Z" in html  # the heading
    assert "clean: Class A (91.0%)" in html and "attacked: Class Z (91.0%)" in html  # the image captions
    assert "A “Class A” read as “Class Z”" in html  # the plain line (its first letter a capital)
    assert "aimed at “Class Z”" in html and "FGSM targeted toward Class Z" in html  # the target
    assert '<th class="num">Class Q</th>' in html  # the probability table's columns
    assert "Class A → Class Z at ε = 0.200" in html  # the activations' heading
    assert "prediction clean Class A, adversarial Class Z" in html
    assert "was fooled: the “Class A” read as “Class Z”" in html and "reads Class Z" in html  # side by side
    assert "26 classes: Class A, Class B" in html  # the model's appendix and the lab curve's settings
    assert "52 test images" in html and "MNIST test images" not in html
    assert "Attack 1: 0 → 25" not in html


def test_entries_carrying_their_class_names_win_over_the_lookup():
    session = _session("m", {"num_classes": 26}, 26, 2, 3)  # no names in the file: numbered
    session["attacks"][0]["class_names"] = [n.lower() for n in NAMES]
    named = with_class_names(session)
    assert class_name(named["attacks"][0], 3) == "class d"
    assert class_name(named["attacks"][1], 3) == "3" and quoted(named["attacks"][1], 3) == "3"
    html = build_report_html(session)
    assert "Attack 1: class c → class d" in html and "Attack 2: 2 → 3" in html


def test_a_ten_digit_report_looks_as_before():
    session = _session("Test CNN", {"name": "Test CNN", "test_accuracy": 0.99, "test_samples": 10000}, 10, 3, 8)
    html = build_report_html(session)
    for text in ("Attack 1: 3 → 8", "clean: 3 (91.0%)", "A 3 read as 8", "aimed at 8", "FGSM targeted toward 8",
                 '<th class="num">9</th>', "prediction clean 3, adversarial 8", "the 3 read as 8", "reads 8",
                 "10000 MNIST test images"):
        assert text in html, text
    assert "classes:" not in html and "“" not in html.replace("“Test CNN”", "")
    assert attack_line(session["attacks"][0]) == "a 3 read as 8 at ε = 0.2 (pixel units)"
