"""The CLI on hostile model files and images (issue 18): image bombs, a FIFO as the model, a lying header and
huge weights each end with exit code 1 and one readable line, at once; never a traceback, never a hang."""

from __future__ import annotations

import io
import json
import os
import struct
import time
import zlib

import pytest
import torch
from PIL import Image

from advstudio.cli import main
from advstudio.core.model import MnistCNN
from advstudio.core.storage import save_model


def _run(capsys, *argv) -> tuple[int, str, str]:
    start = time.perf_counter()
    rc = main([str(a) for a in argv])
    assert time.perf_counter() - start < 30
    out, err = capsys.readouterr()
    return rc, out, err


def _clean_failure(rc: int, err: str, *needles: str) -> None:
    assert rc == 1 and err.startswith("advstudio: error: ") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, err


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def _jpeg_claiming(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (16, 16), 255).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("name,content", [("bomb.png", _png_claiming(30_000, 30_000)),
                                          ("bomb.jpg", _jpeg_claiming(65_000, 65_000)),
                                          ("thin.png", _png_claiming(1, 39_000_000))])
def test_attack_refuses_image_bombs_with_one_line(capsys, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    rc, _, err = _run(capsys, "attack", path, "--out", tmp_path / "out")
    _clean_failure(rc, err, name)
    assert "too large" in err or "too narrow" in err


def test_predict_reports_a_bomb_among_good_images(capsys, tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_claiming(30_000, 30_000))
    rc, out, err = _run(capsys, "predict", bomb, "--json")
    assert rc == 1 and "too large" in json.loads(out)["predictions"][0]["error"]


def _image(tmp_path):
    im = Image.new("L", (100, 100), 255)
    im.paste(0, (45, 15, 55, 85))
    im.save(tmp_path / "one.png")
    return tmp_path / "one.png"


def test_a_fifo_as_the_model_is_refused_at_once(capsys, tmp_path):
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    rc, _, err = _run(capsys, "predict", _image(tmp_path), "--model", fifo)
    _clean_failure(rc, err, "not a regular file")
    rc, _, err = _run(capsys, "evaluate", "--model", fifo, "--limit", 10)
    _clean_failure(rc, err, "not a regular file")


def _with_header(tmp_path, edit) -> object:
    torch.manual_seed(0)
    path = save_model(MnistCNN(), tmp_path / "m.safetensors", {})
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    edit(header)
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n :])
    return path


@pytest.mark.parametrize("edit,needle", [
    (lambda h: h.update({"__metadata__": [1, 2]}), "__metadata__"),
    (lambda h: h.update({"__metadata__": "text"}), "__metadata__"),
    (lambda h: h["fc1.weight"].update({"shape": 7}), "shape"),
    (lambda h: h["fc1.weight"].update({"shape": None}), "shape"),
])
def test_a_lying_header_is_one_line(capsys, tmp_path, edit, needle):
    model = _with_header(tmp_path, edit)
    rc, _, err = _run(capsys, "predict", _image(tmp_path), "--model", model)
    _clean_failure(rc, err, "m.safetensors", needle)


def test_huge_weights_are_refused_instead_of_predicting_nan(capsys, tmp_path):
    torch.manual_seed(0)
    model = MnistCNN()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1e12)
    path = save_model(model, tmp_path / "huge.safetensors", {})
    rc, out, err = _run(capsys, "predict", _image(tmp_path), "--model", path)
    _clean_failure(rc, err, "huge.safetensors", "overflow")
    assert "nan" not in out.lower()
