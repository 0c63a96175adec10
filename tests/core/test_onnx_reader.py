"""Opening ONNX classifiers made elsewhere (issue 17): graphs built with onnx.helper and run by our reader as torch
modules agree with onnx.reference.ReferenceEvaluator (the oracle, a test extra), are differentiable with respect
to their input, honour the file's input range and output kind; and files that are unsafe or unusable (external
data, custom operators, unsupported operators, subgraphs, several inputs, the wrong input shape, …) are refused
with a ModelFileError naming the problem. The safety tests build their files with our own writer's messages, so
they run without the onnx package."""

from __future__ import annotations

import io
import math
import os
import warnings

import numpy as np
import pytest
import torch

from advstudio.core.activations import relu_modules
from advstudio.core.errors import ModelFileError
from advstudio.core.explain.attribution import gradcam, gradcam_layer
from advstudio.core.onnx import load_onnx, read_onnx
from advstudio.core.onnx import reader as onnx_reader
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

ORACLE = "onnx (a test extra: pip install -c constraints.txt -e '.[test]') is the oracle of these cross-checks"
TOL = 1e-4


@pytest.fixture(scope="module")
def onnx():
    return pytest.importorskip("onnx", reason=ORACLE)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _images(n: int = 6, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def _run(module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return module(x).numpy()


# ---------------------------------------------------------------------------------------------- onnx.helper models
def _helper_model(onnx, nodes, inits, in_dims, out_dims, opset=17, props=None, in_name="x", out_name="y"):
    h = onnx.helper
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info(in_name, onnx.TensorProto.FLOAT, in_dims)],
                         [h.make_tensor_value_info(out_name, onnx.TensorProto.FLOAT, out_dims)],
                         [onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)], producer_name="test")
    if props:
        h.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    return model


def mlp_model(onnx, seed=0, props=None, softmax=False):
    """N×784 → Gemm 784→32 → Relu → Gemm 32→10 (transB both ways) [→ Softmax]."""
    rng, h = _rng(seed), onnx.helper
    inits = {"w1": rng.normal(0, 0.1, (784, 32)).astype(np.float32), "b1": rng.normal(0, 0.1, 32).astype(np.float32),
             "w2": rng.normal(0, 0.3, (10, 32)).astype(np.float32), "b2": rng.normal(0, 0.1, 10).astype(np.float32)}
    nodes = [h.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"), h.make_node("Relu", ["h"], ["r"]),
             h.make_node("Gemm", ["r", "w2", "b2"], ["z" if softmax else "y"], transB=1, alpha=0.9, beta=1.1)]
    if softmax:
        nodes.append(h.make_node("Softmax", ["z"], ["y"], axis=1))
    return _helper_model(onnx, nodes, inits, ["N", 784], ["N", 10], props=props)


