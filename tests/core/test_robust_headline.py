"""The robust accuracy a model is headlined with comes from its strongest recorded attack (AutoAttack before
PGD), with the weaker figures beside it; malformed metadata never raises."""

from __future__ import annotations

import pytest

from advstudio.core.lesson_facts import model_facts
from advstudio.core.model_meta import robust_headline

PGD_STEP = {"attack": "PGD", "steps": 40, "step_size": 0.01, "n": 10000, "results": [{"eps": 0.3, "accuracy": 0.95}]}
PGD_RULE = {"attack": "PGD", "steps": 40, "step_size": "2.5*eps/steps", "n": 10000,
            "results": [{"eps": 0.1, "accuracy": 0.97}, {"eps": 0.3, "accuracy": 0.9382}]}
AA = {"attack": "AutoAttack", "label": "AutoAttack standard", "n": 10000, "results": [{"eps": 0.3, "accuracy": 0.89}]}
AA_FEW = {"attack": "AutoAttack", "label": "AutoAttack standard", "n": 200, "results": [{"eps": 0.3, "accuracy": 0.8}]}


def test_autoattack_is_headlined_over_pgd_whatever_the_order():
    for rows in ([PGD_STEP, PGD_RULE, AA], [AA, PGD_STEP, PGD_RULE], [PGD_RULE, AA_FEW, AA, PGD_STEP]):
        head = robust_headline({"robust_evaluation": rows})
        assert head["label"] == "AutoAttack standard" and head["accuracy"] == 0.89 and head["n"] == 10000
        assert head["strongest"] is True
        labels = [w[0] for w in head["weaker"]]
        assert "PGD-40 (step 0.01)" in labels and "PGD-40" in labels


def test_without_autoattack_the_lowest_pgd_figure_leads_and_says_it_is_not_the_strongest():
    head = robust_headline({"robust_evaluation": [PGD_STEP, PGD_RULE]})
    assert (head["label"], head["accuracy"], head["strongest"]) == ("PGD-40", 0.9382, False)
    assert head["weaker"] == [("PGD-40 (step 0.01)", 0.95, 10000)]
    assert robust_headline({"robust_evaluation": [PGD_RULE]}, eps=0.2) is None  # no row records ε = 0.2


@pytest.mark.parametrize("meta", [{}, {"robust_evaluation": "x"}, {"robust_evaluation": [1, None, "a"]},
                                  {"robust_evaluation": [{"results": [{"eps": "0.3", "accuracy": 2}]}]},
                                  {"robust_evaluation": [{"attack": None, "results": [{"eps": 0.3, "accuracy": True}]}]},
                                  {"robust_evaluation": [{"results": "no"}]}, "not a dict"])
def test_malformed_rows_give_no_headline(meta):
    assert robust_headline(meta) is None
    fact = model_facts(meta if isinstance(meta, dict) else {}, "M")["robust_headline"]
    assert "records no robust accuracy" in fact


def test_the_lesson_sentence_names_the_attack_and_the_weaker_figures():
    fact = model_facts({"robust_evaluation": [PGD_STEP, AA]}, "Robust CNN")["robust_headline"]
    assert "**89.0%**" in fact and "10,000 test digits" in fact and "the strongest attack we have" in fact
    assert "Weaker attacks report more" in fact and "95.0%" in fact
    fact = model_facts({"robust_evaluation": [PGD_STEP]}, "R")["robust_headline"]
    assert "not yet measured with AutoAttack" in fact and "95.0%" in fact

