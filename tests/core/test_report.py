"""The session report builder (core/report/): one self-contained HTML page holding the session's model, attacks,
curves and activation shifts, with every user- or file-provided text escaped."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
from PIL import Image

from advstudio.core.report.figures import curves_png
from advstudio.core.report.page import build_report_html

HOSTILE = '<script>alert("x")</script>'


def _attack(k: int, eps: float, clean: int, adv: int, model: str = "Test CNN") -> dict:
    rng = np.random.default_rng(k)
    clean_img = rng.random((28, 28)).astype(np.float32)
    delta = np.sign(rng.standard_normal((28, 28))).astype(np.float32) * eps
    adv_img = np.clip(clean_img + delta, 0, 1)
    cp, ap = np.full(10, 0.01, np.float32), np.full(10, 0.01, np.float32)
    cp[clean], ap[adv] = 0.91, 0.91
    return {"id": k, "clean": clean_img, "adversarial": adv_img, "perturbation": adv_img - clean_img,
            "clean_probs": cp, "adv_probs": ap, "eps": eps, "method": "fgsm", "target": None, "model": model,
            "source": "kept", "recorded": "2026-01-01T00:00:00+00:00",
            "flip": {"eps": eps, "below": eps - 0.001, "step": 0.001, "evaluations": 21}}


def _session(model_name: str = "Test CNN") -> dict:
    curve = {"model": model_name, "attack": "pgd", "label": f"{model_name} · PGD · 40 steps · n = 200",
             "settings": "PGD, untargeted, 40 steps, 1 restart; L∞ ε ∈ {0, 0.1, 0.3}; n = 200 test images",
             "params": {"steps": 40, "random_start": True, "seed": None}, "n": 200, "clean_accuracy": 0.985,
             "eps": [0.0, 0.1, 0.3], "accuracy": [0.985, 0.615, 0.0123]}
    layers = [{"name": n, "shape": [32, 28, 28], "clean_mean": 0.2, "adv_mean": 0.25, "mean_abs_change": 0.07,
               "clean_mean_abs": 0.2, "relative_shift": s, "flip_fraction": 0.1, "on_to_off": 0.06, "off_to_on": 0.04}
              for n, s in (("relu1", 0.367), ("relu2", 0.412))]
    return {"created": "2026-01-01T00:00:00+00:00", "app_version": "9.9.9", "device": "CPU",
            "models": [{"name": model_name, "path": "/x/m.safetensors", "bundled": False,
                        "meta": {"name": model_name, "test_accuracy": 0.9903, "test_samples": 10000,
                                 "recipe": {"lr": 0.001, "optimizer": "Adam"}, "command": "advstudio train --x",
                                 "fgsm_curve": {"eps": [0, 0.1], "accuracy": [0.99, 0.86], "n": 10000}}}],
            "attacks": [_attack(1, 0.284, 3, 8, model_name), _attack(2, 0.137, 7, 2, model_name)],
            "labs": [{"seconds": 12.5, "recorded": "2026-01-01T00:01:00+00:00", "curves": [curve]}],
            "activations": [{"attack_id": 1, "eps": 0.284, "method": "fgsm", "target": None, "clean_label": 3,
                             "adv_label": 8, "model": model_name, "samples": 1, "layers": layers}]}


def test_the_report_holds_the_model_the_attacks_the_curves_and_the_shifts():
    html = build_report_html(_session())
    assert "Test CNN" in html and "99.03%" in html and "advstudio train --x" in html and "9.9.9" in html
    for text in ("ε = 0.284", "ε = 0.137", "3 → 8", "7 → 2"):
        assert text in html
    imgs = re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) == 6  # clean, perturbation, adversarial of each attack; curves are SVG
    first = Image.open(io.BytesIO(base64.b64decode(imgs[0])))
    assert first.size == (168, 168)
    # the pixels are the recorded clean image, enlarged 6×
    expected = (np.clip(_session()["attacks"][0]["clean"], 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(np.asarray(first)[::6, ::6], expected)
    # the curve's points, in the SVG and in the table
    assert 'data-eps="0,0.1,0.3"' in html and 'data-accuracy="0.9850,0.6150,0.0123"' in html
    assert "61.5%" in html and "1.2%" in html and "n = 200" in html and "seed 0 (random start)" in html
    # activation shifts: table and bars
    assert "36.7%" in html and "41.2%" in html and 'data-shift="0.4120"' in html
    assert html.count("Settings behind this figure") == 2 + 1 + 1 + 1  # attacks, lab, model-file curve, shifts
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_hostile_names_are_escaped():
    s = _session(HOSTILE)
    s["models"][0]["meta"]["recipe"][HOSTILE] = HOSTILE
    s["models"][0]["meta"]["command"] = HOSTILE
    html = build_report_html(s)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html


def test_raster_mode_draws_curves_and_bars_as_png_through_the_sink():
    seen = []

    def sink(png: bytes, alt: str) -> str:
        seen.append((Image.open(io.BytesIO(png)).size, alt))
        return f"img{len(seen)}.png"

    html = build_report_html(_session(), raster=True, image_sink=sink)
    assert "<svg" not in html and 'src="img1.png"' in html
    assert len(seen) == 6 + 1 + 1 + 1  # six attack images, the model file's curve, the lab curve, the shift bars
    assert (1280, 680) in [size for size, _ in seen]
    assert curves_png([{"eps": [], "accuracy": []}], "ε") is None


def test_an_empty_session_still_makes_a_page():
    html = build_report_html({})
    assert "No model was loaded" in html and "not run in this session" in html and "</html>" in html
