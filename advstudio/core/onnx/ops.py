"""The ONNX operators a classifier needs, each built as a torch module from its node: activations as the real
nn modules (nn.ReLU, nn.Tanh, …, so forward hooks see them), convolutions as nn.Conv2d and dense layers with
constant weights as nn.Linear (so Grad-CAM and the projections find them), everything else as an OnnxOp that
runs a torch function. Every operator is differentiable where ONNX's is, and runs on any device.

Operators that can make a tensor larger than their inputs (broadcasting, padding, concatenation, convolution,
matrix products, gathering) check the size first against the cap of the running forward pass (see `size_cap`),
so a crafted file cannot ask for terabytes."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from functools import reduce
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.onnx.proto import Attribute, Node, OnnxFormatError

PER_SAMPLE_ELEMENTS = 1 << 24  # one tensor of one image's forward pass: 16 M values (64 MB of float32)
_CAP: ContextVar[int] = ContextVar("advstudio_onnx_cap", default=4 * PER_SAMPLE_ELEMENTS)
# Cast targets; every float type runs as float32 (double and half are not on every device, and a classifier's
# casts between float types only change rounding)
CAST_TYPES = {1: torch.float32, 2: torch.uint8, 3: torch.int8, 5: torch.int16, 6: torch.int32, 7: torch.int64,
              9: torch.bool, 10: torch.float32, 11: torch.float32}


@contextmanager
def size_cap(batch: int):
    """Within it, no tensor of the graph may hold more than PER_SAMPLE_ELEMENTS values per image of `batch`."""
    token = _CAP.set(max(1, batch) * PER_SAMPLE_ELEMENTS)
    try:
        yield
    finally:
        _CAP.reset(token)


def guard(shape: Any, what: str) -> None:
    """ValueError if a tensor of `shape` would pass the cap."""
    n = math.prod(int(d) for d in shape)
    if n > _CAP.get():
        raise ValueError(f"{what} would make a tensor of {n:,} values, more than this app allows")


class OnnxOp(nn.Module):
    """One node run by a torch function: forward(*inputs) = fn(*inputs, **params)."""

    def __init__(self, op_type: str, fn: Callable[..., Any], **params: Any) -> None:
        super().__init__()
        self.op_type = op_type
        self.fn = fn
        self.params = params

    def forward(self, *inputs: Any) -> Any:
        return self.fn(*inputs, **self.params)

    def extra_repr(self) -> str:
        return self.op_type


class Built:
    """A node's module and the inputs it reads at run time (weights it holds itself are left out)."""

    def __init__(self, module: nn.Module, inputs: list[str]) -> None:
        self.module, self.inputs = module, inputs


class NodeContext:
    """A node being built: its attributes (type-checked), the graph's constants and the opset."""

    def __init__(self, node: Node, consts: dict[str, np.ndarray], opset: int) -> None:
        self.node, self.consts, self.opset = node, consts, opset
        self.attrs = {a.name: a for a in node.attribute}

    def fail(self, text: str) -> OnnxFormatError:
        return OnnxFormatError(f"node '{self.node.name[:60]}' ({self.node.op_type}): {text}")

    def _attr(self, name: str, kinds: tuple[int, ...]) -> Attribute | None:
        a = self.attrs.get(name)
        if a is not None and a.type not in kinds:
            raise self.fail(f"attribute '{name}' has the wrong type ({a.type})")
        return a

    def attr_int(self, name: str, default: int) -> int:
        a = self._attr(name, (Attribute.INT,))
        return default if a is None else int(a.i)

    def attr_float(self, name: str, default: float) -> float:
        a = self._attr(name, (Attribute.FLOAT,))
        return default if a is None else float(a.f)

    def attr_ints(self, name: str, default: list[int] | None = None) -> list[int] | None:
        a = self._attr(name, (Attribute.INTS,))
        return default if a is None else [int(v) for v in a.ints]

    def attr_str(self, name: str, default: str) -> str:
        a = self._attr(name, (Attribute.STRING,))
        return default if a is None else a.s.decode("utf-8", "replace")

    def const(self, index: int) -> np.ndarray | None:
        """The node's `index`-th input if it is a constant (an initializer or a Constant's output)."""
        names = self.node.input
        return self.consts.get(names[index]) if index < len(names) and names[index] else None

    def inputs(self, n: int | None = None) -> list[str]:
        return list(self.node.input if n is None else self.node.input[:n])

    def single_output(self) -> None:
        if sum(1 for o in self.node.output[1:] if o):
            raise self.fail("only its first output is supported (the others are used)")


