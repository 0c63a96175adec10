"""OnnxModule: a decoded ONNX graph run by torch, node by node in topological order, differentiable with respect
to its input, taking what the app gives every model (N×1×28×28 images in [0, 1]) whatever the file expects."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from advstudio.core.onnx.ops import NodeContext, size_cap
from advstudio.core.onnx.ops_tensor import BUILDERS, build_softmax
from advstudio.core.onnx.proto import Model, Node, OnnxFormatError

LAYOUTS = ("NCHW", "NHWC", "N784", "N28x28")  # N×1×28×28, N×28×28×1, N×784, N×28×28
LOG_FLOOR = 1e-30  # log(probability) is taken of max(p, LOG_FLOOR) where no Softmax can be turned into LogSoftmax


@dataclass
class OnnxGraph:
    """A decoded, validated ONNX classifier (see reader.read_onnx): its nodes in topological order (Constant
    nodes folded into `consts`), its constants as numpy arrays, its one image input and one score output."""

    model: Model
    nodes: list[Node]
    consts: dict[str, np.ndarray]
    opset: int
    input_name: str
    input_dims: tuple[int | None, ...] | None  # None: the file does not declare its input's shape
    layouts: tuple[str, ...]  # the layouts its input shape allows, tried in this order
    fixed_batch: bool  # the file fixes its batch size to 1
    output_name: str
    num_classes: int | None  # from the declared output shape, when it declares one
    props: dict[str, str] = field(default_factory=dict)  # metadata_props
    ops: list[str] = field(default_factory=list)  # the operator types it uses, sorted

    @property
    def producer(self) -> str:
        return " ".join(p for p in (self.model.producer_name, self.model.producer_version) if p)[:100]


class OnnxModule(nn.Module):
    """An ONNX classifier as a torch module.

    forward(x) takes N×1×28×28 images in [0, 1] (N×784 also works) and converts them to the file's input:
    normalized to (x − mean) / std when the file expects normalized pixels (mean/std given), then laid out as
    `layout` (one of LAYOUTS). Weights are frozen buffers and parameters (requires_grad False); the gradient
    with respect to the input flows through every node.

    Each node is a submodule of `layers`, named after its operator and position ("conv_0", "relu_1", …):
    activations are the real nn modules (nn.ReLU, nn.Tanh, …), convolutions nn.Conv2d, dense layers with
    constant weights nn.Linear, in graph order, so forward hooks, Grad-CAM and the projections find them.

    With `log_outputs` (a file whose outputs are probabilities) the module returns log(probabilities), which are
    logits up to a constant per image: a final Softmax is run as LogSoftmax (the same values, without underflow to
    −∞), any other output as log(max(p, 1e-30)). `per_sample` runs one image at a time (a file that fixes its
    batch size to 1). There is no training behaviour: Dropout is the identity and BatchNormalization uses its
    running statistics, in train() mode too."""

    def __init__(self, graph: OnnxGraph, layout: str, *, mean: float | None = None, std: float | None = None,
                 log_outputs: bool = False, per_sample: bool = False) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        self.layout, self.per_sample, self.log_outputs = layout, per_sample, log_outputs
        self.normalizes = mean is not None and std is not None
        self.register_buffer("mean", torch.tensor(0.0 if mean is None else float(mean)), persistent=False)
        self.register_buffer("std", torch.tensor(1.0 if std is None else float(std)), persistent=False)
        self.input_name, self.output_name = graph.input_name, graph.output_name
        self.layers = nn.ModuleDict()
        self.constants = nn.Module()
        self._float_consts: dict[str, str] = {}
        self._int_consts: dict[str, torch.Tensor] = {}
        self._steps: list[tuple[str, tuple[str, ...], str]] = []
        self._log_done = False
        producer = {o: i for i, n in enumerate(graph.nodes) for o in n.output[:1]}
        final = producer.get(graph.output_name)
        defined = {graph.input_name, *graph.consts}
        for i, node in enumerate(graph.nodes):
            c = NodeContext(node, graph.consts, graph.opset)
            builder = BUILDERS.get(node.op_type)
            if builder is None:
                raise c.fail("this operator is not supported")
            try:
                if log_outputs and i == final and node.op_type == "Softmax":
                    built, self._log_done = build_softmax(c, log=True), True
                else:
                    built = builder(c)
            except OnnxFormatError:
                raise
            except Exception as exc:  # torch's and numpy's own checks of the node's weights and attributes
                raise c.fail(str(exc)[:300]) from None
            missing = [n for n in built.inputs if n and n not in defined]
            if missing:
                raise c.fail(f"it reads '{missing[0][:60]}', which no supported node output defines")
            key = f"{node.op_type.lower()}_{i}"
            self.layers[key] = built.module
            self._steps.append((key, tuple(built.inputs), node.output[0]))
            defined.add(node.output[0])
            for name in built.inputs:
                if name in graph.consts:
                    self._keep_constant(name, graph.consts[name])
        if graph.output_name not in defined:
            raise OnnxFormatError(f"its output '{graph.output_name[:60]}' is not computed by any node")
        self.eval()

    def _keep_constant(self, name: str, value: np.ndarray) -> None:
        if name in self._float_consts or name in self._int_consts:
            return
        tensor = torch.from_numpy(np.array(value))
        if tensor.is_floating_point():  # float32 buffers: they move with .to(device), float64 would not fit MPS
            tensor = tensor.to(torch.float32)
            key = f"c{len(self._float_consts)}"
            self.constants.register_buffer(key, tensor)
            self._float_consts[name] = key
        else:
            self._int_consts[name] = tensor

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {name: getattr(self.constants, key) for name, key in self._float_consts.items()}
        env.update(self._int_consts)
        env[self.input_name] = x
        for key, inputs, output in self._steps:
            env[output] = self.layers[key](*[env[name] if name else None for name in inputs])
        return env[self.output_name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = int(x.shape[0])
        x = x.reshape(n, 1, 28, 28)
        if x.dtype != torch.float32:
            x = x.to(torch.float32)
        if self.normalizes:
            x = (x - self.mean) / self.std
        if self.layout == "NHWC":
            x = x.permute(0, 2, 3, 1)
        elif self.layout == "N784":
            x = x.reshape(n, 784)
        elif self.layout == "N28x28":
            x = x.reshape(n, 28, 28)
        with size_cap(1 if self.per_sample else n):
            if self.per_sample and n > 1:
                out = torch.cat([self._run(x[i : i + 1]) for i in range(n)])
            else:
                out = self._run(x)
        if self.log_outputs and not self._log_done:
            out = torch.log(out.clamp_min(LOG_FLOOR))
        return out

    def extra_repr(self) -> str:
        norm = f", mean={float(self.mean):g}, std={float(self.std):g}" if self.normalizes else ""
        return f"layout={self.layout}{norm}, log_outputs={self.log_outputs}, per_sample={self.per_sample}"
