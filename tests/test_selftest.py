"""`advstudio --self-test` from source, in a subprocess: the real window offscreen, PASS lines, exit status.
(The installer build runs the same self-test on every fresh bundle: packaging/build_linux.sh.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(tmp_path, code: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "ADVSTUDIO_LOG_DIR": str(tmp_path / "logs"), "OMP_NUM_THREADS": "1"}
    env.pop("QT_QPA_PLATFORM", None)  # the self-test must choose the offscreen platform itself
    return subprocess.run([sys.executable, *code], cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def test_self_test_passes_from_source(tmp_path):
    proc = _run(tmp_path, ["-m", "advstudio", "--self-test"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "self-test PASSED" in out
    assert "FAIL" not in out
    assert "Qt platform 'offscreen'" in out
    assert "a 7 drawn on the canvas" in out and "no network access attempted" in out
    if os.environ.get("ADVSTUDIO_MNIST_DIR"):
        assert "FGSM (untargeted, L∞, 1 step) at ε = 0.3" in out
    assert "self-test" in (tmp_path / "logs" / "advstudio.log").read_text(encoding="utf-8")


def test_a_failed_check_exits_1_and_says_what_failed(tmp_path):
    code = (
        "import sys, advstudio.gui.selftest as s; s.SAMPLE = 5; s.MAX_FLIP_EPS = -1.0; "
        "from advstudio.applog import setup_logging; setup_logging(); sys.exit(s.run_self_test([]))"
    )
    proc = _run(tmp_path, ["-c", code])
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "FAIL flip search on the drawn 7" in proc.stdout
    assert "self-test FAILED" in proc.stdout
