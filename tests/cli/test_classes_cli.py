"""The command line on a dataset with 26 classes and a classes.txt (synthetic IDX files only): train writes a
26-class model that records its class names, evaluate and predict name them, attacks run on it, and a model
whose number of classes is not the data's is refused with a clear message."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from advstudio.core.storage import read_metadata

NAMES = [f"Class {chr(c)}" for c in range(ord("A"), ord("Z") + 1)]


@pytest.fixture
def letters(tmp_path, write_idx, synthetic_mnist):
    """A 26-class folder with a classes.txt, and an MLP trained on it by `advstudio train`."""
    from advstudio.cli import main

    folder = tmp_path / "letters"
    for split, n, seed in (("train", 260, 0), ("test", 52, 1)):
        images, _ = synthetic_mnist(n, seed=seed)
        write_idx(folder, split, images, (np.arange(n) % 26).astype(np.uint8))
    (folder / "classes.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    model = folder / "letters.safetensors"
    rc = main(["train", "--data", str(folder), "--limit", "200", "--epochs", "1", "--arch", "MLP", "--no-curve",
               "--robust-eval-samples", "8", "--out", str(model)])
    assert rc == 0
    return folder, model


def _stroke_png(path):
    """A dark stroke on white paper, as predict expects a drawing."""
    im = Image.new("L", (100, 100), 255)
    ImageDraw.Draw(im).line([(50, 15), (50, 85)], fill=0, width=10)
    im.save(path)
    return path


def test_train_records_the_classes(letters):
    _, model = letters
    meta = read_metadata(model)
    assert meta["num_classes"] == 26 and meta["classes"] == NAMES
    assert json.loads(model.with_suffix(".json").read_text())["classes"] == NAMES


def test_evaluate_names_the_classes(letters, cli):
    folder, model = letters
    rc, out, err = cli("evaluate", "--data", folder, "--model", model, "--limit", 30, "--eps", "0,0.1")
    assert rc == 0, err
    assert "classes: 26 (Class A, Class B" in out and "clean accuracy" in out
    rc, out, err = cli("evaluate", "--data", folder, "--model", model, "--limit", 10, "--json")
    assert rc == 0, err
    assert json.loads(out)["classes"] == NAMES


@pytest.mark.parametrize("attack, extra", [("pgd", ["--steps", "3"]), ("apgd-t", ["--steps", "3"])])
def test_attacks_run_on_the_26_class_model(letters, cli, attack, extra):
    folder, model = letters
    rc, out, err = cli("evaluate", "--data", folder, "--model", model, "--limit", 12, "--eps", "0.1",
                       "--attack", attack, *extra, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["n"] == 12 and len(doc["results"]) == 1 and doc["params"]["eps"] == [0.1]


def test_targeted_evaluate_beyond_nine(letters, cli):
    folder, model = letters
    rc, _, err = cli("evaluate", "--data", folder, "--model", model, "--limit", 8, "--eps", "0.1",
                     "--attack", "pgd", "--steps", "2", "--target", "20")
    assert rc == 0, err
    rc, _, err = cli("evaluate", "--data", folder, "--model", model, "--limit", 8, "--target", "26")
    assert rc == 2 and "--target 26 is not a class" in err


def test_predict_names_the_class(letters, cli, tmp_path):
    _, model = letters
    png = _stroke_png(tmp_path / "x.png")
    rc, out, err = cli("predict", "--model", model, png, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    pred = doc["predictions"][0]
    assert doc["classes"] == NAMES and pred["class_name"] == NAMES[pred["class"]] and len(pred["probs"]) == 26
    rc, out, err = cli("predict", "--model", model, png)
    assert rc == 0 and f'{pred["class"]} "{pred["class_name"]}" (' in out


def test_attack_names_the_class(letters, cli, tmp_path):
    folder, model = letters
    rc, out, err = cli("attack", "--index", 3, "--data", folder, "--model", model, "--out", tmp_path, "--scale", 1,
                       "--target", 22)
    assert rc == 0, err
    assert '"Class ' in out and "targeted → 22" in out


def test_a_ten_class_model_on_the_26_class_data_is_refused(letters, cli, tmp_path):
    folder, _ = letters
    rc, _, err = cli("evaluate", "--data", folder, "--limit", 10)  # the bundled 10-class model
    assert rc == 1 and "has 10 classes but the dataset" in err and "26" in err and "Traceback" not in err
    rc, _, err = cli("attack", "--index", 0, "--data", folder, "--out", tmp_path)
    assert rc == 1 and "has 10 classes but the dataset" in err


def test_predict_with_a_layout(cli, tmp_path):
    png = _stroke_png(tmp_path / "x.png")
    rc, out, err = cli("predict", png, "--classes", "fashion", "--json")  # the bundled model: 10 outputs
    assert rc == 0, err
    assert json.loads(out)["classes"][0] == "T-shirt/top"
    rc, _, err = cli("predict", png, "--classes", "letters")
    assert rc == 2 and "names 26 classes but the model has 10 outputs" in err


def test_train_with_a_letters_layout(tmp_path, cli, write_idx):
    rng = np.random.default_rng(3)
    for split, n in (("train", 52), ("test", 26)):
        write_idx(tmp_path / "d", split, rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8),
                  (np.arange(n) % 26 + 1).astype(np.uint8))
    out = tmp_path / "l.safetensors"
    rc, _, err = cli("train", "--data", tmp_path / "d", "--classes", "letters", "--limit", 52, "--epochs", 1,
                     "--arch", "MLP", "--no-curve", "--robust-eval-samples", 4, "--out", out)
    assert rc == 0, err
    meta = read_metadata(out)
    assert meta["num_classes"] == 26 and meta["classes"][0] == "a"
    rc, _, err = cli("train", "--data", tmp_path / "d", "--limit", 52, "--epochs", 1, "--arch", "MLP",
                     "--out", tmp_path / "x.safetensors", "--init", out, "--classes", "digits")
    assert rc == 1 and "out of range" in err
