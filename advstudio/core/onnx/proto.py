"""The protobuf wire format and the part of ONNX's messages (onnx/onnx.proto) that a classifier needs, read and
written without the protobuf or onnx packages.

Decoding is hardened for files from anyone: nesting depth, the number of messages and fields, the length of
each text and byte field, the elements of numeric arrays and the size of the whole input are bounded; a length
that runs past its message, a truncated varint or a field of the wrong wire type ends in OnnxFormatError (a
ValueError) naming the message and field. Unknown fields are skipped; fields this reader does not decode but
must know about (subgraphs, sparse tensors, non-tensor types) are counted, so callers can refuse them."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

MAX_INPUT_BYTES = 200 * 1024 * 1024  # a whole file
MAX_DEPTH = 12  # nested messages (the schema below needs 7)
MAX_MESSAGES = 200_000
MAX_FIELDS = 2_000_000
MAX_TEXT_BYTES = 1024 * 1024  # one name, key, value or attribute string
MAX_ELEMENTS = 50_000_000  # numeric array elements in all, over every tensor and attribute
MAX_VARINT_PAYLOAD = 16 * 1024 * 1024  # bytes of packed varints in all (int64/int32 data: shapes, indices)
_MASK64 = (1 << 64) - 1


class OnnxFormatError(ValueError):
    """Bytes that are not a well-formed ONNX file, or one beyond the limits; the message says where."""


# Field kinds: "int" (varint, int64), "float" (fixed32), "str" (UTF-8), "bytes", "ints"/"floats"/"doubles"/
# "uint64s" (repeated numbers, packed or not, kept as numpy arrays), "strs"/"bytes*" (repeated), a Message class
# (with "*" in the spec's third slot: repeated) and "count" (not decoded, only counted).
@dataclass
class Message:
    """Base of the decoded messages: FIELDS maps a field number to (attribute, kind, repeated)."""

    FIELDS: ClassVar[dict[int, tuple[str, Any, bool]]] = {}

    def always_written(self) -> tuple[str, ...]:
        """Scalar fields written even when they hold their default (see Attribute)."""
        return ()


@dataclass
class StringStringEntry(Message):
    key: str = ""
    value: str = ""
    FIELDS: ClassVar = {1: ("key", "str", False), 2: ("value", "str", False)}


@dataclass
class OperatorSetId(Message):
    domain: str = ""
    version: int = 0
    FIELDS: ClassVar = {1: ("domain", "str", False), 2: ("version", "int", False)}


@dataclass
class Dimension(Message):
    """One dimension of a shape: a fixed size (dim_value), a named unknown (dim_param), or neither."""

    dim_value: int | None = None
    dim_param: str = ""
    FIELDS: ClassVar = {1: ("dim_value", "int?", False), 2: ("dim_param", "str", False)}


@dataclass
class TensorShape(Message):
    dim: list[Dimension] = field(default_factory=list)
    FIELDS: ClassVar = {1: ("dim", Dimension, True)}


@dataclass
class TypeTensor(Message):
    elem_type: int = 0
    shape: TensorShape | None = None
    FIELDS: ClassVar = {1: ("elem_type", "int", False), 2: ("shape", TensorShape, False)}


@dataclass
class TypeProto(Message):
    """A value's type; only tensor types are decoded, the others are counted in `other_types`."""

    tensor_type: TypeTensor | None = None
    other_types: int = 0
    FIELDS: ClassVar = {1: ("tensor_type", TypeTensor, False), 4: ("other_types", "count", False),
                        5: ("other_types", "count", False), 7: ("other_types", "count", False),
                        8: ("other_types", "count", False), 9: ("other_types", "count", False)}


@dataclass
class ValueInfo(Message):
    name: str = ""
    type: TypeProto | None = None
    FIELDS: ClassVar = {1: ("name", "str", False), 2: ("type", TypeProto, False)}


