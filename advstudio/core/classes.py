"""The class names of a dataset in MNIST's IDX layout (MNIST, Fashion-MNIST, KMNIST, EMNIST, …): from the folder's
classes.txt, from a known layout (named with --classes, or recognised by the folder's name), else numbered
"0".."K-1". A layout also says how its files differ from MNIST's: EMNIST stores its images transposed and its
letters' labels run 1..26. No torch, no Qt."""

from __future__ import annotations

import os
from pathlib import Path

from advstudio.core.errors import DatasetError

CLASSES_FILE = "classes.txt"
MAX_CLASSES_FILE_BYTES = 64 * 1024
MAX_CLASS_NAMES = 1000
MAX_CLASS_NAME = 60  # characters
MIN_CLASS_NAMES = 2

DIGITS: tuple[str, ...] = tuple(str(i) for i in range(10))
KNOWN_LAYOUTS: dict[str, list[str]] = {
    "digits": list(DIGITS),
    "fashion": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                "Ankle boot"],
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
    "letters": [chr(c) for c in range(ord("a"), ord("z") + 1)],
    "emnist-digits": list(DIGITS),
}
LAYOUT_NAMES = tuple(KNOWN_LAYOUTS)
# The first label of a layout whose labels do not start at 0: EMNIST letters' run 1..26 (a = 1), and are
# shifted down on load so that label 1 is class 0 ("a").
LABEL_OFFSET = {"letters": 1}
# Folder names (lower case, "_" and " " read as "-") recognised as a layout when no --classes is given; only
# the datasets' own names: a folder merely called "letters" is not taken for EMNIST (whose labels and images
# would then be shifted and transposed).
FOLDER_LAYOUTS = {
    "fashion-mnist": "fashion", "fashionmnist": "fashion",
    "kmnist": "kmnist",
    "emnist-letters": "letters", "emnistletters": "letters",
    "emnist-digits": "emnist-digits", "emnistdigits": "emnist-digits",
}


def class_label(index: int, names) -> str:
    """A class for a line of output: its index, and its name when the names are not just the indices
    (3 "Dress"; 3 for a digit)."""
    if names is None or not 0 <= index < len(names) or names[index] == str(index):
        return str(index)
    return f'{index} "{names[index]}"'


def transposed(layout: str | None) -> bool:
    """Whether a layout's IDX images are stored transposed (column-major) relative to MNIST's: EMNIST's are."""
    return layout is not None and (layout == "letters" or layout.startswith("emnist-"))


def label_offset(layout: str | None) -> int:
    return LABEL_OFFSET.get(layout or "", 0)


def folder_layout(folder: str | os.PathLike) -> str | None:
    """The known layout a folder's name names ("fashion-mnist" → "fashion", "EMNIST_letters" → "letters"), also
    for torchvision's NAME/raw layout; None for any other name."""
    path = Path(folder)
    for part in (path.name, path.parent.name if path.name.lower() == "raw" else ""):
        key = part.lower().replace("_", "-").replace(" ", "-")
        if key in FOLDER_LAYOUTS:
            return FOLDER_LAYOUTS[key]
    return None


def resolve_layout(folder: str | os.PathLike, layout: str | None = None) -> str | None:
    """The layout in force: the one asked for (checked), else the folder name's, else None."""
    if layout is not None:
        if layout not in KNOWN_LAYOUTS:
            raise ValueError(f"unknown class layout {layout!r}; expected one of {', '.join(LAYOUT_NAMES)}")
        return layout
    return folder_layout(folder)


