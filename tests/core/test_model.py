"""The article's CNN: shapes, parameter count, layer names, and a state dict that loads into plain PyTorch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.model import MNIST_MEAN, MNIST_STD, MnistCNN, count_parameters, pick_device


class PlainNet(nn.Module):
    """The same network written the plain way (no Sequential, normalization done by the caller)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(3136, 128)
        self.fc2 = nn.Linear(128, 10)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


def test_parameter_count_is_the_articles():
    assert count_parameters(MnistCNN()) == 421_642


def test_layer_shapes_and_output():
    torch.manual_seed(0)
    model = MnistCNN().eval()
    x = torch.rand(5, 1, 28, 28)
    shapes = {}
    hooks = [
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape)))
        for name in ("conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "fc2")
    ]
    try:
        out = model(x)
    finally:
        for h in hooks:
            h.remove()
    assert out.shape == (5, 10)
    assert shapes == {
        "conv1": (5, 32, 28, 28),
        "pool1": (5, 32, 14, 14),
        "conv2": (5, 64, 14, 14),
        "pool2": (5, 64, 7, 7),
        "flatten": (5, 3136),
        "fc1": (5, 128),
        "fc2": (5, 10),
    }


def test_learnable_layers_are_named_and_each_relu_is_its_own_module():
    model = MnistCNN()
    assert set(model.state_dict()) == {
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
    }
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 3
    assert len({id(m) for m in relus}) == 3
    assert isinstance(model.dropout, nn.Dropout) and model.dropout.p == 0.5
    assert not any(isinstance(m, nn.Sequential) for m in model.modules())


def test_state_dict_loads_into_a_plain_definition_and_agrees():
    torch.manual_seed(1)
    model = MnistCNN().eval()
    plain = PlainNet().eval()
    plain.load_state_dict(model.state_dict(), strict=True)
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        ours = model(x)
        theirs = plain((x - MNIST_MEAN) / MNIST_STD)  # normalization is inside our model, outside the plain one
    torch.testing.assert_close(ours, theirs)
    # and back: a plain net's weights load into ours
    MnistCNN().load_state_dict(PlainNet().state_dict(), strict=True)


def test_normalization_is_inside_the_model_and_not_in_the_state_dict():
    torch.manual_seed(2)
    model = MnistCNN().eval()
    assert float(model.mean) == pytest.approx(MNIST_MEAN) and float(model.std) == pytest.approx(MNIST_STD)
    assert "mean" not in model.state_dict() and "std" not in model.state_dict()
    plain = PlainNet().eval()
    plain.load_state_dict(model.state_dict())
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        # fed raw pixels, the plain net (no normalization) disagrees with ours
        assert not torch.allclose(model(x), plain(x), atol=1e-3)


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    auto = pick_device(None)
    assert auto.type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            pick_device("cuda")
