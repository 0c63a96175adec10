"""Dataset files a user hands the CLI: a .gz that inflates far past its header, a header that declares
gigabytes, a damaged .gz, a FIFO, an empty split. Each ends in one readable line (exit code 1), quickly and
with bounded memory (issue 18)."""

from __future__ import annotations

import os
import struct
import threading
import tracemalloc
import zlib

import numpy as np
import pytest

from advstudio.core.data import IMAGE_MAGIC, MAX_IDX_BYTES, read_idx
from advstudio.core.errors import DatasetError


def _assert_clean_failure(rc: int, err: str, *needles: str) -> None:
    assert rc == 1, err
    assert err.startswith("advstudio: error: ") and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


def _bomb(path, declared_images: int, inflated_mb: int) -> None:
    """A gzipped IDX whose header declares `declared_images` images, followed by `inflated_mb` MB of zeros."""
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [co.compress(struct.pack(">IIII", IMAGE_MAGIC, declared_images, 28, 28))]
    zeros = bytes(1 << 20)
    parts += [co.compress(zeros) for _ in range(inflated_mb)]
    parts.append(co.flush())
    path.write_bytes(b"".join(parts))


def test_gz_that_inflates_past_its_header_is_refused_with_bounded_memory(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    _bomb(path, 10, 256)  # about 250 KB on disk, 256 MB inflated
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="unexpected bytes after the data"):
            read_idx(path, "images")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"{peak / 1e6:.1f} MB allocated while refusing the file"


def test_header_declaring_gigabytes_is_refused_before_inflating(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    _bomb(path, 4_000_000, 1)  # 3.1 GB declared
    with pytest.raises(DatasetError, match="more than the .* MB a dataset file may hold"):
        read_idx(path, "images")
    assert 4_000_000 * 784 > MAX_IDX_BYTES


def test_damaged_gz_is_a_dataset_error_in_the_cli(cli, tiny_mnist):
    img = tiny_mnist / "t10k-images-idx3-ubyte.gz"
    data = bytearray(img.read_bytes())
    data[len(data) // 3] ^= 0xFF  # two bytes flipped inside the deflate stream
    data[len(data) // 2] ^= 0x0F
    img.write_bytes(bytes(data))
    rc, _, err = cli("evaluate", "--data", tiny_mnist)
    _assert_clean_failure(rc, err, img.name, "corrupt")


@pytest.mark.timeout(30)
def test_fifo_in_place_of_a_dataset_file_is_refused_without_hanging(cli, tiny_mnist):
    img = tiny_mnist / "t10k-images-idx3-ubyte.gz"
    img.unlink()
    os.mkfifo(img)
    result = {}
    worker = threading.Thread(target=lambda: result.update(r=cli("evaluate", "--data", tiny_mnist)), daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # unblock the reader so the test process can end, then fail
        with open(img, "wb"):
            pass
        pytest.fail("reading a FIFO as a dataset file hung")
    rc, _, err = result["r"]
    _assert_clean_failure(rc, err, img.name, "not a regular file")


def test_empty_test_split_is_refused_not_reported_as_zero_accuracy(cli, tmp_path, write_idx, synthetic_mnist):
    folder = tmp_path / "empty-test"
    write_idx(folder, "test", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    rc, out, err = cli("evaluate", "--data", folder)
    _assert_clean_failure(rc, err, "holds no images")
    assert "accuracy" not in out


def test_zero_training_samples_is_a_message(cli, tmp_path, write_idx, synthetic_mnist):
    folder = tmp_path / "empty-train"
    write_idx(folder, "train", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    write_idx(folder, "test", *synthetic_mnist(5))
    rc, _, err = cli("train", "--data", folder, "--out", tmp_path / "m.safetensors", "--epochs", 1)
    _assert_clean_failure(rc, err, "train-images-idx3-ubyte", "holds no images")
    assert not (tmp_path / "m.safetensors").exists()


def test_gzip_stream_cut_short_is_a_dataset_error(tmp_path, write_idx, synthetic_mnist):
    img, _ = write_idx(tmp_path, "test", *synthetic_mnist(30))
    img.write_bytes(img.read_bytes()[:-9])  # the CRC trailer and the stream's last byte are gone
    with pytest.raises(DatasetError, match="corrupt or truncated"):
        read_idx(img, "images")
