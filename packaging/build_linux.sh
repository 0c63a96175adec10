#!/usr/bin/env bash
# Build the Linux installer of Adversarial Studio from a fresh clone, with one command:
#
#   packaging/build_linux.sh --mnist DIR
#
# DIR holds the four MNIST files (train-/t10k- images/labels, .gz or raw IDX). The script
#   1. creates its own build venv (packaging/.buildenv) from packaging/requirements-build.txt: CPU torch,
#      no torchvision, no CUDA libraries; the app's dev venv is never touched;
#   2. runs PyInstaller on packaging/advstudio.spec (a one-folder bundle in build/linux/advstudio/);
#   3. adds licences, the icon, a desktop entry and install.sh;
#   4. runs the bundle's --self-test in a clean environment (env -i), and fails the build if it fails;
#   5. writes dist/advstudio-<version>-linux-x86_64.tar.gz (+ .sha256) and a size breakdown (…sizes.txt).
# Options: --python PY (a Python 3.11, default python3.11 or python3), --skip-self-test.
# Not part of CI (.ci/run): it takes minutes and ~2 GB of disk.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MNIST="" PY="" SELFTEST=1
while [ $# -gt 0 ]; do
  case $1 in
    --mnist) MNIST=${2:?--mnist needs a folder}; shift 2;;
    --mnist=*) MNIST=${1#*=}; shift;;
    --python) PY=${2:?--python needs an interpreter}; shift 2;;
    --skip-self-test) SELFTEST=0; shift;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "build_linux.sh: unknown argument $1 (try --help)" >&2; exit 2;;
  esac
done
[ -n "$MNIST" ] || { echo "usage: packaging/build_linux.sh --mnist DIR   (DIR: the four MNIST files)" >&2; exit 2; }
MNIST=$(cd "$MNIST" 2>/dev/null && pwd) || { echo "build_linux.sh: no such folder: $MNIST" >&2; exit 2; }
for stem in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [ -f "$MNIST/$stem.gz" ] || [ -f "$MNIST/$stem" ] \
    || { echo "build_linux.sh: $MNIST has no $stem(.gz); MNIST (LeCun & Cortes, CC BY-SA 3.0) is needed" >&2; exit 2; }
done
if [ -z "$PY" ]; then PY=$(command -v python3.11 || command -v python3); fi
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null \
  || echo "warning: $PY is not Python 3.11; the pinned torch 2.13.0 wheels exist for 3.10-3.13, the local one only for 3.11" >&2

VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' advstudio/__init__.py)
ARCH=$(uname -m)
NAME=advstudio-$VERSION-linux-$ARCH
VENV=packaging/.buildenv
BUILD=build/linux
START=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - START ))"; }

# ---- 1. build venv ------------------------------------------------------------------------------------------
step "build environment ($VENV)"
stamp=$( (grep -v '^ *#' packaging/requirements-build.txt; "$PY" --version) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  rc=0
  "$VENV/bin/python" -m pip install -q -r packaging/requirements-build.txt > "$VENV/pip.log" 2>&1 || rc=$?
  grep -v "^WARNING: Location" "$VENV/pip.log" || true  # (pip's notes about absent local index folders)
  if [ "$rc" -ne 0 ]; then
    echo "build_linux.sh: installing the build requirements failed. The CPU torch wheel (torch==2.13.0+cpu) comes" >&2
    echo "  from https://download.pytorch.org/whl/cpu: rerun with PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu" >&2
    exit 1
  fi
  echo "$stamp" > "$VENV/.stamp"
fi
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md, importlib.util, sys
import torch
bad = sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].lower().startswith(("nvidia", "triton")))
problems = []
if torch.version.cuda is not None:
    problems.append(f"torch {torch.__version__} is a CUDA build (cuda {torch.version.cuda}); the installer wants the CPU build")
if bad:
    problems.append("CUDA packages in the build venv: " + ", ".join(bad))
if importlib.util.find_spec("torchvision") is not None:
    problems.append("torchvision is installed; the bundle must prove the app runs with torch alone")
if problems:
    sys.exit("build_linux.sh: " + "; ".join(problems))
print(f"torch {torch.__version__} (CPU), python {sys.version.split()[0]}")
EOF

# ---- 2. PyInstaller ----------------------------------------------------------------------------------------
step "PyInstaller (one-folder bundle)"
rm -rf "$BUILD"
mkdir -p "$BUILD" dist
# (the grep drops torch's deprecation notes, printed while PyInstaller imports every torch submodule)
ADVSTUDIO_BUNDLE_MNIST="$MNIST" "$VENV/bin/python" -m PyInstaller --noconfirm \
  --log-level WARN --distpath "$BUILD" --workpath "$BUILD/work" packaging/advstudio.spec 2>&1 \
  | { grep -v -E "(Deprecation|Future|User)Warning|^ +(__import__\(name\)|warnings\.warn|import )" || true; }
