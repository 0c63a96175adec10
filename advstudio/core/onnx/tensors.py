"""ONNX tensors as numpy arrays and back: the data types a classifier uses, with every count checked against
the tensor's dims, and external data refused before anything else (this reader never opens another file)."""

from __future__ import annotations

from typing import Any

import numpy as np

from advstudio.core.onnx.proto import MAX_ELEMENTS, OnnxFormatError, Tensor

# TensorProto.DataType → (numpy dtype, the typed field that holds it without raw_data)
DTYPES: dict[int, tuple[Any, str]] = {
    1: (np.float32, "float_data"), 2: (np.uint8, "int32_data"), 3: (np.int8, "int32_data"),
    4: (np.uint16, "int32_data"), 5: (np.int16, "int32_data"), 6: (np.int32, "int32_data"),
    7: (np.int64, "int64_data"), 9: (np.bool_, "int32_data"), 10: (np.float16, "int32_data"),
    11: (np.float64, "double_data"), 12: (np.uint32, "uint64_data"), 13: (np.uint64, "uint64_data"),
}
FLOAT, INT64 = 1, 7
MAX_RANK = 8


def tensor_shape(t: Tensor) -> tuple[int, ...]:
    """The tensor's dims, checked: at most MAX_RANK of them, none negative, at most MAX_ELEMENTS in all."""
    dims = tuple(int(d) for d in t.dims)
    if len(dims) > MAX_RANK or any(d < 0 for d in dims):
        raise OnnxFormatError(f"tensor '{t.name[:60]}' has an impossible shape {dims[:10]}")
    if int(np.prod(np.array(dims, dtype=np.float64))) > MAX_ELEMENTS:
        raise OnnxFormatError(f"tensor '{t.name[:60]}' has {dims[:10]} elements, more than {MAX_ELEMENTS:,}")
    return dims


def to_array(t: Tensor) -> np.ndarray:
    """The tensor's values as a numpy array of its own dtype (float16 → float32); OnnxFormatError for external
    data, an unsupported data type, or a number of values that does not match its dims."""
    label = f"tensor '{t.name[:60]}'"
    if t.data_location == 1 or t.external_data:
        raise OnnxFormatError(f"{label} keeps its data in an external file; this reader never reads outside itself")
    if t.segments:
        raise OnnxFormatError(f"{label} is split into segments, which are not supported")
    if t.data_type not in DTYPES:
        raise OnnxFormatError(f"{label} has data type {t.data_type}, which is not supported (float, double, "
                              "float16 and integer tensors are)")
    dtype, typed = DTYPES[t.data_type]
    shape = tensor_shape(t)
    count = int(np.prod(shape, dtype=np.int64))
    if t.raw_data:
        itemsize = np.dtype(dtype).itemsize
        if len(t.raw_data) != count * itemsize:
            raise OnnxFormatError(f"{label} holds {len(t.raw_data):,} bytes for {count:,} values of {itemsize} "
                                  "bytes (the file is corrupt)")
        arr = np.frombuffer(t.raw_data, np.dtype(dtype).newbyteorder("<")).astype(dtype)
    else:
        values = getattr(t, typed)
        if len(values) != count:
            raise OnnxFormatError(f"{label} holds {len(values):,} values for a shape of {count:,} (the file is "
                                  "corrupt)")
        if t.data_type == 10:
            arr = values.astype(np.uint16).view(np.float16)
        else:
            arr = values.astype(dtype)
    arr = arr.reshape(shape)
    return arr.astype(np.float32) if arr.dtype == np.float16 else arr


def from_array(name: str, arr: np.ndarray) -> Tensor:
    """A TensorProto for a float32 or int64 array, its values in raw_data (little-endian)."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        data_type, arr = FLOAT, arr.astype("<f4")
    elif arr.dtype.kind in "iu":
        data_type, arr = INT64, arr.astype("<i8")
    else:
        raise ValueError(f"tensor {name}: dtype {arr.dtype} cannot be written (float32 or int64 only)")
    return Tensor(dims=np.array(arr.shape, np.int64), data_type=data_type, name=name,
                  raw_data=np.ascontiguousarray(arr).tobytes())
