"""MNIST (or any dataset in its IDX layout: Fashion-MNIST, KMNIST, EMNIST, … with its class names, see
core.classes) from a folder of IDX files (gzipped or raw)."""

from __future__ import annotations

import gzip
import os
import struct
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from advstudio.core.classes import (
    DIGITS,
    check_labels,
    class_names,
    label_offset,
    numbered_names,
    resolve_layout,
    transposed,
)
from advstudio.core.classes import KNOWN_LAYOUTS as KNOWN_LAYOUTS  # re-exported: the layouts --classes names
from advstudio.core.classes import dataset_classes as dataset_classes  # re-exported
from advstudio.core.errors import DatasetError

if TYPE_CHECKING:
    import torch

ENV_VAR = "ADVSTUDIO_MNIST_DIR"
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
FILES_NEEDED = (
    "Get the four standard MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; MNIST by Yann LeCun and Corinna Cortes, "
    "CC BY-SA 3.0) into one folder"
)
CLI_POINTER = (
    f"and point Adversarial Studio at it with --data DIR, the {ENV_VAR} environment variable, or the dataset "
    "folder setting; when online, --download fetches them."
)
WINDOW_POINTER = "and choose that folder with Choose MNIST folder… (or File ▸ Set MNIST folder…)."
CLI_LAYOUT = "choose the right --classes layout"
WINDOW_LAYOUT = "choose the right layout under File ▸ Dataset classes"
HOW_TO_GET = f"{FILES_NEEDED} {CLI_POINTER}"


def in_window_words(message: str) -> str:
    """A dataset message for the window: the command line's --data / environment-variable pointer becomes the
    window's folder button, and --classes the window's menu (the CLI keeps the full text)."""
    return message.replace(CLI_POINTER, WINDOW_POINTER).replace(CLI_LAYOUT, WINDOW_LAYOUT)


@dataclass(frozen=True)
class MnistSplit:
    """One split held in memory once: images N×1×28×28 float32 in [0, 1], labels N int64 in 0..K-1, and the
    names of the K classes (the ten digits unless the dataset says otherwise)."""

    images: torch.Tensor
    labels: torch.Tensor
    source: Path
    classes: tuple[str, ...] = DIGITS

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def head(self, limit: int | None) -> "MnistSplit":
        if limit is None or limit >= len(self):
            return self
        return MnistSplit(self.images[:limit], self.labels[:limit], self.source, self.classes)


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The MNIST folder: the explicit one (a --data flag), else $ADVSTUDIO_MNIST_DIR, else the dataset
    folder in the settings (core.settings, shared with the window), else a copy bundled with an installed
    app, else None."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    from advstudio.core.settings import load_settings

    configured = load_settings().get("mnist_dir")
    if isinstance(configured, str) and configured:
        return Path(configured).expanduser()
    try:
        from importlib.resources import files

        bundled = Path(str(files("advstudio") / "resources" / "mnist"))
        if bundled.is_dir() and find_split_file(bundled, SPLIT_FILES["test"][0]) is not None:
            return bundled
    except Exception:  # noqa: BLE001 - a missing resource simply means "not bundled"
        pass
    return None


def find_split_file(folder: Path, stem: str) -> Path | None:
    """An IDX file of MNIST under folder (plain or gzipped, also in torchvision's MNIST/raw layout)."""
    for base in (folder, folder / "MNIST" / "raw", folder / "raw"):
        for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
            p = base / name
            if p.exists() and not p.is_dir():  # a FIFO or device is returned, for read_idx to refuse by name
                return p
    return None


def mnist_problem(data_dir: str | None, splits: tuple[str, ...] = (), unset_note: str = "",
                  missing_note: str = "") -> str | None:
    """A readable reason MNIST cannot be read, or None when the folder looks usable: checked before a job that
    needs it is submitted (the job still reports files it cannot parse). `splits` ("train", "test") must have
    their files there; the notes end the "no folder" and "missing file" sentences."""
    folder = resolve_data_dir(data_dir)
    if folder is None:
        return f"No MNIST folder is set{unset_note}. {HOW_TO_GET}"
    if not folder.is_dir():
        return f"The MNIST folder {folder} does not exist. {HOW_TO_GET}"
    if not any(find_split_file(folder, stem) for stems in SPLIT_FILES.values() for stem in stems):
        return f"The folder {folder} has no MNIST files. {HOW_TO_GET}"
    for split in splits:
        for stem in SPLIT_FILES[split]:
            if find_split_file(folder, stem) is None:
                return f"{folder} has no {stem} (or {stem}.gz){missing_note}. {HOW_TO_GET}"
    return None