def cnn_model(onnx, seed=0, props=None):
    """N×1×28×28 → Conv 1→6 3×3 pad 1 → Relu → MaxPool 2 → Flatten → Gemm 1176→10."""
    rng, h = _rng(seed), onnx.helper
    inits = {"cw": rng.normal(0, 0.3, (6, 1, 3, 3)).astype(np.float32), "cb": rng.normal(0, 0.1, 6).astype(np.float32),
             "fw": rng.normal(0, 0.05, (10, 6 * 14 * 14)).astype(np.float32),
             "fb": rng.normal(0, 0.1, 10).astype(np.float32)}
    nodes = [h.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             h.make_node("Relu", ["c"], ["r"]),
             h.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             h.make_node("Flatten", ["p"], ["f"], axis=1), h.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    return _helper_model(onnx, nodes, inits, ["N", 1, 28, 28], ["N", 10], props=props)


def _save(model, tmp_path, name="m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def _reference(onnx, model, x: np.ndarray) -> np.ndarray:
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, {model.graph.input[0].name: x})[0]


def test_an_mlp_matches_the_reference(onnx, tmp_path):
    model = mlp_model(onnx)
    module, meta = load_onnx(_save(model, tmp_path, "mlp.onnx"))
    x = _images()
    np.testing.assert_allclose(_run(module, x), _reference(onnx, model, x.reshape(6, 784).numpy()), atol=TOL)
    assert meta["architecture"] == "ONNX" and meta["input_layout"] == "N784" and meta["num_classes"] == 10
    assert meta["input_range"] == "0-1" and meta["outputs"] == "logits" and meta["opset"] == 17
    assert meta["ops"] == ["Gemm", "Relu"] and meta["producer"] == "test" and meta["source_file"] == "mlp.onnx"
    assert meta["name"] == "mlp" and not module.training
    assert [type(m).__name__ for m in module.layers.values()] == ["Linear", "ReLU", "Linear"]


def test_a_cnn_matches_the_reference_and_the_explainers_find_its_layers(onnx, tmp_path):
    model = cnn_model(onnx)
    module, meta = load_onnx(_save(model, tmp_path))
    x = _images()
    np.testing.assert_allclose(_run(module, x), _reference(onnx, model, x.numpy()), atol=TOL)
    assert meta["input_layout"] == "NCHW" and meta["ops"] == ["Conv", "Flatten", "Gemm", "MaxPool", "Relu"]
    assert [name for name, _ in relu_modules(module)] == ["layers.relu_1"]
    assert gradcam_layer(module)[0] == "layers.relu_1"  # the activation right after the convolution
    cam = gradcam(module, x[:2])
    assert cam.maps.shape == (2, 28, 28) and np.isfinite(cam.maps).all() and cam.params["layer"] == "layers.relu_1"
    seen = []
    handle = module.layers["relu_1"].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    module(x)
    handle.remove()
    assert seen == [torch.Size([6, 6, 28, 28])]


def test_the_input_gradient_is_non_zero_and_matches_finite_differences(onnx, tmp_path):
    module, _ = load_onnx(_save(cnn_model(onnx, seed=3), tmp_path))
    x = _images(2, seed=4).requires_grad_(True)
    (grad,) = torch.autograd.grad(module(x)[:, 3].sum(), x)
    assert grad.abs().sum() > 0 and torch.isfinite(grad).all()
    direction = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    h = 1e-3
    with torch.no_grad():
        numeric = ((module(x + h * direction)[:, 3] - module(x - h * direction)[:, 3]).sum() / (2 * h)).item()
    analytic = (grad * direction).sum().item()
    assert abs(numeric - analytic) <= 0.05 * abs(analytic) + 1e-3, (numeric, analytic)


@pytest.mark.parametrize("stored, override, mean, std", [
    ("mnist", None, 0.1307, 0.3081), ("mean=0.5,std=0.25", None, 0.5, 0.25), ("0-255", None, 0.0, 1 / 255),
    ("mnist", "0-1", 0.0, 1.0), (None, "mnist-normalized", 0.1307, 0.3081)])
def test_the_input_range_normalizes(onnx, tmp_path, stored, override, mean, std):
    model = cnn_model(onnx, props={"advstudio.input_range": stored} if stored else None)
    module, meta = load_onnx(_save(model, tmp_path), input_range=override)
    x = _images()
    want = _reference(onnx, model, ((x.numpy() - mean) / std).astype(np.float32))
    np.testing.assert_allclose(_run(module, x), want, atol=TOL * max(1.0, float(np.abs(want).max())))
    assert meta["input_range"] == {(0.0, 1.0): "0-1", (0.1307, 0.3081): "mnist-normalized"}.get(
        (mean, std), meta["input_range"])


@pytest.mark.parametrize("props", [{"advstudio.outputs": "probabilities"}, None])
def test_probabilities_are_returned_as_their_logarithm(onnx, tmp_path, props):
    model = mlp_model(onnx, softmax=True, props=props)
    module, meta = load_onnx(_save(model, tmp_path))
    x = _images()
    probs = _reference(onnx, model, x.reshape(6, 784).numpy())
    np.testing.assert_allclose(_run(module, x), np.log(probs), atol=TOL)
    assert meta["outputs"] == "probabilities"
    assert ("outputs_detected" in meta) == (props is None)  # a final Softmax says so when the file does not
    assert type(list(module.layers.values())[-1]).__name__ == "LogSoftmax"  # no underflow to −∞


def test_probabilities_without_a_final_softmax_are_logged(onnx, tmp_path):
    model = mlp_model(onnx, props={"advstudio.outputs": "probabilities"})  # scores that are not probabilities
    module, meta = load_onnx(_save(model, tmp_path))
    x = _images()
    raw = _reference(onnx, model, x.reshape(6, 784).numpy())
    np.testing.assert_allclose(_run(module, x), np.log(np.maximum(raw, 1e-30)), atol=TOL)
    module2, meta2 = load_onnx(tmp_path / "m.onnx", outputs="logits")
    np.testing.assert_allclose(_run(module2, x), raw, atol=TOL)
    assert (meta["outputs"], meta2["outputs"]) == ("probabilities", "logits")


def _wide_model(onnx):
    """Most supported operators in one graph: SAME_UPPER strided, depthwise and asymmetrically padded convolutions,
    batch norm, pooling of every kind, shape chains, elementwise ops, Pad, Slice, Clip, Concat, MatMul."""
    rng, h = _rng(7), onnx.helper
    f = lambda *s: rng.normal(0, 0.3, s).astype(np.float32)  # noqa: E731
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    inits = {"w1": f(4, 1, 3, 3), "b1": f(4), "w2": f(4, 1, 3, 3), "w3": f(8, 4, 2, 2), "b3": f(8),
             "sc": np.abs(f(8)) + 0.5, "bb": f(8), "mu": f(8), "var": np.abs(f(8)) + 0.5,
             "two": np.array(2.0, np.float32), "ax0": i64(0), "idx0": np.array(0, np.int64), "minus1": i64(-1),
             "pads": i64(0, 1, 1, 0, 1, 1),
             "starts": i64(1), "ends": i64(6), "axes1": i64(1), "mm": f(5 * 6 * 6 + 8, 12), "madd": f(12),
             "lo": np.array(-1.5, np.float32), "hi": np.array(1.5, np.float32), "sq": i64(2, 3)}
    nodes = [
        h.make_node("Conv", ["x", "w1", "b1"], ["c1"], auto_pad="SAME_UPPER", strides=[2, 2]),  # 4×14×14
        h.make_node("LeakyRelu", ["c1"], ["a1"], alpha=0.2),
        h.make_node("Conv", ["a1", "w2"], ["c2"], group=4, pads=[0, 1, 2, 1], kernel_shape=[3, 3]),  # 4×14×14
        h.make_node("Elu", ["c2"], ["a2"], alpha=0.7),
        h.make_node("Conv", ["a2", "w3", "b3"], ["c3"], strides=[2, 2], dilations=[1, 1]),  # 8×7×7
        h.make_node("BatchNormalization", ["c3", "sc", "bb", "mu", "var"], ["n3"], epsilon=1e-3),
        h.make_node("Sigmoid", ["n3"], ["s3"]),
        h.make_node("AveragePool", ["s3"], ["p3"], kernel_shape=[2, 2], pads=[0, 0, 1, 1], count_include_pad=0),
        h.make_node("Slice", ["p3", "starts", "ends", "axes1"], ["sl"]),  # 5×7×7
        h.make_node("MaxPool", ["sl"], ["mp"], kernel_shape=[2, 2], strides=[1, 1], pads=[0, 0, 0, 0]),  # 5×6×6
        h.make_node("Shape", ["mp"], ["shp"]), h.make_node("Gather", ["shp", "idx0"], ["n"], axis=0),
        h.make_node("Unsqueeze", ["n", "ax0"], ["n1"]), h.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        h.make_node("Reshape", ["mp", "shape"], ["flat"]),
        h.make_node("GlobalAveragePool", ["n3"], ["gap"]), h.make_node("Squeeze", ["gap", "sq"], ["g2"]),
        h.make_node("Concat", ["flat", "g2"], ["cat"], axis=1),
        h.make_node("MatMul", ["cat", "mm"], ["m1"]), h.make_node("Add", ["m1", "madd"], ["m2"]),
        h.make_node("Tanh", ["m2"], ["t"]), h.make_node("Mul", ["t", "two"], ["t2"]),
        h.make_node("Div", ["t2", "two"], ["t3"]), h.make_node("Sub", ["t2", "t3"], ["t4"]),
        h.make_node("Clip", ["t4", "lo", "hi"], ["cl"]), h.make_node("Max", ["cl", "t3"], ["mx"]),
        h.make_node("Min", ["mx", "t2"], ["mn"]), h.make_node("Dropout", ["mn"], ["dr"]),
        h.make_node("Identity", ["dr"], ["id"]), h.make_node("Cast", ["id"], ["cs"], to=1),
        h.make_node("Unsqueeze", ["cs", "axes1"], ["u"]), h.make_node("Pad", ["u", "pads"], ["pd"]),
        h.make_node("Transpose", ["pd"], ["tr"], perm=[0, 2, 1]), h.make_node("Flatten", ["tr"], ["y"]),
    ]
    return _helper_model(onnx, nodes, inits, ["N", 1, 28, 28], ["N", 42])


def test_most_operators_match_the_reference(onnx, tmp_path):
    model = _wide_model(onnx)
    module, meta = load_onnx(_save(model, tmp_path))
    x = _images()
    np.testing.assert_allclose(_run(module, x), _reference(onnx, model, x.numpy()), atol=TOL)
    assert meta["num_classes"] == 42 and len(meta["ops"]) == 30
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(module(x).sum(), x)
    assert grad.abs().sum() > 0


def test_gelu_softmax_and_logsoftmax_of_newer_and_older_opsets(onnx, tmp_path):
    h = onnx.helper
    w = _rng(2).normal(0, 0.05, (784, 10)).astype(np.float32)
    for opset, nodes in [(20, [h.make_node("MatMul", ["x", "w"], ["m"]), h.make_node("Gelu", ["m"], ["g"]),
                               h.make_node("Gelu", ["g"], ["y"], approximate="tanh")]),
                         (11, [h.make_node("MatMul", ["x", "w"], ["m"]), h.make_node("LogSoftmax", ["m"], ["y"])]),
                         (13, [h.make_node("MatMul", ["x", "w"], ["m"]), h.make_node("Softplus", ["m"], ["s"]),
                               h.make_node("Softmax", ["s"], ["y"], axis=-1)])]:
        model = _helper_model(onnx, nodes, {"w": w}, ["N", 784], ["N", 10], opset=opset,
                              props={"advstudio.outputs": "logits"})
        module, _ = load_onnx(_save(model, tmp_path))
        x = _images()
        np.testing.assert_allclose(_run(module, x), _reference(onnx, model, x.reshape(6, 784).numpy()), atol=TOL)


def test_a_keras_style_nhwc_input_with_a_transpose(onnx, tmp_path):
    h = onnx.helper
    rng = _rng(4)
    inits = {"cw": rng.normal(0, 0.3, (3, 1, 5, 5)).astype(np.float32),
             "fw": rng.normal(0, 0.05, (3 * 24 * 24, 10)).astype(np.float32),
             "shape": np.array([-1, 3 * 24 * 24], np.int64)}
    nodes = [h.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]), h.make_node("Conv", ["t", "cw"], ["c"]),
             h.make_node("Relu", ["c"], ["r"]), h.make_node("Reshape", ["r", "shape"], ["f"]),
             h.make_node("MatMul", ["f", "fw"], ["y"])]
    model = _helper_model(onnx, nodes, inits, ["unk__1", 28, 28, 1], ["unk__2", 10])
    module, meta = load_onnx(_save(model, tmp_path))
    x = _images()
    np.testing.assert_allclose(_run(module, x), _reference(onnx, model, x.permute(0, 2, 3, 1).numpy()), atol=TOL)
    assert meta["input_layout"] == "NHWC"


