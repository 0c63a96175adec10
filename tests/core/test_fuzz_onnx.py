"""Fuzzing the ONNX reader (issue 17), as test_fuzz_models_images.py does for safetensors: bit flips, truncations,
lying lengths, huge dims, deep nesting, random bytes and structure-aware mutations of a small CNN written by our
own writer. Every case ends in a ModelFileError with a one-line message or loads a model that runs; never
another exception, never a hang, never a file opened besides the one given. Seeded, so a failure names a
reproducible case; no onnx package needed."""

from __future__ import annotations

import copy
import io
import os
import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from advstudio.core.errors import ModelFileError
from advstudio.core.model import PixelSpaceNet
from advstudio.core.onnx import load_onnx, onnx_bytes, read_onnx
from advstudio.core.onnx.proto import (
    Attribute,
    Model,
    Node,
    OnnxFormatError,
    StringStringEntry,
    decode_model,
    encode,
    varints,
)

SLOW_S = 3.0  # one load taking longer than this counts as a hang


class _Tiny(PixelSpaceNet):
    """A CNN small enough that most of its file is structure, not weights."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(4)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.relu(self.conv(self.normalize(x))))))


@pytest.fixture(scope="module")
def good() -> bytes:
    torch.manual_seed(0)
    return onnx_bytes(_Tiny().eval(), {"name": "tiny", "test_accuracy": 0.5})


@pytest.fixture()
def no_other_file(monkeypatch):
    """Records every file opened; the test asserts only its own cases were."""
    opened: list[str] = []
    real_open = io.open

    def watch(file, *args, **kwargs):
        opened.append(os.fspath(file) if isinstance(file, (str, os.PathLike)) else f"fd {file}")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", watch)
    monkeypatch.setattr("builtins.open", watch)
    return opened


def _outcome(path: Path) -> str:
    """"ok" (and the model runs) or "refused" (with a one-line message); anything else fails the test."""
    start = time.perf_counter()
    try:
        module, meta = load_onnx(path)
    except ModelFileError as exc:
        message = str(exc)
        assert message.strip() and len(message) < 2000 and "\n" not in message, repr(exc)
        outcome = "refused"
    else:
        x = torch.rand(3, 1, 28, 28, requires_grad=True)
        out = module(x)
        assert out.shape == (3, meta["num_classes"]) and torch.isfinite(out).all(), path
        assert torch.autograd.grad(out.sum(), x)[0] is not None
        outcome = "ok"
    assert time.perf_counter() - start < SLOW_S, path
    return outcome


def _cases(tmp_path: Path, cases: list[bytes], prefix: str) -> dict[str, int]:
    outcomes = {"ok": 0, "refused": 0}
    for i, data in enumerate(cases):
        path = tmp_path / f"{prefix}{i}.onnx"
        path.write_bytes(data)
        outcomes[_outcome(path)] += 1
        path.unlink()
    return outcomes


def _structure_span(good: bytes) -> tuple[int, int]:
    """Where the weights start and end: the nodes come before them (Graph field 1), inputs, outputs, opset and
    metadata after; flips outside this span hit the structure."""
    raw = [good.find(t.raw_data) for t in decode_model(good).graph.initializer if len(t.raw_data) > 64]
    return min(raw), max(raw) + 64


def test_bit_flips_anywhere_and_in_the_structure(tmp_path, good, no_other_file):
    rng = random.Random(17)
    start, end = _structure_span(good)
    cases = []
    for i in range(160):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            if i % 2:
                pos = rng.randrange(len(data))
            else:
                pos = rng.choice([rng.randrange(start), rng.randrange(end, len(data))])
            data[pos] ^= 1 << rng.randrange(8)
        cases.append(bytes(data))
    outcomes = _cases(tmp_path, cases, "flip")
    assert outcomes["refused"] > 30 and outcomes["ok"] > 10, outcomes  # the flips reach both ways
    assert all(Path(p).name.startswith("flip") for p in no_other_file if not p.startswith("fd")), no_other_file


def test_truncations_at_many_offsets(tmp_path, good):
    rng = random.Random(171)
    offsets = sorted(set(range(0, 64)) | {rng.randrange(len(good)) for _ in range(60)} | {len(good) - k for k in
                                                                                           range(1, 40)})
    outcomes = _cases(tmp_path, [good[:n] for n in offsets], "cut")
    assert outcomes["refused"] >= len(offsets) - 45, outcomes  # a cut inside the metadata at the end may still load


def _with_length(tag: bytes, length: int, rest: bytes) -> bytes:
    out = bytearray(tag)
    value = length
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out) + rest


def test_lying_length_prefixes(tmp_path, good):
    graph_at = good.index(b"\x3a")  # Model.graph is field 7, length-delimited: tag 0x3a
    body = graph_at + 1
    while good[body] & 0x80:
        body += 1
    head, rest = good[:graph_at], good[body + 1 :]
    cases = [head + _with_length(b"\x3a", n, rest) for n in (0, 1, 100, len(rest) + 1, 2**31, 2**63, 2**64 - 1)]
    cases += [b"\x08\x08" + _with_length(b"\x3a", n, b"\x0a" + _with_length(b"", 2**40, b"xx")) for n in (5, 12)]
    cases += [b"\x08\x08" + _with_length(b"\x3a", 4, b"\x12\xff\xff\xff")]  # a string longer than its message
    outcomes = _cases(tmp_path, cases, "len")
    assert outcomes == {"ok": 0, "refused": len(cases)}


def test_hostile_encodings_are_clear_value_errors():
    for data, pattern in [(b"\x08" + b"\xff" * 11, "longer than 10 bytes"), (b"\x08\xff", "cut off"),
                          (b"\x0b\x00", "wire type 3"), (b"\x00\x00", "field number 0"),
                          (b"\x3a\x02\x12\x7f", "claims"), (b"\x3a\x03\x12\x01\xff", "not UTF-8"),
                          (b"\x3d\x00\x00\x00\x00", "wrong wire type")]:
        with pytest.raises(OnnxFormatError, match=pattern):
            decode_model(data)
    with pytest.raises(OnnxFormatError, match="cut off"):
        varints(b"\x81\x82")
    assert varints(b"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x96\x01").tolist() == [1, -1, 150]


def _model_of_graph(graph: bytes) -> bytes:
    return b"\x08\x08" + _with_length(b"\x3a", len(graph), graph)  # ir_version 8, then Model.graph (field 7)


def test_huge_dims_and_counts_are_refused_fast(tmp_path, good):
    model = decode_model(good)
    cases = []
    for dims in ([2**40, 2**40], [-1, 10], [10**9], [1] * 9, [2**62, 4]):
        m = copy.deepcopy(model)
        m.graph.initializer[0].dims = np.array(dims, np.int64)
        cases.append(encode(m))
    varint_payload = b"\x00" * (17 * 1024 * 1024)  # 17 M packed int64 zeros: Tensor.int64_data is field 7
    tensor = _with_length(b"\x3a", len(varint_payload), varint_payload)
    cases.append(_model_of_graph(_with_length(b"\x2a", len(tensor), tensor)))  # Graph.initializer is field 5
    cases.append(_model_of_graph(b"\x0a\x00" * 300_000))  # 300 k empty nodes
    cases.append(encode(Model(ir_version=8, graph=model.graph,
                              metadata_props=[StringStringEntry("k", "v" * 2_000_000)])))  # a 2 MB string
    start = time.perf_counter()
    outcomes = _cases(tmp_path, cases, "huge")
    assert outcomes == {"ok": 0, "refused": len(cases)} and time.perf_counter() - start < 10


def test_deeply_nested_garbage_is_refused_without_recursion(tmp_path):
    data = b"\x00"
    for _ in range(5000):  # Model.graph → Graph.node → Node.input … each level another length-delimited field
        data = _with_length(b"\x3a" if len(data) % 2 else b"\x0a", len(data), data)
    outcomes = _cases(tmp_path, [data, b"\x0a" * 100_000, b"\x3a\x00" * 50_000], "deep")
    assert outcomes == {"ok": 0, "refused": 3}


def test_random_bytes_are_refused(tmp_path):
    rng = random.Random(1717)
    cases = [rng.randbytes(rng.choice([8, 50, 500, 5000])) for _ in range(40)]
    assert _cases(tmp_path, cases, "rand")["ok"] == 0


_ODD_INTS = [0, 1, -1, 2, 3, 7, 9, 13, 100, 4097, 2**31, -(2**40), 2**62]
_ODD_OPS = ["Relu", "Conv", "Gemm", "Reshape", "If", "Loop", "Softmax", "MaxPool", "Concat", "", "x" * 500, "Pad",
            "Gather", "Slice", "Cast", "Identity", "Unsqueeze"]
_ODD_NAMES = ["", "input", "logits", "nowhere", "conv.weight", "fc.bias", "a" * 300]


def _mutate(model: Model, rng: random.Random) -> Model:
    """One to three edits of the decoded model: an op type, a node input, an attribute value or type, a tensor's
    dims or data type, the opset, a value info's dims, a node dropped or duplicated."""
    m = copy.deepcopy(model)
    g = m.graph
    for _ in range(rng.randint(1, 3)):
        action = rng.randrange(9)
        node = rng.choice(g.node)
        if action == 0:
            node.op_type = rng.choice(_ODD_OPS)
        elif action == 1 and node.input:
            node.input[rng.randrange(len(node.input))] = rng.choice(_ODD_NAMES + [n.output[0] for n in g.node])
        elif action == 2 and node.attribute:
            a = rng.choice(node.attribute)
            if a.type == Attribute.INTS and len(a.ints):
                a.ints = a.ints.copy()
                a.ints[rng.randrange(len(a.ints))] = rng.choice(_ODD_INTS)
            else:
                a.i, a.f, a.type = rng.choice(_ODD_INTS), rng.choice([0.0, -1.0, 1e30, float("nan")]), rng.randrange(12)
        elif action == 3:
            t = rng.choice(g.initializer)
            t.dims = np.array([rng.choice(_ODD_INTS[:9]) for _ in range(rng.randint(0, 4))], np.int64)
        elif action == 4:
            rng.choice(g.initializer).data_type = rng.choice([0, 2, 6, 7, 8, 10, 11, 16, 99])
        elif action == 5:
            m.opset_import[0].version = rng.choice([1, 6, 7, 11, 13, 25, 10**6])
        elif action == 6:
            dims = rng.choice(g.input + g.output).type.tensor_type.shape.dim
            if dims:
                dims[rng.randrange(len(dims))].dim_value = rng.choice(_ODD_INTS)
        elif action == 7 and len(g.node) > 1:
            g.node.pop(rng.randrange(len(g.node)))
        else:  # a copy of a node, its output renamed (or not: defined twice), and maybe read by another node
            twin = copy.deepcopy(node)
            twin.output = [f"{twin.output[0]}_twin"] if rng.random() < 0.8 else twin.output
            g.node.insert(rng.randrange(len(g.node) + 1), twin)
            reader = rng.choice(g.node)
            if reader.input and rng.random() < 0.5:
                reader.input[0] = twin.output[0]
        if rng.random() < 0.1:
            node.attribute.append(Attribute(name=rng.choice(["axis", "pads", "kernel_shape", "group", "perm"]),
                                            type=Attribute.INTS, ints=np.array([rng.choice(_ODD_INTS)] * 2)))
        if rng.random() < 0.05:
            g.node.append(Node(input=["logits"], output=["extra"], op_type="Relu", domain="custom"))
    return m