def _same_device(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Constants of shapes live on the CPU; move them to the device of the tensors they meet."""
    devices = {t.device for t in tensors}
    if len(devices) < 2:
        return tensors
    target = next(d for d in devices if d.type != "cpu")
    return [t.to(target) for t in tensors]


def binary(fn: Callable[..., torch.Tensor], op: str) -> Callable[..., torch.Tensor]:
    def run(*xs: torch.Tensor) -> torch.Tensor:
        xs_ = _same_device(list(xs))
        guard(torch.broadcast_shapes(*(x.shape for x in xs_)), op)
        return reduce(fn, xs_)
    return run


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if not a.is_floating_point() and not b.is_floating_point():
        return torch.div(a, b, rounding_mode="trunc")
    return a / b


ELEMENTWISE = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": _div, "Pow": torch.pow,
               "Max": torch.maximum, "Min": torch.minimum}
UNARY = {"Neg": torch.neg, "Abs": torch.abs, "Exp": torch.exp, "Log": torch.log, "Sqrt": torch.sqrt,
         "Reciprocal": torch.reciprocal, "Erf": torch.erf}


# ---------------------------------------------------------------------------------------------- padding
def _window_attrs(c: NodeContext, weight_shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """kernel, strides, dilations, pads ([h_begin, w_begin, h_end, w_end]) and auto_pad of a 2-D window."""
    kernel = c.attr_ints("kernel_shape") or (list(weight_shape[2:]) if weight_shape else None)
    if not kernel or len(kernel) != 2:
        raise c.fail("only 2-D windows (kernel_shape of two sizes) are supported")
    strides, dilations = c.attr_ints("strides", [1, 1]), c.attr_ints("dilations", [1, 1])
    pads = c.attr_ints("pads", [0, 0, 0, 0])
    auto_pad = c.attr_str("auto_pad", "NOTSET")
    if len(strides) != 2 or len(dilations) != 2 or len(pads) != 4 or auto_pad not in (
            "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise c.fail("its strides, dilations, pads or auto_pad do not describe a 2-D window")
    if min(kernel + strides + dilations) < 1 or min(pads) < 0 or max(kernel + strides + dilations + pads) > 4096:
        raise c.fail(f"impossible window (kernel {kernel}, strides {strides}, dilations {dilations}, pads {pads})")
    return {"kernel": kernel, "strides": strides, "dilations": dilations, "pads": pads, "auto_pad": auto_pad}


def window_pads(x: torch.Tensor, kernel: list[int], strides: list[int], dilations: list[int], pads: list[int],
                auto_pad: str) -> list[int]:
    """[h_begin, w_begin, h_end, w_end] for this input (auto_pad SAME_* depends on its size)."""
    if x.ndim != 4:
        raise ValueError(f"a 2-D window needs an N×C×H×W input, got {tuple(x.shape)}")
    if auto_pad == "VALID":
        return [0, 0, 0, 0]
    if auto_pad == "NOTSET":
        return pads
    begin, end = [], []
    for size, k, s, d in zip(x.shape[2:], kernel, strides, dilations):
        total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
        small = total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else total - small)
        end.append(total - begin[-1])
    return begin + end


def _pad_window(x: torch.Tensor, pads: list[int], value: float, width: int, op: str) -> torch.Tensor:
    guard((x.shape[0], max(int(x.shape[1]), width), x.shape[2] + pads[0] + pads[2], x.shape[3] + pads[1] + pads[3]),
          op)
    return F.pad(x, (pads[1], pads[3], pads[0], pads[2]), value=value) if any(pads) else x


class OnnxConv(nn.Conv2d):
    """A Conv node as nn.Conv2d (its weights frozen); padding that nn.Conv2d cannot express (asymmetric, or
    auto_pad SAME_*) is applied before it."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None, group: int, window: dict[str, Any]) -> None:
        out_c, per_group, kh, kw = weight.shape
        pads = window["pads"]
        explicit = window["auto_pad"] != "NOTSET" or pads[0] != pads[2] or pads[1] != pads[3]
        super().__init__(per_group * group, out_c, (kh, kw), stride=tuple(window["strides"]),
                         padding=(0, 0) if explicit else (pads[0], pads[1]), dilation=tuple(window["dilations"]),
                         groups=group, bias=bias is not None)
        self.onnx_window, self.explicit = window, explicit
        with torch.no_grad():
            self.weight.copy_(torch.tensor(np.asarray(weight, np.float32)))
            if bias is not None:
                self.bias.copy_(torch.tensor(np.asarray(bias, np.float32)))
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"Conv needs an N×C×H×W input, got {tuple(x.shape)}")
        extra = (0, 0) if self.explicit else self.padding
        if self.explicit:
            w = self.onnx_window
            pads = window_pads(x, w["kernel"], w["strides"], w["dilations"], w["pads"], w["auto_pad"])
            x = _pad_window(x, pads, 0.0, self.out_channels, "Conv")
        guard((x.shape[0], self.out_channels, x.shape[2] + 2 * extra[0], x.shape[3] + 2 * extra[1]), "Conv")
        return super().forward(x)


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, *, group: int,
          window: dict[str, Any]) -> torch.Tensor:
    pads = window_pads(x, window["kernel"], window["strides"], window["dilations"], window["pads"],
                       window["auto_pad"])
    x = _pad_window(x, pads, 0.0, int(w.shape[0]), "Conv")
    return F.conv2d(x, w, b, tuple(window["strides"]), 0, tuple(window["dilations"]), group)


