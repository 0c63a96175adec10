"""Writing the app's networks as ONNX files that other tools (onnxruntime, netron, …) open: the model is traced
with torch.fx, each layer mapped to ONNX nodes with its weights as initializers, and the file written
atomically. The input is "input" (N×1×28×28 pixels in [0, 1]; the normalization is a node of the graph), the
output "logits" (N×K)."""

from __future__ import annotations

import json
import operator
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from advstudio.core.files import atomic_write_bytes
from advstudio.core.model_meta import clean_metadata
from advstudio.core.onnx.proto import (
    Attribute,
    Dimension,
    Graph,
    Model,
    Node,
    OperatorSetId,
    StringStringEntry,
    TensorShape,
    TypeProto,
    TypeTensor,
    ValueInfo,
    encode,
)
from advstudio.core.onnx.tensors import from_array

__all__ = ["export_onnx", "onnx_bytes", "IR_VERSIONS"]

IR_VERSIONS = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}  # opset → the IR version it needs
PROBE_BATCH = 2
_BINARY = {operator.add: "Add", operator.sub: "Sub", operator.mul: "Mul", operator.truediv: "Div",
           torch.add: "Add", torch.sub: "Sub", torch.mul: "Mul", torch.div: "Div",
           "add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div"}
_UNARY = {F.relu: "Relu", torch.relu: "Relu", torch.sigmoid: "Sigmoid", torch.tanh: "Tanh", F.tanh: "Tanh",
          F.sigmoid: "Sigmoid", "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
_ACTIVATIONS = {nn.ReLU: "Relu", nn.Tanh: "Tanh", nn.Sigmoid: "Sigmoid"}
_IDENTITY = (nn.Dropout, nn.Identity, F.dropout, "contiguous")
_RESHAPE = (torch.flatten, torch.reshape, "view", "reshape", "flatten")


def export_onnx(model: nn.Module, path: str | os.PathLike, metadata: dict | None = None, opset: int = 17) -> Path:
    """Write `model` (N×1×28×28 in [0, 1] → N×K logits) as an ONNX file at `path` (".onnx" added when missing),
    atomically; returns the path. `metadata` is stored as JSON under "advstudio.metadata", beside
    "advstudio.input_range" = "0-1" and "advstudio.outputs" = "logits" ("probabilities" for a model that ends in
    nn.Softmax). The model is traced in eval mode and left in the mode it was in. ValueError names a layer or operation
    that cannot be written (layers: Conv2d, Linear, ReLU, LeakyReLU, ELU, Tanh, Sigmoid, MaxPool2d, AvgPool2d,
    BatchNorm1d/2d, Flatten, Dropout, Identity, Softmax, LogSoftmax; arithmetic with buffers and numbers;
    flatten/view/reshape; F.relu and friends)."""
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        path = path.with_suffix(".onnx")
    atomic_write_bytes(path, onnx_bytes(model, metadata, opset))
    return path


def onnx_bytes(model: nn.Module, metadata: dict | None = None, opset: int = 17) -> bytes:
    """The ONNX file of `model` as bytes (see export_onnx)."""
    if opset not in IR_VERSIONS:
        raise ValueError(f"opset {opset} is not supported (13 to 21 are)")
    graph = _Exporter(model, opset).graph()
    final = next((n.op_type for n in graph.node if "logits" in n.output), "")
    try:
        meta_json = json.dumps(metadata or {}, sort_keys=True, allow_nan=False, default=str)
    except ValueError:  # NaN or ∞ somewhere: keep what the app would show
        meta_json = json.dumps(clean_metadata(metadata), sort_keys=True, allow_nan=False, default=str)
    props = {"advstudio.input_range": "0-1", "advstudio.outputs": "probabilities" if final == "Softmax" else "logits",
             "advstudio.metadata": meta_json}
    from advstudio import __version__ as version

    onnx_model = Model(ir_version=IR_VERSIONS[opset], producer_name="advstudio", producer_version=str(version),
                       graph=graph, opset_import=[OperatorSetId(domain="", version=opset)],
                       metadata_props=[StringStringEntry(k, v) for k, v in props.items()])
    return encode(onnx_model)


def _value_info(name: str, dims: list[int | str]) -> ValueInfo:
    shape = TensorShape([Dimension(dim_param=d) if isinstance(d, str) else Dimension(dim_value=int(d)) for d in dims])
    return ValueInfo(name=name, type=TypeProto(tensor_type=TypeTensor(elem_type=1, shape=shape)))


def _attr(name: str, value: Any) -> Attribute:
    if isinstance(value, float):
        return Attribute(name=name, type=Attribute.FLOAT, f=value)
    if isinstance(value, (bool, int)):
        return Attribute(name=name, type=Attribute.INT, i=int(value))
    if isinstance(value, str):
        return Attribute(name=name, type=Attribute.STRING, s=value.encode())
    return Attribute(name=name, type=Attribute.INTS, ints=np.array(list(value), np.int64))


def _pair(v: Any) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(x) for x in v]


