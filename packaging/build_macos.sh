#!/usr/bin/env bash
# Build the macOS (Apple silicon, arm64) app and disk image of Adversarial Studio:
#
#   packaging/build_macos.sh --mnist DIR
#
# Needs a Python 3.11 for arm64 (python.org installer or Homebrew) and Xcode's command line tools (codesign,
# hdiutil ship with macOS). Steps: build venv (packaging/.buildenv) from packaging/requirements-build.txt
# (PyPI's macOS torch wheel is CPU + Apple MPS, no CUDA), PyInstaller → build/macos/Adversarial Studio.app
# (spec: BUNDLE with icon, Info.plist, target_arch arm64), ad-hoc code signature (or $ADVSTUDIO_CODESIGN_ID),
# the app's --self-test, then dist/advstudio-<version>-macos-arm64.dmg with an Applications link.
# Notarization (for machines that block unsigned downloads) needs an Apple Developer ID: see packaging/README.md.
# Untested here (the project's machines are Linux): it is what packaging/ci/github-macos.yml runs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MNIST="" PY=${PYTHON:-python3.11} SELFTEST=1
while [ $# -gt 0 ]; do
  case $1 in
    --mnist) MNIST=$2; shift 2;;
    --python) PY=$2; shift 2;;
    --skip-self-test) SELFTEST=0; shift;;
    *) echo "usage: packaging/build_macos.sh --mnist DIR [--python PY] [--skip-self-test]" >&2; exit 2;;
  esac
done
[ -n "$MNIST" ] && [ -d "$MNIST" ] || { echo "build_macos.sh: --mnist DIR (the four MNIST files) is required" >&2; exit 2; }
MNIST=$(cd "$MNIST" && pwd)
[ "$(uname -s)" = Darwin ] || { echo "build_macos.sh: run this on macOS" >&2; exit 2; }
export ADVSTUDIO_TARGET_ARCH=${ADVSTUDIO_TARGET_ARCH:-arm64}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' advstudio/__init__.py)
VENV=packaging/.buildenv
BUILD=build/macos
APPNAME="Adversarial Studio.app"

echo "== build environment"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -r packaging/requirements-build.txt
"$VENV/bin/python" -c "import platform, sys, torch, importlib.util as u; \
  sys.exit('need an arm64 Python' if platform.machine() != '$ADVSTUDIO_TARGET_ARCH' and '$ADVSTUDIO_TARGET_ARCH' != 'universal2' else \
  'torchvision must not be in the build venv' if u.find_spec('torchvision') else 0)"

echo "== PyInstaller"
rm -rf "$BUILD"
ADVSTUDIO_BUNDLE_MNIST="$MNIST" "$VENV/bin/python" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$BUILD" --workpath "$BUILD/work" packaging/advstudio.spec
APP="$BUILD/$APPNAME"
mkdir -p "$APP/Contents/Resources/licenses"
cp packaging/licenses/*.txt "$APP/Contents/Resources/licenses/"
# PyInstaller signs ad hoc; adding files afterwards needs a new (deep) signature over the whole bundle
codesign --force --deep --sign "${ADVSTUDIO_CODESIGN_ID:--}" ${ADVSTUDIO_CODESIGN_ID:+--options runtime --timestamp} "$APP"
codesign --verify --deep --strict "$APP"

if [ "$SELFTEST" = 1 ]; then
  echo "== self-test"
  logs=$(mktemp -d)
  if ! env -i HOME="$HOME" PATH=/usr/bin:/bin ADVSTUDIO_LOG_DIR="$logs" "$APP/Contents/MacOS/advstudio" --self-test; then
    grep -E "PASS|FAIL|SKIP|self-test" "$logs/advstudio.log" || true
    echo "build_macos.sh: the app's self-test FAILED" >&2; exit 1
  fi
  grep -E "PASS|FAIL|SKIP|self-test|startup_s" "$logs/advstudio.log" || true
fi

echo "== disk image"
mkdir -p dist
STAGE=$BUILD/dmg
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
cp packaging/licenses/MNIST-ATTRIBUTION.txt packaging/licenses/THIRD-PARTY-NOTICES.txt "$STAGE/"
DMG=dist/advstudio-$VERSION-macos-$ADVSTUDIO_TARGET_ARCH.dmg
rm -f "$DMG"
hdiutil create -volname "Adversarial Studio $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -imagekey zlib-level=9 -ov "$DMG"
hdiutil verify "$DMG"
du -sh "$APP" "$DMG"
