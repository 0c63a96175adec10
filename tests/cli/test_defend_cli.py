"""`advstudio defend`, `certify` and `distill` end to end on a few images, in-process through advstudio.cli.main:
the JSON shape (evaluate's, once per attacker), the adaptive attacker beating the plain one, the L2 warning."""

from __future__ import annotations

import json

import pytest

from advstudio.cli import main
from advstudio.core.resources import bundled_model_path
from advstudio.core.storage import read_metadata


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _curves(path) -> dict:
    doc = json.loads(path.read_text())
    assert set(doc["curves"]) == {"plain", "adaptive"}
    for kind, c in doc["curves"].items():
        assert {"model", "attack", "params", "n", "clean_accuracy", "results"} <= set(c)
        assert c["params"]["adaptive"] is (kind == "adaptive")
        assert c["params"]["defense"] == doc["defense"] and c["params"]["defense_params"] == doc["defense_params"]
        assert all(0.0 <= r["accuracy"] <= 1.0 for r in c["results"])
    return doc


def _acc(doc, kind: str, eps: float) -> float:
    return next(r["accuracy"] for r in doc["curves"][kind]["results"] if r["eps"] == eps)


def test_defend_bit_depth_plain_illusion_and_bpda(capsys, tmp_path, mnist_dir):
    out_json = tmp_path / "bd.json"
    rc, out, err = _run(capsys, "defend", "--defense", "bit_depth", "--bits", "2", "--attack", "fgsm",
                        "--eps", "0,0.3", "--limit", "60", "--json", out_json)
    assert rc == 0, err
    assert "BPDA" in out and "adaptive" in out and "n = 60 test images" in out
    doc = _curves(out_json)
    assert doc["defense_params"] == {"bits": 2}
    assert doc["curves"]["plain"]["params"]["steps"] == 1
    assert _acc(doc, "plain", 0.3) > 0.9  # the true gradient of a quantizer is zero: FGSM does nothing
    assert _acc(doc, "adaptive", 0.3) < _acc(doc, "plain", 0.3) - 0.4


def test_distill_then_defend_reads_the_temperature(capsys, tmp_path, mnist_dir):
    student = tmp_path / "student.safetensors"
    rc, out, err = _run(capsys, "distill", "--out", student, "--temperature", "20", "--epochs", "1",
                        "--limit", "256", "--eval-limit", "100")
    assert rc == 0, err
    recipe = read_metadata(student)["recipe"]
    assert recipe["temperature"] == 20.0 and recipe["defense"] == "defensive_distillation"
    out_json = tmp_path / "d.json"
    rc, out, err = _run(capsys, "defend", "--defense", "distillation", "--model", student, "--attack", "fgsm",
                        "--eps", "0,0.2", "--limit", "40", "--json", out_json)
    assert rc == 0, err
    doc = _curves(out_json)
    assert doc["defense_params"] == {"temperature": 20.0}
    assert "logits / T" in doc["curves"]["adaptive"]["params"]["attacker"]


def test_defend_ensemble_transfer_and_white_box(capsys, tmp_path, mnist_dir):
    other = tmp_path / "other.safetensors"
    assert _run(capsys, "train", "--out", other, "--epochs", "1", "--limit", "256", "--eval-limit", "100",
                "--no-curve")[0] == 0
    out_json = tmp_path / "e.json"
    rc, out, err = _run(capsys, "defend", "--defense", "ensemble", "--models", bundled_model_path(), other,
                        "--transfer-from", "0", "--attack", "fgsm", "--eps", "0,0.2", "--limit", "40",
                        "--json", out_json)
    assert rc == 0, err
    doc = _curves(out_json)
    assert doc["defense_params"]["transfer_from"] == 0 and len(doc["defense_params"]["members"]) == 2
    assert "transfer from member 0" in out
    rc, out, err = _run(capsys, "defend", "--defense", "ensemble", "--models", bundled_model_path(), other,
                        "--transfer-from", "2", "--limit", "5")
    assert rc == 2 and "--transfer-from 2" in err


