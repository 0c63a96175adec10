#!/bin/sh
# Add Adversarial Studio to your applications menu (no administrator rights needed):
#   ./install.sh              installs a menu entry and icon for this folder, and ~/.local/bin/advstudio
#   ./install.sh --uninstall  removes them again (this folder stays; delete it yourself)
# The app runs from this folder: move the folder first if you want it elsewhere, then run install.sh.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
APPS=$DATA/applications
ICONS=$DATA/icons/hicolor
BIN=$HOME/.local/bin

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$APPS/advstudio.desktop" "$ICONS/256x256/apps/advstudio.png" "$ICONS/scalable/apps/advstudio.svg"
  [ -L "$BIN/advstudio" ] && rm -f "$BIN/advstudio"
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$APPS" 2>/dev/null || true
  echo "Adversarial Studio's menu entry was removed. Delete $HERE to remove the program itself."
  exit 0
fi

[ -x "$HERE/advstudio" ] || { echo "install.sh: $HERE/advstudio is missing; unpack the whole archive first" >&2; exit 1; }
mkdir -p "$APPS" "$ICONS/256x256/apps" "$ICONS/scalable/apps" "$BIN"
cp "$HERE/advstudio.png" "$ICONS/256x256/apps/advstudio.png"
cp "$HERE/advstudio.svg" "$ICONS/scalable/apps/advstudio.svg"
# the desktop entry with this folder's absolute path (quoted, so a folder with spaces works)
esc=$(printf '%s' "$HERE/advstudio" | sed 's/\\/\\\\\\\\/g; s/"/\\\\"/g; s/`/\\\\`/g; s/\$/\\\\$/g')
esc=$(printf '%s' "$esc" | sed 's/[\\&|]/\\&/g')  # escaped again for the sed below
sed -e "s|^Exec=.*|Exec=\"$esc\"|" -e "s|^Icon=.*|Icon=advstudio|" "$HERE/advstudio.desktop" > "$APPS/advstudio.desktop"
chmod 644 "$APPS/advstudio.desktop"
ln -sfn "$HERE/advstudio" "$BIN/advstudio"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$APPS" 2>/dev/null || true
echo "Installed: 'Adversarial Studio' is in your applications menu (and 'advstudio' in $BIN)."

# Qt's X11 support needs libxcb-cursor0, which some distributions do not install by default
if [ -z "${WAYLAND_DISPLAY:-}" ] && command -v ldconfig >/dev/null 2>&1 \
   && ! ldconfig -p 2>/dev/null | grep -q 'libxcb-cursor\.so\.0' && [ ! -e "$HERE/_internal/libxcb-cursor.so.0" ]; then
  echo "Note: if the window does not open, install libxcb-cursor0 (Debian/Ubuntu: sudo apt install libxcb-cursor0)."
fi