def test_a_file_exported_by_torch_is_read(tmp_path):
    from torch import nn

    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 14 * 14, 10), nn.LogSoftmax(dim=1)).eval()
    path = tmp_path / "torch.onnx"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, torch.rand(1, 1, 28, 28), str(path), dynamo=False, input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13)
    except Exception as exc:  # the exporter's own dependencies or deprecations; not what this test checks
        pytest.skip(f"torch.onnx.export is unavailable here ({type(exc).__name__}: {exc})")
    module, meta = load_onnx(path)
    x = _images()
    np.testing.assert_allclose(_run(module, x), _run(net, x), atol=TOL)
    assert meta["producer"].startswith("pytorch") and meta["outputs"] == "logits"


# ---------------------------------------------------------------------------------------------- refusals
def _info(name: str, dims, elem: int = 1) -> ValueInfo:
    shape = TensorShape([Dimension(dim_param=d) if isinstance(d, str) else Dimension(dim_value=d) for d in dims])
    return ValueInfo(name=name, type=TypeProto(tensor_type=TypeTensor(elem_type=elem, shape=shape)))


def tiny_bytes(*, nodes=None, inits=None, inputs=None, outputs=None, opset=17, props=None) -> bytes:
    """A valid N×784 → Gemm → N×10 classifier written with our own messages (no onnx needed), any part
    replaced."""
    w = _rng(9).normal(0, 0.1, (784, 10)).astype(np.float32)
    nodes = nodes if nodes is not None else [Node(input=["x", "w"], output=["y"], name="fc", op_type="Gemm")]
    inits = inits if inits is not None else [from_array("w", w)]
    graph = Graph(node=nodes, name="tiny", initializer=inits, input=inputs or [_info("x", ["N", 784])],
                  output=outputs or [_info("y", ["N", 10])])
    model = Model(ir_version=8, producer_name="test", graph=graph, opset_import=[OperatorSetId("", opset)],
                  metadata_props=[StringStringEntry(k, v) for k, v in (props or {}).items()])
    return encode(model)


