"""The attack registry: what it says of each attack is what the class does, and reading it needs no torch."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from advstudio.core.attacks.registry import ATTACKS, REQUIRED, attack_class, make_attack


@pytest.mark.parametrize("name", list(ATTACKS))
def test_each_spec_matches_its_class(name):
    from advstudio.core.attacks.base import Attack

    spec = ATTACKS[name]
    cls = attack_class(name)
    assert issubclass(cls, Attack) and cls.name == name and cls.norm == spec.norm
    assert cls.iterative == spec.iterative
    signature = {k: (REQUIRED if p.default is inspect.Parameter.empty else p.default)
                 for k, p in inspect.signature(cls).parameters.items()}
    assert signature == spec.defaults()
    if spec.step_size_factor is not None:
        assert cls.step_size_factor == spec.step_size_factor


def test_make_attack_rejects_what_the_attack_does_not_take():
    with pytest.raises(ValueError, match="does not take the setting 'restarts'"):
        make_attack("bim", eps=0.1, restarts=3)
    with pytest.raises(ValueError, match="unknown attack"):
        make_attack("nope")
    assert make_attack("fgsm", eps=0.2, early_stop=True).eps == 0.2  # universal settings are ignored


def test_the_registry_and_the_package_import_no_torch():
    code = ("import sys; import advstudio.core.attacks, advstudio.core.attacks.registry, advstudio.core.describe; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
