"""Whether the studio's MNIST folder setting can be read, in words, before a job that needs it is submitted
(the worker still reports files it cannot parse)."""

from __future__ import annotations


def mnist_problem(data_dir: str | None, splits: tuple[str, ...] = (), unset_note: str = "",
                  missing_note: str = "") -> str | None:
    """A readable reason MNIST cannot be read, or None when the folder looks usable. `splits` ("train", "test")
    must have their files there; the notes end the "no folder" and "missing file" sentences."""
    from advstudio.core.data import HOW_TO_GET, SPLIT_FILES, _find, resolve_data_dir

    folder = resolve_data_dir(data_dir)
    if folder is None:
        return f"No MNIST folder is set{unset_note}. {HOW_TO_GET}"
    if not folder.is_dir():
        return f"The MNIST folder {folder} does not exist. {HOW_TO_GET}"
    for split in splits:
        for stem in SPLIT_FILES[split]:
            if _find(folder, stem) is None:
                return f"{folder} has no {stem} (or {stem}.gz){missing_note}. {HOW_TO_GET}"
    return None


def mnist_folder(data_dir: str | None) -> str:
    """The folder the jobs read (call after mnist_problem returned None)."""
    from advstudio.core.data import resolve_data_dir

    return str(resolve_data_dir(data_dir))
