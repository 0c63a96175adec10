"""The article's CNN, with MNIST normalization as its first step, and device selection."""

from __future__ import annotations

import torch
from torch import nn

from advstudio.core.constants import MNIST_MEAN, MNIST_STD

ARCHITECTURE = "MnistCNN"


class MnistCNN(nn.Module):
    """conv 1→32 → ReLU → pool → conv 32→64 → ReLU → pool → fc 3136→128 → ReLU → dropout → fc 128→10.

    Input is a batch of N×1×28×28 images in [0, 1] pixel space; normalization happens inside, so attacks
    and ε live in pixel space. The mean/std buffers are not persistent, so the state dict holds only
    conv1/conv2/fc1/fc2 and loads into any plain PyTorch definition of the same network.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MNIST_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(MNIST_STD), persistent=False)
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
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.flatten(x)
        x = self.dropout(self.relu3(self.fc1(x)))
        return self.fc2(x)


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
