"""core.eps: the one ε-list reader, with each caller's rules (the CLI's flags, the window's fields)."""

from __future__ import annotations

import math
import sys

import pytest

from advstudio.core.eps import FIELD_EMPTY, parse_eps_field, parse_numbers


def test_keeps_order_and_repeats_by_default():
    assert parse_numbers("0.3,0,0.1,0.1") == [0.3, 0.0, 0.1, 0.1]
    assert parse_numbers(" 0.1 , 0.2 ,") == [0.1, 0.2]  # blank parts are skipped, spaces around a number are fine


def test_sorted_unique_and_any_separator():
    assert parse_numbers("0.3; 0 0.1,0.1", separators=", ;", sort_unique=True) == [0.0, 0.1, 0.3]


@pytest.mark.parametrize("text", ["", ",", " , ,"])
def test_empty_says_so(text):
    with pytest.raises(ValueError, match="give at least one ε"):
        parse_numbers(text)


def test_unreadable_names_the_input():
    with pytest.raises(ValueError) as exc:
        parse_numbers("0.1,abc")
    assert str(exc.value) == "not a comma-separated list of numbers: '0.1,abc'"
    with pytest.raises(ValueError, match="Could not read"):
        parse_numbers("0.1 x", separators=", ", unreadable="Could not read {text!r}")


def test_spaces_are_not_separators_unless_asked():
    with pytest.raises(ValueError, match="not a comma-separated"):
        parse_numbers("0 0.1")


def test_out_of_range_names_the_first_bad_value():
    with pytest.raises(ValueError) as exc:
        parse_numbers("0.5,2,-1")
    assert str(exc.value) == "ε 2.0 is outside [0, 1]"
    with pytest.raises(ValueError) as exc:
        parse_numbers("-1", out_of_range="ε {value} is outside [0, 1] pixel space")
    assert str(exc.value) == "ε -1.0 is outside [0, 1] pixel space"
    assert parse_numbers("0,28", upper=28.0) == [0.0, 28.0]
    assert parse_numbers("0.5", lower=0.5) == [0.5]


def test_nan_is_never_in_range_and_inf_only_without_an_upper_bound():
    with pytest.raises(ValueError, match="nan"):
        parse_numbers("nan")
    with pytest.raises(ValueError):
        parse_numbers("nan", upper=math.inf)
    assert parse_numbers("inf", upper=math.inf) == [math.inf]


def test_window_fields():
    assert parse_eps_field("0.3, 0 0.1;0.1") == [0.0, 0.1, 0.3]
    with pytest.raises(ValueError) as exc:
        parse_eps_field("  ")
    assert str(exc.value) == FIELD_EMPTY
    with pytest.raises(ValueError) as exc:
        parse_eps_field("0.1, x")
    assert str(exc.value) == "Could not read the ε list '0.1, x': use numbers separated by commas"
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        parse_eps_field("0, 1.5")
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_eps_field("-0.1, 3", upper=math.inf, out_of_range="ε cannot be negative")
    assert parse_eps_field("0, 3", upper=math.inf) == [0.0, 3.0]


def test_no_torch_no_qt():
    """The CLI's parser and the window's views read it: it must stay light."""
    import subprocess

    code = ("import sys, advstudio.core.eps; "
            "print(any(m.split('.')[0] in ('torch', 'PySide6') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