def _refused(tmp_path, data: bytes, *patterns: str) -> str:
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises(ModelFileError) as info:
        load_onnx(path)
    message = str(info.value)
    assert message.startswith("bad.onnx: ") and "\n" not in message, message
    for pattern in patterns:
        assert pattern in message, message
    return message


def test_the_tiny_file_itself_loads(tmp_path):
    path = tmp_path / "tiny.onnx"
    path.write_bytes(tiny_bytes())
    module, meta = load_onnx(path)
    assert meta["num_classes"] == 10 and _run(module, _images()).shape == (6, 10)
    assert read_onnx(path.read_bytes()).layouts == ("N784",)


def test_external_data_is_refused_without_opening_anything(tmp_path, monkeypatch):
    outside = tmp_path / "weights.bin"
    outside.write_bytes(b"\0" * 784 * 40)
    w = from_array("w", np.zeros((784, 10), np.float32))
    w.raw_data, w.data_location = b"", 1
    w.external_data = [StringStringEntry("location", str(outside)), StringStringEntry("length", "31360")]
    only_location = from_array("w", np.zeros((784, 10), np.float32))
    only_location.raw_data, only_location.external_data = b"", [StringStringEntry("location", "weights.bin")]
    opened = []
    real_open = io.open

    def watch(file, *args, **kwargs):
        opened.append(os.fspath(file) if isinstance(file, (str, os.PathLike)) else file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", watch)
    monkeypatch.setattr("builtins.open", watch)
    for tensor in (w, only_location):
        _refused(tmp_path, tiny_bytes(inits=[tensor]), "external data", "never reads outside")
    assert str(outside) not in opened and not any(str(p).endswith("weights.bin") for p in opened)


def test_external_data_written_by_onnx_is_refused(onnx, tmp_path):
    from onnx.external_data_helper import convert_model_to_external_data

    model = cnn_model(onnx)
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save(model, str(tmp_path / "bad.onnx"))
    assert (tmp_path / "weights.bin").stat().st_size > 0
    with pytest.raises(ModelFileError, match="never reads outside"):
        load_onnx(tmp_path / "bad.onnx")


def test_custom_domains_are_refused(tmp_path):
    node = Node(input=["x", "w"], output=["y"], name="fc", op_type="FusedGemm", domain="com.microsoft")
    _refused(tmp_path, tiny_bytes(nodes=[node]), "custom operators", "FusedGemm", "com.microsoft")


def test_unsupported_operators_are_refused_naming_each(tmp_path):
    nodes = [Node(input=["x"], output=["a"], op_type="NonMaxSuppression"),
             Node(input=["a"], output=["b"], op_type="Einsum"),
             Node(input=["b", "w"], output=["y"], op_type="Gemm")]
    _refused(tmp_path, tiny_bytes(nodes=nodes), "unsupported operators: Einsum, NonMaxSuppression")


def test_subgraphs_are_refused(onnx, tmp_path):
    h = onnx.helper
    branch = lambda v: h.make_graph([h.make_node("Identity", [v], ["out"])], "b", [],  # noqa: E731
                                    [h.make_tensor_value_info("out", onnx.TensorProto.FLOAT, ["N", 784])])
    nodes = [h.make_node("ReduceSum", ["x"], ["s"], keepdims=0), h.make_node("Cast", ["s"], ["c"], to=9),
             h.make_node("If", ["c"], ["v"], then_branch=branch("x"), else_branch=branch("x")),
             h.make_node("MatMul", ["v", "w"], ["y"])]
    w = np.zeros((784, 10), np.float32)
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 784])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 10])],
                         [onnx.numpy_helper.from_array(w, "w")])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    _refused(tmp_path, model.SerializeToString(), "subgraph", "(If)")


