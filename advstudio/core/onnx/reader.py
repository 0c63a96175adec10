"""Opening ONNX classifiers made elsewhere: read_onnx decodes and validates a file (never reading any other file,
running nothing but its own decoder), load_onnx turns it into a differentiable OnnxModule and metadata in the
style of the app's model files. Every problem is a ModelFileError whose message names the file and the problem."""

from __future__ import annotations

import heapq
import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from advstudio.core.constants import MNIST_MEAN, MNIST_STD
from advstudio.core.errors import ModelFileError
from advstudio.core.files import NotARegularFile, check_regular_file
from advstudio.core.model_meta import cap_text, clean_metadata
from advstudio.core.onnx.module import LAYOUTS, OnnxGraph, OnnxModule
from advstudio.core.onnx.ops_tensor import SUPPORTED_OPS
from advstudio.core.onnx.proto import MAX_ELEMENTS, MAX_INPUT_BYTES, Attribute, Node, OnnxFormatError, decode_model
from advstudio.core.onnx.tensors import to_array

__all__ = ["read_onnx", "load_onnx", "parse_input_range", "OnnxGraph", "OnnxModule", "MAX_FILE_BYTES", "MAX_NODES",
           "INPUT_RANGE_KEY", "OUTPUTS_KEY", "METADATA_KEY", "SUPPORTED_OPS"]

MAX_FILE_BYTES = MAX_INPUT_BYTES
MAX_NODES = 5000
MIN_OPSET = 7  # older opsets broadcast only with an explicit attribute
MIN_CLASSES, MAX_CLASSES = 2, 1000
INPUT_RANGE_KEY, OUTPUTS_KEY, METADATA_KEY = "advstudio.input_range", "advstudio.outputs", "advstudio.metadata"
_IMAGE = {"NCHW": (1, 28, 28), "NHWC": (28, 28, 1), "N784": (784,), "N28x28": (28, 28)}
_FLOAT_TYPES = (0, 1)  # undefined (not declared) or float32


def parse_input_range(text: str) -> tuple[str, float | None, float | None]:
    """(label, mean, std) for "0-1" (no normalization), "mnist" or "mnist-normalized" (0.1307, 0.3081), "0-255"
    (pixels × 255) or "mean=M,std=S"; ValueError for anything else."""
    text = str(text).strip().lower().replace(" ", "")
    if text in ("0-1", ""):
        return "0-1", None, None
    if text in ("mnist", "mnist-normalized"):
        return "mnist-normalized", MNIST_MEAN, MNIST_STD
    if text == "0-255":
        return "0-255", 0.0, 1 / 255
    parts = dict(p.split("=", 1) for p in text.split(",") if "=" in p)
    try:
        mean, std = float(parts["mean"]), float(parts["std"])
    except (KeyError, ValueError):
        raise ValueError(f"input range {cap_text(text, 40)!r} is not one of '0-1', 'mnist', '0-255' or "
                         "'mean=M,std=S'") from None
    if not (math.isfinite(mean) and math.isfinite(std) and abs(mean) < 1e6 and 1e-6 < std < 1e6):
        raise ValueError(f"input range mean={mean:g}, std={std:g} is not usable (std must be positive)")
    return f"mean={mean:g},std={std:g}", mean, std


def read_onnx(source: str | os.PathLike | bytes | bytearray | memoryview) -> OnnxGraph:
    """The file (or bytes) decoded and validated: one float image input of N×1×28×28, N×28×28×1, N×784 or
    N×28×28 (N unknown, named or 1), one output, standard operators this reader supports, no external data, no
    subgraphs. ModelFileError naming the problem otherwise."""
    name, data = _bytes(source)
    try:
        return _validate(decode_model(data), name)
    except OnnxFormatError as exc:
        raise ModelFileError(f"{name}: not a usable ONNX model ({cap_text(str(exc), 300)})") from None


