"""Every command that reads the dataset folder on a 26-class dataset with a classes.txt (synthetic IDX files
only): it takes --classes LAYOUT (and hands it to the data loader), runs on a 26-class model with tiny budgets,
and refuses the bundled 10-class model, in one line with exit code 1, before any work."""

from __future__ import annotations

import gzip
import json
import shutil
import struct

import numpy as np
import pytest

from advstudio.cli import main
from advstudio.core.storage import load_model, read_metadata

NAMES = [f"Class {chr(c)}" for c in range(ord("A"), ord("Z") + 1)]
COMMANDS = ("activations", "certify", "defend", "distill", "patch", "transfer", "universal",
            "evaluate", "train", "attack", "predict")


def _write_split(folder, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    from advstudio.core.data import IMAGE_MAGIC, LABEL_MAGIC, SPLIT_FILES

    img_stem, lbl_stem = SPLIT_FILES[split]
    for stem, magic, arr in ((img_stem, IMAGE_MAGIC, images), (lbl_stem, LABEL_MAGIC, labels)):
        head = struct.pack(">I", magic) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
        (folder / (stem + ".gz")).write_bytes(gzip.compress(head + arr.astype(np.uint8).tobytes()))


@pytest.fixture(scope="module")
def letters(tmp_path_factory):
    """(folder, model, copy): a 26-class folder (52 training, 26 test images, a classes.txt), an MLP trained on
    it by `advstudio train`, and a copy of that model under another name (for the commands that take two)."""
    folder = tmp_path_factory.mktemp("letters26")
    rng = np.random.default_rng(7)
    for split, n in (("train", 52), ("test", 26)):
        _write_split(folder, split, rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), np.arange(n) % 26)
    (folder / "classes.txt").write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    models = tmp_path_factory.mktemp("models26")
    model = models / "letters.safetensors"
    rc = main(["train", "--data", str(folder), "--epochs", "1", "--arch", "MLP", "--no-curve",
               "--robust-eval-samples", "4", "--eval-limit", "8", "--out", str(model)])
    assert rc == 0
    copy = models / "letters-copy.safetensors"
    shutil.copy(model, copy)
    shutil.copy(model.with_suffix(".json"), copy.with_suffix(".json"))
    return folder, model, copy


def _runs(folder, model, copy, out):
    """Each command on the 26-class data and model, with tiny budgets, printing JSON."""
    data = ["--data", folder]
    return {
        "activations": ["activations", *data, "--model", model, "--limit", 8, "--bins", 4, "--json"],
        "defend bit_depth": ["defend", "--defense", "bit_depth", *data, "--model", model, "--attack", "fgsm",
                             "--eps", "0,0.1", "--limit", 8, "--json"],
        "defend detector": ["defend", "--defense", "detector", *data, "--model", model, "--attack", "fgsm",
                            "--eps", "0.1", "--detector-samples", 26, "--limit", 8, "--json"],
        "defend ensemble": ["defend", "--defense", "ensemble", "--models", model, copy, *data, "--attack", "fgsm",
                            "--eps", "0.1", "--limit", 8, "--json"],
        "patch": ["patch", *data, "--model", model, "--target", 3, "--sides", 4, "--steps", 3, "--batch-size", 8,
                  "--images", 26, "--limit", 13, "--json"],
        "universal": ["universal", *data, "--model", model, "--eps", "0.1", "--passes", 1, "--images", 26,
                      "--limit", 13, "--json"],
        "transfer": ["transfer", "--models", model, copy, *data, "--attack", "fgsm", "--eps", "0.1", "--limit", 8,
                     "--json"],
        "certify": ["certify", *data, "--model", model, "--limit", 3, "--n0", 5, "--n", 20, "--json"],
    }


@pytest.mark.parametrize("run", ["activations", "defend bit_depth", "defend detector", "defend ensemble", "patch",
                                 "universal", "transfer"])
def test_runs_on_the_26_class_model(letters, cli, tmp_path, run):
    rc, out, err = cli(*_runs(*letters, tmp_path)[run])
    assert rc == 0, err
    assert json.loads(out)["classes"] == NAMES


