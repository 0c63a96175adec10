# Sourced by scripts/run-app and scripts/test: create .venv and install the pinned dependencies when needed.
set -euo pipefail
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setting up .venv with $($PY --version 2>&1) …"
  "$PY" -m venv .venv
fi
stamp_src=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$stamp_src" ]; then
  echo "installing dependencies (pinned in constraints.txt; the first time takes a few minutes) …"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import torch, PySide6, pyqtgraph, safetensors, advstudio" \
    || { echo "setup failed: see the pip messages above" >&2; exit 1; }
  echo "$stamp_src" > .venv/.setup-stamp
fi
