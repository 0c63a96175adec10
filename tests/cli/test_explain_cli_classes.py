"""`advstudio explain` with a 26-class model whose metadata names its classes (a freshly built MLP, synthetic IDX
data; no MNIST bytes): the summary names each class it prints, the JSON lists the names, the projection reads a
26-class folder given by --classes, and a dataset whose number of classes is not the model's is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from advstudio.core.classes import class_label

NAMES = [f"Class {c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]


@pytest.fixture
def letters_model(tmp_path):
    from advstudio.core.model import build_model
    from advstudio.core.storage import save_model

    torch.manual_seed(0)
    return save_model(build_model("MLP", num_classes=26), tmp_path / "letters.safetensors",
                      {"name": "letters", "architecture": "MLP", "num_classes": 26, "classes": NAMES})


def _folder(tmp_path, write_idx, synthetic_mnist, name: str, classes: int, offset: int = 0):
    folder = tmp_path / name
    images, _ = synthetic_mnist(52, seed=3)
    write_idx(folder, "test", images, (np.arange(52) % classes + offset).astype(np.uint8))
    return folder


def test_the_summary_and_json_name_the_classes(cli, tmp_path, letters_model, write_idx, synthetic_mnist):
    data = _folder(tmp_path, write_idx, synthetic_mnist, "letters26", 26, offset=1)  # EMNIST letters' labels 1..26
    out = tmp_path / "out"
    rc, text, err = cli("explain", "--index", 4, "--data", data, "--classes", "letters", "--model", letters_model,
                        "--method", "saliency,landscape,boundary,projection", "--out", out, "--eps", 0.3,
                        "--grid", 11, "--samples-test", 52)
    assert rc == 0, err
    doc = json.loads((out / "test4_explain.json").read_text(encoding="utf-8"))
    assert doc["classes"] == NAMES
    clean, adv = doc["clean"]["class"], doc["adversarial"]["class"]
    assert doc["clean"]["class_name"] == NAMES[clean] and doc["adversarial"]["class_name"] == NAMES[adv]
    lines = text.splitlines()
    assert lines[0].startswith(f"model: letters; reads {class_label(clean, NAMES)} (")
    assert f"reads {class_label(adv, NAMES)}" in lines[0]
    assert f"reads {class_label(adv, NAMES)})" in lines[1]  # saliency's line
    assert "reads another class" in lines[2]
    b = doc["methods"]["boundary"]
    assert class_label(b["clean_pred"], NAMES) in lines[3] and class_label(b["adv_pred"], NAMES) in lines[3]
    p = doc["methods"]["projection"]
    assert p["n"] == 52 and set(p["centroids"]) == {str(k) for k in range(26)}
    # the data's classes are the letters' a..z (--classes letters): the projection names them so
    assert f'class {p["nearest_start"]} "{"abcdefghijklmnopqrstuvwxyz"[p["nearest_start"]]}"' in lines[4], lines[4]
    assert f"read as {class_label(p['path_classes'][0], NAMES)} →" in lines[4] and "52 test images" in lines[4]


def test_a_dataset_of_ten_classes_is_refused(cli, tmp_path, letters_model, write_idx, synthetic_mnist):
    data = _folder(tmp_path, write_idx, synthetic_mnist, "digits10", 10)
    rc, _, err = cli("explain", "--index", 0, "--data", data, "--model", letters_model, "--method", "saliency",
                     "--out", tmp_path / "x")
    assert rc != 0 and "has 26 classes but the dataset" in err and "has 10" in err, err
    assert not (tmp_path / "x").exists()


def test_the_ten_digit_summary_is_unchanged(cli, tmp_path, write_idx, synthetic_mnist):
    data = _folder(tmp_path, write_idx, synthetic_mnist, "digits10", 10)
    rc, text, err = cli("explain", "--index", 0, "--data", data, "--method", "saliency", "--out", tmp_path / "o")
    assert rc == 0, err
    doc = json.loads((tmp_path / "o" / "test0_explain.json").read_text(encoding="utf-8"))
    assert "classes" not in doc and "class_name" not in doc["clean"]
    assert text.splitlines()[0].startswith(f"model: {doc['model']}; reads {doc['clean']['class']} (")