def test_certify_runs_on_the_26_class_model(letters, cli, tmp_path):
    rc, out, err = cli(*_runs(*letters, tmp_path)["certify"])
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["classes"] == NAMES and len(doc["certificates"]) == 3


def test_patch_names_its_target_and_checks_it_against_the_model(letters, cli):
    folder, model, _ = letters
    small = ["patch", "--data", folder, "--model", model, "--sides", 4, "--steps", 2, "--batch-size", 4,
             "--images", 8, "--limit", 8]
    rc, out, err = cli(*small, "--target", 3)
    assert rc == 0, err
    assert 'toward class 3 "Class D"' in out and "classes: 26 (Class A, Class B" in out
    rc, _, err = cli(*small, "--target", 26)
    assert rc == 2 and "--target 26 is not a class of the model (0–25)" in err


def test_patch_toward_a_class_past_nine(letters, cli):
    folder, model, _ = letters
    rc, out, err = cli("patch", "--data", folder, "--model", model, "--sides", 4, "--steps", 2, "--batch-size", 4,
                       "--images", 8, "--limit", 8, "--target", 20)
    assert rc == 0, err
    assert 'toward class 20 "Class U"' in out


def test_distill_builds_models_with_the_datasets_classes(letters, cli, tmp_path):
    folder, _, _ = letters
    student, teacher = tmp_path / "student.safetensors", tmp_path / "teacher.safetensors"
    rc, out, err = cli("distill", "--data", folder, "--out", student, "--teacher-out", teacher, "--epochs", 1,
                       "--batch-size", 26, "--limit", 26, "--eval-limit", 8, "--temperature", 10)
    assert rc == 0, err
    assert "26 classes: Class A, Class B" in out
    for path in (student, teacher):
        meta = read_metadata(path)
        assert meta["num_classes"] == 26 and meta["classes"] == NAMES
        from advstudio.core.model import num_classes_of

        assert num_classes_of(load_model(path)[0]) == 26


REFUSED = {  # the bundled 10-class model (or one member of two) on the 26-class data
    "activations": ["activations", "--limit", 8],
    "certify": ["certify", "--limit", 2, "--n0", 5, "--n", 10],
    "defend": ["defend", "--defense", "bit_depth", "--attack", "fgsm", "--limit", 8],
    "defend detector": ["defend", "--defense", "detector", "--attack", "fgsm", "--limit", 8],
    "defend ensemble": ["defend", "--defense", "ensemble", "--models", "{model}", "{bundled}", "--attack", "fgsm",
                        "--limit", 8],
    "patch": ["patch", "--target", 3, "--sides", 4, "--steps", 2],
    "universal": ["universal", "--eps", "0.1", "--passes", 1],
    "transfer": ["transfer", "--bundled", "--models", "{model}", "--attack", "fgsm", "--limit", 8],
}


@pytest.mark.parametrize("run", list(REFUSED))
def test_a_ten_class_model_on_the_26_class_data_is_refused(letters, cli, run):
    from advstudio.core.resources import bundled_model_path

    folder, model, _ = letters
    argv = [str(a).format(model=model, bundled=bundled_model_path()) for a in REFUSED[run]]
    rc, out, err = cli(*argv, "--data", folder)
    assert rc == 1, err
    assert "has 10 classes but the dataset" in err and "has 26" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert out == ""  # refused before any work (no table started)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_classes(cli, command):
    rc, out, _ = cli(command, "--help")
    assert rc == 0 and "--classes LAYOUT" in out and "emnist-digits" in out


@pytest.mark.parametrize("argv", [["activations"], ["certify"], ["defend", "--defense", "bit_depth"],
                                  ["distill", "--out", "{tmp}/d.safetensors"], ["patch", "--target", 1],
                                  ["transfer", "--bundled", "--robust"], ["universal"]],
                         ids=lambda a: a[0])
def test_the_layout_reaches_the_loader(letters, cli, tmp_path, argv):
    """--classes fashion names ten classes, so the 26-class labels are out of its range: the loader says so."""
    folder, _, _ = letters
    rc, _, err = cli(*[str(a).format(tmp=tmp_path) for a in argv], "--data", folder, "--classes", "fashion")
    assert rc == 1 and "out of range 0–9 for the 10 classes" in err, err
