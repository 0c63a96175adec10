"""The networks a model file may hold: the article's CNN and three more (an MLP, LeNet-5, TRADES's SmallCNN), each
with MNIST normalization as its first step; the registry that builds one by name; and device selection."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from advstudio.core.architecture_names import (
    ARCHITECTURE_TITLES,
    DEFAULT_ARCHITECTURE,
    DEFAULT_CLASSES,
    check_num_classes,
)
from advstudio.core.constants import MNIST_MEAN, MNIST_STD

ARCHITECTURE = DEFAULT_ARCHITECTURE  # the article's CNN: what a model file without an "architecture" holds

__all__ = [
    "ARCHITECTURE", "ARCHITECTURES", "ARCHITECTURE_TITLES", "MNIST_MEAN", "MNIST_STD", "PixelSpaceNet", "MnistCNN",
    "MLP", "LeNet5", "SmallCNN", "build_model", "num_classes_of", "count_parameters", "pick_device", "device_label",
    "limit_threads",
]


class PixelSpaceNet(nn.Module):
    """The common start of every network here: N×1×28×28 images in [0, 1] pixel space, normalized inside (so
    attacks and ε live in pixel space). The mean/std buffers are not persistent: the state dict holds only the
    learnt layers. Subclasses name themselves in ARCHITECTURE, which model files record."""

    ARCHITECTURE = ""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MNIST_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(MNIST_STD), persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MnistCNN(PixelSpaceNet):
    """conv 1→32 → ReLU → pool → conv 32→64 → ReLU → pool → fc 3136→128 → ReLU → dropout → fc 128→10.

    The article's network. Its state dict holds only conv1/conv2/fc1/fc2 and loads into any plain PyTorch
    definition of the same network; `num_classes` changes fc2 only (10: the state dict is the article's)."""

    ARCHITECTURE = "MnistCNN"

    def __init__(self, num_classes: int = DEFAULT_CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.relu3 = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.flatten(x)
        x = self.dropout(self.relu3(self.fc1(x)))
        return self.fc2(x)


class MLP(PixelSpaceNet):
    """flatten → fc 784→128 → ReLU → fc 128→10: no convolution at all.

    The size is adversarial.js's MNIST dense network (kennysong/adversarial.js, docs/utils/mnist_train.js: a
    dense layer of 128 ReLU units, then 10 outputs, trained on pixels in [0, 1]), so its attacks compare with
    that demo's; here the normalization is inside, as in every network of this module."""

    ARCHITECTURE = "MLP"

    def __init__(self, num_classes: int = DEFAULT_CLASSES) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(28 * 28, 128)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu1(self.fc1(self.flatten(self.normalize(x)))))


class LeNet5(PixelSpaceNet):
    """conv 1→6 5×5 (padding 2) → ReLU → max-pool → conv 6→16 5×5 → ReLU → max-pool → fc 400→120 → ReLU →
    fc 120→84 → ReLU → fc 84→10.

    LeCun et al.'s LeNet-5 (1998) for 28×28 digits (the padding stands in for the original's 32×32 input), in
    the modern variant: ReLU instead of the scaled tanh, max-pooling instead of the trainable subsampling, and
    a full connection between conv1 and conv2 instead of the original's partial table."""

    ARCHITECTURE = "LeNet5"

    def __init__(self, num_classes: int = DEFAULT_CLASSES) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.fc1(self.flatten(x)))
        return self.fc3(self.relu4(self.fc2(x)))


