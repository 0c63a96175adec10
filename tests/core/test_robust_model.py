"""The bundled robust model: it is in the repository, says how it was made and measured, and holds under PGD."""

from __future__ import annotations

import pytest

from advstudio.core.attacks import make_attack
from advstudio.core.resources import robust_model_path
from advstudio.core.storage import load_model, read_metadata


def test_the_robust_model_is_bundled_with_its_recipe_and_evaluation():
    path = robust_model_path()
    assert path.is_file(), f"{path} is part of the repository"
    meta = read_metadata(path)
    assert meta["recipe"]["adversarial"] == "pgd" and meta["recipe"]["adv_eps"] == pytest.approx(0.3)
    assert meta["test_accuracy"] >= 0.98 and meta["test_samples"] == 10000
    assert all(cmd.startswith("advstudio train ") for cmd in meta["reproduce"]) and len(meta["reproduce"]) == 2
    strongest = meta["robust_evaluation"][0]  # the headline: AutoAttack standard on the full test set
    assert (strongest["attack"], strongest["label"], strongest["n"]) == ("AutoAttack", "AutoAttack standard", 10000)
    assert [a["attack"] for a in strongest["attacks"]] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert [a.get("steps", a.get("queries")) for a in strongest["attacks"]] == [100, 100, 100, 5000]
    assert strongest["command"].startswith("advstudio evaluate ") and "--attack autoattack" in strongest["command"]
    (part,) = strongest["breakdown"]
    aa_03 = {r["eps"]: r["accuracy"] for r in strongest["results"]}[0.3]
    assert aa_03 == pytest.approx(1 - sum(part.values()) / 10000)  # the breakdown adds up to the figure
    strict = next(r for r in meta["robust_evaluation"] if r["attack"] == "PGD" and r.get("step_size") == 0.01)
    assert (strict["steps"], strict["n"]) == (40, 10000) and "weaker than AutoAttack" in strict["note"]
    pgd_03 = {r["eps"]: r["accuracy"] for r in strict["results"]}[0.3]
    assert 0.85 <= aa_03 < pgd_03  # the stronger attack finds more


def test_the_robust_model_holds_under_pgd_where_the_standard_one_falls(mnist_test):
    from advstudio.core.resources import bundled_model_path

    x, y = mnist_test.images[:200], mnist_test.labels[:200]
    attack = make_attack("pgd", eps=0.3, steps=40, step_size=0.01, seed=0)
    accuracy = {}
    for name, path in (("robust", robust_model_path()), ("standard", bundled_model_path())):
        model, _ = load_model(path)
        out = attack.run(model, x, y)
        accuracy[name] = float((~out.success).float().mean())  # broken at any step counts as broken
    assert accuracy["robust"] >= 0.85, accuracy  # 95.0 % on the full test set (metadata)
    assert accuracy["standard"] <= 0.05, accuracy
