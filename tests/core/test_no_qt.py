"""advstudio.core (and the headless CLI) must never import Qt or pyqtgraph: checked in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUI_PREFIXES = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6", "PySide2")

PROBE = r"""
import importlib, json, pkgutil, sys
import advstudio.core
names = sorted(m.name for m in pkgutil.walk_packages(advstudio.core.__path__, "advstudio.core."))
for name in names:
    importlib.import_module(name)
for extra in sys.argv[1:]:
    importlib.import_module(extra)
gui = sorted(m for m in sys.modules if m.split(".")[0] in GUI_ROOTS)
print(json.dumps({"imported": names, "gui": gui}))
"""


def _probe(*extra: str) -> dict:
    code = PROBE.replace("GUI_ROOTS", repr(set(GUI_PREFIXES)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", code, *extra], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_imports_no_qt_or_pyqtgraph():
    result = _probe()
    core = REPO / "advstudio" / "core"
    expected = {".".join(("advstudio", "core", *p.relative_to(core).with_suffix("").parts))
                for p in core.rglob("*.py") if p.stem != "__init__"}
    assert expected <= set(result["imported"]), "every core module was imported"
    assert {"advstudio.core.model", "advstudio.core.data", "advstudio.core.training", "advstudio.core.attacks.linf",
            "advstudio.core.evaluation.curves", "advstudio.core.storage", "advstudio.core.types"} <= expected
    assert result["gui"] == [], f"advstudio.core pulled in GUI modules: {result['gui']}"


def test_headless_cli_imports_no_qt():
    assert _probe("advstudio.cli")["gui"] == []


def test_the_probe_sees_a_gui_import():
    """The check itself works: importing pyqtgraph in the probe is caught."""
    pytest.importorskip("pyqtgraph")
    assert any(m.startswith("pyqtgraph") for m in _probe("pyqtgraph")["gui"])