@dataclass
class Tensor(Message):
    """A TensorProto: the data lies in raw_data (little-endian) or in the typed field of its data_type."""

    dims: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    data_type: int = 0
    float_data: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    int32_data: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    string_data: list[bytes] = field(default_factory=list)
    int64_data: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    name: str = ""
    raw_data: bytes = b""
    double_data: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    uint64_data: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    external_data: list[StringStringEntry] = field(default_factory=list)
    data_location: int = 0
    segments: int = 0
    FIELDS: ClassVar = {
        1: ("dims", "ints", True), 2: ("data_type", "int", False), 3: ("segments", "count", False),
        4: ("float_data", "floats", True), 5: ("int32_data", "ints", True), 6: ("string_data", "bytes", True),
        7: ("int64_data", "ints", True), 8: ("name", "str", False), 9: ("raw_data", "bytes", False),
        10: ("double_data", "doubles", True), 11: ("uint64_data", "uint64s", True),
        13: ("external_data", StringStringEntry, True), 14: ("data_location", "int", False),
    }


@dataclass
class Attribute(Message):
    """An AttributeProto; subgraphs (g, graphs) and sparse tensors are only counted, never decoded."""

    name: str = ""
    type: int = 0
    f: float = 0.0
    i: int = 0
    s: bytes = b""
    t: Tensor | None = None
    floats: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    ints: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    strings: list[bytes] = field(default_factory=list)
    tensors: list[Tensor] = field(default_factory=list)
    ref_attr_name: str = ""
    subgraphs: int = 0
    sparse: int = 0
    FIELDS: ClassVar = {
        1: ("name", "str", False), 2: ("f", "float", False), 3: ("i", "int", False), 4: ("s", "bytes", False),
        5: ("t", Tensor, False), 6: ("subgraphs", "count", False), 7: ("floats", "floats", True),
        8: ("ints", "ints", True), 9: ("strings", "bytes", True), 10: ("tensors", Tensor, True),
        11: ("subgraphs", "count", False), 20: ("type", "int", False), 21: ("ref_attr_name", "str", False),
        22: ("sparse", "count", False), 23: ("sparse", "count", False),
    }
    FLOAT, INT, STRING, TENSOR, GRAPH, FLOATS, INTS, STRINGS, TENSORS, GRAPHS = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10

    def always_written(self) -> tuple[str, ...]:
        return {self.FLOAT: ("f",), self.INT: ("i",), self.STRING: ("s",)}.get(self.type, ())


@dataclass
class Node(Message):
    input: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    name: str = ""
    op_type: str = ""
    domain: str = ""
    attribute: list[Attribute] = field(default_factory=list)
    FIELDS: ClassVar = {1: ("input", "str", True), 2: ("output", "str", True), 3: ("name", "str", False),
                        4: ("op_type", "str", False), 5: ("attribute", Attribute, True), 7: ("domain", "str", False)}


@dataclass
class Graph(Message):
    node: list[Node] = field(default_factory=list)
    name: str = ""
    initializer: list[Tensor] = field(default_factory=list)
    input: list[ValueInfo] = field(default_factory=list)
    output: list[ValueInfo] = field(default_factory=list)
    value_info: list[ValueInfo] = field(default_factory=list)
    sparse_initializers: int = 0
    FIELDS: ClassVar = {1: ("node", Node, True), 2: ("name", "str", False), 5: ("initializer", Tensor, True),
                        11: ("input", ValueInfo, True), 12: ("output", ValueInfo, True),
                        13: ("value_info", ValueInfo, True), 15: ("sparse_initializers", "count", False)}


@dataclass
class Model(Message):
    ir_version: int = 0
    producer_name: str = ""
    producer_version: str = ""
    domain: str = ""
    model_version: int = 0
    doc_string: str = ""
    graph: Graph | None = None
    opset_import: list[OperatorSetId] = field(default_factory=list)
    metadata_props: list[StringStringEntry] = field(default_factory=list)
    functions: int = 0
    FIELDS: ClassVar = {1: ("ir_version", "int", False), 2: ("producer_name", "str", False),
                        3: ("producer_version", "str", False), 4: ("domain", "str", False),
                        5: ("model_version", "int", False), 6: ("doc_string", "str", False), 7: ("graph", Graph, False),
                        8: ("opset_import", OperatorSetId, True), 14: ("metadata_props", StringStringEntry, True),
                        25: ("functions", "count", False)}