APP=$BUILD/advstudio
[ -x "$APP/advstudio" ] || { echo "build_linux.sh: PyInstaller produced no $APP/advstudio" >&2; exit 1; }
# torch's libraries carry full symbol tables (~90 MB); the dynamic symbols stay, so this changes nothing at
# run time (the self-test below runs on the stripped bundle)
if command -v strip >/dev/null; then
  before=$(du -sm "$APP/_internal/torch/lib" | cut -f1)
  find "$APP/_internal/torch/lib" -name '*.so*' -type f -exec strip --strip-unneeded {} +
  echo "stripped torch/lib: ${before} MB -> $(du -sm "$APP/_internal/torch/lib" | cut -f1) MB"
fi

# ---- 3. licences, icon, desktop entry, installer --------------------------------------------------------------
step "licences, icon, desktop entry"
mkdir -p "$APP/licenses/third-party"
cp packaging/licenses/*.txt "$APP/licenses/"
"$VENV/bin/python" - "$APP/licenses/third-party" <<'EOF'
"""Copy every bundled distribution's own licence files (from its metadata) into licenses/third-party/<name>/."""
import importlib.metadata as md, shutil, sys, sysconfig
from pathlib import Path
out = Path(sys.argv[1])
skip = {"pip", "pyinstaller", "pyinstaller-hooks-contrib", "altgraph", "packaging", "setuptools", "networkx", "jinja2", "markupsafe"}
for dist in md.distributions():
    name = dist.metadata["Name"].lower()
    if name in skip:
        continue
    files = [f for f in (dist.files or []) if any(k in f.name.upper() for k in ("LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS"))
             and ".dist-info" in str(f)]
    for f in files:
        src = Path(dist.locate_file(f))
        if src.is_file():
            parts = f.parts[[i for i, p in enumerate(f.parts) if p.endswith(".dist-info")][0] + 1 :]
            dest = out / f"{name}-{dist.version}" / Path(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
py_license = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
if py_license.is_file():
    (out / "python").mkdir(exist_ok=True)
    shutil.copyfile(py_license, out / "python" / "LICENSE.txt")
print(f"licence files of {len(list(out.iterdir()))} components")
EOF
cp advstudio/resources/icons/advstudio.png "$APP/advstudio.png"
cp advstudio/resources/icons/advstudio.svg "$APP/advstudio.svg"
cp packaging/linux/advstudio.desktop "$APP/advstudio.desktop"
cp packaging/linux/install.sh "$APP/install.sh"
cp packaging/linux/README.txt "$APP/README.txt"
chmod 755 "$APP/install.sh" "$APP/advstudio.desktop"

# ---- 4. self-test in a clean environment ---------------------------------------------------------------------
if [ "$SELFTEST" = 1 ]; then
  step "self-test of the fresh bundle (clean environment)"
  home=$(mktemp -d)
  t0=$(date +%s%N)
  if ! env -i HOME="$home" PATH=/usr/bin:/bin LANG=C.UTF-8 "$APP/advstudio" --self-test; then
    echo "build_linux.sh: the bundle's self-test FAILED (its log: $home/.local/state/advstudio/log/advstudio.log)" >&2
    exit 1
  fi
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf 'self-test passed in %d.%03d s (wall clock, start-up included)\n' $((ms / 1000)) $((ms % 1000))
  rm -rf "$home"
fi

# ---- 5. archive and size report --------------------------------------------------------------------------------
step "archive"
rm -rf "$BUILD/work"
STAGE=$BUILD/stage
rm -rf "$STAGE" && mkdir -p "$STAGE"
mv "$APP" "$STAGE/advstudio"
tar -C "$STAGE" -czf "dist/$NAME.tar.gz" advstudio
(cd dist && sha256sum "$NAME.tar.gz" > "$NAME.tar.gz.sha256")
mv "$STAGE/advstudio" "$APP" && rmdir "$STAGE"

REPORT=dist/$NAME.sizes.txt
set +o pipefail  # `… | head` ends its writers early; that is not an error here
{
  echo "Adversarial Studio $VERSION, Linux $ARCH bundle ($(date -u +%Y-%m-%d))"
  echo
  printf 'bundle folder (unpacked): %s\n' "$(du -sh "$APP" | cut -f1)"
  printf 'archive %s: %s\n' "$NAME.tar.gz" "$(du -h "dist/$NAME.tar.gz" | cut -f1)"
  echo
  echo "largest parts of the unpacked bundle:"
  du -sh "$APP"/_internal/* "$APP"/licenses 2>/dev/null | sort -rh | head -15 | sed "s|$APP/||"
  echo
  echo "inside torch/:"
  du -sh "$APP"/_internal/torch/* 2>/dev/null | sort -rh | head -6 | sed "s|$APP/||"
  echo
  echo "inside PySide6/:"
  du -sh "$APP"/_internal/PySide6/Qt/* "$APP"/_internal/PySide6/*.so* 2>/dev/null | sort -rh | head -8 | sed "s|$APP/||"
  echo
  echo "largest single files:"
  find "$APP" -type f -printf '%s\t%P\n' | sort -rn | head -12 | awk -F'\t' '{printf "%8.1f MB  %s\n", $1/1048576, $2}'
} > "$REPORT"
set -o pipefail
cat "$REPORT"
step "done: dist/$NAME.tar.gz"
echo "Unpack it anywhere and run advstudio/advstudio (or advstudio/install.sh for a menu entry)."