class SmallCNN(PixelSpaceNet):
    """conv 1→32 3×3 → ReLU → conv 32→32 → ReLU → max-pool → conv 32→64 → ReLU → conv 64→64 → ReLU → max-pool →
    fc 1024→200 → ReLU → dropout 0.5 → fc 200→200 → ReLU → fc 200→10.

    The MNIST model of TRADES (Zhang et al. 2019; yaodongyu/TRADES, models/small_cnn.py), with its layer names
    (feature_extractor.conv1 … classifier.fc3), so TRADES's weights, saved as safetensors, load into it; and
    its initialization (Kaiming-normal convolutions with zero biases, fc3 all zeros: an untrained SmallCNN
    gives every class the same score). Unlike the original, each ReLU is its own module (not in place), so
    every activation layer can be watched."""

    ARCHITECTURE = "SmallCNN"

    def __init__(self, num_classes: int = DEFAULT_CLASSES, drop: float = 0.5) -> None:
        super().__init__()
        self.feature_extractor = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, 32, 3)), ("relu1", nn.ReLU()),  # 26×26
            ("conv2", nn.Conv2d(32, 32, 3)), ("relu2", nn.ReLU()),  # 24×24
            ("maxpool1", nn.MaxPool2d(2, 2)),  # 12×12
            ("conv3", nn.Conv2d(32, 64, 3)), ("relu3", nn.ReLU()),  # 10×10
            ("conv4", nn.Conv2d(64, 64, 3)), ("relu4", nn.ReLU()),  # 8×8
            ("maxpool2", nn.MaxPool2d(2, 2)),  # 4×4
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(64 * 4 * 4, 200)), ("relu1", nn.ReLU()),
            ("drop", nn.Dropout(drop)),
            ("fc2", nn.Linear(200, 200)), ("relu2", nn.ReLU()),
            ("fc3", nn.Linear(200, num_classes)),
        ]))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                nn.init.constant_(m.bias, 0)
        nn.init.constant_(self.classifier.fc3.weight, 0)
        nn.init.constant_(self.classifier.fc3.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.feature_extractor(self.normalize(x))
        return self.classifier(features.flatten(1))


ARCHITECTURES: dict[str, type[PixelSpaceNet]] = {cls.ARCHITECTURE: cls for cls in (MnistCNN, MLP, LeNet5, SmallCNN)}
assert tuple(ARCHITECTURES) == tuple(ARCHITECTURE_TITLES), "core.architecture_names lists the same networks"


def build_model(name: str = DEFAULT_ARCHITECTURE, num_classes: int = DEFAULT_CLASSES) -> nn.Module:
    """A freshly initialized network of the architecture called `name` (see ARCHITECTURES), with `num_classes`
    outputs; ValueError naming the known architectures for any other name."""
    cls = ARCHITECTURES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown architecture {str(name)[:60]!r}: known ones are {', '.join(ARCHITECTURES)}")
    return cls(num_classes=check_num_classes(num_classes))


def num_classes_of(model: nn.Module) -> int | None:
    """The number of scores the model gives: its last nn.Linear's out_features (None without one)."""
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m
    return None if last is None else int(last.out_features)


def output_count(model: nn.Module, x: torch.Tensor | None = None) -> int:
    """How many classes the model gives scores for, whatever its layers (an ONNX graph too): one forward pass
    of `x` (else a blank 28×28 image) in eval mode without gradients, so batch-norm statistics do not move."""
    if x is None:
        x = torch.zeros(1, 1, 28, 28, device=next(model.parameters(), torch.zeros(0)).device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return int(model(x[:2]).shape[-1])
    finally:
        model.train(was_training)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def pick_device(preference: str | None = None) -> torch.device:
    """The device to run on: the one asked for ("cpu", "cuda", "mps"), else CUDA, else Apple MPS, else CPU."""
    if preference and preference != "auto":
        dev = torch.device(preference)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was asked for, but no CUDA device is available")
        if dev.type == "mps" and not _mps_available():
            raise RuntimeError("Apple MPS was asked for, but it is not available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def device_label(device: torch.device) -> str:
    """A short human name for a device, for status bars and reports."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "Apple MPS"
    return "CPU"


def limit_threads(reserve: int = 1) -> int:
    """Leave `reserve` cores free (for the GUI thread); returns the number of intra-op threads set."""
    import os

    n = max(1, (os.cpu_count() or 1) - reserve)
    torch.set_num_threads(n)
    return n