def test_defend_detector_counts_rejections_and_reports_false_positives(capsys, tmp_path, mnist_dir):
    out_json = tmp_path / "det.json"
    rc, out, err = _run(capsys, "defend", "--defense", "detector", "--detector-samples", "200", "--attack", "pgd",
                        "--steps", "5", "--eps", "0,0.2", "--limit", "40", "--json", out_json)
    assert rc == 0, err
    assert "false positives" in out
    doc = _curves(out_json)
    plain = doc["curves"]["plain"]
    assert 0.0 <= plain["clean_rejected"] <= 0.2
    assert _acc(doc, "plain", 0.2) > 0.9  # PGD fools the classifier, the detector rejects it
    assert _acc(doc, "adaptive", 0.2) < _acc(doc, "plain", 0.2)


@pytest.mark.parametrize("argv, needle", [
    (["defend", "--defense", "distillation", "--limit", "5"], "--temperature"),
    (["defend", "--defense", "ensemble", "--limit", "5"], "--models"),
    (["defend", "--defense", "median", "--size", "4", "--limit", "5"], "odd"),
])
def test_defend_usage_errors(capsys, argv, needle, mnist_dir):
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and needle in err and "Traceback" not in err


def test_certify_says_it_certifies_l2(capsys, tmp_path, mnist_dir):
    out_json = tmp_path / "c.json"
    rc, out, err = _run(capsys, "certify", "--sigma", "0.25", "--n", "100", "--n0", "20", "--alpha", "0.01",
                        "--limit", "3", "--radii", "0,0.25,10", "--json", out_json)
    assert rc == 0, err
    assert "L2 radii" in out and "not the L∞ ball" in out
    doc = json.loads(out_json.read_text())
    acc = [r["certified_accuracy"] for r in doc["results"]]
    assert doc["params"]["norm"] == "l2" and doc["n"] == 3 and len(doc["certificates"]) == 3
    assert acc[0] >= acc[1] >= acc[2] == 0.0  # n = 100 samples cannot certify a radius of 10
    assert 0 < doc["max_certifiable_radius"] < 0.25 * 3.1  # σ·Φ⁻¹(α^(1/n)), stated in the output
    assert all(c["radius"] <= doc["max_certifiable_radius"] + 1e-9 for c in doc["certificates"])


def test_certify_rejects_a_bad_alpha(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["certify", "--alpha", "2"])
    assert exc.value.code == 2


def test_defend_autoattack_names_its_version_and_budget(capsys, tmp_path, mnist_dir):
    out_json = tmp_path / "aa.json"
    rc, out, err = _run(capsys, "defend", "--defense", "gaussian_noise", "--sigma", "0.2", "--attack", "autoattack",
                        "--budget", "0.02", "--eps", "0,0.2", "--limit", "10", "--json", out_json)
    assert rc == 0, err
    assert "AutoAttack rand (budget 0.02)" in out and "EOT over 20 draws" in out
    doc = _curves(out_json)
    p = doc["curves"]["adaptive"]["params"]
    assert p["version"] == "rand" and p["budget"] == 0.02 and p["attacks"][0]["attack"] == "apgd-ce"
    assert _acc(doc, "adaptive", 0.2) <= _acc(doc, "adaptive", 0.0)
    for kind in ("plain", "adaptive"):  # which of the four attacks broke how many points, per ε (none at ε = 0)
        parts = doc["curves"][kind]["breakdown"]
        assert parts[0] is None and set(parts[1]) <= {"clean", "apgd-ce", "apgd-t", "fab-t", "square"}
        assert "clean" in parts[1] and sum(parts[1].values()) <= 10
        assert f"{kind}, ε = 0.2: points each attack broke" in out
    rc, _, err = _run(capsys, "defend", "--defense", "bit_depth", "--attack", "pgd", "--budget", "0.5")
    assert rc == 2 and "--budget applies to --attack autoattack only" in err
