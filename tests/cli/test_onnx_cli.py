"""Your own model from the command line: `advstudio export` writes the bundled models (and a zoo MLP) as ONNX and
reads them back; `--model x.onnx` then works on every command, and the ONNX model's clean accuracy and FGSM
curve equal those of the same weights in plain torch; the global --onnx-input / --onnx-outputs flags say what a
file does not; a broken or hostile ONNX file ends in one clear line."""

from __future__ import annotations

import json

import pytest
import torch

from advstudio.core.resources import bundled_model_path, robust_model_path


def _export(cli, tmp_path, model=None, name="m.onnx"):
    out = tmp_path / name
    argv = ["export"] + ([model] if model else []) + ["--onnx", out]
    rc, stdout, err = cli(*argv)
    assert rc == 0, err
    assert "same predictions" in stdout and out.is_file()
    return out


@pytest.mark.parametrize("source", [None, robust_model_path()])
def test_export_then_evaluate_equals_the_torch_model(cli, tmp_path, mnist_dir, source):
    onnx_file = _export(cli, tmp_path, source)
    results = {}
    for model in (source or bundled_model_path(), onnx_file):
        rc, out, err = cli("--device", "cpu", "evaluate", "--model", model, "--data", mnist_dir, "--limit", 300,
                           "--eps", "0,0.1,0.2", "--json")
        assert rc == 0, err
        results[str(model)] = json.loads(out)
    a, b = results.values()
    assert a["clean_accuracy"] == pytest.approx(b["clean_accuracy"])
    assert [r["accuracy"] for r in a["results"]] == pytest.approx([r["accuracy"] for r in b["results"]])


def test_an_onnx_mlp_from_the_zoo_predicts_and_attacks(cli, tmp_path, tiny_mnist):
    from advstudio.core.model import build_model
    from advstudio.core.onnx import export_onnx

    torch.manual_seed(0)
    mlp = build_model("MLP").eval()
    onnx_file = export_onnx(mlp, tmp_path / "mlp.onnx", {"name": "a test MLP"})
    rc, out, err = cli("--device", "cpu", "evaluate", "--model", onnx_file, "--data", tiny_mnist, "--eps", "0,0.3",
                       "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["results"][-1]["accuracy"] <= doc["results"][0]["accuracy"]
    rc, out, err = cli("--device", "cpu", "activations", "--model", onnx_file, "--data", tiny_mnist, "--eps", "0.1",
                       "--json")
    assert rc == 0, err
    assert len(json.loads(out)["shifts"]) == 1  # the MLP's one ReLU, seen through the ONNX graph


def test_global_flags_say_what_the_files_expect(cli, tmp_path):
    from PIL import Image

    onnx_file = _export(cli, tmp_path)
    import numpy as np

    noise = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)  # no digit: no saturated answer
    Image.fromarray(noise).save(tmp_path / "one.png")
    probs = {}
    for flags in ((), ("--onnx-input", "mnist"), ("--onnx-input", "0-1")):  # the user's word wins over the file's
        rc, out, err = cli(*flags, "predict", "--model", onnx_file, tmp_path / "one.png", "--json")
        assert rc == 0, err
        probs[flags] = json.loads(out)["predictions"][0]["probs"]
    assert probs[()] == probs[("--onnx-input", "0-1")]  # what the file says, said again
    assert probs[()] != probs[("--onnx-input", "mnist")]  # normalized twice: another network in effect
    rc, out, err = cli("--onnx-input", "banana", "predict", "--model", onnx_file, tmp_path / "one.png")
    assert rc != 0 and "banana" in err and "Traceback" not in err


def test_hostile_onnx_files_end_in_one_line(cli, tmp_path, tiny_mnist):
    onnx_file = _export(cli, tmp_path)
    data = onnx_file.read_bytes()
    for name, body in (("truncated.onnx", data[: len(data) // 3]), ("garbage.onnx", b"\x0a\xff\xff\xff\xff\x0f" * 50),
                       ("empty.onnx", b"")):
        bad = tmp_path / name
        bad.write_bytes(body)
        rc, out, err = cli("evaluate", "--model", bad, "--data", tiny_mnist, "--eps", "0")
        assert rc != 0, name
        assert "Traceback" not in err and name in err and len(err.strip().splitlines()) == 1, err
