"""The ONNX operators that move, reshape, combine or convert tensors (Flatten, Reshape, the Shape → Gather →
Unsqueeze → Concat chains of torch's exporter, Pad, Slice, Clip, Cast, …) and the elementwise ones. Shape
values are int64 tensors kept on the CPU; the table BUILDERS maps each supported op_type to its builder."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from advstudio.core.onnx.ops import (
    CAST_TYPES,
    ELEMENTWISE,
    UNARY,
    Built,
    NodeContext,
    OnnxOp,
    binary,
    build_activation,
    build_batchnorm,
    build_conv,
    build_gemm,
    build_matmul,
    build_pool,
    build_softmax,
    guard,
)

INT64_MAX = (1 << 63) - 1


def _ints(t: torch.Tensor | None, what: str) -> list[int]:
    if t is None:
        return []
    if t.is_floating_point() or t.ndim > 1 or t.numel() > 64:
        raise ValueError(f"{what} must be a short list of integers, got {t.dtype} {tuple(t.shape)}")
    return [int(v) for v in t.reshape(-1).tolist()]


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for a tensor of rank {rank}")
    return axis % rank


def _flatten(x: torch.Tensor, *, axis: int) -> torch.Tensor:
    axis = _axis(axis, x.ndim + 1) if axis != x.ndim else axis
    return x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def _reshape(x: torch.Tensor, shape: torch.Tensor, *, allowzero: int) -> torch.Tensor:
    dims = _ints(shape, "Reshape's shape")
    if not allowzero:
        if any(d == 0 and i >= x.ndim for i, d in enumerate(dims)):
            raise ValueError(f"Reshape copies a dimension the input {tuple(x.shape)} does not have")
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def _transpose(x: torch.Tensor, *, perm: list[int] | None) -> torch.Tensor:
    return x.permute(list(range(x.ndim))[::-1] if perm is None else perm)


def _squeeze(x: torch.Tensor, axes_in: torch.Tensor | None = None, *, axes: list[int] | None) -> torch.Tensor:
    axes = axes if axes is not None else (_ints(axes_in, "Squeeze's axes") if axes_in is not None else None)
    if axes is None:
        return x.squeeze()
    dims = sorted({_axis(a, x.ndim) for a in axes})
    if any(x.shape[d] != 1 for d in dims):
        raise ValueError(f"Squeeze of axes {axes} whose size is not 1 in {tuple(x.shape)}")
    return x.squeeze(tuple(dims)) if dims else x


def _unsqueeze(x: torch.Tensor, axes_in: torch.Tensor | None = None, *, axes: list[int] | None) -> torch.Tensor:
    axes = axes if axes is not None else _ints(axes_in, "Unsqueeze's axes")
    rank = x.ndim + len(axes)
    for a in sorted(_axis(a, rank) for a in axes):
        x = x.unsqueeze(a)
    return x


def _concat(*xs: torch.Tensor, axis: int) -> torch.Tensor:
    xs_ = [x for x in xs if x is not None]
    if len({x.device for x in xs_}) > 1:
        target = next(x.device for x in xs_ if x.device.type != "cpu")
        xs_ = [x.to(target) for x in xs_]
    guard((sum(x.numel() for x in xs_),), "Concat")
    return torch.cat(xs_, dim=axis)


def _shape(x: torch.Tensor, *, start: int, end: int | None) -> torch.Tensor:
    return torch.tensor(list(x.shape)[start:end], dtype=torch.int64)


def _gather(data: torch.Tensor, indices: torch.Tensor, *, axis: int) -> torch.Tensor:
    axis = _axis(axis, data.ndim)
    if indices.is_floating_point():
        raise ValueError("Gather's indices must be integers")
    size = data.shape[axis]
    idx = indices.to(torch.int64)
    idx = torch.where(idx < 0, idx + size, idx)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= size):
        raise ValueError(f"Gather's indices run outside 0…{size - 1}")
    guard((*data.shape[:axis], *idx.shape, *data.shape[axis + 1 :]), "Gather")
    out = torch.index_select(data, axis, idx.reshape(-1).to(data.device))
    return out.reshape((*data.shape[:axis], *idx.shape, *data.shape[axis + 1 :]))


def _cast(x: torch.Tensor, *, dtype: torch.dtype) -> torch.Tensor:
    return x.to(dtype)


def _scalar(t: torch.Tensor | None, default: float | None) -> float | None:
    if t is None:
        return default
    if t.numel() != 1:
        raise ValueError(f"a scalar was expected, got a tensor of shape {tuple(t.shape)}")
    return float(t.reshape(-1)[0])


def _clip(x: torch.Tensor, low: torch.Tensor | None = None, high: torch.Tensor | None = None, *,
          low_attr: float | None, high_attr: float | None) -> torch.Tensor:
    return torch.clamp(x, _scalar(low, low_attr), _scalar(high, high_attr))


def _pad(x: torch.Tensor, pads_in: torch.Tensor | None = None, value_in: torch.Tensor | None = None,
         axes_in: torch.Tensor | None = None, *, pads: list[int] | None, value: float) -> torch.Tensor:
    pads = pads if pads is not None else _ints(pads_in, "Pad's pads")
    axes = [_axis(a, x.ndim) for a in _ints(axes_in, "Pad's axes")] if axes_in is not None else list(range(x.ndim))
    if len(pads) != 2 * len(axes):
        raise ValueError(f"Pad has {len(pads)} pads for {len(axes)} axes")
    begin, end = dict(zip(axes, pads[: len(axes)])), dict(zip(axes, pads[len(axes) :]))
    shape = [x.shape[d] + begin.get(d, 0) + end.get(d, 0) for d in range(x.ndim)]
    if min(shape, default=1) < 0:
        raise ValueError(f"Pad crops more than the tensor holds ({pads})")
    guard(shape, "Pad")
    flat: list[int] = []
    for d in reversed(range(x.ndim)):
        flat += [begin.get(d, 0), end.get(d, 0)]
    return F.pad(x, flat, value=_scalar(value_in, value) or 0.0)


def _slice(x: torch.Tensor, starts_in=None, ends_in=None, axes_in=None, steps_in=None, *,
           attrs: tuple[list[int], list[int], list[int] | None] | None) -> torch.Tensor:
    if attrs is not None:
        starts, ends, axes, steps = attrs[0], attrs[1], attrs[2], None
    else:
        starts, ends = _ints(starts_in, "Slice's starts"), _ints(ends_in, "Slice's ends")
        axes = _ints(axes_in, "Slice's axes") if axes_in is not None else None
        steps = _ints(steps_in, "Slice's steps") if steps_in is not None else None
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError("Slice's starts, ends, axes and steps differ in length")
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st <= 0:
            raise ValueError("Slice with a step below 1 is not supported")
        dim = x.shape[_axis(a, x.ndim)]
        s, e = (s + dim if s < 0 else s), (e + dim if e < 0 else e)
        index[_axis(a, x.ndim)] = slice(min(max(s, 0), dim), min(max(e, 0), dim), st)
    return x[tuple(index)]


# ---------------------------------------------------------------------------------------------- builders
def _axes(c: NodeContext) -> list[int] | None:
    """Squeeze/Unsqueeze axes: an attribute before opset 13, the second input from then on."""
    return c.attr_ints("axes") if c.opset < 13 else None


def _op(name: str, fn: Callable, n: int | None = None, **params) -> Callable[[NodeContext], Built]:
    return lambda c: Built(OnnxOp(name, fn, **params), c.inputs(n))


def build_cast(c: NodeContext) -> Built:
    to = c.attr_int("to", 1)
    if to not in CAST_TYPES:
        raise c.fail(f"casting to data type {to} is not supported")
    return Built(OnnxOp("Cast", _cast, dtype=CAST_TYPES[to]), c.inputs(1))


def build_pad(c: NodeContext) -> Built:
    mode = c.attr_str("mode", "constant")
    if mode != "constant":
        raise c.fail(f"only constant padding is supported, not {mode[:20]!r}")
    if c.opset < 11:
        return Built(OnnxOp("Pad", _pad, pads=c.attr_ints("pads", []), value=c.attr_float("value", 0.0)), c.inputs(1))
    return Built(OnnxOp("Pad", _pad, pads=None, value=0.0), c.inputs(4))


def build_clip(c: NodeContext) -> Built:
    if c.opset < 11:
        low, high = c.attr_float("min", -math.inf), c.attr_float("max", math.inf)
        return Built(OnnxOp("Clip", _clip, low_attr=low, high_attr=high), c.inputs(1))
    return Built(OnnxOp("Clip", _clip, low_attr=None, high_attr=None), c.inputs(3))


def build_slice(c: NodeContext) -> Built:
    if c.opset < 10:
        attrs = (c.attr_ints("starts", []), c.attr_ints("ends", []), c.attr_ints("axes"))
        return Built(OnnxOp("Slice", _slice, attrs=attrs), c.inputs(1))
    return Built(OnnxOp("Slice", _slice, attrs=None), c.inputs(5))


def build_shape(c: NodeContext) -> Built:
    end = c.attr_int("end", INT64_MAX)
    return Built(OnnxOp("Shape", _shape, start=c.attr_int("start", 0), end=None if end == INT64_MAX else end),
                 c.inputs(1))


BUILDERS: dict[str, Callable[[NodeContext], Built]] = {
    **{op: _op(op, binary(fn, op)) for op, fn in ELEMENTWISE.items()},
    **{op: _op(op, fn, 1) for op, fn in UNARY.items()},
    **{op: build_activation for op in ("Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Softplus", "Gelu",
                                       "Identity", "Dropout")},
    "Softmax": build_softmax, "LogSoftmax": build_softmax,
    "Conv": build_conv, "Gemm": build_gemm, "MatMul": build_matmul, "BatchNormalization": build_batchnorm,
    "MaxPool": build_pool, "AveragePool": build_pool,
    "GlobalAveragePool": _op("GlobalAveragePool", lambda x: x.mean(dim=tuple(range(2, x.ndim)), keepdim=True), 1),
    "GlobalMaxPool": _op("GlobalMaxPool", lambda x: x.amax(dim=tuple(range(2, x.ndim)), keepdim=True), 1),
    "Flatten": lambda c: Built(OnnxOp("Flatten", _flatten, axis=c.attr_int("axis", 1)), c.inputs(1)),
    "Reshape": lambda c: Built(OnnxOp("Reshape", _reshape, allowzero=c.attr_int("allowzero", 0)), c.inputs(2)),
    "Transpose": lambda c: Built(OnnxOp("Transpose", _transpose, perm=c.attr_ints("perm")), c.inputs(1)),
    "Squeeze": lambda c: Built(OnnxOp("Squeeze", _squeeze, axes=_axes(c)), c.inputs(1 if c.opset < 13 else 2)),
    "Unsqueeze": lambda c: Built(OnnxOp("Unsqueeze", _unsqueeze, axes=_axes(c)), c.inputs(1 if c.opset < 13 else 2)),
    "Concat": lambda c: Built(OnnxOp("Concat", _concat, axis=c.attr_int("axis", 0)), c.inputs()),
    "Shape": build_shape,
    "Gather": lambda c: Built(OnnxOp("Gather", _gather, axis=c.attr_int("axis", 0)), c.inputs(2)),
    "Cast": build_cast, "Clip": build_clip, "Pad": build_pad, "Slice": build_slice,
}
SUPPORTED_OPS = frozenset(BUILDERS) | {"Constant"}