def test_several_inputs_or_outputs_are_refused(tmp_path):
    two = [_info("x", ["N", 784]), _info("x2", ["N", 784])]
    _refused(tmp_path, tiny_bytes(inputs=two), "2 inputs", "'x', 'x2'")
    _refused(tmp_path, tiny_bytes(outputs=[_info("y", ["N", 10]), _info("w", [784, 10])]), "2 outputs")


@pytest.mark.parametrize("dims, elem, pattern", [
    (["N", 3, 32, 32], 1, "its input is N×3×32×32"), (["N", 100], 1, "its input is N×100"),
    (["N", 1, 28, 28, 1], 1, "N×1×28×28×1"), ([8, 784], 1, "fixes the batch size to 8"),
    (["N", 784], 7, "not float32 images"), ([], 1, "its input is ")])
def test_a_wrong_input_is_refused(tmp_path, dims, elem, pattern):
    _refused(tmp_path, tiny_bytes(inputs=[_info("x", dims, elem)]), pattern)


@pytest.mark.parametrize("dims, pattern", [(["N", 1], "its output is N×1"), (["N", 10, 1], "N×10×1"),
                                           (["N", 5000], "K from 2 to 1000"), (["N", 12], "declared 12")])
def test_a_wrong_output_is_refused(tmp_path, dims, pattern):
    _refused(tmp_path, tiny_bytes(outputs=[_info("y", dims)]), pattern)


