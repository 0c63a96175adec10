"""The architecture's rules that a linter does not check, checked on the source itself (see README, "How the
code is organised"): small modules, no private names imported across modules, views free of torch and jobs,
and the import-linter contracts of pyproject.toml (layers, independent features, no cycles)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "advstudio"
MAX_LINES = 450


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) of every `from X import a, b` in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out.extend((a.name, [], node.lineno) for a in node.names)
    return out


def test_no_module_is_over_450_lines():
    long = {str(p.relative_to(REPO)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_private_name_is_imported_across_modules():
    found = []
    for path in _modules():
        for module, names, line in _imports(path):
            if module.startswith("advstudio"):
                found += [f"{path.relative_to(REPO)}:{line} imports {module}.{n}" for n in names
                          if n.startswith("_") and not n.startswith("__")]
    assert not found, "\n".join(found)


def test_the_private_name_check_sees_one(tmp_path):
    """The check itself works on a file that does it."""
    f = tmp_path / "x.py"
    f.write_text("def g():\n    from advstudio.core.data import _find\n")
    assert _imports(f) == [("advstudio.core.data", ["_find"], 2)]


def _is_view(name: str) -> bool:
    """Widgets, a feature's view modules and its messages (everything but controller, jobs and the package)."""
    parts = name.split(".")
    if name.startswith("advstudio.gui.widgets"):
        return True
    return (name.startswith("advstudio.gui.features.") and len(parts) == 5
            and parts[-1] not in ("controller", "jobs", "__init__") and not parts[-1].endswith("_controller")
            and not parts[-1].endswith("_jobs"))


def _views() -> list[str]:
    return [n for n in map(_name, _modules()) if _is_view(n)]


def test_views_import_neither_torch_nor_jobs_nor_the_worker():
    """Directly, at any depth in the file (import-linter checks the indirect chains)."""
    bad = []
    for path in _modules():
        name = _name(path)
        if not _is_view(name):
            continue
        for module, _names, line in _imports(path):
            if (module.split(".")[0] == "torch" or module == "advstudio.gui.worker"
                    or module.endswith(".jobs") or ".jobs." in module):
                bad.append(f"{name}:{line} imports {module}")
    assert not bad, "\n".join(bad)


def test_importing_every_view_loads_no_torch():
    """At run time too: a fresh interpreter that imports every view, widget and message module has not loaded
    torch (the window then draws before torch has loaded, and a view cannot call it by accident)."""
    views = _views()
    assert len(views) > 20, views  # the check sees the views
    code = "import sys\n" + "".join(f"import {v}\n" for v in views) + "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]", out.stdout[-2000:]


def test_import_contracts_hold():
    """import-linter's contracts (pyproject.toml [tool.importlinter]): also run by .ci/run before the tests."""
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists() and shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    out = subprocess.run([str(exe) if exe.exists() else "lint-imports", "--no-cache"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
