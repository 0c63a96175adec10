"""Write a synthetic dataset of the 26 lower-case letters in MNIST's IDX layout, with a classes.txt: each letter
rendered in the fonts this machine has (and Pillow's own), at random sizes, stroke widths, slants and rotations,
then cropped, scaled and centred the MNIST way (the canvas's own preprocessing). No downloaded bytes: it shows
"any IDX dataset" (File ▸ Set MNIST folder…, `advstudio train --data`) on a machine without EMNIST.

    python scripts/font_letters.py OUT_DIR [--train 10400] [--test 2600] [--seed 0]

Then: `advstudio train --data OUT_DIR --arch mlp --epochs 3 --out letters.safetensors` and open the model and the
folder in the window. A model trained on it reads hand-drawn letters only roughly: fonts are not handwriting.
"""

from __future__ import annotations

import argparse
import gzip
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from advstudio.core.images import preprocess_ink  # noqa: E402

LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
FONT_DIRS = ("/usr/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")
CANVAS = 96


def fonts(limit: int = 24) -> list[Path | None]:
    """TrueType fonts found on this machine (None stands for Pillow's bundled font)."""
    found: list[Path | None] = [None]
    for d in FONT_DIRS:
        if Path(d).is_dir():
            found += sorted(Path(d).rglob("*.ttf"))[:limit]
    return found


def render(letter: str, font_path: Path | None, rng: np.random.Generator) -> np.ndarray:
    size = int(rng.integers(48, 72))
    font = ImageFont.load_default(size) if font_path is None else ImageFont.truetype(str(font_path), size)
    im = Image.new("L", (CANVAS, CANVAS), 0)
    ImageDraw.Draw(im).text((CANVAS / 2, CANVAS / 2), letter, fill=255, font=font, anchor="mm",
                            stroke_width=int(rng.integers(0, 4)), stroke_fill=255)
    shear = float(rng.uniform(-0.25, 0.25))
    im = im.transform(im.size, Image.Transform.AFFINE, (1, shear, -shear * CANVAS / 2, 0, 1, 0),
                      Image.Resampling.BILINEAR)
    im = im.rotate(float(rng.uniform(-12, 12)), Image.Resampling.BILINEAR)
    return preprocess_ink(np.asarray(im, dtype=np.float32) / 255.0)


def write_split(folder: Path, stem: tuple[str, str], images: np.ndarray, labels: np.ndarray) -> None:
    n = len(labels)
    (folder / f"{stem[0]}.gz").write_bytes(gzip.compress(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes()))
    (folder / f"{stem[1]}.gz").write_bytes(gzip.compress(struct.pack(">II", 0x801, n) + labels.tobytes()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--train", type=int, default=10400)
    p.add_argument("--test", type=int, default=2600)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    faces = fonts()
    args.out.mkdir(parents=True, exist_ok=True)
    stems = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    for split, n in (("train", args.train), ("test", args.test)):
        labels = (np.arange(n) % 26).astype(np.uint8)
        rng.shuffle(labels)
        images = np.empty((n, 28, 28), dtype=np.uint8)
        for i, k in enumerate(labels):
            face = faces[int(rng.integers(len(faces)))]
            images[i] = np.round(render(LETTERS[k], face, rng) * 255).astype(np.uint8)
        write_split(args.out, stems[split], images, labels)
        print(f"{split}: {n} images")
    (args.out / "classes.txt").write_text("\n".join(LETTERS) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(faces)} fonts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
