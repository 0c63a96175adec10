"""`advstudio train --arch`: every architecture trains a few batches on a tiny synthetic MNIST, is saved with its
architecture in the metadata and loads back as that network; FGSM and `advstudio activations` work on it;
--init and --resume refuse a network of another architecture with a message."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from advstudio.core.architecture_names import ARCHITECTURE_NAMES
from advstudio.core.attacks.registry import make_attack
from advstudio.core.model import ARCHITECTURES
from advstudio.core.storage import load_model, read_metadata

QUICK = ("--epochs", 1, "--batch-size", 16, "--eval-limit", 10, "--seed", 2)
LAYERS = {"MnistCNN": 3, "MLP": 1, "LeNet5": 4, "SmallCNN": 6}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny model file per architecture, trained through the CLI (module-scoped: trained once)."""
    from advstudio.cli import main
    from advstudio.core.data import IMAGE_MAGIC, LABEL_MAGIC, SPLIT_FILES

    folder = tmp_path_factory.mktemp("tiny-mnist")
    rng = np.random.default_rng(0)
    for split, n in (("train", 64), ("test", 20)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        img_stem, lbl_stem = SPLIT_FILES[split]
        (folder / img_stem).write_bytes(struct.pack(">IIII", IMAGE_MAGIC, n, 28, 28) + images.tobytes())
        (folder / lbl_stem).write_bytes(struct.pack(">II", LABEL_MAGIC, n) + labels.tobytes())
    out_dir = tmp_path_factory.mktemp("models")
    paths = {}
    for arch in ARCHITECTURE_NAMES:
        out = out_dir / f"{arch.lower()}.safetensors"
        args = ["train", "--data", str(folder), "--out", str(out), "--arch", arch, *map(str, QUICK)]
        if arch != "MnistCNN":
            args.append("--no-curve")  # the curve is the same code for every network: measured once
        assert main(args) == 0, arch
        paths[arch] = out
    return folder, paths


def test_arch_choices_come_from_the_registry(cli):
    rc, _, err = cli("train", "--out", "x.safetensors", "--arch", "ResNet50")
    assert rc == 2 and "invalid choice: 'ResNet50'" in err and "LeNet5" in err
    assert tuple(ARCHITECTURES) == ARCHITECTURE_NAMES


@pytest.mark.parametrize("arch", ARCHITECTURE_NAMES)
def test_each_architecture_trains_saves_and_loads_back(trained, arch):
    _folder, paths = trained
    meta = read_metadata(paths[arch])
    assert meta["architecture"] == arch and "num_classes" not in meta
    assert meta["train_samples"] == 64 and meta["recipe"]["batch_size"] == 16 and len(meta["history"]) == 1
    assert json.loads(paths[arch].with_suffix(".json").read_text())["architecture"] == arch
    if arch == "MnistCNN":
        assert meta["fgsm_curve"]["n"] == 10
    model, _ = load_model(paths[arch])
    assert type(model) is ARCHITECTURES[arch]
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    out = make_attack("fgsm", eps=0.1).run(model, x, y)
    assert out.x_adv.shape == x.shape and float((out.x_adv - x).abs().max()) == pytest.approx(0.1, abs=1e-6)


@pytest.mark.parametrize("arch", ["MLP", "LeNet5"])
def test_activations_cli_on_other_architectures(trained, cli, tmp_path, arch):
    folder, paths = trained
    report = tmp_path / "act.json"
    rc, stdout, err = cli("activations", "--model", paths[arch], "--data", folder, "--limit", 8, "--json-out",
                          report)
    assert rc == 0, err
    assert "Activation statistics" in stdout and "relu1" in stdout
    doc = json.loads(report.read_text())
    assert len(doc["shifts"]) == LAYERS[arch]


def test_init_keeps_its_architecture_and_refuses_another(trained, cli, tmp_path):
    folder, paths = trained
    out = tmp_path / "tuned.safetensors"
    rc, stdout, err = cli("train", "--data", folder, "--out", out, "--init", paths["LeNet5"], "--no-curve", *QUICK)
    assert rc == 0, err
    assert "LeNet5" in stdout and read_metadata(out)["architecture"] == "LeNet5"
    rc, _, err = cli("train", "--data", folder, "--out", out, "--init", paths["LeNet5"], "--arch", "MLP", *QUICK)
    assert rc == 2 and "is of the LeNet5 architecture, not MLP" in err, err


def test_resume_refuses_a_checkpoint_of_another_architecture(trained, cli, tmp_path):
    folder, _ = trained
    out, ck = tmp_path / "m.safetensors", tmp_path / "m.ckpt"
    train = ("--data", folder, "--out", out, "--checkpoint", ck, "--no-curve", "--eval-limit", 10, "--batch-size", 32)
    rc, _, err = cli("train", "--arch", "MLP", "--epochs", 1, *train)
    assert rc == 0, err
    rc, _, err = cli("train", "--arch", "LeNet5", "--epochs", 2, "--resume", *train)
    assert rc == 1 and "m.ckpt" in err and "is of the MLP architecture, not of the LeNet5" in err, err
    rc, _, err = cli("train", "--arch", "MLP", "--epochs", 2, "--resume", *train)
    assert rc == 0, err
    assert len(read_metadata(out)["history"]) == 2
