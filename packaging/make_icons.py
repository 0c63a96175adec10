"""Draw the app icon: a pixelated digit 7 on a dark tile, speckled with the red/blue of a perturbation.

Writes the same picture as SVG and PNG into advstudio/resources/icons/ (used by the window and the Linux
desktop entry) and as .ico (Windows) and .icns (macOS) into packaging/icons/. Needs only Pillow.
Run: python packaging/make_icons.py   (the outputs are committed; rerun only to change the design)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
GRID = 14  # the digit lives on a GRID×GRID pixel raster, like a coarse MNIST image
DIGIT = [
    "..............",
    "..............",
    "...########...",
    "...#########..",
    "..........##..",
    ".........##...",
    "........##....",
    "......#####...",
    ".......##.....",
    "......##......",
    ".....##.......",
    ".....##.......",
    "..............",
    "..............",
]
BACKGROUND = (24, 32, 56)
INK = (246, 246, 246)
RED, BLUE = (178, 24, 43), (33, 102, 172)


def cells() -> list[tuple[int, int, tuple[int, int, int]]]:
    """(row, col, colour) for every lit cell: the digit's ink and a fixed scatter of perturbation cells."""
    out = [(r, c, INK) for r, row in enumerate(DIGIT) for c, ch in enumerate(row) if ch == "#"]
    rng = random.Random(7)
    taken = {(r, c) for r, c, _ in out}
    for _ in range(16):
        r, c = rng.randrange(1, GRID - 1), rng.randrange(1, GRID - 1)
        if (r, c) not in taken:
            taken.add((r, c))
            out.append((r, c, RED if rng.random() < 0.5 else BLUE))
    return out


def svg(size: int = 256) -> str:
    margin, radius = size * 0.06, size * 0.18
    cell = (size - 2 * margin) / GRID
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}">',
        "<title>Adversarial Studio</title>",
        f'<rect x="0" y="0" width="{size}" height="{size}" rx="{radius:.1f}" fill="rgb{BACKGROUND}"/>',
    ]
    for r, c, colour in cells():
        x, y = margin + c * cell, margin + r * cell
        parts.append(f'<rect x="{x:.2f}" y="{y:.2f}" width="{cell:.2f}" height="{cell:.2f}" fill="rgb{colour}"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def png(size: int) -> Image.Image:
    scale = 4  # draw large, then downsample for smooth rounded corners
    big = size * scale
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    margin, radius = big * 0.06, big * 0.18
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=radius, fill=BACKGROUND + (255,))
    cell = (big - 2 * margin) / GRID
    for r, c, colour in cells():
        x, y = margin + c * cell, margin + r * cell
        draw.rectangle((round(x), round(y), round(x + cell) - 1, round(y + cell) - 1), fill=colour + (255,))
    return img.resize((size, size), Image.Resampling.LANCZOS)


def main() -> int:
    res = ROOT / "advstudio" / "resources" / "icons"
    pkg = ROOT / "packaging" / "icons"
    res.mkdir(parents=True, exist_ok=True)
    pkg.mkdir(parents=True, exist_ok=True)
    (res / "advstudio.svg").write_text(svg(), encoding="utf-8")
    png(256).save(res / "advstudio.png")
    big = png(1024)
    big.save(pkg / "advstudio.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    big.save(pkg / "advstudio.icns")
    for p in (res / "advstudio.svg", res / "advstudio.png", pkg / "advstudio.ico", pkg / "advstudio.icns"):
        print(f"wrote {p.relative_to(ROOT)} ({p.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
