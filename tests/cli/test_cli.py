"""Every CLI command end to end on small inputs, in-process through advstudio.cli.main, plus `python -m
advstudio <command> --help` in a subprocess. Bad inputs end with exit code 1 and one readable line."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from advstudio.cli import main
from advstudio.core.attacks.fgsm import FGSM
from advstudio.core.images import load_image_file
from advstudio.core.resources import bundled_model_path
from advstudio.core.storage import read_metadata

REPO = Path(__file__).resolve().parents[2]


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_clean_failure(rc: int, err: str, *needles: str) -> None:
    assert rc == 1, err
    assert err.startswith("advstudio: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err


def _digit_png(path: Path, digit: str, fmt: str = "PNG") -> Path:
    im = Image.new("L", (160, 200), 255)
    d = ImageDraw.Draw(im)
    if digit == "1":
        d.line([(80, 30), (80, 170)], fill=0, width=14)
    elif digit == "0":
        d.ellipse([35, 25, 125, 175], outline=0, width=14)
    elif digit == "7":
        d.line([(30, 35), (130, 35)], fill=0, width=14)
        d.line([(130, 35), (60, 170)], fill=0, width=14)
    im.save(path, format=fmt)
    return path


# --- help, in a real subprocess ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, flags",
    [
        ("evaluate", ["--model", "--eps", "--limit", "--json", "--data"]),
        ("train", ["--out", "--data", "--limit", "--epochs", "--lr", "--seed", "--batch-size"]),
        ("attack", ["--index", "--eps", "--target", "--out"]),
        ("predict", ["--json", "--model"]),
    ],
)
def test_help_in_a_subprocess(command, flags):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "advstudio", command, "--help"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"usage: advstudio {command}" in proc.stdout
    for flag in flags:
        assert flag in proc.stdout, flag


# --- train -> evaluate ------------------------------------------------------------------------------------


def test_train_then_evaluate_json(capsys, tmp_path, mnist_dir):
    out = tmp_path / "quick.safetensors"
    rc, stdout, err = _run(capsys, "train", "--data", mnist_dir, "--out", out, "--limit", 640, "--epochs", 1,
                           "--eval-limit", 300, "--seed", 3)
    assert rc == 0, err
    assert "training on 640 samples" in stdout and "epoch 1: test accuracy" in stdout and "saved" in stdout
    meta = read_metadata(out)
    assert meta["train_samples"] == 640 and meta["seed"] == 3 and meta["epochs"] == 1
    assert meta["recipe"]["limit"] == 640 and meta["recipe"]["lr"] == 1e-3
    assert meta["test_samples"] == 300 and 0.5 < meta["test_accuracy"] <= 1.0  # 10 steps already beat chance
    assert meta["fgsm_curve"]["n"] == 300 and len(meta["fgsm_curve"]["accuracy"]) == 5
    assert out.with_suffix(".json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]

    report = tmp_path / "report.json"
    rc, stdout, err = _run(capsys, "evaluate", "--model", out, "--data", mnist_dir, "--limit", 300,
                           "--eps", "0,0.1,0.3", "--json", report)
    assert rc == 0, err
    doc = json.loads(report.read_text())
    assert doc["model"] == "quick" and doc["attack"] == "fgsm" and doc["n"] == 300
    assert [r["eps"] for r in doc["results"]] == [0.0, 0.1, 0.3]
    # the stored curve and a fresh evaluation of the same samples agree
    assert doc["clean_accuracy"] == pytest.approx(meta["test_accuracy"])
    assert doc["results"][0]["accuracy"] == doc["clean_accuracy"]
    assert doc["results"][2]["accuracy"] == pytest.approx(meta["fgsm_curve"]["accuracy"][4])


def test_evaluate_bundled_model_table_and_json(capsys, tmp_path, mnist_dir):
    report = tmp_path / "sub" / "eval.json"
    rc, stdout, err = _run(capsys, "evaluate", "--data", mnist_dir, "--limit", 500, "--json", report)
    assert rc == 0, err
    doc = json.loads(report.read_text())
    assert {"model", "attack", "params", "n", "clean_accuracy", "results"} <= set(doc)
    assert doc["attack"] == "fgsm" and doc["n"] == 500
    assert doc["model"] == read_metadata(bundled_model_path())["name"]
    assert isinstance(doc["params"], dict) and doc["params"]["eps"] == [0.0, 0.05, 0.1, 0.2, 0.3]
    assert [sorted(r) for r in doc["results"]] == [["accuracy", "eps"]] * 5
    accs = [r["accuracy"] for r in doc["results"]]
    assert all(0.0 <= a <= 1.0 for a in accs) and accs == sorted(accs, reverse=True)
    assert doc["clean_accuracy"] == accs[0] >= 0.98
    # the printed table holds the same figures, names the attack and the sample count
    assert "FGSM" in stdout and "n = 500" in stdout
    for r in doc["results"]:
        assert f"{r['accuracy'] * 100:.2f}%" in stdout


def test_evaluate_bad_inputs(capsys, tmp_path, mnist_dir):
    pt = tmp_path / "model.pt"
    torch.save({"x": torch.zeros(1)}, pt)
    rc, _, err = _run(capsys, "evaluate", "--model", pt, "--data", mnist_dir, "--limit", 10)
    _assert_clean_failure(rc, err, "model.pt", "pickle")

    rc, _, err = _run(capsys, "evaluate", "--model", tmp_path / "absent.safetensors", "--limit", 10)
    _assert_clean_failure(rc, err, "absent.safetensors", "no such file")

    rc, _, err = _run(capsys, "evaluate", "--data", tmp_path / "no-mnist-here", "--limit", 10)
    _assert_clean_failure(rc, err, "no-mnist-here", "does not exist", "ADVSTUDIO_MNIST_DIR")


def test_evaluate_without_any_data_folder(capsys, monkeypatch):
    monkeypatch.delenv("ADVSTUDIO_MNIST_DIR", raising=False)
    rc, _, err = _run(capsys, "evaluate", "--limit", 10)
    _assert_clean_failure(rc, err, "No MNIST folder", "--data")


def test_train_bad_data_folder(capsys, tmp_path):
    rc, _, err = _run(capsys, "train", "--data", tmp_path / "empty", "--out", tmp_path / "m.safetensors", "--limit", 64)
    _assert_clean_failure(rc, err, "empty")
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "--eps", "0.5,2"],
        ["evaluate", "--eps", "abc"],
        ["evaluate", "--limit", "0"],
        ["attack", "--index", "1", "--target", "12"],
        ["train", "--epochs", "1"],  # --out is required
    ],
)
def test_usage_errors_exit_2_with_a_message(capsys, argv):
    """Bad arguments: argparse's usage error (exit 2) or the command's own check (return 2), never a traceback."""
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    assert rc == 2
    err = capsys.readouterr().err
    assert "advstudio" in err and "error:" in err and "Traceback" not in err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "train" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device(capsys, tmp_path):
    img = _digit_png(tmp_path / "one.png", "1")
    rc, _, err = _run(capsys, "--device", "cuda", "predict", img)
    _assert_clean_failure(rc, err, "CUDA")


# --- attack -----------------------------------------------------------------------------------------------


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def test_attack_image_file(capsys, tmp_path, bundled_model):
    img = _digit_png(tmp_path / "seven.png", "7")
    rc, stdout, err = _run(capsys, "attack", img, "--eps", 0.25, "--out", tmp_path / "out", "--json")
    assert rc == 0, err
    res = json.loads(stdout)
    assert res["attack"] == "fgsm" and res["params"]["eps"] == 0.25 and res["params"]["targeted"] is False
    assert res["clean"]["class"] == 7 and res["params"]["label"] == 7
    assert 0.0 < res["linf"] <= 0.25 + 1e-6
    assert sum(res["adversarial"]["probs"]) == pytest.approx(1.0, abs=1e-4)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(f"seven_{k}{s}.png" for k in ("clean", "adversarial", "perturbation") for s in ("", "_x10"))
    clean = _png(tmp_path / "out" / "seven_clean.png")
    adv = _png(tmp_path / "out" / "seven_adversarial.png")
    assert clean.shape == adv.shape == (28, 28) and clean.dtype == np.uint8
    assert _png(tmp_path / "out" / "seven_perturbation.png").shape == (28, 28, 3)
    assert _png(tmp_path / "out" / "seven_clean_x10.png").shape == (280, 280)
    diff = np.abs(adv.astype(int) - clean.astype(int))
    assert diff.max() <= round(0.25 * 255) + 1 and diff.max() > 0
    # the PNGs are the preprocessed image and its FGSM: reproduce both from the same input file
    pre = load_image_file(img)
    assert np.array_equal(clean, (pre * 255 + 0.5).astype(np.uint8))
    x = torch.from_numpy(pre).reshape(1, 1, 28, 28)
    x_adv, _ = FGSM(0.25)(bundled_model, x, torch.tensor([7]))
    expected = np.clip(x_adv[0, 0].numpy() * 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(expected.astype(int) - adv.astype(int)).max() <= 1


def test_attack_image_file_human_output(capsys, tmp_path):
    img = _digit_png(tmp_path / "one.bmp", "1", "BMP")
    rc, stdout, err = _run(capsys, "attack", img, "--eps", 0.05, "--out", tmp_path, "--scale", 1)
    assert rc == 0, err
    assert "clean:       1" in stdout and "adversarial:" in stdout and "ε = 0.05" in stdout
    assert sorted(p.name for p in tmp_path.glob("one_*.png")) == [
        "one_adversarial.png", "one_clean.png", "one_perturbation.png"]


def test_attack_index_targeted(capsys, tmp_path, mnist_test, mnist_dir, bundled_model):
    index, target = 0, 3
    rc, stdout, err = _run(capsys, "attack", "--index", index, "--data", mnist_dir, "--eps", 0.2,
                           "--target", target, "--out", tmp_path, "--json")
    assert rc == 0, err
    res = json.loads(stdout)
    true = int(mnist_test.labels[index])
    assert res["params"]["targeted"] is True and res["params"]["target"] == target and res["params"]["label"] == true
    assert res["clean"]["class"] == true
    assert res["adversarial"]["probs"][target] > res["clean"]["probs"][target]
    for kind in ("clean", "adversarial", "perturbation"):
        assert (tmp_path / f"test{index}_{kind}.png").is_file()
    clean = _png(tmp_path / f"test{index}_clean.png")
    expected = (mnist_test.images[index, 0].numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(clean, expected)


def test_attack_bad_inputs(capsys, tmp_path, mnist_dir):
    rc, _, err = _run(capsys, "attack", tmp_path / "ghost.png", "--out", tmp_path)
    _assert_clean_failure(rc, err, "ghost.png", "no such file")

    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    rc, _, err = _run(capsys, "attack", blank, "--out", tmp_path)
    _assert_clean_failure(rc, err, "blank.png", "blank")

    rc, _, err = _run(capsys, "attack", "--index", 10_000, "--data", mnist_dir, "--out", tmp_path)
    _assert_clean_failure(rc, err, "--index 10000", "0–9999")
    assert not list(tmp_path.glob("*_clean.png"))


# --- predict ----------------------------------------------------------------------------------------------


def test_predict_json_several_formats(capsys, tmp_path):
    files = [
        _digit_png(tmp_path / "one.png", "1"),
        _digit_png(tmp_path / "zero.jpg", "0", "JPEG"),
        _digit_png(tmp_path / "seven.bmp", "7", "BMP"),
    ]
    rc, stdout, err = _run(capsys, "predict", *files, "--json")
    assert rc == 0, err
    doc = json.loads(stdout)
    assert doc["model"] == read_metadata(bundled_model_path())["name"]
    preds = doc["predictions"]
    assert [p["file"] for p in preds] == [str(f) for f in files]
    assert [p["class"] for p in preds] == [1, 0, 7]
    for p in preds:
        assert len(p["probs"]) == 10 and sum(p["probs"]) == pytest.approx(1.0, abs=1e-4)
        assert p["confidence"] == pytest.approx(max(p["probs"]), abs=1e-5)
        assert p["probs"][p["class"]] == max(p["probs"])


def test_predict_human_output(capsys, tmp_path):
    img = _digit_png(tmp_path / "zero.png", "0")
    rc, stdout, err = _run(capsys, "predict", img)
    assert rc == 0, err
    line = stdout.strip()
    assert line.startswith(f"{img}: 0 (") and "[0:" in line and "9:" in line


def test_predict_bad_file_among_good_ones(capsys, tmp_path):
    good = _digit_png(tmp_path / "one.png", "1")
    bad = tmp_path / "evil.png"
    bad.write_bytes(pickle.dumps({"not": "an image"}))
    rc, stdout, err = _run(capsys, "predict", good, bad, "--json")
    assert rc == 1
    preds = json.loads(stdout)["predictions"]
    assert preds[0]["class"] == 1
    assert "evil.png" in preds[1]["error"] and "not a readable image" in preds[1]["error"]
    assert "Traceback" not in err

    rc, stdout, err = _run(capsys, "predict", good, bad)
    assert rc == 1 and "evil.png: error:" in err and "one.png: 1" in stdout


def test_predict_refuses_a_pickled_model(capsys, tmp_path):
    img = _digit_png(tmp_path / "one.png", "1")
    model = tmp_path / "model.safetensors"
    model.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    rc, _, err = _run(capsys, "predict", img, "--model", model)
    _assert_clean_failure(rc, err, "model.safetensors", "pickle")


def test_train_init_fine_tunes_from_a_model_and_records_it(capsys, tmp_path, mnist_dir):
    from advstudio.core.resources import bundled_model_path

    bundled_model = bundled_model_path()
    out = tmp_path / "tuned.safetensors"
    rc, stdout, err = _run(capsys, "train", "--data", mnist_dir, "--out", out, "--limit", 128, "--epochs", 1,
                           "--eval-limit", 300, "--lr", "1e-6", "--lr-schedule", "cosine", "--init", bundled_model,
                           "--no-curve")
    assert rc == 0, err
    assert "starting from the weights of" in stdout
    meta = read_metadata(out)
    assert meta["recipe"]["lr_schedule"] == "cosine"
    assert meta["initialized_from"]["name"] == read_metadata(bundled_model)["name"]
    # two tiny steps at lr 1e-6 keep the bundled model's accuracy (a random start would be near chance)
    assert meta["test_accuracy"] > 0.95
    rc, _, err = _run(capsys, "train", "--data", mnist_dir, "--out", tmp_path / "x.safetensors", "--limit", 64,
                      "--epochs", 1, "--init", tmp_path / "missing.safetensors")
    assert rc != 0 and "missing.safetensors" in err