def build_conv(c: NodeContext) -> Built:
    w, b = c.const(1), c.const(2)
    shape = tuple(w.shape) if w is not None else None
    if shape is not None and len(shape) != 4:
        raise c.fail(f"only 2-D convolutions are supported (its weight is {shape})")
    window, group = _window_attrs(c, shape), c.attr_int("group", 1)
    if shape is not None and tuple(window["kernel"]) != shape[2:]:
        raise c.fail(f"kernel_shape {window['kernel']} does not match its weight {shape}")
    if w is not None and (len(c.node.input) < 3 or not c.node.input[2] or b is not None):
        return Built(OnnxConv(w, b, group, window), c.inputs(1))
    return Built(OnnxOp("Conv", _conv, group=group, window=window), c.inputs())


def _maxpool(x: torch.Tensor, *, kernel, strides, dilations, pads, auto_pad, ceil) -> torch.Tensor:
    p = window_pads(x, kernel, strides, dilations, pads, auto_pad)
    x = _pad_window(x, p, -math.inf, 0, "MaxPool")
    return F.max_pool2d(x, kernel, strides, 0, dilations, ceil_mode=ceil)


def _avgpool(x: torch.Tensor, *, kernel, strides, dilations, pads, auto_pad, ceil, include_pad) -> torch.Tensor:
    p = window_pads(x, kernel, strides, dilations, pads, auto_pad)
    y = F.avg_pool2d(_pad_window(x, p, 0.0, 0, "AveragePool"), kernel, strides, 0, ceil_mode=ceil)
    if include_pad or not any(p):
        return y
    mask = _pad_window(torch.ones_like(x[:1, :1]), p, 0.0, 0, "AveragePool")
    return y / F.avg_pool2d(mask, kernel, strides, 0, ceil_mode=ceil)


def build_pool(c: NodeContext) -> Built:
    c.single_output()
    window = _window_attrs(c)
    ceil = bool(c.attr_int("ceil_mode", 0))
    if c.node.op_type == "MaxPool":
        return Built(OnnxOp("MaxPool", _maxpool, ceil=ceil, **window), c.inputs(1))
    if window["dilations"] != [1, 1]:
        raise c.fail("dilated average pooling is not supported")
    return Built(OnnxOp("AveragePool", _avgpool, ceil=ceil, include_pad=bool(c.attr_int("count_include_pad", 0)),
                        **window), c.inputs(1))


# ---------------------------------------------------------------------------------------------- dense layers
def _gemm(a, b, cc=None, *, alpha, beta, trans_a, trans_b) -> torch.Tensor:
    a, b = (a.t() if trans_a else a), (b.t() if trans_b else b)
    guard((a.shape[0], b.shape[-1]), "Gemm")
    y = alpha * (a @ b)
    return y if cc is None else y + beta * cc.to(y.device)