class _Exporter:
    """One export: the traced graph walked node by node into ONNX nodes and initializers."""

    def __init__(self, model: nn.Module, opset: int) -> None:
        self.model, self.opset = model, opset
        self.nodes: list[Node] = []
        self.inits: dict[str, np.ndarray] = {}
        self.names: dict[fx.Node, str] = {}  # fx node → the ONNX value holding it
        self.shapes: dict[fx.Node, tuple[int, ...]] = {}

    def graph(self) -> Graph:
        gm = self._trace()
        output = None
        for node in gm.graph.nodes:
            if node.op == "output":
                output = node.args[0]
            else:
                self._node(gm, node)
        if not isinstance(output, fx.Node) or output not in self.names:
            raise ValueError("the model must return one tensor of scores")
        shape = self.shapes.get(output)
        if shape is None or len(shape) != 2 or shape[0] != PROBE_BATCH:
            raise ValueError(f"the model must return N×K scores, not {shape}")
        self._rename(self.names[output], "logits")
        inits = [from_array(name, arr) for name, arr in self.inits.items()]
        return Graph(node=self.nodes, name=type(self.model).__name__[:100] or "model", initializer=inits,
                     input=[_value_info("input", ["N", 1, 28, 28])], output=[_value_info("logits", ["N", shape[1]])])

    def _trace(self) -> fx.GraphModule:
        try:
            gm = fx.symbolic_trace(self.model)
        except Exception as exc:  # fx raises TraceError, TypeError, NotImplementedError, … for dynamic code
            raise ValueError(f"{type(self.model).__name__} cannot be traced for export ({exc})") from None
        was_training = self.model.training
        try:
            self.model.eval()
            gm.eval()
            param = next(iter(self.model.parameters()), None)
            x = torch.rand(PROBE_BATCH, 1, 28, 28, device=param.device if param is not None else "cpu")
            with torch.no_grad():
                ShapeProp(gm).propagate(x)
        finally:
            self.model.train(was_training)
        for node in gm.graph.nodes:
            meta = node.meta.get("tensor_meta")
            if meta is not None and hasattr(meta, "shape"):
                self.shapes[node] = tuple(int(d) for d in meta.shape)
        return gm

    def _rename(self, old: str, new: str) -> None:
        if old == "input" or old in self.inits:
            self.nodes.append(Node(input=[old], output=[new], name="output", op_type="Identity"))
            return
        for n in self.nodes:
            n.input = [new if v == old else v for v in n.input]
            n.output = [new if v == old else v for v in n.output]

    def _emit(self, op: str, inputs: list[str], node: fx.Node, **attrs: Any) -> None:
        name = node.name
        self.nodes.append(Node(input=inputs, output=[name], name=name, op_type=op,
                               attribute=[_attr(k, v) for k, v in attrs.items() if v is not None]))
        self.names[node] = name

    def _init(self, name: str, value: Any) -> str:
        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        name = name if name not in self.inits else f"{name}_{len(self.inits)}"
        self.inits[name] = arr
        return name

    def _arg(self, a: Any, node: fx.Node) -> str:
        if isinstance(a, fx.Node):
            if a not in self.names:
                raise ValueError(f"'{node.name}' uses '{a.name}', which is not a tensor this export can write")
            return self.names[a]
        if isinstance(a, (int, float)) and not isinstance(a, bool):
            return self._init(f"{node.name}_const", np.array(a, np.float32))
        raise ValueError(f"'{node.name}' has an argument of type {type(a).__name__}, which cannot be written")

    def _node(self, gm: fx.GraphModule, node: fx.Node) -> None:
        if node.op == "placeholder":
            if "input" in self.names.values():
                raise ValueError("the model must take one input (N×1×28×28 images)")
            self.names[node] = "input"
        elif node.op == "get_attr":
            value = gm
            for part in str(node.target).split("."):
                value = getattr(value, part)
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"'{node.target}' is not a tensor")
            self.names[node] = self._init(str(node.target), value)
        elif node.op == "call_module":
            self._module(gm.get_submodule(str(node.target)), node)
        elif node.op in ("call_function", "call_method"):
            self._function(node.target, node)
        else:
            raise ValueError(f"'{node.name}' ({node.op}) cannot be written")

    def _module(self, m: nn.Module, node: fx.Node) -> None:
        x = self._arg(node.args[0], node) if node.args else None
        kind = type(m)
        if kind in _ACTIVATIONS:
            self._emit(_ACTIVATIONS[kind], [x], node)
        elif kind is nn.LeakyReLU:
            self._emit("LeakyRelu", [x], node, alpha=float(m.negative_slope))
        elif kind is nn.ELU:
            self._emit("Elu", [x], node, alpha=float(m.alpha))
        elif kind in (nn.Softmax, nn.LogSoftmax):
            self._emit(kind.__name__, [x], node, axis=-1 if m.dim is None else int(m.dim))
        elif kind in _IDENTITY:
            self.names[node] = x
        elif kind is nn.Conv2d:
            self._conv(m, x, node)
        elif kind is nn.Linear:
            self._linear(m, x, node)
        elif kind in (nn.MaxPool2d, nn.AvgPool2d):
            self._pool(m, x, node)
        elif kind in (nn.BatchNorm1d, nn.BatchNorm2d):
            self._batchnorm(m, x, node)
        elif kind is nn.Flatten:
            self._flatten(x, node, m.start_dim, m.end_dim)
        else:
            raise ValueError(f"the layer {node.target} ({kind.__name__}) cannot be written to ONNX")

    def _conv(self, m: nn.Conv2d, x: str, node: fx.Node) -> None:
        if m.padding_mode != "zeros":
            raise ValueError(f"the layer {node.target} pads with {m.padding_mode!r}; only zero padding can be written")
        k, d = _pair(m.kernel_size), _pair(m.dilation)
        if isinstance(m.padding, str):
            total = [0, 0] if m.padding == "valid" else [di * (ki - 1) for ki, di in zip(k, d)]
            pads = [t // 2 for t in total] + [t - t // 2 for t in total]
        else:
            pads = _pair(m.padding) * 2
        inputs = [x, self._init(f"{node.target}.weight", m.weight)]
        if m.bias is not None:
            inputs.append(self._init(f"{node.target}.bias", m.bias))
        self._emit("Conv", inputs, node, kernel_shape=k, strides=_pair(m.stride), pads=pads, dilations=d,
                   group=int(m.groups))

    def _linear(self, m: nn.Linear, x: str, node: fx.Node) -> None:
        w = self._init(f"{node.target}.weight", m.weight)
        b = self._init(f"{node.target}.bias", m.bias) if m.bias is not None else None
        if len(self.shapes.get(node.args[0], ())) == 2:
            self._emit("Gemm", [x, w] + ([b] if b else []), node, transB=1)
            return
        wt = self._init(f"{node.target}.weight_t", m.weight.detach().t())
        del self.inits[w]
        self._emit("MatMul", [x, wt], node)
        if b:
            matmul = self.nodes[-1]
            matmul.output = [f"{node.name}_matmul"]
            self.nodes.append(Node(input=[matmul.output[0], b], output=[node.name], name=f"{node.name}_bias",
                                   op_type="Add"))

    def _pool(self, m: nn.Module, x: str, node: fx.Node) -> None:
        if getattr(m, "return_indices", False) or getattr(m, "divisor_override", None):
            raise ValueError(f"the layer {node.target} returns indices or overrides its divisor; it cannot be written")
        k = _pair(m.kernel_size)
        stride = _pair(m.stride) if m.stride is not None else k
        attrs: dict[str, Any] = {"kernel_shape": k, "strides": stride, "pads": _pair(m.padding) * 2,
                                 "ceil_mode": int(m.ceil_mode)}
        if isinstance(m, nn.MaxPool2d):
            self._emit("MaxPool", [x], node, dilations=_pair(m.dilation), **attrs)
        else:
            self._emit("AveragePool", [x], node, count_include_pad=int(m.count_include_pad), **attrs)

    def _batchnorm(self, m: nn.Module, x: str, node: fx.Node) -> None:
        if m.running_mean is None or m.running_var is None:
            raise ValueError(f"the layer {node.target} keeps no running statistics; it cannot be written")
        n = m.running_mean.numel()
        scale = m.weight if m.weight is not None else torch.ones(n)
        bias = m.bias if m.bias is not None else torch.zeros(n)
        inputs = [x] + [self._init(f"{node.target}.{part}", t) for part, t in (
            ("weight", scale), ("bias", bias), ("running_mean", m.running_mean), ("running_var", m.running_var))]
        self._emit("BatchNormalization", inputs, node, epsilon=float(m.eps))

    def _flatten(self, x: str, node: fx.Node, start: int, end: int) -> None:
        rank = len(self.shapes.get(node.args[0], ()))
        if start in (1, 1 - rank) and end in (-1, rank - 1):
            self._emit("Flatten", [x], node, axis=1)
        else:
            self._reshape(x, node)

    def _reshape(self, x: str, node: fx.Node) -> None:
        shape, source = self.shapes.get(node), self.shapes.get(node.args[0])
        if not shape or not source or shape[0] != PROBE_BATCH or source[0] != PROBE_BATCH:
            raise ValueError(f"'{node.name}' reshapes across the batch dimension; only per-image reshapes can be "
                             "written")
        target = self._init(f"{node.name}_shape", np.array([-1, *shape[1:]], np.int64))
        self._emit("Reshape", [x, target], node)

    def _function(self, target: Any, node: fx.Node) -> None:
        args = node.args
        if target in _BINARY and len(args) == 2 and not node.kwargs:
            self._emit(_BINARY[target], [self._arg(args[0], node), self._arg(args[1], node)], node)
        elif target in _UNARY and not node.kwargs.get("inplace", False):
            self._emit(_UNARY[target], [self._arg(args[0], node)], node)
        elif target in _IDENTITY:
            self.names[node] = self._arg(args[0], node)
        elif target in (torch.flatten, "flatten"):
            start = args[1] if len(args) > 1 else node.kwargs.get("start_dim", 0)
            end = args[2] if len(args) > 2 else node.kwargs.get("end_dim", -1)
            self._flatten(self._arg(args[0], node), node, int(start), int(end))
        elif target in _RESHAPE:
            self._reshape(self._arg(args[0], node), node)
        elif target == "size" or target is operator.getitem:
            if node in self.shapes:
                raise ValueError(f"'{node.name}' indexes a tensor; it cannot be written")
            self.names.pop(node, None)  # a shape value, read only by the reshape it feeds (shapes come from tracing)
        else:
            shown = getattr(target, "__name__", str(target))
            raise ValueError(f"'{node.name}' calls {shown}, which cannot be written to ONNX")
