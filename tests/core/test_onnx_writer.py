"""Writing the app's networks as ONNX (issue 17): the bundled MnistCNN and every architecture of
core.model.ARCHITECTURES pass onnx.checker's full check, onnx.reference gives their logits, and our own reader
reads them back to the same predictions. The round trips through our reader need no onnx package."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.model import ARCHITECTURES, PixelSpaceNet
from advstudio.core.onnx import export_onnx, load_onnx, onnx_bytes, read_onnx
from advstudio.core.onnx.proto import decode_model, encode
from advstudio.core.resources import bundled_model_path
from advstudio.core.storage import load_model

ORACLE = "onnx (a test extra: pip install -c constraints.txt -e '.[test]') is the oracle of these cross-checks"
TOL = 1e-4


@pytest.fixture(scope="module")
def onnx():
    return pytest.importorskip("onnx", reason=ORACLE)


@pytest.fixture(scope="module")
def bundled():
    model, meta = load_model(bundled_model_path())
    return model.eval(), meta


def _images(n: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def _logits(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).numpy()


def _check_with_the_oracle(onnx, path, model: nn.Module, x: torch.Tensor) -> None:
    from onnx.reference import ReferenceEvaluator

    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    got = ReferenceEvaluator(loaded).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, _logits(model, x), atol=TOL)
    assert [o.name for o in loaded.graph.output] == ["logits"] and [i.name for i in loaded.graph.input] == ["input"]
    assert loaded.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_the_bundled_model_exports_checks_and_reads_back(onnx, bundled, tmp_path):
    model, meta = bundled
    path = export_onnx(model, tmp_path / "bundled", meta)
    assert path.name == "bundled.onnx" and path.is_file()
    x = _images(16)
    _check_with_the_oracle(onnx, path, model, x)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["advstudio.input_range"] == "0-1" and props["advstudio.outputs"] == "logits"
    assert json.loads(props["advstudio.metadata"])["name"] == meta["name"]
    back, back_meta = load_onnx(path)
    np.testing.assert_allclose(_logits(back, x), _logits(model, x), atol=1e-5)
    assert (_logits(back, x).argmax(1) == _logits(model, x).argmax(1)).all()
    assert back_meta["architecture"] == "ONNX" and back_meta["source_architecture"] == meta.get("architecture",
                                                                                                 "MnistCNN")
    assert back_meta["name"] == meta["name"] and back_meta["num_classes"] == 10
    assert back_meta.get("test_accuracy") == meta.get("test_accuracy")


def test_the_bundled_model_reads_back_without_the_oracle(bundled, tmp_path):
    model, meta = bundled
    path = export_onnx(model, tmp_path / "m.onnx", meta)
    back, back_meta = load_onnx(path)
    x = _images(32, seed=3)
    assert (_logits(back, x).argmax(1) == _logits(model, x).argmax(1)).all()
    np.testing.assert_allclose(_logits(back, x), _logits(model, x), atol=1e-5)
    assert back_meta["ops"] == ["Conv", "Div", "Flatten", "Gemm", "MaxPool", "Relu", "Sub"]
    assert [type(m).__name__ for m in back.modules() if isinstance(m, (nn.Conv2d, nn.ReLU, nn.Linear))] == [
        "OnnxConv", "ReLU", "OnnxConv", "ReLU", "Linear", "ReLU", "Linear"]
    data = path.read_bytes()
    assert encode(decode_model(data)) == data  # our decoder and encoder agree on our own files


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_exports(name, tmp_path):
    torch.manual_seed(0)
    model = ARCHITECTURES[name]().eval()
    if name == "SmallCNN":  # its fc3 starts at zero: every score equal, which would hide mistakes
        nn.init.normal_(model.classifier.fc3.weight, 0, 0.1)
    path = export_onnx(model, tmp_path / f"{name}.onnx", {"architecture": name, "name": name})
    back, meta = load_onnx(path)
    x = _images()
    np.testing.assert_allclose(_logits(back, x), _logits(model, x), atol=1e-5)
    assert meta["source_architecture"] == name


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_passes_the_oracle(onnx, name, tmp_path):
    torch.manual_seed(1)
    model = ARCHITECTURES[name]().eval()
    _check_with_the_oracle(onnx, export_onnx(model, tmp_path / "a.onnx"), model, _images(4))


class _Mixed(PixelSpaceNet):
    """Layers and calls beyond the app's networks: batch norm, average pooling, LeakyReLU/Tanh/Sigmoid/ELU,
    functional calls, arithmetic with numbers, view with x.size(0), a Linear on a 3-D tensor, a final Dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.LeakyReLU(0.1)
        self.pool = nn.AvgPool2d(2, count_include_pad=False)
        self.dw = nn.Conv2d(4, 4, 3, padding="same", groups=4, bias=False)
        self.mp = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=False)
        self.row = nn.Linear(4, 6)
        self.fc = nn.Linear(4 * 4 * 6, 10)
        self.elu, self.tanh, self.sig = nn.ELU(0.5), nn.Tanh(), nn.Sigmoid()
        self.drop = nn.Dropout(0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x) * 2.0 - 1.0
        x = self.pool(self.act(self.bn(self.conv(x))))  # 4×7×7
        x = self.mp(self.elu(self.dw(x)))  # 4×4×4
        x = torch.sigmoid(x) + self.tanh(x) * self.sig(x)
        x = self.row(x.reshape(x.size(0), 16, 4))  # N×16×6
        x = F.relu(x).view(x.size(0), -1)
        return self.drop(self.fc(torch.relu(x)))