# ---------------------------------------------------------------------------------------------- decoding
class _Budget:
    """What one decode may still spend; each overrun is an OnnxFormatError."""

    def __init__(self) -> None:
        self.messages = self.fields = self.elements = self.varint_bytes = 0

    def spend(self, what: str, n: int = 1) -> None:
        value = getattr(self, what) + n
        setattr(self, what, value)
        limit = {"messages": MAX_MESSAGES, "fields": MAX_FIELDS, "elements": MAX_ELEMENTS,
                 "varint_bytes": MAX_VARINT_PAYLOAD}[what]
        if value > limit:
            raise OnnxFormatError(f"it holds more {what.replace('_', ' ')} than a classifier has (over {limit:,})")


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise OnnxFormatError("a number is cut off (the file is truncated or corrupt)")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise OnnxFormatError("a number is longer than 10 bytes (the file is corrupt)")


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def varints(data: bytes) -> np.ndarray:
    """Packed varints as int64 (two's complement, as protobuf encodes negative int64), vectorized."""
    a = np.frombuffer(data, np.uint8)
    if a.size == 0:
        return np.zeros(0, np.int64)
    if a[-1] & 0x80:
        raise OnnxFormatError("a packed list of numbers is cut off (the file is corrupt)")
    ends = np.flatnonzero(a < 0x80)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if int(lengths.max()) > 10:
        raise OnnxFormatError("a number is longer than 10 bytes (the file is corrupt)")
    shifts = (7 * (np.arange(a.size) - np.repeat(starts, lengths))).astype(np.uint64)
    values = (a & 0x7F).astype(np.uint64) << shifts
    return np.bitwise_or.reduceat(values, starts).view(np.int64)


_NUMERIC = {"ints": (0, None), "uint64s": (0, None), "floats": (5, "<f4"), "doubles": (1, "<f8")}
_NP_DTYPE = {"ints": np.int64, "uint64s": np.uint64, "floats": np.float32, "doubles": np.float64}