def read_classes_file(path: str | os.PathLike) -> list[str]:
    """The class names of a classes.txt: UTF-8, one name a line, blank lines and surrounding spaces ignored;
    2–1000 distinct names of at most 60 characters, in a file of at most 64 KB. DatasetError, naming the file
    (and the line), otherwise."""
    from advstudio.core.files import NotARegularFile, check_regular_file

    path = Path(path)
    try:
        check_regular_file(path, max_bytes=MAX_CLASSES_FILE_BYTES)
        data = path.read_bytes()
    except NotARegularFile as exc:
        raise DatasetError(f"{exc} (a class-name file may have at most {MAX_CLASSES_FILE_BYTES // 1024} KB)") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_CLASSES_FILE_BYTES:  # grew after the check
        raise DatasetError(f"{path}: more than {MAX_CLASSES_FILE_BYTES // 1024} KB; a class-name file is smaller")
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise DatasetError(f"{path}, line {line}: holds a NUL byte; this is not a text file of class names")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DatasetError(f"{path}, line {line}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    names: list[str] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        name = raw.strip()
        if not name:
            continue
        where = f"{path}, line {number}"
        if not name.isprintable():
            raise DatasetError(f"{where}: the class name holds a control or invisible character")
        if len(name) > MAX_CLASS_NAME:
            raise DatasetError(f"{where}: the class name has {len(name)} characters, more than {MAX_CLASS_NAME}")
        if name in first_line:
            raise DatasetError(f"{where}: the class name {name!r} is already on line {first_line[name]}; "
                               "each class needs its own name")
        if len(names) >= MAX_CLASS_NAMES:
            raise DatasetError(f"{where}: more than {MAX_CLASS_NAMES} class names")
        first_line[name] = number
        names.append(name)
    if len(names) < MIN_CLASS_NAMES:
        raise DatasetError(f"{path}: holds {len(names)} class name(s); a dataset needs at least {MIN_CLASS_NAMES} "
                           "(one a line)")
    return names


def numbered(labels) -> list[str]:
    """"0".."K-1" for labels 0..K-1 (K = max label + 1), and at least the ten digits (so MNIST and any subset of
    it stays ten classes). Labels past 9 count as more classes only when every class from 0 to the largest
    label appears: a stray large label in digits is damage, not a new class (check_labels then refuses it)."""
    import numpy as np

    arr = np.asarray(labels if labels is not None else [], dtype=np.int64).ravel()
    top = int(arr.max()) if arr.size else -1
    if top <= 9 or len(np.unique(arr)) != top + 1 or int(arr.min()) < 0:
        return list(DIGITS)
    return [str(i) for i in range(top + 1)]


def dataset_classes(folder: str | os.PathLike, labels=None, layout: str | None = None) -> list[str]:
    """The class names of the dataset in `folder`: a --classes layout when one is given, else its classes.txt,
    else the known layout its name names, else "0".."K-1" with K the largest of `labels` plus 1 (at least 10).
    When `labels` are given they are checked: every label (after the layout's offset: EMNIST letters' 1..26
    become 0..25) must name one of the classes, else a DatasetError says which is out of range."""
    names = class_names(folder, labels, layout)
    if labels is not None:
        check_labels(labels, names, label_offset(resolve_layout(folder, layout)), Path(folder))
    return names


def class_names(folder: str | os.PathLike, labels=None, layout: str | None = None) -> list[str]:
    """dataset_classes without the check of the labels."""
    chosen = resolve_layout(folder, layout)
    if layout is not None:
        return list(KNOWN_LAYOUTS[layout])
    txt = Path(folder) / CLASSES_FILE
    if txt.exists() or txt.is_symlink():
        return read_classes_file(txt)
    if chosen is not None:
        return list(KNOWN_LAYOUTS[chosen])
    return numbered(labels)


def numbered_names(folder: str | os.PathLike, layout: str | None = None) -> bool:
    """Whether the folder's classes are numbered from its labels (no layout, no classes.txt)."""
    txt = Path(folder) / CLASSES_FILE
    return resolve_layout(folder, layout) is None and not (txt.exists() or txt.is_symlink())


def check_labels(labels, names: list[str], offset: int, where: Path) -> None:
    """DatasetError when a label (raw, before `offset` is taken off) names no class."""
    import numpy as np

    arr = np.asarray(labels).astype(np.int64)
    if not arr.size:
        return
    lo, hi = int(arr.min()), int(arr.max())
    for bad in (lo, hi):
        if not offset <= bad < offset + len(names):
            shown = f"{offset}–{offset + len(names) - 1}"
            extra = (f" (this layout's labels start at {offset}: label {offset} is class 0, {names[0]!r})"
                     if offset else " (labels past 9 count as more classes only when every class from 0 to "
                     "the largest label appears)" if tuple(names) == DIGITS and bad > 9 else "")
            raise DatasetError(f"{where}: label {bad} is out of range {shown} for the {len(names)} classes of this "
                               f"dataset{extra}; add a {CLASSES_FILE} with one name per class, or choose the "
                               "right --classes layout")