def _bytes(source) -> tuple[str, bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "ONNX model"
    else:
        path = Path(source)
        name = cap_text(path.name, 100)
        try:
            check_regular_file(path)
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise ModelFileError(f"{name}: {size / 1e6:.1f} MB is more than the {MAX_FILE_BYTES / 1e6:.0f} MB an "
                                     "ONNX classifier may have here")
            data = path.read_bytes()
        except NotARegularFile as exc:
            raise ModelFileError(str(exc) if path.exists() or path.is_symlink() else f"{path}: no such file") from None
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ModelFileError(f"{name}: {len(data) / 1e6:.1f} MB is more than the {MAX_FILE_BYTES / 1e6:.0f} MB an "
                             "ONNX classifier may have here")
    if len(data) < 8:
        raise ModelFileError(f"{name}: the file is empty or truncated ({len(data)} bytes)")
    return name, data


def _tensors(model) -> list:
    """Every tensor of the graph: initializers and the tensors of node attributes."""
    graph = model.graph
    found = list(graph.initializer)
    for node in graph.node:
        for a in node.attribute:
            found += ([a.t] if a.t is not None else []) + list(a.tensors)
    return found


def _validate(model, name: str) -> OnnxGraph:
    graph = model.graph
    if graph is None or model.ir_version < 3:
        raise ModelFileError(f"{name}: not an ONNX model (no graph or no IR version)")
    if any(t.data_location == 1 or t.external_data for t in _tensors(model)):
        raise ModelFileError(f"{name}: its weights are kept in external data files; this app never reads outside "
                             "the model file itself, so save the model with its weights inside")
    opsets = {o.domain: o.version for o in model.opset_import}
    opset = opsets.get("", opsets.get("ai.onnx", 0))
    if opset < MIN_OPSET:
        raise ModelFileError(f"{name}: opset {opset} is older than {MIN_OPSET}, the oldest this app reads")
    if len(graph.node) > MAX_NODES:
        raise ModelFileError(f"{name}: {len(graph.node):,} nodes are more than the {MAX_NODES:,} this app reads")
    custom = sorted({f"{cap_text(n.op_type, 40)} (domain '{cap_text(n.domain, 40)}')" for n in graph.node
                     if n.domain not in ("", "ai.onnx")})
    if custom:
        raise ModelFileError(f"{name}: it uses custom operators, which are not supported: {_listing(custom)}")
    for node in graph.node:
        if any(a.subgraphs or a.type in (Attribute.GRAPH, Attribute.GRAPHS) for a in node.attribute):
            raise ModelFileError(f"{name}: node '{cap_text(node.name, 40)}' ({cap_text(node.op_type, 40)}) holds a "
                                 "subgraph; graphs with subgraphs (If, Loop, Scan) are not supported")
    unsupported = sorted({cap_text(n.op_type, 40) or "'' (no name)" for n in graph.node
                          if n.op_type not in SUPPORTED_OPS})
    if unsupported:
        raise ModelFileError(f"{name}: unsupported operators: {_listing(unsupported)}")
    if graph.sparse_initializers or any(a.sparse or a.ref_attr_name for n in graph.node for a in n.attribute):
        raise ModelFileError(f"{name}: sparse tensors and attribute references are not supported")
    consts = _constants(graph, name)
    nodes = _sorted_nodes([n for n in graph.node if n.op_type != "Constant"], consts, graph, name)
    return _io(model, graph, nodes, consts, opset, name)


def _listing(items: list[str]) -> str:
    return ", ".join(items[:20]) + (f" and {len(items) - 20} more" if len(items) > 20 else "")


def _constants(graph, name: str) -> dict[str, np.ndarray]:
    """Initializers and Constant nodes' values, by name; their elements are bounded in all."""
    consts: dict[str, np.ndarray] = {}
    total = 0
    for t in graph.initializer:
        arr = to_array(t)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ModelFileError(f"{name}: initializer '{cap_text(t.name, 60)}' holds NaN or infinite values")
        if t.name in consts or not t.name:
            raise ModelFileError(f"{name}: two initializers are called '{cap_text(t.name, 60)}' (or one has no name)")
        consts[t.name] = arr
        total += arr.size
    for node in graph.node:
        if node.op_type == "Constant":
            arr = _constant_value(node, name)
            if len(node.output) != 1 or not node.output[0] or node.output[0] in consts:
                raise ModelFileError(f"{name}: Constant node '{cap_text(node.name, 40)}' has a bad output")
            consts[node.output[0]] = arr
            total += arr.size
    if total > MAX_ELEMENTS:
        raise ModelFileError(f"{name}: its weights hold {total:,} values, more than the {MAX_ELEMENTS:,} allowed")
    return consts


def _constant_value(node: Node, name: str) -> np.ndarray:
    attrs = {a.name: a for a in node.attribute}
    if len(attrs) == 1:
        (key, a), = attrs.items()
        if key == "value" and a.t is not None:
            return to_array(a.t)
        if key == "value_float" and a.type == Attribute.FLOAT:
            return np.array(a.f, np.float32)
        if key == "value_floats" and a.type == Attribute.FLOATS:
            return np.array(a.floats, np.float32)
        if key == "value_int" and a.type == Attribute.INT:
            return np.array(a.i, np.int64)
        if key == "value_ints" and a.type == Attribute.INTS:
            return np.array(a.ints, np.int64)
    raise ModelFileError(f"{name}: Constant node '{cap_text(node.name, 40)}' holds no supported value "
                         f"({', '.join(cap_text(k, 20) for k in list(attrs)[:5]) or 'none'})")


def _sorted_nodes(nodes: list[Node], consts: dict, graph, name: str) -> list[Node]:
    """The nodes in topological order (Kahn's algorithm, stable); ModelFileError for a value defined twice, a
    value read that nothing defines, or a cycle."""
    available = set(consts) | {v.name for v in graph.input}
    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if not node.output or not node.output[0]:
            raise ModelFileError(f"{name}: node '{cap_text(node.name, 40)}' ({node.op_type}) has no output")
        for out in node.output:
            if out and (out in producer or out in available):
                raise ModelFileError(f"{name}: the value '{cap_text(out, 60)}' is defined twice")
            if out:
                producer[out] = i
    waiting = {i: {n for n in node.input if n and n not in available} for i, node in enumerate(nodes)}
    for i, needs in waiting.items():
        unknown = [n for n in needs if n not in producer]
        if unknown:
            raise ModelFileError(f"{name}: node '{cap_text(nodes[i].name, 40)}' ({nodes[i].op_type}) reads "
                                 f"'{cap_text(unknown[0], 60)}', which nothing defines")
    readers: dict[int, list[int]] = {}
    for i, needs in waiting.items():
        for n in needs:
            readers.setdefault(producer[n], []).append(i)
    count = {i: len({producer[n] for n in needs}) for i, needs in waiting.items()}
    ready = [i for i, c in count.items() if c == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for j in set(readers.get(i, [])):
            count[j] -= 1
            if count[j] == 0:
                heapq.heappush(ready, j)
    if len(order) != len(nodes):
        raise ModelFileError(f"{name}: its nodes form a cycle")
    return [nodes[i] for i in order]


def _dims(value_info) -> tuple[int, tuple[int | None, ...] | None]:
    """(element type, dims: an int for a fixed size, None for a named or unknown one; None without a shape)."""
    tt = value_info.type.tensor_type if value_info.type is not None else None
    if tt is None:
        return -1, None
    if tt.shape is None:
        return tt.elem_type, None
    return tt.elem_type, tuple(d.dim_value if d.dim_value is not None and d.dim_value > 0 else None
                               for d in tt.shape.dim)


def _io(model, graph, nodes: list[Node], consts: dict, opset: int, name: str) -> OnnxGraph:
    inputs = [v for v in graph.input if v.name not in consts]
    if len(inputs) != 1:
        shown = ", ".join(f"'{cap_text(v.name, 30)}'" for v in inputs[:5]) or "none"
        raise ModelFileError(f"{name}: it has {len(inputs)} inputs ({shown}); a classifier with one image input "
                             "is needed")
    elem, dims = _dims(inputs[0])
    if elem not in _FLOAT_TYPES:
        raise ModelFileError(f"{name}: its input is not float32 images (type {elem})")
    layouts, fixed = _layouts(dims, name)
    if len(graph.output) != 1:
        raise ModelFileError(f"{name}: it has {len(graph.output)} outputs; a classifier with one output of N×K "
                             "scores is needed")
    produced = {o for n in nodes for o in n.output} | set(consts) | {inputs[0].name}
    if graph.output[0].name not in produced:
        raise ModelFileError(f"{name}: its output '{cap_text(graph.output[0].name, 60)}' is not computed by any node")
    out_elem, out_dims = _dims(graph.output[0])
    if out_elem not in _FLOAT_TYPES:
        raise ModelFileError(f"{name}: its output is not float32 scores (type {out_elem})")
    if out_dims is not None and (len(out_dims) != 2 or (
            out_dims[1] is not None and not MIN_CLASSES <= out_dims[1] <= MAX_CLASSES)):
        raise ModelFileError(f"{name}: its output is {_shape_text(out_dims)}; N×K scores (K from {MIN_CLASSES} to "
                             f"{MAX_CLASSES}) are needed")
    props = {p.key: p.value for p in model.metadata_props}
    ops = sorted({n.op_type for n in graph.node})
    return OnnxGraph(model, nodes, consts, opset, inputs[0].name, dims, layouts, fixed, graph.output[0].name,
                     out_dims[1] if out_dims else None, props, ops)


def _shape_text(dims) -> str:
    text = "×".join("N" if i == 0 and d is None else "?" if d is None else str(d) for i, d in enumerate(dims[:8]))
    return text or "a scalar"


def _layouts(dims, name: str) -> tuple[tuple[str, ...], bool]:
    """The layouts the declared input shape allows, and whether it fixes the batch size to 1."""
    if dims is None:
        return LAYOUTS, False
    found = tuple(lay for lay, image in _IMAGE.items() if len(dims) == len(image) + 1
                  and all(d is None or d == want for d, want in zip(dims[1:], image)))
    if not found:
        raise ModelFileError(f"{name}: its input is {_shape_text(dims)}; this app gives N×1×28×28 digits (a file "
                             "may take N×1×28×28, N×28×28×1, N×784 or N×28×28)")
    if dims[0] not in (None, 1):
        raise ModelFileError(f"{name}: its input fixes the batch size to {dims[0]}; it must be open (N) or 1")
    return found, dims[0] == 1


# ---------------------------------------------------------------------------------------------- load
def load_onnx(path: str | os.PathLike, device: str | torch.device = "cpu", input_range: str | None = None,
              outputs: str | None = None) -> tuple[OnnxModule, dict]:
    """The file as an OnnxModule (eval mode, on `device`) and its metadata.

    What the file expects comes from its metadata_props: "advstudio.input_range" ("0-1", "mnist", "0-255" or
    "mean=M,std=S"; default "0-1") and "advstudio.outputs" ("logits" or "probabilities"; default "logits", or
    "probabilities" when the graph ends in Softmax); `input_range` and `outputs` override them. When the outputs
    are probabilities the module returns log(probabilities), logits up to a constant, and the metadata keeps
    outputs="probabilities" (so masking checks can warn: softmax outputs saturate). The module is probed on two
    images: it must give N×K finite scores (K from 2 to 1000) and a finite input gradient. ModelFileError for any
    problem of the file; ValueError for an `input_range` or `outputs` override that is none of the above."""
    graph = read_onnx(path)
    name = cap_text(Path(path).name, 100)
    label, mean, std = _input_range(input_range, graph.props.get(INPUT_RANGE_KEY), name)
    outputs, detected = _outputs(outputs, graph, name)
    module, k, per_sample = _probe_all(graph, name, mean=mean, std=std, log_outputs=outputs == "probabilities")
    meta = _metadata(graph, Path(path), label, outputs, k, module.layout)
    if detected:
        meta["outputs_detected"] = "the graph ends in Softmax"
    if per_sample:
        meta["batch"] = "one image at a time (the file fixes its batch size to 1)"
    return module.to(device), meta


def _input_range(override, stored, name: str) -> tuple[str, float | None, float | None]:
    if override is not None:
        return parse_input_range(override)
    try:
        return parse_input_range(stored or "0-1")
    except ValueError as exc:
        raise ModelFileError(f"{name}: its {INPUT_RANGE_KEY} is not usable ({exc})") from None


def _outputs(override, graph: OnnxGraph, name: str) -> tuple[str, bool]:
    value = override if override is not None else graph.props.get(OUTPUTS_KEY)
    if value is None:
        last = next((n for n in graph.nodes if graph.output_name in n.output[:1]), None)
        return ("probabilities", True) if last is not None and last.op_type == "Softmax" else ("logits", False)
    if value not in ("logits", "probabilities"):
        text = f"outputs must be 'logits' or 'probabilities', not {cap_text(str(value), 30)!r}"
        if override is not None:
            raise ValueError(text)
        raise ModelFileError(f"{name}: its {OUTPUTS_KEY} is not usable ({text})")
    return value, False


def _probe_all(graph: OnnxGraph, name: str, **options) -> tuple[OnnxModule, int, bool]:
    """The first layout under which the module gives N×K scores and an input gradient, run on whole batches when
    that gives the scores of one image at a time (files that fix their batch size to 1 often do), else one image
    at a time."""
    problems = []
    for layout in graph.layouts:
        try:
            module = OnnxModule(graph, layout, **options)
        except Exception as exc:  # OnnxFormatError naming the node, or torch's own check of a crafted weight
            raise ModelFileError(f"{name}: {cap_text(str(exc).splitlines()[0] if str(exc) else repr(exc), 300)}") \
                from None
        module.per_sample = True
        single, k, single_out = _probe(module, graph.num_classes)
        module.per_sample = False
        batched, k_batched, batched_out = _probe(module, graph.num_classes)
        same = single is None and batched is None and torch.allclose(batched_out, single_out, rtol=1e-3, atol=1e-3)
        if same or (batched is None and single is not None and not graph.fixed_batch):
            return module, k_batched, False  # batches give each image its own scores (or only batches work)
        if single is None:
            module.per_sample = True
            return module, k, True
        problems.append(f"{layout}: {single}" if len(graph.layouts) > 1 else single)
    raise ModelFileError(f"{name}: it does not work as a digit classifier ({cap_text(problems[0], 300)})")


def _probe(module: OnnxModule, declared: int | None) -> tuple[str | None, int, torch.Tensor]:
    """(None, K, the scores) when the module gives two images 2×K finite scores with a finite input gradient,
    else (the problem, 0, an empty tensor)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 28, 28, generator=gen).requires_grad_(True)
    none = torch.zeros(0)
    try:
        out = module(x)
        if not isinstance(out, torch.Tensor) or not out.is_floating_point() or out.ndim != 2 or out.shape[0] != 2:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            return f"for 2 images it gives {shape}, not 2×K scores", 0, none
        k = int(out.shape[1])
        if not MIN_CLASSES <= k <= MAX_CLASSES or (declared is not None and k != declared):
            problem = f"it gives {k} scores per image (declared {declared}; {MIN_CLASSES} to {MAX_CLASSES} needed)"
            return problem, 0, none
        if not torch.isfinite(out).all():
            return "its scores are NaN or infinite", 0, none
        (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    except Exception as exc:  # a file from anyone: whatever its graph raises is its problem, reported
        return f"{type(exc).__name__}: {cap_text(str(exc).splitlines()[0] if str(exc) else '', 200)}", 0, none
    if grad is None or not torch.isfinite(grad).all():
        return "its scores have no finite gradient with respect to the input", 0, none
    return None, k, out.detach()


def _metadata(graph: OnnxGraph, path: Path, label: str, outputs: str, k: int, layout: str) -> dict:
    try:
        stored = clean_metadata(json.loads(graph.props.get(METADATA_KEY, "{}")))
    except (ValueError, RecursionError):
        stored = {}
    source = stored.pop("architecture", None)
    meta = {**stored, "architecture": "ONNX", "name": stored.get("name") or path.stem or graph.model.graph.name,
            "input_layout": layout, "input_range": label, "outputs": outputs, "num_classes": k, "opset": graph.opset,
            "producer": graph.producer, "ops": graph.ops, "source_file": path.name}
    if isinstance(source, str) and source != "ONNX":
        meta["source_architecture"] = source
    return clean_metadata(meta)
