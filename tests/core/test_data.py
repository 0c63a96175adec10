"""The MNIST loader on small synthetic IDX files (and every kind of bad file), and MNIST-style preprocessing
of drawings and image files."""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from advstudio.core.data import ENV_VAR, IMAGE_MAGIC, LABEL_MAGIC, DatasetError, load_split
from advstudio.core.errors import InputImageError
from advstudio.core.images import image_to_ink, load_image_file, preprocess_ink

# --- the loader on synthetic files ------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("split", ["train", "test"])
def test_loads_gzipped_and_raw(tmp_path, write_idx, synthetic_mnist, gz, split):
    images, labels = synthetic_mnist(7, seed=1)
    write_idx(tmp_path, split, images, labels, gz=gz)
    data = load_split(tmp_path, split)
    assert len(data) == 7
    assert data.images.shape == (7, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.images.is_contiguous()
    assert data.labels.dtype == torch.int64
    np.testing.assert_array_equal(data.labels.numpy(), labels)
    np.testing.assert_allclose(data.images[:, 0].numpy(), images.astype(np.float32) / 255.0)
    assert float(data.images.min()) >= 0.0 and float(data.images.max()) <= 1.0


def test_torchvision_layout_and_head(tmp_path, write_idx, synthetic_mnist):
    images, labels = synthetic_mnist(5, seed=2)
    write_idx(tmp_path / "MNIST" / "raw", "test", images, labels, gz=False)
    data = load_split(tmp_path, "test")
    np.testing.assert_array_equal(data.labels.numpy(), labels)
    assert len(data.head(3)) == 3 and data.head(None) is data and data.head(99) is data
    torch.testing.assert_close(data.head(3).images, data.images[:3])


def test_loaded_once_and_reused(tmp_path, write_idx, synthetic_mnist):
    write_idx(tmp_path, "test", *synthetic_mnist(4))
    assert load_split(tmp_path, "test") is load_split(tmp_path, "test")


def test_the_split_cache_keeps_the_most_recently_used(tmp_path, write_idx, synthetic_mnist):
    from advstudio.core import data as data_module

    first = tmp_path / "first"
    write_idx(first, "test", *synthetic_mnist(3))
    kept = load_split(first, "test")
    for i in range(data_module.SPLIT_CACHE + 3):  # other folders (or a file rewritten) come and go
        write_idx(tmp_path / f"f{i}", "test", *synthetic_mnist(3, seed=i))
        load_split(tmp_path / f"f{i}", "test")
        assert load_split(first, "test") is kept  # used again: it stays
    assert len(data_module._cache) <= data_module.SPLIT_CACHE


def test_folder_from_environment(tmp_path, write_idx, synthetic_mnist, monkeypatch):
    images, labels = synthetic_mnist(3, seed=4)
    write_idx(tmp_path, "test", images, labels)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    np.testing.assert_array_equal(load_split(None, "test").labels.numpy(), labels)


def test_no_folder_configured(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(DatasetError) as info:
        load_split(None, "test")
    msg = str(info.value)
    assert "No MNIST folder" in msg and ENV_VAR in msg and "--data" in msg


@pytest.mark.parametrize("gz", [True, False])
def test_counts_come_from_the_headers_and_skip_missing_splits(tmp_path, write_idx, synthetic_mnist, gz):
    from advstudio.core.data import mnist_counts

    assert mnist_counts(tmp_path) == {}
    write_idx(tmp_path, "test", *synthetic_mnist(7), gz=gz)
    assert mnist_counts(tmp_path) == {"test": 7}
    write_idx(tmp_path, "train", *synthetic_mnist(12, seed=3), gz=gz)
    assert mnist_counts(tmp_path) == {"train": 12, "test": 7}
    img, _lbl = write_idx(tmp_path, "train", *synthetic_mnist(12, seed=3), gz=False)
    img.write_bytes(b"not mnist")  # an unreadable header is not counted
    (tmp_path / "train-images-idx3-ubyte.gz").unlink(missing_ok=True)
    assert mnist_counts(tmp_path) == {"test": 7}


def test_an_empty_folder_is_named_with_the_files_it_needs(tmp_path, monkeypatch):
    from advstudio.core.data import in_window_words, mnist_problem

    msg = mnist_problem(str(tmp_path), ("test",))
    assert f"The folder {tmp_path} has no MNIST files" in msg
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert name in msg
    assert "--data" in msg  # the command line keeps its pointer
    window = in_window_words(msg)
    assert "--data" not in window and ENV_VAR not in window and "environment" not in window
    assert str(tmp_path) in window and "t10k-images-idx3-ubyte.gz" in window and "Choose MNIST folder" in window


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_split(tmp_path, "validation")


def _bad(folder: Path, which: str) -> str:
    with pytest.raises(DatasetError) as info:
        load_split(folder, "test")
    msg = str(info.value)
    assert which in msg, msg
    # every message says how to get the data
    assert ENV_VAR in msg and "--data" in msg, msg
    return msg


def test_missing_folder(tmp_path):
    msg = _bad(tmp_path / "nowhere", "nowhere")
    assert "does not exist" in msg


def test_missing_file(tmp_path, write_idx, synthetic_mnist):
    _img, lbl = write_idx(tmp_path, "test", *synthetic_mnist(3))
    lbl.unlink()
    msg = _bad(tmp_path, "t10k-labels-idx1-ubyte")
    assert "has no" in msg


def test_wrong_magic(tmp_path, write_idx, synthetic_mnist):
    img, lbl = write_idx(tmp_path, "test", *synthetic_mnist(3), gz=False)
    img.write_bytes(lbl.read_bytes())  # a labels file where the images should be
    msg = _bad(tmp_path, img.name)
    assert "wrong magic number" in msg and f"0x{LABEL_MAGIC:08x}" in msg and f"0x{IMAGE_MAGIC:08x}" in msg


def test_truncated_header(tmp_path, write_idx, synthetic_mnist):
    img, _ = write_idx(tmp_path, "test", *synthetic_mnist(3))
    img.write_bytes(gzip.compress(struct.pack(">II", IMAGE_MAGIC, 3)))
    msg = _bad(tmp_path, img.name)
    assert "truncated" in msg and "header" in msg


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_body(tmp_path, write_idx, synthetic_mnist, gz):
    img, _ = write_idx(tmp_path, "test", *synthetic_mnist(3), gz=gz)
    raw = gzip.decompress(img.read_bytes()) if gz else img.read_bytes()
    cut = raw[:-100]
    img.write_bytes(gzip.compress(cut) if gz else cut)
    msg = _bad(tmp_path, img.name)
    assert "truncated" in msg and "3 images" in msg and f"{len(cut) - 16} bytes follow" in msg


def test_trailing_bytes(tmp_path, write_idx, synthetic_mnist):
    _, lbl = write_idx(tmp_path, "test", *synthetic_mnist(3), gz=False)
    lbl.write_bytes(lbl.read_bytes() + b"\x00\x00")
    msg = _bad(tmp_path, lbl.name)
    assert "2 unexpected bytes" in msg


def test_count_mismatch(tmp_path, write_idx, synthetic_mnist):
    images, labels = synthetic_mnist(5)
    img, lbl = write_idx(tmp_path, "test", images, labels[:4])
    msg = _bad(tmp_path, img.name)
    assert "5 images" in msg and "4 labels" in msg and lbl.name in msg


def test_wrong_image_size(tmp_path, write_idx, synthetic_mnist):
    img, _ = write_idx(tmp_path, "test", *synthetic_mnist(2))
    body = bytes(2 * 32 * 32)
    img.write_bytes(gzip.compress(struct.pack(">IIII", IMAGE_MAGIC, 2, 32, 32) + body))
    msg = _bad(tmp_path, img.name)
    assert "32×32" in msg and "28×28" in msg


def test_label_out_of_range(tmp_path, write_idx, synthetic_mnist):
    images, labels = synthetic_mnist(3)
    labels[1] = 12
    _, lbl = write_idx(tmp_path, "test", images, labels)
    msg = _bad(tmp_path, lbl.name)
    assert "label 12" in msg


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_corrupt_gzip(tmp_path, write_idx, synthetic_mnist, damage):
    img, _ = write_idx(tmp_path, "test", *synthetic_mnist(20))
    data = bytearray(img.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[20:60] = bytes(40)
    img.write_bytes(bytes(data))
    msg = _bad(tmp_path, img.name)
    assert "gzip" in msg and "corrupt" in msg


def test_real_mnist_test_split(mnist_test):
    """The facts stated in shared/mnist/README.md: 10,000 images, the label counts, pixel mean 0.1325."""
    assert mnist_test.images.shape == (10_000, 1, 28, 28)
    counts = torch.bincount(mnist_test.labels, minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert float(mnist_test.images.mean()) == pytest.approx(0.1325, abs=5e-4)


# --- preprocessing --------------------------------------------------------------------------------------


def _centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    total = img.sum()
    return float((img * yy).sum() / total), float((img * xx).sum() / total)


def _extent(img: np.ndarray, threshold: float = 0.0) -> tuple[int, int]:
    m = img > threshold
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def _ink_seven(h: int = 300, w: int = 200) -> np.ndarray:
    ink = np.zeros((h, w), np.float32)
    ink[40:200, 30:60] = 1.0  # off-centre on purpose
    ink[40:70, 30:180] = 1.0
    return ink


@pytest.mark.parametrize(
    "ink",
    [
        _ink_seven(),
        _ink_seven(60, 90),
        np.pad(np.ones((80, 10), np.float32), ((5, 200), (300, 7))),  # a thin bar far in a corner
        np.pad(np.ones((3, 3), np.float32), ((1, 20), (30, 2))),  # a speck: scaled up to 20 px
    ],
    ids=["seven-large", "seven-small", "bar-in-corner", "speck"],
)
def test_preprocess_centres_and_scales(ink):
    out = preprocess_ink(ink)
    assert out.shape == (28, 28) and out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert max(_extent(out)) == 20
    cy, cx = _centre_of_mass(out)
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75, (cy, cx)


def test_preprocess_keeps_aspect():
    ink = np.zeros((120, 120), np.float32)
    ink[10:110, 50:70] = 1.0  # 100 × 20, aspect 5:1
    h, w = _extent(preprocess_ink(ink), threshold=0.5)
    assert h == 20 and w == 4


@pytest.mark.parametrize("ink", [np.zeros((50, 50)), np.full((28, 28), 0.01), np.zeros((0, 0)), np.zeros(10)])
def test_preprocess_empty_raises(ink):
    with pytest.raises(InputImageError):
        preprocess_ink(ink)


def _draw_seven(size: tuple[int, int], ink: int, paper: int, mode: str = "L") -> Image.Image:
    w, h = size
    im = Image.new(mode, size, paper)
    d = ImageDraw.Draw(im)
    lw = max(2, min(w, h) // 12)
    d.line([(w * 0.25, h * 0.2), (w * 0.75, h * 0.2)], fill=ink, width=lw)
    d.line([(w * 0.75, h * 0.2), (w * 0.4, h * 0.85)], fill=ink, width=lw)
    return im


def _reference_seven() -> np.ndarray:
    return preprocess_ink(image_to_ink(_draw_seven((200, 200), 0, 255)))


def _save(im: Image.Image, path: Path, fmt: str) -> Path:
    im.save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return path


@pytest.mark.parametrize(
    "name, make, fmt",
    [
        ("dark_on_light.png", lambda: _draw_seven((200, 200), 0, 255), "PNG"),
        ("light_on_dark.png", lambda: _draw_seven((200, 200), 255, 0), "PNG"),
        ("grey_rgb.png", lambda: _draw_seven((200, 200), (40, 40, 90), (230, 220, 200), "RGB"), "PNG"),
        ("transparent.png", lambda: _draw_seven((200, 200), (0, 0, 0, 255), (0, 0, 0, 0), "RGBA"), "PNG"),
        ("white_on_transparent.png", lambda: _draw_seven((200, 200), (255, 255, 255, 255), (255, 255, 255, 0), "RGBA"), "PNG"),
        ("photo.jpg", lambda: _draw_seven((200, 200), (10, 10, 10), (250, 250, 245), "RGB"), "JPEG"),
        ("paint.bmp", lambda: _draw_seven((200, 200), 0, 255), "BMP"),
        ("odd_small.png", lambda: _draw_seven((37, 53), 0, 255), "PNG"),
        ("odd_wide.png", lambda: _draw_seven((613, 211), 0, 255), "PNG"),
    ],
)
def test_load_image_file_formats_and_polarities(tmp_path, name, make, fmt):
    out = load_image_file(_save(make(), tmp_path / name, fmt))
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert float(out.min()) >= 0.0 and float(out.max()) == pytest.approx(1.0, abs=0.05)
    # background black, ink white: the corners are empty
    assert float(out[:3, :3].max()) < 0.05 and float(out[-3:, -3:].max()) < 0.05
    cy, cx = _centre_of_mass(out)
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75
    ref = _reference_seven()
    if "odd" in name:
        # a different canvas shape draws a differently proportioned digit; it must still be a 20 px digit
        assert max(_extent(out, 0.1)) in (19, 20)
    else:
        corr = np.corrcoef(out.ravel(), ref.ravel())[0, 1]
        assert corr > 0.9, corr


def test_blank_image_file(tmp_path):
    p = tmp_path / "blank.png"
    Image.new("L", (50, 40), 255).save(p)
    with pytest.raises(InputImageError) as info:
        load_image_file(p)
    assert "blank.png" in str(info.value) and "blank" in str(info.value)


def test_unreadable_and_missing_image_files(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(InputImageError, match="notes.png: not a readable image"):
        load_image_file(bad)
    with pytest.raises(InputImageError, match="missing.png: no such file"):
        load_image_file(tmp_path / "missing.png")


def _digit(kind: str) -> Image.Image:
    im = Image.new("L", (200, 200), 255)
    d = ImageDraw.Draw(im)
    if kind == "1":
        d.line([(100, 30), (100, 170)], fill=0, width=16)
    elif kind == "0":
        d.ellipse([55, 25, 145, 175], outline=0, width=16)
    elif kind == "7":
        d.line([(50, 35), (150, 35)], fill=0, width=16)
        d.line([(150, 35), (80, 170)], fill=0, width=16)
    elif kind == "4":
        d.line([(60, 30), (60, 100), (150, 100)], fill=0, width=16)
        d.line([(130, 30), (130, 175)], fill=0, width=16)
    return im


@pytest.mark.parametrize("digit", ["1", "0", "7", "4"])
def test_pil_drawn_digits_are_classified_by_the_bundled_model(tmp_path, bundled_model, digit):
    path = tmp_path / f"drawn_{digit}.png"
    buf = io.BytesIO()
    _digit(digit).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    x = torch.from_numpy(load_image_file(path)).reshape(1, 1, 28, 28)
    with torch.no_grad():
        probs = torch.softmax(bundled_model(x), 1)[0]
    assert int(probs.argmax()) == int(digit), probs
    assert float(probs.max()) > 0.9


def test_wrong_magic_in_a_long_file(tmp_path, write_idx, synthetic_mnist):
    _, lbl = write_idx(tmp_path, "test", *synthetic_mnist(3))
    lbl.write_bytes(gzip.compress(b"<html>" + bytes(200)))  # e.g. an error page saved under the right name
    msg = _bad(tmp_path, lbl.name)
    assert "wrong magic number" in msg and "not an MNIST labels file" in msg
