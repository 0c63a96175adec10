"""Every numeric option of every command (and of the window's start-up flags) has a range that the parser
checks: NaN, infinities and out-of-range values end in a usage message (exit code 2), never a traceback, a
MemoryError or a NaN model (issue 18)."""

from __future__ import annotations

import argparse

import pytest

from advstudio.cli.parser import build_parser
from advstudio.gui.app import parse_args as app_parse_args

REPORTED = [
    ["train", "--out", "m.safetensors", "--lr", "nan"],
    ["train", "--out", "m.safetensors", "--lr", "-1"],
    ["train", "--out", "m.safetensors", "--adv-fraction", "2"],
    ["train", "--out", "m.safetensors", "--adv-fraction", "nan"],
    ["train", "--out", "m.safetensors", "--seed", "18446744073709551616"],
    ["train", "--out", "m.safetensors", "--adversarial", "pgd", "--adv-step-size", "nan"],
    ["train", "--out", "m.safetensors", "--adv-ramp-epochs", "-3"],
    ["activations", "--bins", "5000"],
    ["attack", "--index", "0", "--scale", "5000"],
    ["attack", "--index", "0", "--scale", "1000"],
    ["evaluate", "--momentum", "inf"],
    ["evaluate", "--overshoot", "nan"],
    ["certify", "--sigma", "nan"],
    ["certify", "--n", "1e9"],
    ["defend", "--defense", "bit_depth", "--bits", "9"],
    ["defend", "--defense", "detector", "--lam", "nan"],
    ["distill", "--out", "s.safetensors", "--lr", "0"],
    ["distill", "--out", "s.safetensors", "--temperature", "inf"],
]


@pytest.mark.parametrize("argv", REPORTED, ids=lambda a: " ".join(a[:1] + a[-2:]))
def test_bad_numbers_are_usage_errors(cli, argv):
    rc, out, err = cli(*argv)
    assert rc == 2, err
    assert "error: argument" in err and "Traceback" not in err, err
    assert "training on" not in out


@pytest.mark.parametrize("argv", [["--lab-demo", "1000000000000"], ["--lab-demo", "-5"], ["--quit-after", "nan"],
                                  ["--lesson-step", "0"]])
def test_window_start_up_numbers_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as info:
        app_parse_args(argv)
    assert info.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def _numeric_options():
    """(command, option, type function) for every option of every sub-command that takes a number."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, p in sub.choices.items():
        for action in p._actions:
            if action.type is not None and action.option_strings:
                yield command, action.option_strings[-1], action.type


OPTIONS = list(_numeric_options())


def test_no_option_takes_a_bare_int_or_float():
    assert OPTIONS, "no typed options found"
    bare = [(c, o) for c, o, t in OPTIONS if t in (int, float)]
    assert not bare, f"options without a range: {bare}"


@pytest.mark.parametrize("command, option, parse", OPTIONS, ids=[f"{c} {o}" for c, o, _ in OPTIONS])
def test_every_numeric_option_refuses_nan_infinity_and_huge_values(command, option, parse):
    for text in ("nan", "inf", "-inf", "1e300", "99999999999999999999999", "-99999999999999999999999"):
        with pytest.raises((argparse.ArgumentTypeError, ValueError)):
            parse(text)


def test_ranges_still_accept_the_defaults_and_ordinary_values(cli):
    parser = build_parser()
    args = parser.parse_args(["train", "--out", "m.safetensors", "--lr", "0.01", "--seed", "4294967295",
                              "--adv-fraction", "0", "--adv-step-size", "0.05"])
    assert (args.lr, args.seed, args.adv_fraction, args.adv_step_size) == (0.01, 4294967295, 0.0, 0.05)
    args = parser.parse_args(["attack", "--index", "3", "--scale", "64"])
    assert args.scale == 64 and args.index == 3
    assert app_parse_args(["--lab-demo", "200"]).lab_demo == 200


def test_a_diverged_training_saves_nothing(cli, tiny_mnist, tmp_path, monkeypatch):
    """Within range, Adam can still diverge: NaN weights are reported, never saved as a model."""
    import torch

    import advstudio.core.training as training

    real = training.train

    def diverging(model, *args, **kwargs):
        yield from real(model, *args, **kwargs)
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))

    monkeypatch.setattr(training, "train", diverging)
    out = tmp_path / "m.safetensors"
    rc, _, err = cli("train", "--data", tiny_mnist, "--out", out, "--epochs", 1, "--no-curve", "--eval-limit", 10)
    assert rc == 1 and "training diverged" in err and "--lr" in err, err
    assert not out.exists() and not out.with_suffix(".json").exists()
