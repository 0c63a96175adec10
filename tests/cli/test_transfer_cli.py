"""`advstudio transfer` in-process: the matrix table (rows crafted on, columns judged by, the diagonal marked
white-box, the attack, ε, steps and n named), the JSON document, and flags that make no matrix (exit 2)."""

from __future__ import annotations

import json

import pytest

from advstudio.core.resources import bundled_model_path, robust_model_path


def test_the_table_names_everything_and_marks_the_diagonal(cli, mnist_dir, tmp_path):
    out_json = tmp_path / "t.json"
    rc, out, err = cli("transfer", "--bundled", "--robust", "--attack", "pgd", "--eps", "0.3", "--steps", "5",
                       "--limit", "40", "--data", mnist_dir, "--json-out", out_json)
    assert rc == 0, err
    for words in ("crafted on", "judged by", "white-box", "PGD", "5 steps", "ε = 0.3", "n = 40 test images",
                  "MNIST CNN", "Robust CNN", "[1]", "[2]"):
        assert words in out, words
    doc = json.loads(out_json.read_text())
    rows = [line for line in out.splitlines() if line.startswith(("[1] ", "[2] "))]
    assert len(rows) == 2
    for i, line in enumerate(rows):  # the table shows the JSON's figures, the diagonal starred
        cells = line.split()[-2:]
        for j, cell in enumerate(cells):
            assert cell.rstrip("*") == f"{doc['success'][i][j] * 100:.1f}%"
            assert cell.endswith("*") == (i == j)
    assert doc["model_paths"] == [str(bundled_model_path()), str(robust_model_path())]
    assert doc["params"]["steps"] == 5 and doc["eps"] == 0.3 and doc["n"] == 40 and doc["attack"] == "pgd"
    assert doc["success"][0][0] > 0.9 and doc["success"][0][1] < 0.3


def test_json_on_stdout_alone_with_a_file_model_and_a_minimal_attack(cli, mnist_dir):
    rc, out, err = cli("transfer", "--models", bundled_model_path(), bundled_model_path(), "--attack", "deepfool",
                       "--steps", "20", "--limit", "20", "--data", mnist_dir, "--json")
    assert rc == 0, err
    doc = json.loads(out)  # nothing but the document
    assert doc["eps"] is None and doc["attack"] == "deepfool" and doc["params"]["steps"] == 20
    assert doc["models"][0] != doc["models"][1]  # the same file twice: told apart
    assert len(doc["success"]) == 2 and all(len(r) == 2 for r in doc["success"])
    assert doc["judged"][0] == doc["judged"][1] and doc["sizes"][0]["mean_l2"] > 0


@pytest.mark.parametrize(("argv", "words"), [
    (["--bundled"], "two or more models"),
    (["--bundled", "--robust", "--attack", "deepfool", "--eps", "0.1"], "takes no --eps"),
    (["--bundled", "--robust", "--attack", "pgd", "--overshoot", "0.1"], "--overshoot does not apply to pgd"),
    (["--bundled", "--robust", "--eps", "1.5"], "outside [0, 1]"),
    (["--bundled", "--robust", "--attack", "nope"], "invalid choice"),
    (["--bundled", "--robust", "--limit", "0"], "--limit"),
])
def test_flags_that_make_no_matrix_exit_2_with_a_message(cli, argv, words):
    rc, out, err = cli("transfer", *argv)
    assert rc == 2 and words in err and out == ""
