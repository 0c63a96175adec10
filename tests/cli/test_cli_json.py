"""One CLI rule: `--json` prints JSON (alone) on standard output on every command, `--json-out FILE` writes it to
a file, and the old `--json FILE` still writes the file, with a deprecation note on stderr."""

from __future__ import annotations

import json

import pytest
from PIL import Image, ImageDraw

DEPRECATED = "`--json FILE` is deprecated"


def _seven(path):
    im = Image.new("L", (160, 200), 255)
    d = ImageDraw.Draw(im)
    d.line([(30, 35), (130, 35)], fill=0, width=14)
    d.line([(130, 35), (60, 170)], fill=0, width=14)
    im.save(path)
    return path


def _commands(data, tmp_path):
    """Each command's quickest real invocation on the tiny data (without the JSON flags)."""
    img = _seven(tmp_path / "seven.png")
    return {
        "evaluate": ["evaluate", "--data", data, "--eps", "0,0.1"],
        "activations": ["activations", "--data", data, "--limit", 8, "--bins", 4],
        "certify": ["certify", "--data", data, "--limit", 2, "--n", 20, "--n0", 10],
        "defend": ["defend", "--defense", "bit_depth", "--data", data, "--limit", 4, "--steps", 2, "--eps", "0,0.1"],
        "predict": ["predict", img],
        "attack": ["attack", img, "--out", tmp_path / "pngs", "--scale", 1],
        "train": ["train", "--data", data, "--out", tmp_path / "m.safetensors", "--epochs", 1, "--no-curve",
                  "--eval-limit", 10],
        "distill": ["distill", "--data", data, "--out", tmp_path / "s.safetensors", "--epochs", 1, "--limit", 32,
                    "--eval-limit", 10, "--temperature", 2],
    }


COMMANDS = ["evaluate", "activations", "certify", "defend", "predict", "attack", "train", "distill"]
OLD_FILE_SPELLING = ["evaluate", "activations", "certify", "defend"]


@pytest.mark.parametrize("command", COMMANDS)
def test_json_prints_only_json_on_stdout(cli, tiny_mnist, tmp_path, command):
    argv = _commands(tiny_mnist, tmp_path)[command]
    rc, out, err = cli(*argv, "--json")
    assert rc == 0, err
    doc = json.loads(out)  # nothing but the document on standard output
    assert isinstance(doc, dict) and doc
    assert DEPRECATED not in err
    assert not list(tmp_path.glob("*.json")) or command in ("train", "distill")  # only their model sidecars


@pytest.mark.parametrize("command", COMMANDS)
def test_json_out_writes_the_file_and_keeps_the_table(cli, tiny_mnist, tmp_path, command):
    argv = _commands(tiny_mnist, tmp_path)[command]
    report = tmp_path / "reports" / "r.json"
    rc, out, err = cli(*argv, "--json-out", report)
    assert rc == 0, err
    doc = json.loads(report.read_text())
    assert isinstance(doc, dict) and doc
    assert f"wrote {report}" in out and not out.lstrip().startswith("{")
    assert DEPRECATED not in err


@pytest.mark.parametrize("command", OLD_FILE_SPELLING)
def test_old_json_file_spelling_still_writes_the_file_with_a_note(cli, tiny_mnist, tmp_path, command):
    argv = _commands(tiny_mnist, tmp_path)[command]
    report = tmp_path / "old.json"
    rc, out, err = cli(*argv, "--json", report)
    assert rc == 0, err
    assert DEPRECATED in err and "--json-out FILE" in err
    assert json.loads(report.read_text())
    assert f"wrote {report}" in out


def test_json_and_json_out_together_print_and_write_the_same_document(cli, tiny_mnist, tmp_path):
    report = tmp_path / "r.json"
    rc, out, err = cli("evaluate", "--data", tiny_mnist, "--eps", "0,0.1", "--json", "--json-out", report)
    assert rc == 0, err
    assert json.loads(out) == json.loads(report.read_text())
    assert f"wrote {report}" in err  # stdout keeps the JSON alone


def test_old_spelling_and_json_out_naming_two_files_is_a_usage_error(cli, tiny_mnist, tmp_path):
    rc, _, err = cli("evaluate", "--data", tiny_mnist, "--json", tmp_path / "a.json", "--json-out", tmp_path / "b.json")
    assert rc == 2 and "name two files" in err, err
