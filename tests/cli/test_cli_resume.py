"""--resume always completes: a run killed after its last checkpoint but before --out was written resumes
straight to writing --out (bit-identical weights), and unusable checkpoints are messages, not assertions."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

TRAIN = ("--epochs", 2, "--no-curve", "--eval-limit", 10, "--seed", 5)


def test_checkpoint_at_the_final_epoch_resumes_to_writing_out(cli, tiny_mnist, tmp_path):
    out, ck = tmp_path / "m.safetensors", tmp_path / "m.ckpt"
    rc, _, err = cli("train", "--data", tiny_mnist, "--out", out, "--checkpoint", ck, *TRAIN)
    assert rc == 0, err
    finished = load_file(out)
    out.unlink()  # as if killed after the last checkpoint, before --out was written
    out.with_suffix(".json").unlink()

    rc, stdout, err = cli("train", "--data", tiny_mnist, "--out", out, "--checkpoint", ck, "--resume", *TRAIN)
    assert rc == 0, err
    assert "Traceback" not in err and "saved" in stdout
    resumed = load_file(out)
    assert resumed.keys() == finished.keys()
    for key in finished:
        assert torch.equal(resumed[key], finished[key]), key
    meta = out.with_suffix(".json").read_text()
    assert '"epochs": 2' in meta and '"test_accuracy"' in meta


def test_checkpoint_past_the_epochs_asked_for_is_a_message(cli, tiny_mnist, tmp_path):
    out, ck = tmp_path / "m.safetensors", tmp_path / "m.ckpt"
    rc, _, err = cli("train", "--data", tiny_mnist, "--out", out, "--checkpoint", ck, *TRAIN)
    assert rc == 0, err
    rc, _, err = cli("train", "--data", tiny_mnist, "--out", out, "--checkpoint", ck, "--resume",
                     "--epochs", 1, "--no-curve", "--eval-limit", 10)
    assert rc == 1 and err.startswith("advstudio: error: ") and "Traceback" not in err, err
    assert "epoch 2" in err and "at least 2 epochs" in err


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"\x10\x00\x00\x00\x00\x00\x00\x00{}"])
def test_unreadable_checkpoint_is_a_message(cli, tiny_mnist, tmp_path, content):
    ck = tmp_path / "m.ckpt"
    ck.write_bytes(content)
    rc, _, err = cli("train", "--data", tiny_mnist, "--out", tmp_path / "m.safetensors", "--checkpoint", ck,
                     "--resume", *TRAIN)
    assert rc == 1 and "m.ckpt" in err and "Traceback" not in err, err


@pytest.mark.timeout(30)
def test_fifo_as_checkpoint_is_refused(cli, tiny_mnist, tmp_path):
    ck = tmp_path / "m.ckpt"
    os.mkfifo(ck)
    rc, _, err = cli("train", "--data", tiny_mnist, "--out", tmp_path / "m.safetensors", "--checkpoint", ck,
                     "--resume", *TRAIN)
    assert rc == 1 and "not a regular file" in err, err


def test_checkpoint_with_malformed_fields_is_a_message(cli, tiny_mnist, tmp_path):
    import json

    from safetensors.torch import save_file

    from advstudio.core.training_config import CHECKPOINT_KEY

    ck = tmp_path / "m.ckpt"
    for meta in ({"epoch": "two"}, {"epoch": -1}, {"epoch": 1, "history": "x"}, {"epoch": True}):
        save_file({"x": torch.zeros(1)}, str(ck), metadata={CHECKPOINT_KEY: json.dumps(meta)})
        rc, _, err = cli("train", "--data", tiny_mnist, "--out", tmp_path / "m.safetensors", "--checkpoint", ck,
                         "--resume", *TRAIN)
        assert rc == 1 and "m.ckpt" in err and "Traceback" not in err, (meta, err)


def test_resume_without_checkpoint_is_a_usage_error(cli, tiny_mnist, tmp_path):
    rc, _, err = cli("train", "--data", tiny_mnist, "--out", tmp_path / "m.safetensors", "--resume", *TRAIN)
    assert rc == 2 and "--resume needs --checkpoint" in err, err


def test_evaluate_resumes_from_its_checkpoint_and_refuses_to_clobber_it(mnist_dir, tmp_path, capsys):
    from advstudio.cli import main

    ck = tmp_path / "aa.json"
    args = ["evaluate", "--data", str(mnist_dir), "--attack", "pgd", "--steps", "2", "--eps", "0.1",
            "--limit", "12", "--batch-size", "4"]
    assert main(args + ["--checkpoint", str(ck)]) == 0
    first = capsys.readouterr().out
    assert json.loads(ck.read_text())["tally"]["batches_done"] == 3
    assert main(args + ["--checkpoint", str(ck)]) == 1  # exists, no --resume: nothing is overwritten
    assert "--resume" in capsys.readouterr().err
    assert main(args + ["--checkpoint", str(ck), "--resume"]) == 0
    again = capsys.readouterr().out
    assert "resumed from" in again and "first 3 batch(es)" in again
    row = [line for line in first.splitlines() if line.startswith("pgd")]
    assert row and row == [line for line in again.splitlines() if line.startswith("pgd")]
    assert main(args[:-4] + ["--limit", "8", "--batch-size", "4", "--checkpoint", str(ck), "--resume"]) == 1
    assert "different evaluation" in capsys.readouterr().err
    assert main(["evaluate", "--data", str(mnist_dir), "--resume", "--attack", "pgd"]) == 2


def test_train_preset_quick_robust_uses_its_recipe_and_refuses_mixed_flags(cli, tiny_mnist, tmp_path):
    from advstudio.core.storage import read_metadata
    from advstudio.core.training_config import PRESETS

    out = tmp_path / "quick.safetensors"
    rc, _out, err = cli("train", "--data", tiny_mnist, "--out", out, "--preset", "quick-robust", "--epochs", 2)
    assert rc == 2 and "--epochs" in err and not out.exists()  # the preset sets the epochs itself
    rc, _out, err = cli("train", "--data", tiny_mnist, "--out", out, "--preset", "quick-robust", "--no-curve")
    assert rc == 0, err
    recipe = read_metadata(out)["recipe"]
    cfg = PRESETS["quick-robust"].config
    assert recipe["adversarial"] == "pgd" and recipe["adv_steps"] == cfg.adv_steps == 3
    assert recipe["epochs"] == cfg.epochs and recipe["batch_size"] == cfg.batch_size
    assert recipe["guard_every"] == cfg.guard_every and recipe["lr_schedule"] == "cosine"