def mnist_counts(folder: str | os.PathLike) -> dict[str, int]:
    """How many digits each split in `folder` holds ({"train": 60000, "test": 10000}), read from the image
    files' headers (cheap: a few bytes each); a split whose two files are not both there, or whose image header
    is not MNIST's, is left out."""
    counts: dict[str, int] = {}
    for split, (img_stem, lbl_stem) in SPLIT_FILES.items():
        img = find_split_file(Path(folder), img_stem)
        if img is None or find_split_file(Path(folder), lbl_stem) is None:
            continue
        if not img.is_file():
            continue  # a FIFO would block here
        try:
            with img.open("rb") as fh:
                gzipped = fh.read(2) == b"\x1f\x8b"
            with (gzip.open(img, "rb") if gzipped else img.open("rb")) as fh:
                head = fh.read(8)
        except (OSError, EOFError, zlib.error):
            continue
        if len(head) == 8 and struct.unpack(">I", head[:4])[0] == IMAGE_MAGIC:
            counts[split] = int(struct.unpack(">I", head[4:])[0])
    return counts


# Decompressed-size limits: a .gz may inflate to at most what its own header declares (plus a little slack,
# read only to report trailing bytes), and never past MAX_IDX_BYTES; both are enforced while inflating, so a
# small file that claims or inflates to gigabytes costs no more memory than the limit.
MAX_IDX_BYTES = 128 * 1024 * 1024  # about 170,000 28×28 images: well above MNIST's 60,000 (47 MB)
TRAILING_SLACK = 64
_CHUNK = 1 << 20


def _dataset_error(path: Path, what: str) -> DatasetError:
    return DatasetError(f"{path}: {what}. {HOW_TO_GET}")


def _open_idx(path: Path):
    """The file opened for reading, inflating on the fly when it is gzipped; refuses folders, FIFOs, devices
    and files larger than the limit before opening (a FIFO would block forever)."""
    from advstudio.core.files import NotARegularFile, check_regular_file

    try:
        check_regular_file(path, max_bytes=MAX_IDX_BYTES)
        fh = path.open("rb")
    except NotARegularFile as exc:
        raise DatasetError(f"{exc}. {HOW_TO_GET}") from None
    except OSError as exc:
        raise _dataset_error(path, f"cannot be read ({exc.strerror or exc})") from exc
    if fh.read(2) == b"\x1f\x8b":
        fh.seek(0)
        return gzip.GzipFile(fileobj=fh, mode="rb"), fh
    fh.seek(0)
    return fh, fh


def _read_at_most(stream, n: int) -> bytes:
    """Up to n bytes, inflated chunk by chunk (so memory never exceeds n plus one chunk)."""
    parts, left = [], n
    while left > 0:
        chunk = stream.read(min(_CHUNK, left))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_idx(path: Path, kind: str) -> np.ndarray:
    """Read an IDX file of unsigned bytes: kind "images" (N×28×28) or "labels" (N). The header is checked
    first; then exactly the bytes it declares are read (never more than MAX_IDX_BYTES)."""
    magic_expected, ndim = (IMAGE_MAGIC, 3) if kind == "images" else (LABEL_MAGIC, 1)
    stream, raw = _open_idx(path)
    try:
        with raw, stream:
            head = _read_at_most(stream, 4 + 4 * ndim)
            dims = _check_header(path, head, kind, magic_expected, ndim)
            expected = int(np.prod(dims, dtype=np.int64))
            body = _read_at_most(stream, expected + TRAILING_SLACK)
    except (OSError, EOFError, zlib.error) as exc:
        raise _dataset_error(path, f"the gzip data is corrupt or truncated ({exc}). Download the file again") from exc
    if len(body) < expected:
        raise _dataset_error(path, f"the file is truncated: the header promises {dims[0]} {kind} ({expected} bytes) "
                                   f"but only {len(body)} bytes follow. Download the file again")
    if len(body) > expected:
        more = "" if len(body) < expected + TRAILING_SLACK else " or more"
        raise _dataset_error(path, f"{len(body) - expected}{more} unexpected bytes after the data")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _check_header(path: Path, head: bytes, kind: str, magic_expected: int, ndim: int) -> tuple[int, ...]:
    """The dimensions an IDX header declares, after checking its magic number, shape and size."""
    if len(head) >= 4:  # the magic number first: a wrong kind of file is not "truncated"
        (magic,) = struct.unpack(">I", head[:4])
        if magic != magic_expected:
            raise _dataset_error(path, f"wrong magic number 0x{magic:08x} (expected 0x{magic_expected:08x} for "
                                       f"MNIST {kind}); this is not an MNIST {kind} file")
    if len(head) < 4 + 4 * ndim:
        raise _dataset_error(path, f"the file is truncated (only {len(head)} bytes, no full header)")
    dims = struct.unpack(">" + "I" * ndim, head[4 : 4 + 4 * ndim])
    if kind == "images" and dims[1:] != (28, 28):
        raise _dataset_error(path, f"images are {dims[1]}×{dims[2]}, expected 28×28")
    if dims[0] == 0:
        raise _dataset_error(path, f"the file holds no {kind} (its header says 0)")
    size = int(np.prod(dims, dtype=np.int64))
    if size > MAX_IDX_BYTES:
        raise _dataset_error(path, f"the header declares {dims[0]:,} {kind} ({size / 1e6:.0f} MB), more than the "
                                   f"{MAX_IDX_BYTES / 1e6:.0f} MB a dataset file may hold")
    return dims