def test_weights_that_are_nan_or_do_not_fit_are_refused(tmp_path):
    w = np.zeros((784, 10), np.float32)
    w[3, 4] = np.nan
    _refused(tmp_path, tiny_bytes(inits=[from_array("w", w)]), "NaN or infinite")
    _refused(tmp_path, tiny_bytes(inits=[from_array("w", np.zeros((100, 10), np.float32))]),
             "does not work as a digit classifier")
    nodes = [Node(input=["x", "w"], output=["y"], op_type="Gemm", attribute=[
        Attribute(name="alpha", type=Attribute.FLOAT, f=math.inf)])]
    _refused(tmp_path, tiny_bytes(nodes=nodes), "NaN or infinite")


def test_graphs_that_do_not_hold_together_are_refused(tmp_path):
    gemm = Node(input=["x", "w"], output=["y"], op_type="Gemm")
    _refused(tmp_path, tiny_bytes(nodes=[Node(input=["x", "nowhere"], output=["y"], op_type="Gemm")]),
             "reads 'nowhere', which nothing defines")
    _refused(tmp_path, tiny_bytes(nodes=[Node(input=["y"], output=["a"], op_type="Relu"),
                                         Node(input=["a", "w"], output=["y"], op_type="Gemm")]), "cycle")
    _refused(tmp_path, tiny_bytes(nodes=[gemm, Node(input=["x"], output=["y"], op_type="Relu")]), "defined twice")
    _refused(tmp_path, tiny_bytes(opset=5), "opset 5")
    _refused(tmp_path, tiny_bytes(nodes=[Node(input=["x", "w"], output=["y"], op_type="Conv")]), "(Conv)")