def _mixed() -> _Mixed:
    torch.manual_seed(2)
    model = _Mixed()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_more_layer_types_export_and_read_back(tmp_path):
    model = _mixed()
    back, meta = load_onnx(export_onnx(model, tmp_path / "mixed.onnx"))
    x = _images()
    np.testing.assert_allclose(_logits(back, x), _logits(model, x), atol=1e-5)
    assert {"BatchNormalization", "AveragePool", "LeakyRelu", "Elu", "MatMul", "Reshape"} <= set(meta["ops"])


@pytest.mark.parametrize("opset", [13, 14, 17, 21])
def test_more_layer_types_pass_the_oracle_at_several_opsets(onnx, opset, tmp_path):
    model = _mixed()
    path = export_onnx(model, tmp_path / "mixed.onnx", opset=opset)
    if opset < 14:  # onnx.reference's BatchNormalization_9 (opsets 9-13) mixes the batch's statistics into the
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)  # running ones the spec says to use alone
    else:
        _check_with_the_oracle(onnx, path, model, _images(4))
    back, _ = load_onnx(path)
    np.testing.assert_allclose(_logits(back, _images(4)), _logits(model, _images(4)), atol=1e-5)
    assert read_onnx(path).opset == opset


def test_a_train_mode_model_is_exported_in_inference_mode_and_left_as_it_was(tmp_path):
    model = _mixed().train()
    data = onnx_bytes(model)
    assert model.training and model.bn.training
    path = tmp_path / "t.onnx"
    path.write_bytes(data)
    back, _ = load_onnx(path)
    x = _images()
    np.testing.assert_allclose(_logits(back, x), _logits(model.eval(), x), atol=1e-5)


class _Upsampler(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2)
        self.fc = nn.Linear(56 * 56, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.up(x).flatten(1))


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow cannot be traced
            return self.fc(x.flatten(1))
        return -self.fc(x.flatten(1))


class _Batchless(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.reshape(-1)[: 784 * x.shape[0]].reshape(x.shape[0], 784))


@pytest.mark.parametrize("model, pattern", [
    (_Upsampler(), "Upsample"), (_Branchy(), "cannot be traced"), (_Batchless(), "across the batch dimension"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), nn.Flatten(), nn.Linear(1568, 10)),
     "reflect"),
    (nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.GELU()), "GELU"),
    (nn.Sequential(nn.Conv2d(1, 2, 3)), "N×K scores")])
def test_an_unsupported_layer_is_a_value_error_naming_it(model, pattern, tmp_path):
    with pytest.raises(ValueError, match=pattern):
        export_onnx(model, tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary file


def test_the_file_is_replaced_atomically_and_bad_opsets_are_refused(tmp_path, bundled):
    model, meta = bundled
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    export_onnx(model, target, meta)
    assert target.read_bytes()[:2] != b"ol" and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]
    with pytest.raises(ValueError, match="opset 12"):
        export_onnx(model, target, opset=12)


def test_a_model_ending_in_softmax_says_its_outputs_are_probabilities(tmp_path):
    torch.manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Softmax(dim=1)).eval()
    path = export_onnx(model, tmp_path / "p.onnx", {"loss": float("nan"), "name": "soft"})
    graph = read_onnx(path)
    assert graph.props["advstudio.outputs"] == "probabilities" and "NaN" not in graph.props["advstudio.metadata"]
    back, meta = load_onnx(path)
    x = _images()
    np.testing.assert_allclose(_logits(back, x), np.log(_logits(model, x)), atol=1e-5)
    assert meta["outputs"] == "probabilities" and meta["name"] == "soft"