def _numbers(kind: str, wire: int, value: Any, buf: bytes, where: str, budget: _Budget) -> np.ndarray:
    """One chunk of a repeated numeric field: packed (wire type 2) or a single value."""
    scalar_wire, fmt = _NUMERIC[kind]
    if wire == 2:
        start, end = value
        if fmt is None:
            budget.spend("varint_bytes", end - start)
            out = varints(buf[start:end])
        else:
            size = 4 if fmt == "<f4" else 8
            if (end - start) % size:
                raise OnnxFormatError(f"{where}: a packed list of numbers has a partial number at its end")
            out = np.frombuffer(buf, fmt, count=(end - start) // size, offset=start)
    elif wire == scalar_wire:
        if fmt is None:
            out = np.array([_signed(value)], np.int64)
        else:
            out = np.frombuffer(value, fmt)
    else:
        raise OnnxFormatError(f"{where} has the wrong wire type {wire}")
    budget.spend("elements", out.size)
    return out.view(np.uint64) if kind == "uint64s" else out


def _text(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise OnnxFormatError(f"{where} is not UTF-8 text") from None


_WIRE = {"int": 0, "int?": 0, "float": 5}


def _decode(cls: type[Message], buf: bytes, pos: int, end: int, budget: _Budget, depth: int) -> Message:
    if depth > MAX_DEPTH:
        raise OnnxFormatError(f"messages are nested more than {MAX_DEPTH} deep")
    budget.spend("messages")
    msg = cls()
    chunks: dict[str, list] = {}
    name = cls.__name__
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise OnnxFormatError(f"{name}: field number 0 (the file is corrupt)")
        budget.spend("fields")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise OnnxFormatError(f"{name}: a number is cut off (the file is truncated or corrupt)")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 2:
            n, pos = _varint(buf, pos, end)
            if n > end - pos:
                raise OnnxFormatError(f"{name}: a field claims {n:,} bytes but only {end - pos:,} follow "
                                      "(the file is truncated or corrupt)")
            value, pos = (pos, pos + n), pos + n
        else:
            raise OnnxFormatError(f"{name}: wire type {wire} is not used by ONNX (the file is corrupt)")
        spec = cls.FIELDS.get(number)
        if spec is None:
            continue  # an unknown field: skipped, as protobuf does
        attr, kind, repeated = spec
        where = f"{name}.{attr}"
        if kind == "count":
            setattr(msg, attr, getattr(msg, attr) + 1)
            continue
        if kind in _NUMERIC:
            chunks.setdefault(attr, []).append(_numbers(kind, wire, value, buf, where, budget))
            continue
        if wire != _WIRE.get(kind, 2):
            raise OnnxFormatError(f"{where} has the wrong wire type {wire} (the file is corrupt)")
        if isinstance(kind, type):
            item: Any = _decode(kind, buf, value[0], value[1], budget, depth + 1)
        elif kind in ("int", "int?"):
            item = _signed(value)
        elif kind == "float":
            item = struct.unpack("<f", value)[0]
        else:  # "str" or "bytes"
            start, stop = value
            if stop - start > MAX_TEXT_BYTES and attr != "raw_data":
                raise OnnxFormatError(f"{where} is {stop - start:,} bytes long, more than {MAX_TEXT_BYTES:,}")
            item = _text(buf[start:stop], where) if kind == "str" else buf[start:stop]
        if repeated:
            getattr(msg, attr).append(item)
        else:
            setattr(msg, attr, item)
    for attr, parts in chunks.items():
        setattr(msg, attr, parts[0].copy() if len(parts) == 1 else np.concatenate(parts))
    return msg


def decode_model(data: bytes) -> Model:
    """A ModelProto from bytes; OnnxFormatError for anything malformed or beyond the limits."""
    if len(data) > MAX_INPUT_BYTES:
        raise OnnxFormatError(f"it is {len(data) / 1e6:.0f} MB, more than the {MAX_INPUT_BYTES / 1e6:.0f} MB "
                              "an ONNX classifier may have here")
    model = _decode(Model, bytes(data), 0, len(data), _Budget(), 0)
    assert isinstance(model, Model)
    return model


# ---------------------------------------------------------------------------------------------- encoding
def _put_varint(out: bytearray, value: int) -> None:
    value &= _MASK64
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _put_bytes(out: bytearray, number: int, payload: bytes) -> None:
    _put_varint(out, number << 3 | 2)
    _put_varint(out, len(payload))
    out += payload


def _packed(kind: str, values: Any) -> bytes:
    arr = np.asarray(values)
    if kind == "floats":
        return arr.astype("<f4").tobytes()
    if kind == "doubles":
        return arr.astype("<f8").tobytes()
    out = bytearray()
    for v in arr.astype(np.uint64 if kind == "uint64s" else np.int64).tolist():
        _put_varint(out, int(v))
    return bytes(out)


def encode(msg: Message) -> bytes:
    """The wire bytes of a message (repeated numbers packed; scalars at their default left out)."""
    out = bytearray()
    keep = msg.always_written()
    defaults = {f.name: f.default for f in fields(msg)}
    for number, (attr, kind, repeated) in sorted(msg.FIELDS.items()):
        value = getattr(msg, attr)
        if kind == "count":
            continue
        if kind in _NUMERIC:
            if len(value):
                _put_bytes(out, number, _packed(kind, value))
        elif isinstance(kind, type):
            for item in value if repeated else ([] if value is None else [value]):
                _put_bytes(out, number, encode(item))
        elif repeated:
            for item in value:
                _put_bytes(out, number, item.encode("utf-8") if kind == "str" else item)
        elif kind == "int?":
            if value is not None:
                _put_varint(out, number << 3)
                _put_varint(out, int(value))
        elif value == defaults[attr] and attr not in keep:
            continue
        elif kind == "int":
            _put_varint(out, number << 3)
            _put_varint(out, int(value))
        elif kind == "float":
            _put_varint(out, number << 3 | 5)
            out += struct.pack("<f", value)
        else:
            _put_bytes(out, number, value.encode("utf-8") if kind == "str" else value)
    return bytes(out)