def test_files_that_are_not_onnx_or_too_large_are_refused(tmp_path, monkeypatch):
    _refused(tmp_path, b"\x80\x04pickle, not onnx", "not a usable ONNX model")
    _refused(tmp_path, b"", "empty")
    _refused(tmp_path, tiny_bytes()[:-30], "truncated")
    with pytest.raises(ModelFileError, match="no such file"):
        load_onnx(tmp_path / "missing.onnx")
    with pytest.raises(ModelFileError, match="folder"):
        load_onnx(tmp_path)
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="not a regular file"):
        load_onnx(fifo)
    monkeypatch.setattr(onnx_reader, "MAX_FILE_BYTES", 1000)
    _refused(tmp_path, tiny_bytes(), "MB")


def test_the_module_moves_between_devices_and_stays_differentiable(tmp_path):
    path = tmp_path / "tiny.onnx"
    path.write_bytes(tiny_bytes())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    module, _ = load_onnx(path, device=device)
    x = _images(3).to(device).requires_grad_(True)
    (grad,) = torch.autograd.grad(module(x).sum(), x)
    assert grad.device.type == device and grad.abs().sum() > 0
    module.train()
    assert module.to("cpu")(x.detach().cpu()).shape == (3, 10)


@pytest.mark.parametrize("node", [
    dict(op_type="MaxPool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    dict(op_type="MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 2, 1]),
    dict(op_type="MaxPool", kernel_shape=[2, 2], dilations=[2, 2]),
    dict(op_type="MaxPool", kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_LOWER"),
    dict(op_type="AveragePool", kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
    dict(op_type="AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 2, 0]),
    dict(op_type="AveragePool", kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(op_type="Conv", kernel_shape=[3, 3], auto_pad="SAME_LOWER", dilations=[2, 2], strides=[3, 3]),
    dict(op_type="Conv", kernel_shape=[3, 3], auto_pad="VALID", strides=[2, 1]),
    dict(op_type="GlobalMaxPool")])
def test_window_attributes_match_the_reference(onnx, tmp_path, node):
    from onnx.reference import ReferenceEvaluator

    h, rng = onnx.helper, _rng(11)
    attrs = {k: v for k, v in node.items() if k != "op_type"}
    inputs = ["x", "cw"] if node["op_type"] == "Conv" else ["x"]
    window = [h.make_node(node["op_type"], inputs, ["p"], **attrs), h.make_node("Flatten", ["p"], ["f"])]
    inits = {"cw": rng.normal(0, 0.3, (2, 1, 3, 3)).astype(np.float32)}
    probe = h.make_model(h.make_graph(window, "g", [h.make_tensor_value_info("x", 1, ["N", 1, 28, 28])],
                                      [h.make_tensor_value_info("f", 1, None)],
                                      [onnx.numpy_helper.from_array(inits["cw"], "cw")]),
                         opset_imports=[h.make_opsetid("", 19)])
    width = ReferenceEvaluator(probe).run(None, {"x": np.zeros((1, 1, 28, 28), np.float32)})[0].shape[1]
    inits["w"] = rng.normal(0, 0.1, (width, 10)).astype(np.float32)
    model = _helper_model(onnx, [*window, h.make_node("MatMul", ["f", "w"], ["y"])], inits, ["N", 1, 28, 28],
                          ["N", 10], opset=19)
    module, _ = load_onnx(_save(model, tmp_path))
    x = _images()
    np.testing.assert_allclose(_run(module, x), _reference(onnx, model, x.numpy()), atol=TOL)


def test_the_app_never_imports_the_onnx_package():
    import ast
    from pathlib import Path

    package = Path(onnx_reader.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            assert not any(n == "onnx" or n.startswith(("onnx.", "google.protobuf")) for n in names), (path, names)
