"""Shared fixtures: the real MNIST (skipped with a visible reason when absent), the bundled model, and
writers for small synthetic IDX files and digit images."""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

# Like the app (core.model.limit_threads): leave one core free. On a small machine shared with other work,
# torch's default of one thread per core oversubscribes the CPU and slows training steps tenfold or more.
torch.set_num_threads(max(1, (os.cpu_count() or 1) - 1))

# Keep the suite away from the user's real settings file and log folder; subprocesses inherit these.
os.environ["ADVSTUDIO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="advstudio-test-config-")
os.environ["ADVSTUDIO_LOG_DIR"] = tempfile.mkdtemp(prefix="advstudio-test-log-")


@pytest.fixture(autouse=True)
def _private_settings(tmp_path_factory, monkeypatch):
    """Each test gets its own settings file, so a folder one test stores never leaks into the next."""
    monkeypatch.setenv("ADVSTUDIO_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))

MNIST_SKIP_REASON = (
    "ADVSTUDIO_MNIST_DIR not set: point it at a folder with the four MNIST files "
    "(e.g. ../shared/mnist) to run the tests that need the real data"
)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST folder from $ADVSTUDIO_MNIST_DIR; the test is skipped, with the reason shown, without it."""
    value = os.environ.get("ADVSTUDIO_MNIST_DIR")
    if not value:
        pytest.skip(MNIST_SKIP_REASON)
    path = Path(value).expanduser()
    if not path.is_dir():
        pytest.skip(f"ADVSTUDIO_MNIST_DIR={value} is not a folder: {MNIST_SKIP_REASON}")
    return path


@pytest.fixture(scope="session")
def mnist_test(mnist_dir):
    from advstudio.core.data import load_split

    return load_split(mnist_dir, "test")


@pytest.fixture(scope="session")
def mnist_train(mnist_dir):
    from advstudio.core.data import load_split

    return load_split(mnist_dir, "train")


@pytest.fixture(scope="session")
def bundled_model():
    """The model shipped in advstudio/resources (part of the repository: a missing file is a failure)."""
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model

    path = bundled_model_path()
    if not path.is_file():
        pytest.fail(f"the bundled model {path} is missing; it is part of the repository")
    model, _meta = load_model(path)
    return model


def _idx_bytes(magic: int, dims: tuple[int, ...], body: bytes) -> bytes:
    return struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims) + body


@pytest.fixture
def write_idx():
    """write_idx(folder, split, images, labels, gz=True): write one split as IDX files (synthetic data only)."""
    from advstudio.core.data import IMAGE_MAGIC, LABEL_MAGIC, SPLIT_FILES

    def write(folder: Path, split: str, images: np.ndarray, labels: np.ndarray, gz: bool = True) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        img_stem, lbl_stem = SPLIT_FILES[split]
        images = np.asarray(images, dtype=np.uint8)
        labels = np.asarray(labels, dtype=np.uint8)
        img = _idx_bytes(IMAGE_MAGIC, images.shape, images.tobytes())
        lbl = _idx_bytes(LABEL_MAGIC, labels.shape, labels.tobytes())
        paths = []
        for stem, data in ((img_stem, img), (lbl_stem, lbl)):
            p = folder / (stem + ".gz" if gz else stem)
            p.write_bytes(gzip.compress(data) if gz else data)
            paths.append(p)
        return paths[0], paths[1]

    return write


@pytest.fixture
def synthetic_mnist():
    """Random 28×28 uint8 images and labels 0–9 (no MNIST bytes)."""

    def make(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)

    return make