def test_300_structure_aware_mutations(tmp_path, good, no_other_file):
    model = decode_model(good)
    rng = random.Random(1700)
    cases = [encode(_mutate(model, rng)) for _ in range(300)]
    outcomes = _cases(tmp_path, cases, "mut")
    assert outcomes["refused"] > 100 and outcomes["ok"] > 15, outcomes
    assert all(Path(p).name.startswith("mut") for p in no_other_file if not p.startswith("fd")), no_other_file


def test_external_data_in_a_mutated_file_is_never_followed(tmp_path, good, no_other_file):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"\x00" * 100_000)
    no_other_file.clear()
    model = decode_model(good)
    cases = []
    for location in (str(outside), "outside.bin", "../outside.bin", "/etc/passwd", "/dev/zero"):
        for tensor in range(len(model.graph.initializer)):
            m = copy.deepcopy(model)
            t = m.graph.initializer[tensor]
            t.raw_data, t.data_location = b"", tensor % 2
            t.external_data = [StringStringEntry("location", location), StringStringEntry("offset", "0")]
            cases.append(encode(m))
    for i, data in enumerate(cases):
        path = tmp_path / f"ext{i}.onnx"
        path.write_bytes(data)
        with pytest.raises(ModelFileError, match="never reads outside"):
            read_onnx(path)
    assert not any(p.endswith(("outside.bin", "passwd", "zero")) for p in no_other_file), no_other_file
