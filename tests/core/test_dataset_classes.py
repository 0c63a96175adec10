"""Datasets in MNIST's IDX layout with their own classes (core.classes, core.data): classes.txt, the known
layouts, numbered classes, EMNIST's transposed images and 1-based letters, hostile classes.txt files, model
metadata's class names, and attacks on a model with 26 outputs. Synthetic data only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from advstudio.core.classes import KNOWN_LAYOUTS, class_label, folder_layout, read_classes_file
from advstudio.core.data import dataset_classes, load_split
from advstudio.core.errors import DatasetError

LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]


def _folder(write_idx, folder, n=60, classes=26, start=0, seed=0):
    rng = np.random.default_rng(seed)
    for split, count in (("train", n), ("test", n // 2)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % classes + start).astype(np.uint8)
        write_idx(folder, split, images, labels)
    return folder


def test_numbered_classes_follow_the_labels(tmp_path, write_idx):
    folder = _folder(write_idx, tmp_path / "data")
    test = load_split(folder, "test")
    assert test.num_classes == 26 and test.classes[:3] == ("0", "1", "2") and test.classes[-1] == "25"
    assert test.head(3).classes == test.classes
    assert dataset_classes(folder, test.labels.numpy()) == list(test.classes)


def test_a_stray_large_label_is_damage_not_a_class(tmp_path, write_idx, synthetic_mnist):
    images, labels = synthetic_mnist(30)
    labels[4] = 200
    write_idx(tmp_path, "test", images, labels)
    with pytest.raises(DatasetError, match="label 200 is out of range 0–9"):
        load_split(tmp_path, "test")


def test_a_small_split_of_digits_stays_ten_classes(tmp_path, write_idx, synthetic_mnist):
    images, labels = synthetic_mnist(8)
    labels[:] = 3
    write_idx(tmp_path, "test", images, labels)
    assert load_split(tmp_path, "test").classes == tuple(str(i) for i in range(10))


def test_test_split_lacking_the_last_class_counts_the_training_split(tmp_path, write_idx):
    folder = _folder(write_idx, tmp_path / "data", n=60, classes=26)
    images = np.zeros((4, 28, 28), np.uint8)
    write_idx(folder, "test", images, np.array([0, 11, 12, 13], np.uint8))  # no 25 in the test split
    assert load_split(folder, "test").num_classes == 26


def test_classes_txt_names_the_classes(tmp_path, write_idx):
    folder = _folder(write_idx, tmp_path / "data")
    (folder / "classes.txt").write_text("\n".join(f"  {c.upper()}  " for c in LETTERS) + "\n\n", encoding="utf-8")
    split = load_split(folder, "train")
    assert split.classes == tuple(c.upper() for c in LETTERS)
    (folder / "classes.txt").write_text("\n".join(LETTERS[:20]), encoding="utf-8")
    with pytest.raises(DatasetError, match="label 2[0-5] is out of range 0–19"):
        load_split(folder, "train")


def test_known_layouts_by_choice_and_by_folder_name(tmp_path, write_idx):
    folder = _folder(write_idx, tmp_path / "Fashion-MNIST", classes=10)
    assert folder_layout(folder) == "fashion" and folder_layout(tmp_path / "kmnist" / "raw") == "kmnist"
    assert load_split(folder, "test").classes[3] == "Dress"
    assert load_split(folder, "test", layout="kmnist").classes[0] == "o"
    assert list(load_split(folder, "test", layout="digits").classes) == KNOWN_LAYOUTS["digits"]
    with pytest.raises(DatasetError, match="label 25 is out of range 0–9"):
        load_split(_folder(write_idx, tmp_path / "kmnist"), "test")
    assert class_label(3, KNOWN_LAYOUTS["fashion"]) == '3 "Dress"' and class_label(3, KNOWN_LAYOUTS["digits"]) == "3"


def test_emnist_letters_are_one_based_and_transposed(tmp_path, write_idx):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(26, 28, 28), dtype=np.uint8)
    labels = np.arange(1, 27, dtype=np.uint8)
    write_idx(tmp_path / "plain", "test", images, labels)
    write_idx(tmp_path / "plain", "train", images, labels)
    split = load_split(tmp_path / "plain", "test", layout="letters")
    assert split.classes == tuple(LETTERS) and split.labels.tolist() == list(range(26))
    assert torch.equal(split.images[5, 0], torch.from_numpy(images[5].T.astype(np.float32) / 255))
    with pytest.raises(DatasetError, match="label 26 is out of range 0–9.*every class.*--classes"):
        load_split(tmp_path / "plain", "test")  # no layout: class 0 never appears, so 1..26 are not numbered
    (tmp_path / "plain" / "classes.txt").write_text("\n".join(f"c{i}" for i in range(27)), encoding="utf-8")
    named = load_split(tmp_path / "plain", "test")  # names for 0..26, untransposed
    assert named.num_classes == 27 and torch.equal(named.images[5, 0], torch.from_numpy(images[5] / 255).float())
    write_idx(tmp_path / "bad", "test", images, np.arange(26, dtype=np.uint8))  # a 0 label in letters
    with pytest.raises(DatasetError, match="label 0 is out of range 1–26.*label 1 is class 0"):
        load_split(tmp_path / "bad", "test", layout="letters")


@pytest.mark.parametrize("content, words", [
    (b"a\n" * 40000, "KB"),
    (b"a\nb\x00\nc\n", "line 2: holds a NUL byte"),
    (b"a\nb\n\nb\n", "line 4: the class name 'b' is already on line 2"),
    (b"  only  \n\n", "1 class name"),
    ("\n".join(f"c{i}" for i in range(2000)).encode(), "line 1001: more than 1000 class names"),
    (b"a\nb\n\xff\xfe\n", "line 3: not UTF-8"),
    (b"a\n" + b"x" * 61 + b"\n", "line 2: the class name has 61 characters"),
    (b"a\nb\x1b[31m\n", "line 2: the class name holds a control"),
])
def test_hostile_classes_txt(tmp_path, write_idx, content, words):
    folder = _folder(write_idx, tmp_path / "data", classes=3)
    (folder / "classes.txt").write_bytes(content)
    with pytest.raises(DatasetError, match="classes.txt") as info:
        load_split(folder, "test")
    assert words in str(info.value)
    with pytest.raises(DatasetError):
        read_classes_file(folder / "classes.txt")


def test_classes_txt_that_is_a_folder_is_refused(tmp_path, write_idx):
    folder = _folder(write_idx, tmp_path / "data", classes=3)
    (folder / "classes.txt").mkdir()
    with pytest.raises(DatasetError, match="folder"):
        load_split(folder, "test")


def test_model_metadata_class_names(tmp_path):
    from advstudio.core.model import build_model
    from advstudio.core.model_meta import class_names, clean_metadata
    from advstudio.core.storage import load_model, read_metadata, save_model

    model = build_model("MLP", num_classes=26)
    path = save_model(model, tmp_path / "m.safetensors", {"name": "m", "classes": LETTERS})
    meta = read_metadata(path)
    assert meta["num_classes"] == 26 and class_names(meta) == LETTERS
    _, loaded = load_model(path)
    assert class_names(loaded) == LETTERS
    for bad in (LETTERS[:5], ["a"] * 26, [1] * 26, "abc", [{"x": 1}] * 26, ["x" * 61] * 26, None):
        cleaned = clean_metadata({"num_classes": 26, "classes": bad})
        assert "classes" not in cleaned and class_names(cleaned) is None
    assert class_names(clean_metadata({"classes": KNOWN_LAYOUTS["fashion"]})) == KNOWN_LAYOUTS["fashion"]
    # a file written by someone else with names that do not fit: still loads, without the names
    header = json.loads(path.with_suffix(".json").read_text())
    assert header["classes"] == LETTERS
    path2 = save_model(model, tmp_path / "m2.safetensors", {"name": "m", "classes": LETTERS[:3]})
    assert "classes" not in read_metadata(path2)


@pytest.mark.parametrize("attack, settings", [
    ("pgd", {"eps": 0.1, "steps": 3}),
    ("apgd-t", {"eps": 0.1, "steps": 3, "target_classes": 25}),
    ("apgd-t", {"eps": 0.1, "steps": 3}),
    ("fab-t", {"eps": 0.1, "steps": 3, "target_classes": 12}),
    ("jsma", {"gamma": 0.02}),
    ("onepixel", {"steps": 2, "population": 8}),
    ("square", {"eps": 0.1, "queries": 20}),
])
def test_attacks_on_a_26_class_model(attack, settings):
    from advstudio.core.attacks.registry import make_attack
    from advstudio.core.model import build_model

    torch.manual_seed(0)
    model = build_model("MLP", num_classes=26).eval()
    x = torch.rand(6, 1, 28, 28)
    y = torch.tensor([0, 5, 12, 19, 24, 25])
    out = make_attack(attack, **settings).run(model, x, y)
    assert out.x_adv.shape == x.shape
    with torch.no_grad():
        assert model(out.x_adv).shape == (6, 26)
    targeted = make_attack(attack, **settings, targeted=True).run(model, x, y, torch.full((6,), 21))
    assert targeted.x_adv.shape == x.shape
