"""Seeded fuzzing of IDX dataset files, raw and gzipped: mutated headers, truncations, bit flips, appended
bytes and inflating tails. Every case ends in a clear DatasetError or a correct load, never another exception,
never a hang, and with memory bounded by the small inputs (issue 18)."""

from __future__ import annotations

import gzip
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from advstudio.core.data import IMAGE_MAGIC, LABEL_MAGIC, SPLIT_FILES, load_split
from advstudio.core.errors import DatasetError

SEED = 18
CASES = 200  # per kind of damage; the whole file runs in a few seconds
N = 6  # images per split: the valid files are 4.7 KB and 14 bytes
PEAK_LIMIT = 16 * 1024 * 1024  # any case may allocate at most this (the inputs are kilobytes)


def _valid(rng) -> tuple[bytes, bytes]:
    images = rng.integers(0, 256, size=(N, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=N, dtype=np.uint8)
    img = struct.pack(">IIII", IMAGE_MAGIC, N, 28, 28) + images.tobytes()
    lbl = struct.pack(">II", LABEL_MAGIC, N) + labels.tobytes()
    return img, lbl


def _flip_bits(data: bytes, rng, count: int) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        i = int(rng.integers(0, len(out)))
        out[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def _mutate_header(data: bytes, rng) -> bytes:
    """One of the header's 32-bit fields set to an edge or random value."""
    fields = 4 if data[:4] == struct.pack(">I", IMAGE_MAGIC) else 2  # magic and dimensions
    k = int(rng.integers(0, fields))
    value = int(rng.choice([0, 1, 27, 28, 29, N - 1, N + 1, 2**31 - 1, 2**32 - 1, 60_000, 170_000,
                            int(rng.integers(0, 2**32))]))
    return data[: 4 * k] + struct.pack(">I", value) + data[4 * k + 4 :]


def _truncate(data: bytes, rng) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def _inflating_tail(data: bytes, rng) -> bytes:
    """Valid data followed by megabytes of zeros (compressed to a few KB when gzipped)."""
    return data + bytes(int(rng.integers(1, 8)) << 20)


RAW_DAMAGE = {
    "header": _mutate_header,
    "truncate": _truncate,
    "bitflip": lambda d, rng: _flip_bits(d, rng, int(rng.integers(1, 4))),
    "append": lambda d, rng: d + rng.bytes(int(rng.integers(1, 100))),
    "tail": _inflating_tail,
}
GZ_DAMAGE = {
    "gz-bitflip": lambda g, rng: _flip_bits(g, rng, int(rng.integers(1, 3))),
    "gz-truncate": _truncate,
    "gz-trailing": lambda g, rng: g + rng.bytes(int(rng.integers(1, 40))),
    "gz-two-members": lambda g, rng: g + gzip.compress(rng.bytes(int(rng.integers(1, 5000)))),
}


def _cases():
    """(case, kind of damage, gzipped?, [images file, labels file]) with one of the two files damaged."""
    rng = np.random.default_rng(SEED)
    kinds = list(RAW_DAMAGE) + list(GZ_DAMAGE)
    for i in range(CASES):
        kind = kinds[i % len(kinds)]
        files = list(_valid(rng))
        which = int(rng.integers(0, 2))
        gz = kind in GZ_DAMAGE or bool(rng.integers(0, 2))
        if kind in RAW_DAMAGE:
            damaged = RAW_DAMAGE[kind](files[which], rng)
            files[which] = gzip.compress(damaged, compresslevel=1) if gz else damaged
        else:
            files[which] = GZ_DAMAGE[kind](gzip.compress(files[which], compresslevel=1), rng)
        other = 1 - which
        files[other] = gzip.compress(files[other], compresslevel=1) if gz else files[other]
        yield i, kind, gz, files


def _write(folder, gz: bool, files) -> None:
    folder.mkdir()
    for stem, data in zip(SPLIT_FILES["test"], files):
        (folder / (stem + ".gz" if gz else stem)).write_bytes(data)


def test_fuzzed_idx_files_load_or_give_a_dataset_error(tmp_path):
    outcomes: dict[str, int] = {}
    slowest = 0.0
    tracemalloc.start()
    try:
        for i, kind, gz, files in _cases():
            folder = tmp_path / f"case{i}"
            _write(folder, gz, files)
            tracemalloc.reset_peak()
            start = time.perf_counter()
            try:
                split = load_split(folder, "test")
            except DatasetError as exc:
                msg = str(exc)
                assert msg and "\n" not in msg.split(". ")[0], (kind, msg)
                assert str(folder) in msg, (kind, msg)  # the message names the file
                outcomes["refused"] = outcomes.get("refused", 0) + 1
            except Exception as exc:  # noqa: BLE001 - the point of the test
                pytest.fail(f"case {i} ({kind}, {'gz' if gz else 'raw'}): {type(exc).__name__}: {exc}")
            else:
                assert split.images.shape[1:] == (1, 28, 28) and len(split) == split.labels.shape[0] > 0
                assert int(split.labels.max()) <= 9
                outcomes["loaded"] = outcomes.get("loaded", 0) + 1
            slowest = max(slowest, time.perf_counter() - start)
            _, peak = tracemalloc.get_traced_memory()
            assert peak < PEAK_LIMIT, f"case {i} ({kind}) allocated {peak / 1e6:.1f} MB"
    finally:
        tracemalloc.stop()
    assert slowest < 5.0, f"a case took {slowest:.1f} s"
    assert sum(outcomes.values()) == CASES
    assert outcomes.get("refused", 0) > CASES // 2, outcomes  # most damage is caught ...
    assert outcomes.get("loaded", 0) > 0, outcomes  # ... and harmless flips in pixels still load


def test_gzip_bomb_behind_a_small_header_costs_no_memory(tmp_path):
    """A .gz of about 100 KB inflating to 100 MB behind a valid 6-image header."""
    folder = tmp_path / "bomb"
    img, lbl = _valid(np.random.default_rng(SEED))
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = co.compress(img) + b"".join(co.compress(bytes(1 << 20)) for _ in range(100)) + co.flush()
    _write(folder, True, [body, gzip.compress(lbl)])
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="unexpected bytes"):
            load_split(folder, "test")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024