SPLIT_CACHE = 4  # splits kept loaded (train and test of two folders); the train split alone is 188 MB
_cache: OrderedDict[tuple, MnistSplit] = OrderedDict()  # least recently used first
_cache_lock = threading.Lock()


def load_split(folder: str | os.PathLike | None, split: str = "test", download: bool = False,
               layout: str | None = None) -> MnistSplit:
    """Load one split ("train" or "test") into tensors once; later calls reuse the same tensors. The class
    names come from core.classes.dataset_classes (`layout`: a KNOWN_LAYOUTS name, as --classes gives it; else
    the folder's classes.txt or name). For the EMNIST layouts ("letters", "emnist-*") each image is transposed
    on load (EMNIST's IDX files store them column-major) and the letters' labels 1..26 become 0..25."""
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")
    resolved = resolve_data_dir(folder)
    if resolved is None:
        raise DatasetError(f"No MNIST folder is configured. {HOW_TO_GET}")
    img_stem, lbl_stem = SPLIT_FILES[split]
    img_path, lbl_path = find_split_file(resolved, img_stem), find_split_file(resolved, lbl_stem)
    if (img_path is None or lbl_path is None) and download:
        _download(resolved)
        img_path, lbl_path = find_split_file(resolved, img_stem), find_split_file(resolved, lbl_stem)
    for stem, path in ((img_stem, img_path), (lbl_stem, lbl_path)):
        if path is None:
            where = "does not exist" if not resolved.is_dir() else f"has no {stem} or {stem}.gz"
            raise DatasetError(f"{resolved}: the MNIST folder {where}. {HOW_TO_GET}")
    if img_path is None or lbl_path is None:  # unreachable after the loop above; keeps type checkers quiet
        raise DatasetError(f"{resolved}: the MNIST files are missing. {HOW_TO_GET}")
    chosen = resolve_layout(resolved, layout)
    txt = resolved / "classes.txt"
    key = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in (img_path, lbl_path)) + (
        layout, (txt.stat().st_mtime_ns, txt.stat().st_size) if txt.is_file() else None)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    images = read_idx(img_path, "images")
    labels = read_idx(lbl_path, "labels")
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{img_path}: holds {images.shape[0]} images but {lbl_path.name} holds {labels.shape[0]} labels; "
            f"the files do not belong together. {HOW_TO_GET}"
        )
    classes = _split_classes(resolved, split, labels, layout)
    try:
        check_labels(labels, classes, label_offset(chosen), lbl_path)
    except DatasetError as exc:
        raise DatasetError(f"{exc}. {HOW_TO_GET}") from None
    if transposed(chosen):
        images = images.transpose(0, 2, 1)
    import torch

    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1).contiguous()
    y = torch.from_numpy(labels.astype(np.int64) - label_offset(chosen))
    result = MnistSplit(x, y, resolved, tuple(classes))
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > SPLIT_CACHE:  # a file rewritten or another folder: the oldest split goes
            _cache.popitem(last=False)
    return result


def _split_classes(folder: Path, split: str, labels: np.ndarray, layout: str | None) -> list[str]:
    """The class names of a split; numbered ones count the labels of both splits, so that a test split that
    lacks the last class still has the training split's number of classes."""
    other = find_split_file(folder, SPLIT_FILES["test" if split == "train" else "train"][1])
    if other is None or not numbered_names(folder, layout):
        return class_names(folder, labels, layout)
    try:
        return class_names(folder, np.concatenate([labels, read_idx(other, "labels")]), layout)
    except DatasetError:  # the other split reports its own problem when it is loaded
        return class_names(folder, labels, layout)


def _download(root: Path) -> None:
    """Fetch MNIST with torchvision (only when the user asks with --download)."""
    try:
        from torchvision.datasets import MNIST  # local import: torchvision is optional at run time
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"Cannot download MNIST: torchvision is not available ({exc}). {HOW_TO_GET}") from exc
    root.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        try:
            MNIST(str(root), train=train, download=True)
        except Exception as exc:  # noqa: BLE001 - offline machines end up here
            raise DatasetError(f"{root}: downloading MNIST failed ({exc}). {HOW_TO_GET}") from exc