def _linear(weight: np.ndarray, bias: np.ndarray | None) -> nn.Linear:
    """nn.Linear(in, out) holding weight (out×in) and bias (out), frozen."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(np.asarray(weight, np.float32)))
        if bias is not None:
            layer.bias.copy_(torch.tensor(np.asarray(bias, np.float32)))
    return layer.requires_grad_(False)


def build_gemm(c: NodeContext) -> Built:
    alpha, beta = c.attr_float("alpha", 1.0), c.attr_float("beta", 1.0)
    trans_a, trans_b = c.attr_int("transA", 0), c.attr_int("transB", 0)
    b, cc = c.const(1), c.const(2)
    has_c = len(c.node.input) > 2 and bool(c.node.input[2])
    if not trans_a and b is not None and b.ndim == 2 and (not has_c or cc is not None):
        weight = (b if trans_b else b.T) * alpha
        try:
            bias = None if cc is None else np.broadcast_to(cc * beta, (weight.shape[0],))
        except ValueError:
            bias = np.zeros(0)
        if bias is None or bias.size == weight.shape[0]:
            return Built(_linear(weight, bias), c.inputs(1))
    return Built(OnnxOp("Gemm", _gemm, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b), c.inputs())


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = _same_device([a, b])
    rows = a.shape[-2] if a.ndim > 1 else 1
    guard((*torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]), rows, b.shape[-1] if b.ndim > 1 else 1), "MatMul")
    return torch.matmul(a, b)


def build_matmul(c: NodeContext) -> Built:
    b = c.const(1)
    if b is not None and b.ndim == 2 and b.dtype.kind == "f":
        return Built(_linear(b.T, None), c.inputs(1))
    return Built(OnnxOp("MatMul", _matmul), c.inputs())


def _batchnorm(x, scale, bias, mean, var, *, eps) -> torch.Tensor:
    return F.batch_norm(x, mean, var, scale, bias, training=False, eps=eps)


def build_batchnorm(c: NodeContext) -> Built:
    c.single_output()
    if c.attr_int("training_mode", 0):
        raise c.fail("training mode is not supported (an exported classifier runs in inference mode)")
    return Built(OnnxOp("BatchNormalization", _batchnorm, eps=c.attr_float("epsilon", 1e-5)), c.inputs(5))


# ---------------------------------------------------------------------------------------------- activations
class Softmax2D(nn.Module):
    """Softmax or LogSoftmax as opset < 13 defines it: over all axes from `axis` on, flattened."""

    def __init__(self, axis: int, log: bool) -> None:
        super().__init__()
        self.axis, self.log = axis, log

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axis = self.axis % max(x.ndim, 1)
        flat = x.reshape(math.prod(x.shape[:axis]), -1)
        y = F.log_softmax(flat, dim=1) if self.log else F.softmax(flat, dim=1)
        return y.reshape(x.shape)


def build_softmax(c: NodeContext, log: bool | None = None) -> Built:
    log = c.node.op_type == "LogSoftmax" if log is None else log
    if c.opset < 13:
        return Built(Softmax2D(c.attr_int("axis", 1), log), c.inputs(1))
    axis = c.attr_int("axis", -1)
    return Built(nn.LogSoftmax(dim=axis) if log else nn.Softmax(dim=axis), c.inputs(1))


def build_activation(c: NodeContext) -> Built:
    op = c.node.op_type
    if op == "Gelu":
        approx = c.attr_str("approximate", "none")
        if approx not in ("none", "tanh"):
            raise c.fail(f"approximate={approx[:20]!r} is not supported")
        module: nn.Module = nn.GELU(approximate=approx)
    else:
        module = {"Relu": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "Softplus": nn.Softplus,
                  "LeakyRelu": lambda: nn.LeakyReLU(c.attr_float("alpha", 0.01)),
                  "Elu": lambda: nn.ELU(c.attr_float("alpha", 1.0)),
                  "Identity": nn.Identity, "Dropout": nn.Identity}[op]()
    if op == "Dropout":
        c.single_output()
    return Built(module, c.inputs(1))
