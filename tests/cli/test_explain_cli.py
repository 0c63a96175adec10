"""`advstudio explain` end to end, in-process through the `cli` fixture (advstudio.cli.main), on digit images drawn
here with Pillow: a PNG per method of the expected size, the JSON's fields, the maps equal to the core functions,
a masked landscape against BPDA, the refused combinations, and the pictures of core.explain.figures themselves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from advstudio.core.attacks.fgsm import FGSM
from advstudio.core.explain.attribution import saliency
from advstudio.core.explain.figures import (
    ADV_ORANGE,
    CLEAN_BLUE,
    GAP,
    WHITE,
    attribution_figure,
    boundary_figure,
    landscape_figure,
    projection_figure,
)
from advstudio.core.images import load_image_file
from advstudio.core.render import class_colour_rgb

ATTRIBUTIONS = ("saliency", "smoothgrad", "ig", "gradcam")
QUICK = ("--grid", 11, "--steps", 16, "--samples", 4)  # small grids and few samples: the file stays quick


def _three(path: Path) -> Path:
    """A hand-drawn-looking 3 (black on white), which the bundled model reads as 3."""
    im = Image.new("L", (160, 200), 255)
    d = ImageDraw.Draw(im)
    d.arc([40, 25, 120, 100], 200, 90, fill=0, width=14)
    d.arc([40, 95, 120, 175], 270, 160, fill=0, width=14)
    im.save(path)
    return path


@pytest.fixture
def three(tmp_path) -> Path:
    return _three(tmp_path / "three.png")


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.mode == "RGB"
        return im.size


def _explain(cli, *argv):
    """Run `advstudio explain … --json`: (exit code, the JSON document or None, stderr)."""
    rc, out, err = cli("explain", *argv, "--json")
    return rc, (json.loads(out) if rc == 0 else None), err


def test_every_method_writes_its_png_and_the_json(cli, tmp_path, three):
    out = tmp_path / "out"
    rc, doc, err = _explain(cli, three, "--method", "all", "--out", out, "--eps", 0.2, *QUICK)
    assert rc == 0, err
    methods = (*ATTRIBUTIONS, "landscape", "boundary")
    assert sorted(p.name for p in out.iterdir()) == sorted([f"three_{m}.png" for m in methods] + ["three_explain.json"])
    for m in ATTRIBUTIONS:
        assert _size(out / f"three_{m}.png") == (57 * 8, 28 * 8)
    assert _size(out / "three_landscape.png") == ((2 * 11 + 1) * 6, 11 * 6)
    assert _size(out / "three_boundary.png") == (11 * 4, 11 * 4)
    assert json.loads((out / "three_explain.json").read_text()) == doc
    pngs = {m: str(out / f"three_{m}.png") for m in methods}
    assert doc["files"] == {**pngs, "json": str(out / "three_explain.json")}
    assert doc["eps"] == 0.2 and doc["source"] == {"image": str(three)} and doc["model"]
    assert doc["clean"]["class"] == 3 and sum(doc["clean"]["probs"]) == pytest.approx(1.0, abs=1e-4)
    assert doc["adversarial"]["attack"] == "fgsm" and 0 <= doc["adversarial"]["class"] <= 9
    for m in ATTRIBUTIONS:
        s = doc["methods"][m]
        assert s["targets"] == {"clean": doc["clean"]["class"], "adversarial": doc["adversarial"]["class"]}
        assert all(0.0 <= s["ink_share"][k] <= 1.0 for k in ("clean", "adversarial"))
        assert np.asarray(s["maps"]["clean"]).shape == np.asarray(s["maps"]["adversarial"]).shape == (28, 28)
        assert ("relative_delta" in s) is (m == "ig")
    assert doc["methods"]["ig"]["params"]["steps"] == 16
    assert doc["methods"]["smoothgrad"]["params"]["samples"] == 4
    land = doc["methods"]["landscape"]
    assert len(land["a"]) == len(land["b"]) == 11 and np.asarray(land["loss"]).shape == (11, 11)
    assert np.asarray(land["pred"]).shape == (11, 11) and land["gradient_zero"] is False
    assert {"flipped_share", "rise_a", "rise_b", "span", "direction", "defense"} <= set(land)
    assert land["defense"] == {"kind": "none"}
    b = doc["methods"]["boundary"]
    assert np.asarray(b["pred"]).shape == (11, 11) and len(b["u"]) == len(b["v"]) == 11
    assert len(b["path"]) == len(b["path_off_plane"]) == 41 and b["attack"]["name"] == "pgd"
    assert {"points", "crossing", "clamped_share", "third_name"} <= set(b)
    assert b["points"]["clean"] == [0.0, 0.0] and b["third_name"] == "a random direction"


def test_the_summary_reads_per_method(cli, tmp_path, three):
    rc, out, err = cli("explain", three, "--method", "saliency,landscape,boundary", "--out", tmp_path,
                       "--eps", 0.1, "--attack", "fgsm", "--scale", 2, *QUICK)
    assert rc == 0, err
    assert "% of the map on the strokes (clean)" in out and "(FGSM ε = 0.1, reads" in out
    assert "landscape: loss rises" in out and "along a random direction" in out and "of the ε-ball" in out
    assert "boundary: FGSM" in out and str(tmp_path / "three_explain.json") in out
    assert _size(tmp_path / "three_saliency.png") == (57 * 2, 28 * 2)
    assert _size(tmp_path / "three_boundary.png") == (22, 22)
    assert len(json.loads((tmp_path / "three_explain.json").read_text())["methods"]["boundary"]["path"]) == 2


def test_ig_completeness_at_128_steps(cli, tmp_path, three):
    rc, doc, err = _explain(cli, three, "--method", "ig", "--steps", 128, "--out", tmp_path)
    assert rc == 0, err
    delta = doc["methods"]["ig"]["relative_delta"]
    assert set(delta) == {"clean", "adversarial"}
    assert all(0.0 <= d < 0.02 for d in delta.values()), delta


def test_saliency_maps_are_the_core_function(cli, tmp_path, three, bundled_model):
    eps = 0.15
    rc, doc, err = _explain(cli, three, "--method", "saliency", "--eps", eps, "--out", tmp_path)
    assert rc == 0, err
    x = torch.from_numpy(load_image_file(three)).reshape(1, 1, 28, 28)
    clean = saliency(bundled_model, x)
    x_adv, _ = FGSM(eps)(bundled_model, x, torch.from_numpy(clean.targets))
    adv_class = int(bundled_model(x_adv).argmax(1))
    adv = saliency(bundled_model, x_adv, adv_class)
    s = doc["methods"]["saliency"]
    assert s["targets"] == {"clean": int(clean.targets[0]), "adversarial": adv_class}
    # 6 significant digits in the JSON; the command's batch of two may differ from one image in the last float bits
    for kind, direct in (("clean", clean.maps[0]), ("adversarial", adv.maps[0])):
        np.testing.assert_allclose(np.asarray(s["maps"][kind]), direct, rtol=1e-4, atol=1e-5 * float(direct.max()))


@pytest.mark.parametrize("defense", ["jpeg", "bit_depth"])
def test_a_masking_defense_shows_a_zero_gradient_and_bpda_does_not(cli, tmp_path, three, defense):
    rc, out, err = cli("explain", three, "--method", "landscape", "--defense", defense, "--grid", 11,
                       "--out", tmp_path / "plain")
    assert rc == 0, err
    assert "the gradient it shows is zero: the loss is flat along it" in out
    plain = json.loads((tmp_path / "plain" / "three_explain.json").read_text())["methods"]["landscape"]
    assert plain["gradient_zero"] is True and plain["rise_a"] == 0.0 and plain["defense"]["kind"] == defense
    rc, bpda, err = _explain(cli, three, "--method", "landscape", "--defense", defense, "--bpda", "--grid", 11,
                             "--out", tmp_path / "bpda")
    assert rc == 0, err
    land = bpda["methods"]["landscape"]
    assert land["gradient_zero"] is False and land["defense"]["attacker"] == "bpda" and "BPDA" in land["direction"]


@pytest.mark.parametrize("argv, needle", [
    (["--method", "saliency", "--bpda"], "--bpda"),
    (["--method", "landscape", "--defense", "none", "--bpda"], "--defense jpeg or bit_depth"),
    (["--method", "saliency,wobble"], "unknown method 'wobble'"),
    (["--method", "ig,ig"], "names ig twice"),
    (["--method", "landscape", "--grid", 20], "odd"),
    (["--method", "boundary", "--eps", 0], "raise --eps"),
    (["--method", "projection", "--eps", 0], "raise --eps"),
    (["--method", "gradcam", "--defense", "jpeg"], "landscape"),
    (["--method", "boundary", "--attack", "fgsm", "--third", "fgsm"], "--attack pgd"),
])
def test_bad_combinations_are_refused_before_any_work(cli, tmp_path, three, argv, needle):
    out = tmp_path / "out"
    rc, stdout, err = cli("explain", three, "--out", out, *argv)
    assert rc == 2 and stdout == ""
    assert err.startswith("advstudio explain: error: ") and err.count("\n") == 1 and needle in err, err
    assert not out.exists()


def test_an_unreadable_image_gives_a_clear_message(cli, tmp_path):
    bad = tmp_path / "junk.png"
    bad.write_bytes(b"this is not a PNG file at all, only text pretending to be one")
    for path, needle in ((bad, "not a readable image"), (tmp_path / "ghost.png", "no such file")):
        rc, _, err = cli("explain", path, "--method", "saliency", "--out", tmp_path / "out")
        assert rc == 1 and err.startswith("advstudio: error: ") and needle in err and path.name in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_projection_without_the_dataset_gives_its_message(cli, tmp_path, three):
    rc, _, err = cli("explain", three, "--method", "saliency,projection", "--data", tmp_path / "no-mnist",
                     "--out", tmp_path / "out")
    assert rc == 1 and "no-mnist" in err and "does not exist" in err and "ADVSTUDIO_MNIST_DIR" in err, err
    assert not (tmp_path / "out").exists()


def test_index_and_projection_on_a_synthetic_test_set(cli, tmp_path, tiny_mnist):
    rc, doc, err = _explain(cli, "--index", 3, "--data", tiny_mnist, "--method", "projection,saliency",
                            "--eps", 0.2, "--out", tmp_path)
    assert rc == 0, err
    assert doc["source"]["index"] == 3 and doc["source"]["data"] == str(tiny_mnist)
    assert _size(tmp_path / "test3_projection.png") == (480, 480) and (tmp_path / "test3_saliency.png").is_file()
    p = doc["methods"]["projection"]
    assert p["n"] == 20 and p["layer"] and len(p["explained"]) == 2
    assert len(p["path"]) == len(p["path_classes"]) == 41 and all(len(xy) == 2 for xy in p["path"])
    assert set(p["centroids"]) <= {str(k) for k in range(10)} and 0 <= p["nearest_start"] <= 9
    rc, _, err = cli("explain", "--index", 20, "--data", tiny_mnist, "--method", "saliency", "--out", tmp_path / "x")
    assert rc == 1 and "outside the test set" in err


def test_projection_on_mnist(cli, tmp_path, three, mnist_dir):
    rc, doc, err = _explain(cli, three, "--method", "projection", "--data", mnist_dir, "--samples-test", 500,
                            "--eps", 0.2, "--out", tmp_path)
    assert rc == 0, err
    p = doc["methods"]["projection"]
    assert p["n"] == 500 and set(p["centroids"]) == {str(k) for k in range(10)}
    assert p["nearest_start"] == 3 and p["path_classes"][0] == 3 and 0 < sum(p["explained"]) < 1
    assert _size(tmp_path / "three_projection.png") == (480, 480)


# --- the figures themselves ----------------------------------------------------------------------------------


def _has(picture: np.ndarray, colour) -> np.ndarray:
    return (picture == np.asarray(colour, dtype=np.uint8)).all(-1)


def test_attribution_figure_panels_and_gap():
    rng = np.random.default_rng(0)
    images = rng.random((2, 28, 28)).astype(np.float32)
    maps = rng.normal(size=(2, 28, 28)).astype(np.float32)
    pic = attribution_figure(images[0], images[1], maps, signed=True, scale=3)
    assert pic.shape == (84, 171, 3) and pic.dtype == np.uint8
    assert _has(pic[:, 84:87], GAP).all() and not _has(pic[:, :84], GAP).all()
    zero = attribution_figure(images[0], images[1], np.zeros((2, 28, 28)), signed=False, scale=1)
    assert zero.shape == (28, 57, 3)  # an all-zero map draws the dim image, no division by zero
    with pytest.raises(ValueError):
        attribution_figure(images[0], images[1], maps[:1], signed=True)


def test_landscape_figure_reads_like_a_plot():
    g = 11
    a = b = np.linspace(-0.2, 0.2, g)
    loss = np.tile(a, (g, 1)).astype(np.float32)  # rises to the right
    pred = np.where(b[:, None] > 0, 1, 0) * np.ones((1, g), dtype=np.int64)  # class 1 above the a axis
    pic = landscape_figure(a, b, loss, pred, eps=0.1, scale=4)
    assert pic.shape == (g * 4, (2 * g + 1) * 4, 3)
    classes = pic[:, (g + 1) * 4 :]
    assert tuple(classes[1, 1]) == class_colour_rgb(1) and tuple(classes[-2, 1]) == class_colour_rgb(0)
    heat = pic[:, : g * 4].astype(int)
    assert heat[2, -2].sum() > heat[2, 1].sum()  # the heat map's bright side is where the loss is largest
    white = _has(pic[:, : g * 4], WHITE)
    centre = g * 4 // 2
    assert white[centre, centre]  # the centre cross
    left = np.flatnonzero(white[centre, : centre - 4])  # left of the cross: the diamond's corner at a = −ε
    assert len(left) and abs(left.mean() - ((0.1 / 0.04) * 4 + 1.5)) <= 1.0, left
    assert not white[1, 1] and not white[-2, -2]  # the corners lie outside the ε-ball's outline


def test_boundary_figure_marks_the_points_and_the_path():
    g = 9
    u, v = np.linspace(-1, 3, g), np.linspace(-2, 2, g)
    pred = np.zeros((g, g), dtype=np.int64)
    pred[:, 6:] = 5
    pic = boundary_figure(u, v, pred, np.ones((g, g)), {"clean": (0.0, 0.0), "adversarial": (2.0, 0.0)},
                          np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]), scale=6)
    assert pic.shape == (54, 54, 3)
    row = 4 * 6 + 3  # v = 0 is the middle row
    assert _has(pic, CLEAN_BLUE)[row, 2 * 6 + 3] and _has(pic, ADV_ORANGE)[row, 6 * 6 + 3]
    assert _has(pic, WHITE)[2 * 6 + 3, 4 * 6 + 3]  # the path's middle point (1, 1), two rows above v = 0
    assert tuple(pic[0, 0]) == class_colour_rgb(0) and tuple(pic[0, -1]) == class_colour_rgb(5)


def test_projection_figure_dots_and_path():
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    labels = np.array([2, 4, 7])
    pic = projection_figure(coords, labels, np.array([[0.2, 0.2], [0.8, 0.8]]), size=100)
    assert pic.shape == (100, 100, 3) and tuple(pic[50, 2]) == (255, 255, 255)
    for k in labels:
        assert _has(pic, class_colour_rgb(k)).sum() == 4  # one 2×2 dot each
    assert _has(pic, CLEAN_BLUE).sum() == 9 and _has(pic, ADV_ORANGE).sum() == 9
    lo, hi = np.argwhere(_has(pic, class_colour_rgb(2))).min(0), np.argwhere(_has(pic, class_colour_rgb(4))).min(0)
    assert lo[0] > hi[0] and lo[1] < hi[1]  # (0, 0) lower left, (1, 1) upper right
    assert 2 <= hi[0] <= 5  # the 4 % margin
    assert _has(pic, (0, 0, 0)).any()
